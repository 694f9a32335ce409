//! The load phase: for each rate class of the profile, offer load under and over the
//! published limit with goose, and judge what came back — the enforced rate and burst, the
//! shape of every 429, its retry hints, recovery for a client that backs off, isolation of
//! keys, classes and modes, the concurrency limiter, and the rate headers.
//!
//! The phase is measure → judge → report: the runner here only choreographs requests and
//! collects measurements (recorders, probes); `verdict.rs` turns them into check results
//! (pure functions, tolerances derived from the limiter maths in docs/rate-limit-maths.md);
//! `stats.rs` shapes them for the report; `cleanup.rs` deletes what was created.
//!
//! Invariant: every measured phase starts on an idle bucket, and nothing else touches a
//! bucket while it is measured (`quiet.rs` enforces both; the back-off client, which must
//! catch a 429 of the over phase, is counted into that phase's timeline instead).

pub mod driver;
pub mod estimate;
pub mod fingerprint;
pub mod headers;
pub mod probes;
pub mod record;
#[cfg(test)]
pub(crate) mod simulate;
pub mod timeline;

mod cleanup;
mod quiet;
mod stats;
mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::contract::retry::Jitter;
use crate::contract::Target;
use crate::event::{CheckResult, Event, StepResult, Verdict};
use crate::keys::KeyRole;
use crate::profile::RateClass;
use crate::scenario::template::{UniqueSource, Vars};
use crate::scenario::{Credential, Origin, RequestSpec};
use crate::stop::StopSignal;
use cleanup::Cleanup;
use driver::Attack;
use fingerprint::Family;
use probes::{Probe, Prober};
use quiet::{Bucket, Quiet};
use record::{Recorder, Schedule};
use stats::phase_stats;
use verdict::{
    enforced, headers_check, isolation_result, retry_after_check, shape_check, transport_check,
    under_check, unjudgeable, unless_unjudgeable, verdict, worst_case_check, Spacing,
};

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
    class.policy.quota as f64 / class.policy.window.as_secs_f64()
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

/// Isolation results: the step label and its check.
struct IsolationStep {
    step: String,
    result: CheckResult,
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
            .and_then(|e| e.json().ok())
            .and_then(|v| v.get("id").cloned())
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
            spec: class.probe.clone(),
            vars: self.vars.clone(),
            key: Credential::PRIMARY,
            label: format!("{} {name}", class.name),
            recorder: recorder.clone(),
            client: Some(self.target.client()),
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

