//! tollgate's load phase against stock rate limiters: its verdicts must hold for the
//! limiters teams really run, not only for its own reference server.
//!
//! Each test starts a stack as child processes on 127.0.0.1 — nginx `limit_req` /
//! `limit_conn`, express + express-rate-limit (memory store; Redis store shared by two
//! replicas behind a balancer), and a Python proxy on `limits`' moving window — in front of
//! the reference server run with no rate limits and no rate headers (the app behind the
//! limiter), runs `tollgate run --only load` against it and reads `report.json`. A
//! configuration that is correct by the project's own documentation must fail no check; each
//! misconfiguration teams ship must fail the check that names it and nothing unrelated.
//!
//! The stacks come from `scripts/install-stacks.sh` (Debian's nginx and redis-server, the
//! npm lockfile in tests/stacks/express, a venv in tests/stacks/limits), which every test
//! runs first (idempotent); a stack that cannot be installed fails the test. nextest runs these tests one at a time with
//! the machine to themselves (`.config/nextest.toml`: they measure timing). Logs, configs
//! and reports are in `target/tmp/real_stacks-<stack>-…/`, kept when the test fails.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::stacks::{
    self, ensure_installed, free_port, http_ready, redis_ready, require, Process, INSTALL, ROOT,
};
use common::TempDir;
use serde_json::Value;
use tollgate::server::config::HeaderDialect;
use tollgate::server::ServerProfile;

// ---------------------------------------------------------------------------------------
// nginx limit_req / limit_conn: leaky bucket, Retry-After only.

/// `burst=0`: a strict leaky bucket, one request per interval (10 ms, or 50 ms for the
/// 20/s classes).
#[test]
fn nginx_limit_req_without_burst_passes() {
    let run = Nginx::conformant("", "").run(&[]);
    run.assert_passes();
}

/// `burst=… nodelay`: the bucket lets a small burst through at once, then the rate.
#[test]
fn nginx_limit_req_with_burst_nodelay_passes() {
    let run = Nginx::conformant("burst=20 nodelay", "burst=5 nodelay").run(&[]);
    run.assert_passes();
}

/// One zone for reads and writes of /v1/users: saturated reads block writes.
#[test]
fn nginx_with_one_zone_for_users_reads_and_writes_fails_class_isolation() {
    let run = Nginx::template("shared-users-zone", "", "").run(&["read"]);
    run.assert_fails(&["rate.isolation.class"], &[]);
}

/// No `error_page 429`: nginx's own HTML page, no Retry-After.
#[test]
fn nginx_without_a_json_error_page_fails_the_429_shape_and_retry_after() {
    let run = Nginx::template("html-429", "", "").run(&["read"]);
    run.assert_fails(
        &["rate.read.429-shape", "rate.read.retry-after"],
        &["rate.read.backoff"],
    );
}

// ---------------------------------------------------------------------------------------
// express-rate-limit: fixed window per key from its first request.

/// Memory store, IETF draft-8 `RateLimit` / `RateLimit-Policy`; the backend's own
/// concurrency limiter (20 per key) stands in for the one express lacks.
#[test]
fn express_rate_limit_memory_store_draft8_passes() {
    let run = Express::single(&["--headers", "draft-8"]).run(&[]);
    run.assert_passes();
}

/// `standardHeaders: false, legacyHeaders: false`: express-rate-limit then sends no
/// Retry-After either.
#[test]
fn express_rate_limit_without_headers_fails_retry_after() {
    let run = Express::single(&["--headers", "none"]).run(&["read"]);
    run.assert_fails(
        &["rate.read.retry-after"],
        &["rate.read.backoff", "rate.read.headers"],
    );
}

/// The default keyGenerator (client IP): every key behind one address shares a bucket.
#[test]
fn express_rate_limit_keyed_by_ip_fails_key_and_mode_isolation() {
    let run = Express::single(&["--headers", "draft-8", "--key", "ip"]).run(&["read"]);
    run.assert_fails(&["rate.isolation.key", "rate.isolation.mode"], &[]);
}

