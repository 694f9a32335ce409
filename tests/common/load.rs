//! Shared by the load-phase test binaries: run the load phase in process against a
//! reference server with chosen faults, limits and limiter algorithm, and collect what it
//! reported.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tollgate::contract::Target;
use tollgate::event::{Event, PhaseStats, StepResult, Verdict};
use tollgate::load::perf::PerfPlan;
use tollgate::load::{self, LoadPlan};
use tollgate::profile::{self, Profile};
use tollgate::server::{Fault, FaultSet, KeyRing, LimitOverride, RunningServer, ServerConfig};
use tollgate::stop::StopSignal;

static SERIAL: Mutex<()> = Mutex::new(());

pub struct Run {
    pub steps: Vec<StepResult>,
    pub phases: Vec<PhaseStats>,
    /// Users and files still on the server after the run (the store starts empty).
    pub left_behind: usize,
    /// How long the load phase took.
    pub took: std::time::Duration,
}

impl Run {
    pub fn ids(&self, verdict: Verdict) -> Vec<String> {
        tollgate::event::ids_with(&self.steps, verdict)
    }

    /// The first check with `id`, from any step.
    pub fn check(&self, id: &str) -> Option<&tollgate::event::CheckResult> {
        self.steps
            .iter()
            .flat_map(|s| &s.checks)
            .find(|c| c.id == id)
    }

    pub fn describe(&self) -> String {
        self.steps
            .iter()
            .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
            .filter(|(_, c)| c.verdict != Verdict::Passed)
            .map(|(s, c)| {
                format!(
                    "{} › {}: {} {:?} expected {:?} got {:?} {}",
                    s.scenario, s.step, c.id, c.verdict, c.expected, c.actual, c.message
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn ouro() -> Profile {
    profile::load(Path::new("tollgate.yaml"))
        .unwrap()
        .profile
        .unwrap()
}

/// Runs the load phase for `classes` against a reference server with `faults` and `limits`.
pub fn run_load(faults: &[Fault], classes: &[&str], limits: &[&str], profile: Profile) -> Run {
    run_load_configured(|_| {}, faults, classes, limits, profile, 1.0)
}

/// The same, with any change to the server's configuration.
pub fn run_load_configured(
    configure: impl FnOnce(&mut ServerConfig),
    faults: &[Fault],
    classes: &[&str],
    limits: &[&str],
    profile: Profile,
    duration_scale: f64,
) -> Run {
    let plan = LoadPlan {
        classes: classes.iter().map(|c| c.to_string()).collect(),
        duration_scale,
        max_rps: None,
        seed: 11,
        run_id: "load-test".into(),
        long_windows: false,
        after_contract: false,
    };
    let overrides: Vec<LimitOverride> = limits.iter().map(|l| l.parse().unwrap()).collect();
    let configure = |config: &mut ServerConfig| {
        config.faults = FaultSet::new(faults.iter().copied());
        config.test_hooks = true;
        configure(config);
        config.limits.apply_overrides(&overrides);
    };
    run_phase(profile, configure, |target, sender| {
        load::run(target, plan, sender, StopSignal::new())
    })
}

/// Runs the performance workloads of `profile` (all, or `workloads`) against a reference
/// server with `faults`, its tenant keys generated, stages scaled by `duration_scale`.
pub fn run_perf(
    faults: &[Fault],
    profile: Profile,
    workloads: &[&str],
    duration_scale: f64,
) -> Run {
    run_perf_capped(faults, profile, workloads, duration_scale, None)
}

/// [`run_perf`] with the workload's peak capped at `max_rps` (`--max-rps`).
pub fn run_perf_capped(
    faults: &[Fault],
    profile: Profile,
    workloads: &[&str],
    duration_scale: f64,
    max_rps: Option<f64>,
) -> Run {
    let plan = PerfPlan {
        workloads: workloads.iter().map(|w| w.to_string()).collect(),
        duration_scale,
        max_rps,
        run_id: "perf-test".into(),
        shard: tollgate::load::shard::Shard::WHOLE,
        start_at: None,
        measure_only: false,
    };
    let configure = |config: &mut ServerConfig| {
        config.faults = FaultSet::new(faults.iter().copied());
    };
    run_phase(profile, configure, |target, sender| async move {
        load::perf::run(target, plan, sender, StopSignal::new()).await;
    })
}

/// One phase (`phase`, given the target and the event sender) against a reference server
/// for `profile` (its tenant keys generated) configured by `configure`, one at a time, on
/// a two-thread runtime of its own: what it reported and what it left in the store.
fn run_phase<Phase, Runs>(
    profile: Profile,
    configure: impl FnOnce(&mut ServerConfig),
    phase: Phase,
) -> Run
where
    Phase: FnOnce(Arc<Target>, mpsc::UnboundedSender<Event>) -> Runs,
    Runs: std::future::Future<Output = ()> + Send + 'static,
{
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ring = KeyRing::generate().with_generated_tenants(profile.tenants_needed());
        let mut config = ServerConfig::new(profile.reference, ring.clone());
        configure(&mut config);
        let server = RunningServer::start(config).await.unwrap();
        let target = Arc::new(Target::embedded(&server.base_url(), &ring, profile));
        let (sender, receiver) = mpsc::unbounded_channel();
        let started = std::time::Instant::now();
        let runner = tokio::spawn(phase(target, sender));
        let mut run = collect(receiver).await;
        runner.await.unwrap();
        run.took = started.elapsed();
        run.left_behind = left_behind(&server.base_url(), &ring).await;
        server.stop().await.unwrap();
        run
    })
}

/// Every step and phase a runner reports, until it drops its sender.
async fn collect(mut receiver: mpsc::UnboundedReceiver<Event>) -> Run {
    let mut run = Run {
        steps: Vec::new(),
        phases: Vec::new(),
        left_behind: 0,
        took: std::time::Duration::ZERO,
    };
    while let Some(event) = receiver.recv().await {
        match event {
            Event::StepFinished(step) => run.steps.push(step),
            Event::PhaseFinished(phase) => run.phases.push(*phase),
            Event::Progress(_) | Event::RunFinished { .. } => {}
        }
    }
    run
}

/// What the store still holds: users and files, counted through the API.
async fn left_behind(base_url: &str, ring: &KeyRing) -> usize {
    let key = ring
        .get(tollgate::server::KeyRole::Primary)
        .unwrap()
        .to_string();
    // Bounded: a server that stopped answering (a fault) must not hold the test.
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let mut left = 0;
    for path in ["/v1/users?limit=100", "/v1/files?limit=100"] {
        let Ok(answer) = client
            .get(format!("{base_url}{path}"))
            .header("X-API-KEY", &key)
            .send()
            .await
        else {
            continue;
        };
        let json: serde_json::Value = answer.json().await.unwrap_or_default();
        left += json["data"].as_array().map_or(0, Vec::len);
    }
    left
}