    /// Under, over (with isolation probes and the back-off client), back-off and recovery.
    /// `Answered::Mostly` when the under phase mostly got no answer (the class stops there).
    async fn saturate(&self, class: &RateClass) -> Answered {
        let c = &class.name;
        let limit = per_second(class);
        let window = class.policy.window.as_secs_f64();
        let mut checks = Vec::new();

        // Under the limit.
        let under_rate = self.capped(UNDER * limit);
        let under = self
            .phase(
                class,
                "under",
                self.recorder(class, under_rate, self.scaled(UNDER_WINDOWS, class)),
            )
            .await;
        let under_totals = under.timeline().totals();
        let under_unjudgeable = unjudgeable(&under.scheduled(), under_rate, under.schedule.count);
        let stats = phase_stats(class, "under", &under, None);
        let under_offered = stats.offered_rate;
        if let Some(max) = class.max_p95_ms {
            checks.push(verdict(
                format!("rate.{c}.latency"),
                stats.latency.p95_ms <= max as f64,
                format!("p95 ≤ {max} ms under the limit"),
                format!(
                    "p95 {:.1} ms (p50 {:.1}, p99 {:.1})",
                    stats.latency.p95_ms, stats.latency.p50_ms, stats.latency.p99_ms
                ),
            ));
        }
        let _ = self.events.send(Event::PhaseFinished(stats));
        let under_evidence = under.evidence();
        let mut failures = under.failures();
        let mut sent = under_totals.sent;
        if self.stop.is_stopped() {
            // Stopped mid-phase: keep what it measured, judge only what that supports.
            checks.insert(
                0,
                unless_unjudgeable(
                    under_unjudgeable.as_ref(),
                    under_check(c, &under_totals, under_offered, None),
                ),
            );
            checks.push(transport_check(c, sent, &failures));
            self.emit_step(
                c,
                format!("under · {under_rate:.1}/s (stopped)"),
                &class.probe,
                checks,
            );
            return Answered::Yes;
        }
        if under_totals.failed * 2 > under_totals.sent {
            // A target that does not answer is not a limiter to judge: say so, and stop.
            checks.insert(
                0,
                CheckResult::new(
                    format!("rate.{c}.under"),
                    Verdict::Skipped,
                    under_unjudgeable.clone().unwrap_or_default(),
                ),
            );
            checks.push(transport_check(c, sent, &failures));
            self.emit_step(
                c,
                format!("under · {under_rate:.1}/s"),
                &class.probe,
                checks,
            );
            return Answered::Mostly;
        }
        // Judged once the over phase has shown which kind of limiter this is.
        let mut under_checks = std::mem::take(&mut checks);

        // Over the limit, on an idle bucket again (the quiet clock waits), so its trace shows
        // the limiter's own burst (fingerprint.rs) and its first answers count down.
        let over_rate = self.capped(OVER * limit);
        let over_duration = self.scaled(OVER_WINDOWS, class);
        let over = self.recorder(class, over_rate, over_duration);
        let (over, isolation, backoff) = tokio::join!(
            self.phase(class, "over", over.clone()),
            unless_stopped(
                &self.stop,
                self.isolation_while_saturated(class, &over, over_duration),
                Vec::new()
            ),
            unless_stopped(
                &self.stop,
                self.backoff_at_end(class, &over, window),
                CheckResult::new(
                    format!("rate.{c}.backoff"),
                    Verdict::Skipped,
                    "the run was stopped before the back-off client could finish",
                )
            )
        );
        if self.stop.is_stopped() && over.scheduled().totals().sent == 0 {
            // Stopped before the over phase sent anything: the under phase is all there is.
            under_checks.insert(
                0,
                unless_unjudgeable(
                    under_unjudgeable.as_ref(),
                    under_check(c, &under_totals, under_offered, None),
                ),
            );
            let step = format!("under · {under_rate:.1}/s");
            self.emit_step(c, step, &class.probe, under_checks);
            return Answered::Yes;
        }
        let mut load_end = over.schedule.end().unwrap_or_else(Instant::now);
        let timeline = over.timeline();
        let over_unjudgeable = unjudgeable(&over.scheduled(), over_rate, over.schedule.count);
        failures.merge(&over.failures());
        sent += over.scheduled().totals().sent;
        let estimated = estimate::estimate(&timeline, window);
        let fingerprint = estimated
            .as_ref()
            .ok()
            .and_then(|e| fingerprint::fingerprint(&timeline, class.policy.quota, window, e.rate));
        let mut stats = phase_stats(class, "over", &over, estimated.as_ref().ok());
        stats.fingerprint = fingerprint.clone();
        let _ = self.events.send(Event::PhaseFinished(stats));
        // A flat limiter's rate is its spacing, which 2x the limit cannot resolve.
        let spacing = match &fingerprint {
            Some(f) if f.family == Family::Flat && !self.stop.is_stopped() => {
                let (spacing, end) = self.spacing(class).await;
                load_end = end;
                Some(spacing)
            }
            _ => None,
        };
        under_checks.insert(
            0,
            unless_unjudgeable(
                under_unjudgeable.as_ref(),
                under_check(c, &under_totals, under_offered, fingerprint.as_ref()),
            ),
        );
        self.emit_step(
            c,
            format!(
                "under · {under_rate:.1}/s for {:.0} s",
                self.scaled(UNDER_WINDOWS, class).as_secs_f64()
            ),
            &class.probe,
            under_checks,
        );
        checks.push(enforced(
            c,
            &estimated,
            fingerprint.as_ref(),
            spacing.as_ref(),
            over_rate,
            limit,
        ));
        if let Some(max) = class.max_burst {
            checks.push(worst_case_check(c, fingerprint.as_ref(), max, window));
        }
        let evidence = over.evidence();
        checks.push(shape_check(c, &evidence, &under_evidence));
        checks.push(retry_after_check(
            c,
            &evidence,
            window,
            Some((&timeline, over_rate)),
        ));
        checks.push(headers_check(
            c,
            &over.remaining_samples(),
            &over.header_summary(),
            &evidence,
            window,
            limit,
            &self.published_limits(class),
        ));
        let mut checks: Vec<CheckResult> = checks
            .into_iter()
            .map(|check| unless_unjudgeable(over_unjudgeable.as_ref(), check))
            .collect();
        checks.push(transport_check(c, sent, &failures));
        self.emit_step(
            c,
            format!(
                "over · {over_rate:.1}/s for {:.0} s",
                over_duration.as_secs_f64()
            ),
            &class.probe,
            std::mem::take(&mut checks),
        );
        for IsolationStep { step, result } in isolation {
            let request = self.isolation_request(class, &result.id);
            self.emit_step(c, step, &request, vec![result]);
        }
        if self.stop.is_stopped() {
            self.emit_step(
                c,
                "back-off and recovery".into(),
                &class.probe,
                vec![backoff],
            );
            return Answered::Yes;
        }
        let backoff = self.recovery(class, load_end, backoff).await;
        self.emit_step(
            c,
            "back-off and recovery".into(),
            &class.probe,
            vec![backoff],
        );
        self.cleanup
            .start(class, self.prober.clone(), self.vars.clone());
        Answered::Yes
    }

