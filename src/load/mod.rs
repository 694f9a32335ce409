//! The load phase: for each rate class of the profile, offer load under and over the
//! published limit with goose, and judge what came back — the enforced rate and burst, the
//! shape of every 429, its retry hints, recovery for a client that backs off, isolation of
//! keys, classes and modes, the concurrency limiter, and the rate headers.
//!
//! The phase is measure → judge → report: the runner here only choreographs requests and
//! collects measurements (recorders, probes), one file per part of the choreography
//! (`saturate.rs` under and over the limit, `isolation.rs`, `backoff.rs`, `long_window.rs`,
//! `concurrency.rs`); `verdict.rs` turns them into check results
//! (pure functions, tolerances derived from the limiter maths in docs/rate-limit-maths.md);
//! `stats.rs` shapes them for the report; `cleanup.rs` deletes what was created.
//! `perf/` runs the profile's performance workloads (`--only perf`) on the same driver,
//! recorders and stats: many tenants and request names in one staged schedule.
//!
//! Invariant: every measured phase starts on an idle bucket, and nothing else touches a
//! bucket while it is measured (`quiet.rs` enforces both; the back-off client, which must
//! catch a 429 of the over phase, is counted into that phase's timeline instead).

pub mod driver;
pub mod estimate;
pub mod fingerprint;
pub mod headers;
pub mod perf;
pub mod probes;
pub mod record;
pub mod schedule;
pub mod shard;
#[cfg(test)]
pub(crate) mod simulate;
pub mod tenant_vars;
pub mod timeline;

mod backoff;
pub(crate) mod cleanup;
pub mod clock;
mod concurrency;
mod isolation;
mod latency_series;
mod long_window;
pub(crate) mod measurements;
mod quiet;
mod saturate;
pub(crate) mod stats;
mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::contract::retry::Jitter;
use crate::contract::Target;
use crate::event::{CheckResult, Event, StepResult, Verdict};
use crate::profile::RateClass;
use crate::scenario::template::{UniqueSource, Vars};
use crate::scenario::{Credential, Origin, RequestSpec};
use crate::stop::StopSignal;
use cleanup::Cleanup;
use driver::{Attack, Clients};
use probes::{Probe, Prober};
use quiet::{Bucket, Quiet};
use record::Recorder;
use schedule::Schedule;

/// What to load and how hard.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Classes to run (empty: all of the profile's).
    pub classes: Vec<String>,
    /// Multiplies every phase duration.
    pub duration_scale: f64,
    /// Caps every schedule's rate.
    pub max_rps: Option<f64>,
    pub seed: u64,
    pub run_id: String,
    /// Wait out minute and hour windows' Retry-After promises (scheduled jobs).
    pub long_windows: bool,
    /// The contract phase ran just before: every bucket of the primary key is not idle.
    pub after_contract: bool,
}

/// Multiples of the limit offered in each phase.
const UNDER: f64 = 0.8;
const OVER: f64 = 2.0;
/// Base phase lengths, in windows of the class (scaled by `--duration-scale`).
const UNDER_WINDOWS: f64 = 2.0;
const OVER_WINDOWS: f64 = 4.0;
/// Windows longer than this are checked through headers, not by sustained load.
const LONGEST_SATURATED_WINDOW: f64 = 10.0;
/// A flat limiter's spacing is measured at this multiple of the limit, so arrivals come a
/// tenth of an interval apart.
const SPACING_FACTOR: f64 = 10.0;
/// Isolation probes per key or class while the load is being turned away.
const ISOLATION_PROBES: usize = 10;
/// Requests that must all be accepted one window after the load stopped.
const RECOVERY_PROBES: usize = 3;
/// The shortest pause between two sequential probes of one bucket.
const PROBE_GAP: Duration = Duration::from_millis(50);

/// Whether a short sequential probe can exhaust the class's burst.
fn saturable(class: &RateClass) -> bool {
    class.policy.burst <= 1000
}