/// rate-limit-redis shared by two replicas behind a round-robin balancer, draft-7's
/// combined `RateLimit: limit=…, remaining=…, reset=…`.
#[test]
fn express_rate_limit_redis_store_on_two_replicas_draft7_passes() {
    let run = Express::replicas(true, &["--headers", "draft-7"]).run(&[]);
    run.assert_passes();
}

/// The memory store on two replicas: each process counts on its own, about twice the
/// limit gets through.
#[test]
fn express_rate_limit_memory_store_on_two_replicas_fails_enforced() {
    let run = Express::replicas(false, &["--headers", "draft-7"]).run(&["read"]);
    run.assert_fails(&["rate.read.enforced"], &["rate.read.headers"]);
}

/// Every limiter's RedisStore on the default prefix `rl:`: one counter per key for all
/// classes.
#[test]
fn express_rate_limit_redis_stores_sharing_a_prefix_fail_class_isolation() {
    let run =
        Express::replicas(true, &["--headers", "draft-7", "--prefix", "shared"]).run(&["read"]);
    run.assert_fails(&["rate.isolation.class"], &[]);
}

// ---------------------------------------------------------------------------------------
// Python `limits`: moving window, X-RateLimit-* (reset as an epoch second, as slowapi and
// Flask-Limiter send it) and Retry-After.

#[test]
fn limits_moving_window_passes() {
    let run = Limits::start(&[]).run(&[]);
    run.assert_passes();
}

/// slowapi's `get_remote_address` default: keyed by client address, not by API key.
#[test]
fn limits_keyed_by_ip_fails_key_and_mode_isolation() {
    let run = Limits::start(&["--key", "ip"]).run(&["read"]);
    run.assert_fails(&["rate.isolation.key", "rate.isolation.mode"], &[]);
}

/// One default limit (100/s per key) for the whole app: every class charges one bucket.
#[test]
fn limits_one_limit_for_the_whole_app_fails_class_isolation() {
    let run = Limits::start(&["--scope", "app"]).run(&["read"]);
    run.assert_fails(&["rate.isolation.class"], &[]);
}

// ---------------------------------------------------------------------------------------
// The stacks.

/// A running stack: its processes (stopped on drop, in reverse order), the backend, the
/// URL tollgate is pointed at, and the folder of its logs, configs and reports.
struct Stack {
    name: String,
    url: String,
    processes: Vec<Process>,
    backend: Backend,
    /// Last: removed once every process has stopped.
    dir: TempDir,
}

impl Drop for Stack {
    /// The front first (balancer, replicas, Redis); the backend drops after.
    fn drop(&mut self) {
        while let Some(process) = self.processes.pop() {
            drop(process);
        }
    }
}

struct Nginx;

impl Nginx {
    fn conformant(burst_100: &str, burst_20: &str) -> Stack {
        Self::template("conformant", burst_100, burst_20)
    }

    fn template(name: &str, burst_100: &str, burst_20: &str) -> Stack {
        let nginx = require("nginx", &["/usr/sbin/nginx"]);
        let label = if burst_100.is_empty() {
            format!("nginx-{name}")
        } else {
            format!("nginx-{name}-burst")
        };
        // nginx's limit_conn is the concurrency limit: the backend has none.
        let mut stack = Stack::new(&label, None);
        let port = free_port();
        let template = std::fs::read_to_string(
            Path::new(ROOT).join(format!("tests/stacks/nginx/{name}.conf.template")),
        )
        .unwrap();
        let config = template
            .replace("@PREFIX@", &stack.dir.display().to_string())
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@BACKEND@", stack.backend.addr())
            .replace("@BURST_100@", burst_100)
            .replace("@BURST_20@", burst_20);
        let conf = stack.dir.join("nginx.conf");
        std::fs::write(&conf, config).unwrap();
        let mut command = Command::new(nginx);
        command
            .arg("-p")
            .arg(&stack.dir)
            .arg("-c")
            .arg(conf)
            .arg("-e")
            .arg(stack.dir.join("error.log"));
        stack.spawn_http("nginx", command, port);
        stack
    }
}