    /// The request an isolation step sent: the companion class's for `rate.isolation.class`.
    fn isolation_request(&self, class: &RateClass, id: &str) -> RequestSpec {
        match (id, self.companion(class)) {
            ("rate.isolation.class", Some(other)) => other.probe,
            _ => class.probe.clone(),
        }
    }

    /// One full window after the load stopped, a few requests spaced within the limit must
    /// all be accepted; otherwise the back-off verdict fails.
    async fn recovery(
        &self,
        class: &RateClass,
        load_end: Instant,
        backoff: CheckResult,
    ) -> CheckResult {
        let window = class.policy.window.as_secs_f64();
        let since_end = load_end.elapsed().as_secs_f64();
        if since_end < window {
            tokio::time::sleep(Duration::from_secs_f64(window - since_end + 0.05)).await;
        }
        let mut statuses = Vec::new();
        for i in 0..RECOVERY_PROBES {
            if i > 0 {
                tokio::time::sleep(probe_gap(class)).await;
            }
            let probe = self.probe(class, Credential::PRIMARY).await;
            statuses.push(probe.status().unwrap_or(0));
        }
        let recovered = statuses.iter().all(|s| (200..300).contains(s));
        if backoff.verdict == Verdict::Passed && !recovered {
            return CheckResult::failed(
                format!("rate.{}.backoff", class.name),
                format!(
                    "{RECOVERY_PROBES} requests {:.0} ms apart accepted one window ({window} s) after the load stopped",
                    probe_gap(class).as_secs_f64() * 1000.0
                ),
                format!("statuses {statuses:?}"),
            );
        }
        backoff
    }

    /// Arrivals at ten times the limit for at least 30 intervals: a flat limiter admits one
    /// per interval, so the gaps between admitted requests are its rate to about a
    /// millisecond. Returns when the phase ended.
    async fn spacing(&self, class: &RateClass) -> (Spacing, Instant) {
        let limit = per_second(class);
        let rate = self.capped(SPACING_FACTOR * limit);
        let seconds = (30.0 / limit).max(0.5);
        let recorder = self.recorder(class, rate, Duration::from_secs_f64(seconds));
        let recorder = self.phase(class, "spacing", recorder).await;
        let end = recorder.schedule.end().unwrap_or_else(Instant::now);
        let timeline = recorder.timeline();
        let stats = phase_stats(class, "spacing", &recorder, None);
        let _ = self.events.send(Event::PhaseFinished(stats));
        let spacing = Spacing {
            offered: estimate::offered_rate(&timeline).unwrap_or(rate),
            gap: fingerprint::median_gap(&fingerprint::accepted_times(&timeline)),
        };
        (spacing, end)
    }