fn per_second(class: &RateClass) -> f64 {
    class.policy.per_second()
}

/// Two intervals of the class's limit, at least `PROBE_GAP`: sequential probes this far
/// apart are admitted by every limiter family of that limit, a strict one without burst
/// included, whatever the jitter.
fn probe_gap(class: &RateClass) -> Duration {
    PROBE_GAP.max(Duration::from_secs_f64(2.0 / per_second(class)))
}

pub async fn run(
    target: Arc<Target>,
    plan: LoadPlan,
    events: mpsc::UnboundedSender<Event>,
    stop: StopSignal,
) {
    let runner = LoadRunner {
        stop,
        prober: Arc::new(Prober::new(target.clone())),
        vars: Vars::new(UniqueSource::new(&format!("{}-load", plan.run_id)))
            .with_redactor(target.redactor()),
        jitter: std::sync::Mutex::new(Jitter::new(plan.seed)),
        cleanup: Cleanup::default(),
        quiet: Quiet::default(),
        latency: std::sync::Mutex::new(Duration::ZERO),
        target,
        plan,
        events,
    };
    // The contract phase has just drawn on every bucket of the primary key.
    if runner.plan.after_contract {
        for class in &runner.target.profile().rate_limits {
            runner
                .quiet
                .touch(&Bucket::new(&class.name, Credential::PRIMARY), None);
        }
    }
    runner.concurrency().await;
    let mut classes: Vec<RateClass> = runner
        .target
        .profile()
        .rate_limits
        .iter()
        .filter(|c| runner.plan.classes.is_empty() || runner.plan.classes.contains(&c.name))
        .cloned()
        .collect();
    // Policies too large to saturate (5000/h) are read from the headers first, before a
    // tighter policy on the same requests (100/min) is driven to 429. Classes that create
    // resources go first among the rest: their deletions (paced at half the limit) then run
    // while later classes are measured instead of after the last one.
    classes.sort_by_key(|c| (saturable(c), c.cleanup.is_none()));
    let mut silent: Option<String> = None;
    for class in &classes {
        if runner.stop.is_stopped() {
            break;
        }
        if let Some(dead) = &silent {
            runner.emit_step(
                &class.name,
                "not run".into(),
                &class.probe,
                vec![CheckResult::new(
                    format!("rate.{}.transport", class.name),
                    Verdict::Skipped,
                    format!("the target stopped answering during {dead}: no more load is sent"),
                )],
            );
            continue;
        }
        if class.policy.window.as_secs_f64() > LONGEST_SATURATED_WINDOW {
            runner.long_window(class).await;
        } else if runner.saturate(class).await == Answered::Mostly {
            silent = Some(class.name.clone());
        }
    }
    runner.finish_cleanup().await;
    if runner.quiet.refused() > 0 {
        tracing::error!(
            "{} probe(s) touched a bucket while it was measured: the load phase's choreography is wrong",
            runner.quiet.refused()
        );
    }
}

struct LoadRunner {
    /// The run's stop: no phase starts after it, and the phase in progress ends with it.
    stop: StopSignal,
    target: Arc<Target>,
    plan: LoadPlan,
    events: mpsc::UnboundedSender<Event>,
    prober: Arc<Prober>,
    vars: Vars,
    jitter: std::sync::Mutex<Jitter>,
    cleanup: Cleanup,
    quiet: Quiet,
    /// The target's latest p99 answer time under load (goose users are sized from it).
    latency: std::sync::Mutex<Duration>,
}

/// Whether a class's first phase got answers: a target that stopped answering ends the load
/// phase, instead of costing a timeout per phase and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answered {
    Yes,
    Mostly,
}

