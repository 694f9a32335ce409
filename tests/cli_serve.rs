//! `tollgate serve` as a process: its terminal text, key handling and shutdown.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::cli::{self, tollgate};

#[test]
fn list_faults_names_every_fault_with_its_broken_promise() {
    let output = tollgate(&["serve", "--list-faults"]).output().unwrap();
    assert!(output.status.success());
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
}

#[test]
fn bad_arguments_are_usage_errors_with_exit_code_2() {
    for (args, needle) in [
        (
            vec!["serve", "--fault", "limit-151"],
            "unknown fault `limit-151`",
        ),
        (vec!["serve", "--limit", "read"], "expected CLASS=RATE"),
        (
            vec!["serve", "--limit", "read=10/fortnight"],
            "unknown window `fortnight`",
        ),
        (vec!["serve", "--profile", "soap"], "invalid value 'soap'"),
    ] {
        let output = tollgate(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

/// A `tollgate serve` child on a free port, with its banner read.
struct Serve {
    child: Child,
    banner: Vec<String>,
    base_url: String,
}

fn spawn_serve(extra_env: &[(&str, &str)], args: &[&str]) -> Serve {
    let mut command = tollgate(&["serve", "--listen", "127.0.0.1:0"]);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a banner").unwrap();
    let base_url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the banner names the URL")
        .to_string();
    let mut banner = vec![first];
    // The banner ends with the generated keys; read until the last one is printed (the
    // tenant keys, when asked for).
    let last = if args.contains(&"--tenants") {
        "OURO_TENANT_KEYS"
    } else {
        "OURO_API_KEY_REVOKED"
    };
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains(last);
        banner.push(line);
        if done {
            break;
        }
    }
    Serve {
        child,
        banner,
        base_url,
    }
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    cli::signal(&child, "TERM");
    // Bounded wait: graceful shutdown of an idle server is immediate.
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("serve did not stop within 5 s of SIGTERM");
}

#[test]
fn serve_uses_keys_from_the_environment_prints_only_generated_ones_and_stops_on_sigterm() {
    let canary = "canary-key-7f3a9c";
    let serve = spawn_serve(&[("OURO_API_KEY", canary)], &[]);
    let banner = serve.banner.join("\n");
    assert!(
        !banner.contains(canary),
        "a key from the environment is never echoed"
    );
    let generated: Vec<&str> = serve
        .banner
        .iter()
        .filter(|l| l.contains("export "))
        .map(String::as_str)
        .collect();
    assert_eq!(generated.len(), 4, "{banner}");
    let redacted: Vec<String> = serve
        .banner
        .iter()
        .map(|line| match line.split_once('=') {
            Some((name, _)) if line.contains("export ") => format!("{name}=<generated>"),
            _ => line.replace(&serve.base_url, "http://<addr>"),
        })
        .collect();
    insta::assert_snapshot!(redacted.join("\n"));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/v1/users", serve.base_url))
            .header("X-API-KEY", canary)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200, "the environment's key is the one accepted");

    let mut child = serve.child;
    let mut stderr = child.stderr.take().unwrap();
    let status = terminate(child);
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let mut errors = String::new();
    stderr.read_to_string(&mut errors).unwrap();
    assert!(
        errors.is_empty(),
        "nothing on stderr with logs off: {errors}"
    );
}

#[test]
fn serve_generates_tenant_keys_on_request_each_an_account_of_its_own() {
    let serve = spawn_serve(&[], &["--tenants", "3"]);
    let line = serve
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("export OURO_TENANT_KEYS="))
        .expect("the tenant keys are printed")
        .to_string();
    let tenants: Vec<&str> = line.split(',').collect();
    assert_eq!(tenants.len(), 3, "{line}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statuses: Vec<u16> = runtime.block_on(async {
        let mut statuses = Vec::new();
        for key in &tenants {
            let answer = reqwest::Client::new()
                .get(format!("{}/v1/users", serve.base_url))
                .header("X-API-KEY", *key)
                .send()
                .await
                .unwrap();
            // Each its own bucket: a fresh, full one.
            assert_eq!(answer.headers()["ratelimit-remaining"], "99");
            statuses.push(answer.status().as_u16());
        }
        statuses
    });
    assert_eq!(statuses, [200, 200, 200]);
    assert!(terminate(serve.child).success());
}

#[test]
fn serve_reports_an_address_in_use_as_a_runtime_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = tollgate(&["serve", "--listen", &addr]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}