    /// While `class` is saturated: another key, the test-mode key and another class, each
    /// probed on its own at the same time (a shared bucket only rejects more).
    async fn isolation_while_saturated(
        &self,
        class: &RateClass,
        phase: &Recorder,
        over: Duration,
    ) -> Vec<IsolationStep> {
        // Wait for the first 429 of the over phase — by then the bucket is empty. The phase
        // itself may first wait for its bucket to be idle.
        let saturated = match started(phase, self.longest_idle_wait(class)).await {
            None => false,
            Some(start) => {
                let deadline = start + over;
                loop {
                    if phase.saturated() {
                        break true;
                    }
                    if Instant::now() >= deadline {
                        break false;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        let never = |id: &str| {
            CheckResult::new(
                id,
                Verdict::Skipped,
                format!("{} was never saturated", class.name),
            )
        };
        let key_probe = |id: &'static str, key: Credential, seed: u64| async move {
            let step = format!(
                "isolation · {} key while {} is saturated",
                if key == Credential::Key(KeyRole::Second) {
                    "second"
                } else {
                    "test-mode"
                },
                class.name
            );
            let result = if !saturated {
                never(id)
            } else if let Err(reason) = self.target.key(key) {
                CheckResult::new(id, Verdict::Skipped, reason)
            } else {
                let statuses = self.while_loaded(phase, class, key, seed).await;
                isolation_result(id, &statuses)
            };
            IsolationStep { step, result }
        };
        let companion = self.companion(class);
        let class_probe = async {
            let other = companion.as_ref()?;
            let id = "rate.isolation.class";
            let step = format!(
                "isolation · {} while {} is saturated",
                other.name, class.name
            );
            let result = if saturated {
                let statuses = self
                    .while_loaded(phase, other, Credential::PRIMARY, 3)
                    .await;
                isolation_result(id, &statuses)
            } else {
                never(id)
            };
            Some(IsolationStep { step, result })
        };
        let (key, mode, other) = tokio::join!(
            key_probe("rate.isolation.key", Credential::Key(KeyRole::Second), 1),
            key_probe("rate.isolation.mode", Credential::Key(KeyRole::TestMode), 2),
            class_probe
        );
        let mut results = vec![key, mode];
        results.extend(other);
        results
    }

    /// The longest a measured phase of `class` can wait for its bucket to go idle, plus
    /// slack: how long its companions wait for it to start.
    fn longest_idle_wait(&self, class: &RateClass) -> Duration {
        Duration::from_secs_f64(6.0 * class.policy.window.as_secs_f64() + 5.0)
    }

    /// Probes of `probed`'s bucket under `key` at random moments while the load runs. A
    /// probe that shares the saturated bucket finds it closed at least half the time under
    /// every family (between two openings of a bucket, in the second half of a window), so
    /// ten of them all passing by chance is under 0.1%; an isolated bucket rejects none.
    async fn while_loaded(
        &self,
        phase: &Recorder,
        probed: &RateClass,
        key: Credential,
        seed: u64,
    ) -> Vec<u16> {
        let mut jitter = Jitter::new(self.plan.seed ^ seed);
        let gap = probe_gap(probed);
        let mut statuses = Vec::new();
        for i in 0..ISOLATION_PROBES {
            if i > 0 {
                // Two intervals of the probed bucket's own limit at least, so even a limiter
                // without burst admits each; random, so the probes cannot lock onto the
                // load's rhythm.
                tokio::time::sleep(gap + jitter.up_to(gap)).await;
            }
            let over = phase
                .schedule
                .end()
                .is_some_and(|end| Instant::now() >= end);
            if over || phase.finished() >= phase.schedule.count {
                break;
            }
            let probe = self.probe(probed, key).await;
            statuses.push(probe.status().unwrap_or(0));
        }
        statuses
    }

    /// The class whose bucket must stay untouched: read ↔ write, anything else → read.
    fn companion(&self, class: &RateClass) -> Option<RateClass> {
        let classes = &self.target.profile().rate_limits;
        let wanted = match class.name.as_str() {
            "read" => "write",
            _ => "read",
        };
        classes
            .iter()
            .find(|c| c.name == wanted && c.name != class.name && c.cleanup.is_none())
            .cloned()
            .or_else(|| {
                classes
                    .iter()
                    .find(|c| c.name == wanted && c.name != class.name)
                    .cloned()
            })
    }

    /// The back-off client starts as the last request of the over phase goes out, while the
    /// bucket is still empty.
    async fn backoff_at_end(
        &self,
        class: &RateClass,
        phase: &Recorder,
        window: f64,
    ) -> CheckResult {
        let end = match started(phase, self.longest_idle_wait(class)).await {
            Some(_) => phase.schedule.end(),
            None => None,
        };
        let Some(end) = end else {
            return CheckResult::new(
                format!("rate.{}.backoff", class.name),
                Verdict::Skipped,
                "the load phase never started",
            );
        };
        // Catch a 429 in the last moments of the load, so the wait starts as the load stops;
        // each try costs a round trip, so the window to catch one grows with the latency.
        // Bounded: it must start inside the phase's last moments, whatever the latency.
        let latency = *self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let lead = Duration::from_millis(150) + (latency * 2).min(Duration::from_millis(250));
        tokio::time::sleep_until(end.checked_sub(lead).unwrap_or(end).into()).await;
        let catch_until =
            end + Duration::from_millis(100) + (latency * 2).min(Duration::from_secs(1));
        self.backoff(class, window, catch_until, Some(phase)).await
    }

    async fn backoff(
        &self,
        class: &RateClass,
        window: f64,
        catch_until: Instant,
        phase: Option<&Recorder>,
    ) -> CheckResult {
        let id = format!("rate.{}.backoff", class.name);
        // Short windows: ten windows of patience. Minute and hour windows: a promise is
        // waited out only when the run was told it may take that long (--long-windows);
        // otherwise ten seconds, and a longer promise is recorded, not judged.
        let deadline = if window > LONGEST_SATURATED_WINDOW {
            Duration::from_secs_f64(if self.plan.long_windows {
                window + 10.0
            } else {
                10.0
            })
        } else {
            Duration::from_secs_f64((window * 10.0).max(5.0))
        };
        let mut jitter = self
            .jitter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let send = || async {
            match phase {
                Some(phase) => self.probe_counted(class, phase).await,
                None => self.probe(class, Credential::PRIMARY).await,
            }
        };
        let recovery = probes::back_off(send, catch_until, deadline, &mut jitter).await;
        let slack = (window * 0.5).max(0.5);
        match (
            recovery.not_limited,
            recovery.promised,
            recovery.recovered_after,
        ) {
            (true, _, Some(_)) => CheckResult::new(
                id,
                Verdict::Skipped,
                "the back-off client never caught a 429 while the load ran",
            ),
            (false, promised, None) if recovery.beyond_budget.is_some() => {
                let wait = recovery.beyond_budget.unwrap_or_default();
                let how = if window > LONGEST_SATURATED_WINDOW {
                    "run with --long-windows to wait it out"
                } else {
                    "far beyond a window of the limit: rate.<class>.retry-after judges the promise itself"
                };
                let mut check = CheckResult::new(
                    id,
                    Verdict::Skipped,
                    format!(
                        "the 429 asked to wait {wait:.0} s, longer than this run waits ({:.0} s): the promise is recorded, not tested ({how})",
                        deadline.as_secs_f64()
                    ),
                );
                check.expected = Some(format!(
                    "a 2xx within the promised {:.0} s",
                    promised.unwrap_or(wait)
                ));
                check
            }
            (true, _, None) if recovery.unanswered => CheckResult::new(
                id,
                Verdict::Skipped,
                "the back-off client's request got no answer (see rate.<class>.transport)",
            ),
            (true, _, None) => CheckResult::new(
                id,
                Verdict::Failed,
                "the first request after the load was neither a 429 nor a 2xx",
            ),
            (false, promised, Some(after)) => {
                let promise = promised.unwrap_or(window);
                let rtt = recovery.round_trip;
                verdict(
                    id,
                    after <= promise + slack + rtt,
                    format!("a 2xx within {promise:.1} s (the promised wait) + {slack:.1} s + the retry's round trip ({rtt:.2} s)"),
                    format!("2xx after {after:.2} s and {} attempts", recovery.attempts),
                )
            }
            (false, promised, None) => CheckResult::failed(
                id,
                format!(
                    "a 2xx within {:.1} s + {slack:.1} s",
                    promised.unwrap_or(window)
                ),
                format!(
                    "still limited after {:.0} s of backing off ({} attempts)",
                    deadline.as_secs_f64(),
                    recovery.attempts
                ),
            ),
        }
    }

    /// Minute and hour windows: saturate sequentially and read the headers.
    async fn long_window(&self, class: &RateClass) {
        let c = &class.name;
        let reason = format!(
            "a {} s window: a sustained-rate estimate needs several windows of load; the limit is checked through rate.{c}.headers",
            class.policy.window.as_secs()
        );
        let mut checks = vec![
            CheckResult::new(format!("rate.{c}.under"), Verdict::Skipped, reason.clone()),
            CheckResult::new(format!("rate.{c}.enforced"), Verdict::Skipped, reason),
        ];
        let saturable = saturable(class);
        let n = if saturable {
            class.policy.burst as usize + 5
        } else {
            5
        };
        let mut seen: Vec<(u16, Option<i64>)> = Vec::new();
        let mut first_429 = None;
        for _ in 0..n {
            let probe = self.probe(class, Credential::PRIMARY).await;
            let status = probe.status().unwrap_or(0);
            seen.push((status, probe.rate.remaining));
            if status == 429 {
                first_429 = Some(probe);
                break;
            }
        }
        let remaining: Vec<i64> = seen
            .iter()
            .filter(|(s, _)| (200..300).contains(s))
            .filter_map(|(_, r)| *r)
            .collect();
        checks.push(if remaining.is_empty() {
            CheckResult::new(
                format!("rate.{c}.headers"),
                Verdict::Skipped,
                "no rate-limit headers on the answers",
            )
        } else {
            let steps_of_one = remaining.windows(2).filter(|w| w[0] - w[1] == 1).count();
            let pairs = remaining.len().saturating_sub(1);
            let counts_down = pairs > 0 && steps_of_one * 10 >= pairs * 9;
            let reaches_zero = !saturable || first_429.is_none() || remaining.last() == Some(&0);
            verdict(
                format!("rate.{c}.headers"),
                counts_down && reaches_zero,
                "Remaining drops by one per request and is 0 when the first 429 comes".into(),
                format!(
                    "{steps_of_one} of {pairs} steps dropped by one; last Remaining before 429: {}",
                    remaining.last().map_or("-".into(), |r| r.to_string())
                ),
            )
        });
        match first_429 {
            Some(probe) => {
                let mut evidence = record::LimitEvidence::default();
                let exchange = probe.exchange.as_ref().expect("a 429 has an answer");
                evidence.observe(
                    exchange.status,
                    &probe.rate,
                    &exchange.body,
                    &self.target.profile().errors.schema,
                );
                checks.push(shape_check(c, &evidence, &record::LimitEvidence::default()));
                checks.push(retry_after_check(
                    c,
                    &evidence,
                    class.policy.window.as_secs_f64(),
                    None,
                ));
                let window = class.policy.window.as_secs_f64();
                checks.push(self.backoff(class, window, Instant::now(), None).await);
            }
            None => {
                let why = if saturable {
                    format!(
                        "no 429 after {n} requests: the limit of {} per window is not enforced",
                        class.policy.burst
                    )
                } else {
                    format!(
                        "a burst of {} is not exhausted by a short probe",
                        class.policy.burst
                    )
                };
                let verdict = if saturable {
                    Verdict::Failed
                } else {
                    Verdict::Skipped
                };
                for what in ["429-shape", "retry-after", "backoff"] {
                    checks.push(CheckResult::new(
                        format!("rate.{c}.{what}"),
                        verdict,
                        why.clone(),
                    ));
                }
            }
        }
        self.emit_step(
            c,
            format!("{} sequential requests", seen.len()),
            &class.probe,
            checks,
        );
    }

    /// More than the allowed requests in flight: the excess gets 429.
    async fn concurrency(&self) {
        let id = "rate.concurrency";
        let Some(spec) = self.target.profile().concurrency.clone() else {
            return;
        };
        if !self.plan.classes.is_empty() && !self.plan.classes.iter().any(|c| c == "concurrency") {
            return;
        }
        let n = spec.limit as usize + 5;
        // The slow requests draw on a rate bucket too (search: 20/s): sent faster than its
        // limit, a strict limiter would refuse them by rate and the probe would blame the
        // concurrency limiter. One and a half intervals of the tightest such limit apart
        // (at most 1 s in all at generous limits).
        let drawn_on = self.classes_drawn_on(&spec.probe);
        let tightest = drawn_on
            .iter()
            .map(per_second)
            .fold(f64::INFINITY, f64::min);
        let gap = if tightest.is_finite() {
            1.5 / tightest
        } else {
            0.0
        };
        let spread = Duration::from_secs_f64((gap * n as f64).max(1.0));
        let results = probes::concurrent(&self.prober, &spec.probe, &self.vars, n, spread).await;
        // Whatever bucket the slow requests drew on is not idle now.
        let longest = Some(spread.as_secs_f64() + 1.0);
        for class in drawn_on {
            self.quiet
                .touch(&Bucket::new(&class.name, Credential::PRIMARY), longest);
        }
        let ok = results
            .iter()
            .filter(|(s, _)| (200..300).contains(s))
            .count();
        let limited = results.iter().filter(|(s, _)| *s == 429).count();
        let fastest = results
            .iter()
            .filter(|(s, _)| (200..300).contains(s))
            .map(|(_, t)| *t)
            .fold(f64::INFINITY, f64::min);
        let check = if fastest.is_finite() && fastest < spread.as_secs_f64() {
            CheckResult::new(id, Verdict::Skipped, format!("the probe answered in {:.0} ms; it must stay open longer than the {:.2} s it takes to send {n} requests within the probed class's rate limit (raise the probe's delay)", fastest * 1000.0, spread.as_secs_f64()))
        } else {
            verdict(
                id.into(),
                ok == spec.limit as usize && limited == n - ok,
                format!(
                    "{} of {n} overlapping requests accepted, {} rejected with 429",
                    spec.limit,
                    n - spec.limit as usize
                ),
                format!(
                    "{ok} accepted, {limited} rejected with 429, {} other",
                    n - ok - limited
                ),
            )
        };
        let _ = self.events.send(Event::StepFinished(StepResult {
            scenario: "rate limits · concurrency".into(),
            file: self.target.profile().file.clone(),
            step: format!("{n} slow requests at once (limit {})", spec.limit),
            request: format!("{} {}", spec.probe.method, spec.probe.path.source()),
            origin: Origin {
                file: self.target.profile().file.clone(),
                line: spec.probe.origin.line,
                col: spec.probe.origin.col,
            },
            attempts: Vec::new(),
            checks: vec![check],
        }));
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