struct Express;

impl Express {
    fn node(script: &str, args: &[String]) -> Command {
        let node = require("node", &[]);
        let dir =
            stacks::express_dir(&["express", "express-rate-limit", "rate-limit-redis", "redis"]);
        let mut command = Command::new(node);
        command.current_dir(dir).arg(script).args(args);
        command
    }

    /// One express process; the backend's concurrency limiter (20 per key) does that job.
    fn single(args: &[&str]) -> Stack {
        let mut stack = Stack::new(&format!("express{}", args.join("")), Some(20));
        let port = free_port();
        let backend = format!("http://{}", stack.backend.addr());
        let mut all = strings(&["--port", &port.to_string(), "--backend", &backend]);
        all.extend(strings(args));
        stack.spawn_http("express", Express::node("server.js", &all), port);
        stack
    }

    /// Two express replicas behind a round-robin balancer, sharing a Redis store or each
    /// with its own memory store.
    fn replicas(redis: bool, args: &[&str]) -> Stack {
        let store = if redis { "redis" } else { "memory" };
        let mut stack = Stack::new(&format!("express-2x{store}{}", args.join("")), Some(20));
        let backend = format!("http://{}", stack.backend.addr());
        let mut store_args = strings(&["--store", store]);
        if redis {
            let redis_server = require("redis-server", &[]);
            let port = free_port();
            let mut command = Command::new(redis_server);
            command.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--dir",
                &stack.dir.display().to_string(),
            ]);
            stack.spawn("redis", command, port, redis_ready);
            store_args.extend(["--redis-url".into(), format!("redis://127.0.0.1:{port}")]);
        }
        let mut upstreams = Vec::new();
        for replica in ["a", "b"] {
            let port = free_port();
            let mut all = strings(&["--port", &port.to_string(), "--backend", &backend]);
            all.extend(store_args.iter().cloned());
            all.extend(strings(args));
            let command = Express::node("server.js", &all);
            stack.spawn_http(&format!("express-{replica}"), command, port);
            upstreams.push(format!("http://127.0.0.1:{port}"));
        }
        let port = free_port();
        let command = Express::node(
            "balancer.js",
            &strings(&[
                "--port",
                &port.to_string(),
                "--upstreams",
                &upstreams.join(","),
            ]),
        );
        stack.spawn_http("balancer", command, port);
        stack
    }
}

struct Limits;

impl Limits {
    /// The proxy; the backend's concurrency limiter (20 per key) does that job.
    fn start(args: &[&str]) -> Stack {
        let dir = Path::new(ROOT).join("tests/stacks/limits");
        let python = dir.join(".venv/bin/python");
        assert!(
            python.is_file(),
            "{} is missing: run {INSTALL}",
            python.display()
        );
        let mut stack = Stack::new(&format!("limits{}", args.join("")), Some(20));
        let port = free_port();
        let mut command = Command::new(python);
        command
            .current_dir(dir)
            .arg("proxy.py")
            .args(["--port", &port.to_string()])
            .args(["--backend", &format!("http://{}", stack.backend.addr())])
            .args(args);
        stack.spawn_http("limits", command, port);
        stack
    }
}

impl Stack {
    /// A fresh directory for logs, configs and reports, and the backend: the reference
    /// server with no rate limits and no rate headers, `concurrency` requests in flight per
    /// key, and the test hooks (the concurrency probe's `delay_ms`).
    fn new(name: &str, concurrency: Option<u32>) -> Stack {
        ensure_installed();
        let name: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let dir = TempDir::new(&format!("real_stacks-{name}"));
        Stack {
            name,
            url: String::new(),
            processes: Vec::new(),
            backend: Backend::start(concurrency),
            dir,
        }
    }