impl LoadRunner {
    fn emit_step(
        &self,
        class: &str,
        step: String,
        request: &RequestSpec,
        checks: Vec<CheckResult>,
    ) {
        let origin = Origin {
            file: self.target.profile().file.clone(),
            line: request.origin.line,
            col: request.origin.col,
        };
        let checks = checks
            .into_iter()
            .map(|c| if c.origin.is_none() { c.at(&origin) } else { c })
            .collect();
        let _ = self.events.send(Event::StepFinished(StepResult {
            scenario: format!("rate limits · {class}"),
            file: self.target.profile().file.clone(),
            step,
            request: format!("{} {}", request.method, request.path.source()),
            origin,
            attempts: Vec::new(),
            checks,
        }));
    }

    fn scaled(&self, windows: f64, class: &RateClass) -> Duration {
        Duration::from_secs_f64(
            windows * class.policy.window.as_secs_f64() * self.plan.duration_scale.max(0.1),
        )
    }

    fn capped(&self, rate: f64) -> f64 {
        self.plan.max_rps.map_or(rate, |cap| rate.min(cap))
    }

    fn recorder(&self, class: &RateClass, rate: f64, duration: Duration) -> Arc<Recorder> {
        Arc::new(Recorder::new(
            Schedule::new(rate, duration),
            self.target.profile().errors.schema.clone(),
            Some(class.name.clone()),
            class.cleanup.is_some(),
        ))
    }

    /// One request to `class`'s bucket under `key`, outside any measured phase: stamped on
    /// the quiet clock, and whatever it created remembered for deletion.
    /// A bucket under measurement refuses it: the probe is not sent.
    async fn probe(&self, class: &RateClass, key: Credential) -> Probe {
        let bucket = Bucket::new(&class.name, key);
        if !self.quiet.touch(&bucket, None) {
            return Probe::not_sent(format!("{} is being measured", class.name));
        }
        let probe = self
            .prober
            .send(&class.probe, &self.vars, key, Some(&class.name))
            .await;
        self.quiet.touch(&bucket, retry_after_s(&probe));
        self.remember_created(class, key, &probe);
        probe
    }

    /// A request to the bucket `phase` measures (the back-off client): counted into the
    /// phase's timeline while the phase runs, stamped on the quiet clock after.
    async fn probe_counted(&self, class: &RateClass, phase: &Recorder) -> Probe {
        let sent = Instant::now();
        let probe = self
            .prober
            .send(
                &class.probe,
                &self.vars,
                Credential::PRIMARY,
                Some(&class.name),
            )
            .await;
        let bucket = Bucket::new(&class.name, Credential::PRIMARY);
        if !self
            .quiet
            .stamp_unless_measured(&bucket, retry_after_s(&probe))
        {
            phase.count_extra(sent, probe.status().unwrap_or(0));
        }
        self.remember_created(class, Credential::PRIMARY, &probe);
        probe
    }

    fn remember_created(&self, class: &RateClass, key: Credential, probe: &Probe) {
        if !probe.accepted() || class.cleanup.is_none() {
            return;
        }
        if let Some(id) = probe
            .exchange
            .as_ref()
            .and_then(|e| record::created_id(&e.body))
        {
            self.cleanup.remember(class, key, vec![id]);
        }
    }

    /// One goose phase into `recorder`, on an idle bucket; what write probes created is
    /// cleaned up after the class.
    async fn phase(&self, class: &RateClass, name: &str, recorder: Arc<Recorder>) -> Arc<Recorder> {
        let bucket = Bucket::new(&class.name, Credential::PRIMARY);
        unless_stopped(
            &self.stop,
            self.quiet
                .measure(&bucket, class.policy.window.as_secs_f64()),
            (),
        )
        .await;
        let attack = Attack {
            target: self.target.clone(),
            vars: self.vars.clone(),
            label: format!("{} {name}", class.name),
            schedule: recorder.schedule.clone(),
            lanes: vec![driver::Lane::new(
                class.probe.clone(),
                Credential::PRIMARY,
                recorder.clone(),
            )],
            route: None,
            // A few dozen users at a class's 0.8× and 2×: one shared client suffices.
            clients: Clients::Shared(self.target.load_client()),
            stop: self.stop.clone(),
        };
        let ticker = self.progress_ticker(class, name, recorder.clone());
        let latency = *self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let driven = driver::drive(attack, self.prober.timeout, latency).await;
        // The next phase sizes its users from what this one measured.
        let p99 = recorder.latencies().1.value_at_quantile(0.99);
        if p99 > 0 {
            *self.latency.lock().unwrap_or_else(|e| e.into_inner()) = Duration::from_micros(p99);
        }
        ticker.abort();
        if let Err(e) = driven {
            tracing::error!("load phase {} {name}: {e}", class.name);
        }
        let longest = recorder
            .evidence()
            .retry_after
            .iter()
            .filter_map(|r| r.wait())
            .map(|d| d.as_secs_f64())
            .fold(None, |m: Option<f64>, w| Some(m.map_or(w, |m| m.max(w))));
        self.quiet.phase_ended(&bucket, longest);
        self.cleanup
            .remember(class, Credential::PRIMARY, recorder.created());
        recorder
    }

