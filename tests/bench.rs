//! `tollgate bench` end to end, briefly: the reference server counts what arrives, and the
//! bench reports it. Accuracy claims live in docs/benchmarks.md, not here.

mod common;

use common::cli::tollgate;
use tollgate::server::{KeyRing, RunningServer, ServerConfig, ServerProfile};

#[tokio::test]
async fn the_arrival_counter_exists_only_with_test_hooks() {
    for hooks in [false, true] {
        let mut config = ServerConfig::new(ServerProfile::Ouro, KeyRing::generate());
        config.test_hooks = hooks;
        let server = RunningServer::start(config).await.unwrap();
        let from = tollgate::server::arrivals::now_ms();
        let client = reqwest::Client::new();
        for _ in 0..3 {
            client
                .get(format!("{}/v1/users", server.base_url()))
                .send()
                .await
                .unwrap();
        }
        let answer = client
            .get(format!(
                "{}/_tollgate/arrivals?from_ms={from}",
                server.base_url()
            ))
            .send()
            .await
            .unwrap();
        if !hooks {
            assert_eq!(answer.status(), 404);
            continue;
        }
        let body: serde_json::Value = answer.json().await.unwrap();
        let counted: u64 = body["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum();
        assert_eq!(counted, 3, "three requests before the query: {body}");
        assert_eq!(body["from_ms"], from);
    }
}

/// `tollgate bench --only pacing --rates 50 --seconds 2 EXTRA`: its stdout and the cells of
/// its 50/s row (| asked | seconds | seen (mean) | mean error | worst second | worst count |).
fn pacing_at_50(extra: &[&str]) -> (String, Vec<String>) {
    let mut args = vec![
        "bench",
        "--only",
        "pacing",
        "--rates",
        "50",
        "--seconds",
        "2",
    ];
    args.extend(extra);
    bench_row(&args, "| 50/s |")
}

/// `tollgate ARGS` (a bench): its stdout, and the cells of the row that starts with `row`.
fn bench_row(args: &[&str], row: &str) -> (String, Vec<String>) {
    let output = tollgate(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no `{row}` row:\n{stdout}"));
    let cells = line.split('|').map(|c| c.trim().to_string()).collect();
    (stdout, cells)
}

#[test]
fn bench_pacing_reports_what_its_own_server_saw() {
    let (_, cells) = pacing_at_50(&[]);
    let seen: f64 = cells[3].trim_end_matches("/s").parse().unwrap();
    assert!(seen > 0.0, "the server saw nothing: {cells:?}");
    assert!(
        cells[4].ends_with('%') && cells[5].ends_with('%'),
        "{cells:?}"
    );
}

/// `--shards 2`: two processes of this binary send one schedule from one start instant, and
/// the server counts, from that instant, every request of it (50/s × 2 s).
#[test]
fn a_sharded_bench_counts_what_its_shard_processes_sent() {
    let (stdout, cells) = pacing_at_50(&["--shards", "2"]);
    assert!(
        stdout.contains("sent by 2 shard processes from one start instant"),
        "{stdout}"
    );
    assert_eq!(cells[2], "2", "{cells:?}");
    // Two whole seconds from the start instant hold the 100 slots but those a stall pushed
    // past the end (up to half a second of them on a busy CI machine); one shard alone
    // would be 25/s, a slot sent by both more than 50/s.
    let seen: f64 = cells[3].trim_end_matches("/s").parse().unwrap();
    assert!((37.5..=50.0).contains(&seen), "{cells:?}");
}

/// `--only workload --shards 2`: the shards' own measurements, added up second by second as
/// `report merge` adds them, count what the server counted. A request sent just before a
/// second's end may arrive after it, so the sums differ by what crosses the last counted
/// second's end: the requests of one answer time, a handful at 200/s.
#[test]
fn the_shards_measurements_add_up_to_what_the_server_counted() {
    let args = [
        "bench",
        "--only",
        "workload",
        "--workload-rate",
        "200",
        "--seconds",
        "3",
        "--shards",
        "2",
    ];
    let (_, cells) = bench_row(&args, "| 200/s |");
    // | asked | whole seconds | seen | error | worst | seconds | measured / seen (error) |
    let (measured, seen) = cells[7]
        .split_once(" (")
        .and_then(|(counts, _)| counts.split_once(" / "))
        .unwrap_or_else(|| panic!("{cells:?}"));
    let (measured, seen): (i64, i64) = (measured.parse().unwrap(), seen.parse().unwrap());
    assert!(seen >= 200, "two whole seconds at 200/s: {cells:?}");
    assert!((measured - seen).abs() <= 10, "{cells:?}");
}

/// `--shards` splits what a schedule paces; throughput and memory are one process's.
#[test]
fn shards_are_refused_for_what_one_process_measures() {
    for only in [&["--only", "throughput"][..], &[]] {
        let mut args = vec!["bench", "--shards", "2"];
        args.extend(only);
        let output = tollgate(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--shards 2 splits the pacing and workload runs"),
            "{stderr}"
        );
    }
}