    /// Starts `command` and waits until it answers HTTP on `port`; it becomes the target.
    fn spawn_http(&mut self, name: &str, command: Command, port: u16) {
        self.spawn(name, command, port, http_ready);
        self.url = format!("http://127.0.0.1:{port}");
    }

    /// Starts `command` (output to `<name>.log`) and waits until `ready` says yes.
    fn spawn(&mut self, name: &str, command: Command, port: u16, ready: fn(u16) -> bool) {
        let process = Process::spawn(name, command, &self.dir, port, ready);
        self.processes.push(process);
    }

    /// `tollgate run --only load` against the stack, with `classes` (all when empty).
    fn run(&mut self, classes: &[&str]) -> Run {
        let reports = self.dir.join("reports");
        let mut args = vec!["--only", "load", "--target", &self.url];
        for class in classes {
            args.extend(["--class", *class]);
        }
        let env = self.backend.server.as_ref().unwrap().key_env();
        let label = format!("{} ({classes:?})", self.name);
        let report = stacks::run_tollgate(&label, &args, &env, &reports);
        for process in &mut self.processes {
            process.assert_running();
        }
        Run {
            stack: self.name.clone(),
            report,
        }
    }
}

/// The reference server in this process, on its own runtime.
struct Backend {
    server: Option<common::Server>,
    addr: String,
    runtime: tokio::runtime::Runtime,
}

impl Backend {
    fn start(concurrency: Option<u32>) -> Backend {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(
            common::setup(ServerProfile::Ouro)
                .no_rate_limits()
                .rate_headers(HeaderDialect::None)
                .concurrency(concurrency)
                .test_hooks()
                .start(),
        );
        let addr = server
            .running
            .base_url()
            .trim_start_matches("http://")
            .to_string();
        Backend {
            server: Some(server),
            addr,
            runtime,
        }
    }

    fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.stop());
        }
    }
}

// ---------------------------------------------------------------------------------------
// What a run reported.

struct Run {
    stack: String,
    report: Value,
}

impl Run {
    fn ids(&self, verdict: &str) -> BTreeSet<String> {
        stacks::ids(&self.report, verdict)
    }

    /// Every check that did not pass, with what it measured.
    fn describe(&self) -> String {
        stacks::checks(&self.report)
            .map(|(_, c)| c)
            .filter(|c| c["verdict"] != "passed")
            .map(|c| {
                format!(
                    "  {} {}: {} (expected {}; got {})",
                    c["verdict"].as_str().unwrap(),
                    c["id"].as_str().unwrap(),
                    c["message"].as_str().unwrap_or_default(),
                    c["expected"].as_str().unwrap_or("-"),
                    c["actual"].as_str().unwrap_or("-"),
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn assert_passes(&self) {
        let failed = self.ids("failed");
        assert!(
            failed.is_empty(),
            "{}: a conformant stack failed {failed:?}\n{}",
            self.stack,
            self.describe()
        );
        assert!(
            !self.ids("passed").is_empty(),
            "{}: no check ran\n{}",
            self.stack,
            self.describe()
        );
    }

    /// `must` all failed, and nothing failed outside `must` and `also` (checks the same
    /// misconfiguration may break too).
    fn assert_fails(&self, must: &[&str], also: &[&str]) {
        let failed = self.ids("failed");
        let missing: Vec<&&str> = must.iter().filter(|id| !failed.contains(**id)).collect();
        let unrelated: Vec<&String> = failed
            .iter()
            .filter(|id| !must.contains(&id.as_str()) && !also.contains(&id.as_str()))
            .collect();
        assert!(
            missing.is_empty() && unrelated.is_empty(),
            "{}: expected {must:?} to fail (and at most {also:?} besides); {missing:?} did not fail, {unrelated:?} failed unexpectedly\n{}",
            self.stack,
            self.describe()
        );
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
