//! Pacing accuracy of the load runner: the rate a counting server on loopback actually sees,
//! against the rate asked for, at 20, 100 and 1,000 requests per second.
//!
//! `cargo bench --bench pacing` (BENCH_SECONDS=10 for longer runs). Prints a Markdown table:
//! mean error over the whole seconds of the run, and the worst single second.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use tollgate::contract::Target;
use tollgate::load::driver::{self, Attack};
use tollgate::load::record::{Recorder, Schedule};
use tollgate::scenario::template::{UniqueSource, Vars};
use tollgate::scenario::AuthKind;
use tollgate::server::KeyRing;

/// A server that only notes when each request arrived.
async fn counting_server() -> (String, Arc<Mutex<Vec<Instant>>>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    let app = Router::new().fallback(move || {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(Instant::now());
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), arrivals)
}

/// Requests per whole second; partial edges dropped. Seconds start half a gap before the
/// first arrival, so a request due exactly on a boundary is not split by jitter.
fn per_second(arrivals: &[Instant], rate: f64) -> Vec<usize> {
    let Some(first) = arrivals.iter().min().copied() else {
        return Vec::new();
    };
    let first = first
        .checked_sub(Duration::from_secs_f64(0.5 / rate))
        .unwrap_or(first);
    let mut counts: Vec<usize> = Vec::new();
    for t in arrivals {
        let s = t.duration_since(first).as_secs() as usize;
        if counts.len() <= s {
            counts.resize(s + 1, 0);
        }
        counts[s] += 1;
    }
    counts.pop();
    counts
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| requested | seconds | seen by the server (whole seconds) | mean error | worst second |"
    );
    println!("|---:|---:|---|---:|---:|");
    for rate in [20.0, 100.0, 1000.0] {
        runtime.block_on(async {
            let (url, arrivals) = counting_server().await;
            let profile = tollgate::profile::load(std::path::Path::new("tollgate.yaml"))
                .unwrap()
                .profile
                .unwrap();
            let probe = profile.rate_limits[0].probe.clone();
            let errors = profile.errors.schema.clone();
            let target = Arc::new(Target::embedded(url, &KeyRing::generate(), profile));
            let recorder = Arc::new(Recorder::new(
                Schedule::new(rate, Duration::from_secs(seconds)),
                errors,
                None,
                false,
            ));
            let attack = Attack {
                target,
                spec: probe,
                vars: Vars::new(UniqueSource::new("bench")),
                key: AuthKind::Valid,
                label: "bench".into(),
                recorder,
            };
            driver::drive(attack, Duration::from_secs(10))
                .await
                .unwrap();
            let counts = per_second(&arrivals.lock().unwrap(), rate);
            let mean = counts.iter().sum::<usize>() as f64 / counts.len().max(1) as f64;
            let worst = counts
                .iter()
                .map(|c| (*c as f64 - rate).abs() / rate)
                .fold(0.0, f64::max);
            println!(
                "| {rate:.0}/s | {seconds} | {counts:?} | {:+.2}% | {:.2}% |",
                100.0 * (mean - rate) / rate,
                100.0 * worst
            );
        });
    }
}