    /// Live counts every 200 ms while a phase runs; reporters decide whether to show them.
    fn progress_ticker(
        &self,
        class: &RateClass,
        name: &str,
        recorder: Arc<Recorder>,
    ) -> tokio::task::JoinHandle<()> {
        let events = self.events.clone();
        let (class, phase) = (class.name.clone(), name.to_string());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let progress = recorder.progress(&class, &phase);
                if events.send(Event::Progress(progress)).is_err() {
                    return;
                }
            }
        })
    }

    /// The quotas a rate header on `class`'s answers may announce: its own, and those of
    /// every class probed by the same request (100/min and 5000/h on one endpoint).
    fn published_limits(&self, class: &RateClass) -> Vec<i64> {
        let mut quotas: Vec<i64> = self
            .classes_drawn_on(&class.probe)
            .iter()
            .chain(std::iter::once(class))
            .map(|c| i64::from(c.policy.quota))
            .collect();
        quotas.sort_unstable();
        quotas.dedup();
        quotas
    }

    /// The classes whose bucket `spec` may draw on: those probed by the same method and
    /// path, or every class when none is (the bucket is unknown).
    fn classes_drawn_on(&self, spec: &RequestSpec) -> Vec<RateClass> {
        let classes = &self.target.profile().rate_limits;
        let same: Vec<RateClass> = classes
            .iter()
            .filter(|c| {
                c.probe.method == spec.method && c.probe.path.source() == spec.path.source()
            })
            .cloned()
            .collect();
        if same.is_empty() {
            classes.clone()
        } else {
            same
        }
    }

    async fn finish_cleanup(&self) {
        let classes = self.target.profile().rate_limits.clone();
        let Some((created, check)) = self
            .cleanup
            .finish(&classes, &self.prober, &self.vars)
            .await
        else {
            return;
        };
        let _ = self.events.send(Event::StepFinished(StepResult {
            scenario: "rate limits · cleanup".into(),
            file: self.target.profile().file.clone(),
            step: format!("delete {created} created resources"),
            request: String::new(),
            origin: Origin::default(),
            attempts: Vec::new(),
            checks: vec![check],
        }));
    }
}

/// `work`, or `instead` as soon as the run is stopped: probes and the back-off client must
/// not hold up the report of a stopped run.
async fn unless_stopped<T>(
    stop: &StopSignal,
    work: impl std::future::Future<Output = T>,
    instead: T,
) -> T {
    tokio::select! {
        result = work => result,
        () = stop.stopped() => instead,
    }
}

/// Waits (up to `within`) for `phase`'s schedule to start; when it did.
async fn started(phase: &Recorder, within: Duration) -> Option<Instant> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(start) = phase.schedule.started() {
            return Some(start);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The wait a 429 answer asked for, in seconds.
fn retry_after_s(probe: &Probe) -> Option<f64> {
    probe
        .rate
        .retry_after
        .as_ref()
        .and_then(|r| r.wait())
        .map(|d| d.as_secs_f64())
}
