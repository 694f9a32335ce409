//! The load phase: for each rate class of the profile, offer load under and over the
//! published limit with goose, and judge what came back — the enforced rate and burst, the
//! shape of every 429, its retry hints, recovery for a client that backs off, isolation of
//! keys, classes and modes, the concurrency limiter, and the rate headers.
//!
//! Every tolerance is derived from the limiter maths (`accepted ≈ burst + rate × time`, see
//! shared/notes/rate-limit-maths.md) and printed with its result.

pub mod driver;
pub mod estimate;
pub mod fingerprint;
pub mod headers;
pub mod probes;
pub mod record;
#[cfg(test)]
pub(crate) mod simulate;
pub mod timeline;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::contract::retry::Jitter;
use crate::contract::Target;
use crate::event::{CheckResult, Event, Latency, PhaseStats, SecondCounts, StepResult, Verdict};
use crate::profile::RateClass;
use crate::scenario::template::{UniqueSource, Vars};
use crate::scenario::{AuthKind, Origin, RequestSpec};
use driver::Attack;
use estimate::Estimate;
use fingerprint::{Family, Fingerprint};
use probes::Prober;
use record::{HeaderSummary, Recorder, Schedule};
use timeline::{Bin, Timeline};

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
}

/// Multiples of the limit offered in each phase.
const UNDER: f64 = 0.8;
const OVER: f64 = 2.0;
/// Base phase lengths, in windows of the class (scaled by `--duration-scale`).
const UNDER_WINDOWS: f64 = 2.0;
const OVER_WINDOWS: f64 = 4.0;
/// Windows longer than this are checked through headers, not by sustained load.
const LONGEST_SATURATED_WINDOW: f64 = 10.0;
/// 429s tolerated below the limit: strict leaky buckets and moving windows may reject a few
/// requests from client-side jitter even under smooth arrivals.
const UNDER_TOLERANCE: f64 = 0.01;
/// The published limit must be met within this fraction.
const RATE_TOLERANCE: f64 = 0.10;
/// A flat limiter's spacing is measured at this multiple of the limit, so arrivals come a
/// tenth of an interval apart.
const SPACING_FACTOR: f64 = 10.0;
/// Timeline resolution, and the client-side jitter allowed on top of an arrival gap.
const BIN_S: f64 = 0.001;
const JITTER_S: f64 = 0.002;
/// Isolation probes per key or class while the load is being turned away.
const ISOLATION_PROBES: usize = 10;

/// Whether a short sequential probe can exhaust the class's burst.
fn saturable(class: &RateClass) -> bool {
    class.policy.burst <= 1000
}

fn per_second(class: &RateClass) -> f64 {
    class.policy.quota as f64 / class.policy.window.as_secs_f64()
}

pub async fn run(target: Arc<Target>, plan: LoadPlan, events: mpsc::UnboundedSender<Event>) {
    let runner = LoadRunner {
        prober: Arc::new(Prober::new(target.clone())),
        vars: Vars::new(UniqueSource::new(&format!("{}-load", plan.run_id)))
            .with_redactor(target.redactor()),
        jitter: std::sync::Mutex::new(Jitter::new(plan.seed)),
        cleanup: std::sync::Mutex::new(Vec::new()),
        pending: std::sync::Mutex::new(Vec::new()),
        target,
        plan,
        events,
    };
    runner.concurrency().await;
    let mut classes: Vec<RateClass> = runner
        .target
        .profile
        .rate_limits
        .iter()
        .filter(|c| runner.plan.classes.is_empty() || runner.plan.classes.contains(&c.name))
        .cloned()
        .collect();
    // Policies too large to saturate (5000/h) are read from the headers first, before a
    // tighter policy on the same requests (100/min) is driven to 429.
    classes.sort_by_key(saturable);
    for class in &classes {
        if driver::interrupted() {
            break;
        }
        if class.policy.window.as_secs_f64() > LONGEST_SATURATED_WINDOW {
            runner.long_window(class).await;
        } else {
            runner.saturate(class).await;
        }
    }
    runner.finish_cleanup().await;
}

struct LoadRunner {
    target: Arc<Target>,
    plan: LoadPlan,
    events: mpsc::UnboundedSender<Event>,
    prober: Arc<Prober>,
    vars: Vars,
    jitter: std::sync::Mutex<Jitter>,
    /// Background deletions of what write probes created.
    cleanup: std::sync::Mutex<Vec<tokio::task::JoinHandle<(usize, usize)>>>,
    /// Created ids waiting for their class to finish: deleting them earlier would draw on
    /// the very bucket being measured.
    pending: std::sync::Mutex<Vec<(String, serde_json::Value)>>,
}

/// A check result for `class` with the tolerance it was judged by.
fn verdict(id: String, ok: bool, expected: String, actual: String) -> CheckResult {
    if ok {
        CheckResult {
            expected: Some(expected),
            actual: Some(actual),
            ..CheckResult::passed(id)
        }
    } else {
        CheckResult::failed(id, expected, actual)
    }
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
            file: self.target.profile.file.clone(),
            line: request.origin.line,
            col: request.origin.col,
        };
        let checks = checks
            .into_iter()
            .map(|c| if c.origin.is_none() { c.at(&origin) } else { c })
            .collect();
        let _ = self.events.send(Event::StepFinished(StepResult {
            scenario: format!("rate limits · {class}"),
            file: self.target.profile.file.clone(),
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
            self.target.profile.errors.schema.clone(),
            Some(class.name.clone()),
            class.cleanup.is_some(),
        ))
    }

    /// One goose phase into `recorder`; what write probes created is cleaned up after.
    async fn phase(&self, class: &RateClass, name: &str, recorder: Arc<Recorder>) -> Arc<Recorder> {
        let attack = Attack {
            target: self.target.clone(),
            spec: class.probe.clone(),
            vars: self.vars.clone(),
            key: AuthKind::Valid,
            label: format!("{} {name}", class.name),
            recorder: recorder.clone(),
        };
        let ticker = self.progress_ticker(class, name, recorder.clone());
        let driven = driver::drive(attack, self.prober.timeout).await;
        ticker.abort();
        if let Err(e) = driven {
            tracing::error!("load phase {} {name}: {e}", class.name);
        }
        self.clean_up(class, recorder.created());
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
                let (done, accepted, limited) = recorder.counts();
                let progress = crate::event::Progress {
                    class: class.clone(),
                    phase: phase.clone(),
                    done,
                    total: recorder.schedule.count,
                    accepted,
                    limited,
                };
                if events.send(Event::Progress(progress)).is_err() {
                    return;
                }
            }
        })
    }

    fn stats(
        &self,
        class: &RateClass,
        name: &str,
        recorder: &Recorder,
        estimate: Option<&Estimate>,
    ) -> PhaseStats {
        let timeline = recorder.timeline();
        let totals = timeline.totals();
        let (corrected, service) = recorder.latencies();
        let wall = recorder
            .schedule
            .started_wall()
            .and_then(|w| w.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        PhaseStats {
            class: class.name.clone(),
            phase: name.to_string(),
            limit_per_second: per_second(class),
            requested_rate: recorder.schedule.rate,
            offered_rate: estimate::offered_rate(&timeline).unwrap_or_default(),
            duration_s: recorder.schedule.count as f64 / recorder.schedule.rate,
            requests: u64::from(totals.sent),
            accepted: u64::from(totals.accepted),
            limited: u64::from(totals.limited),
            other: u64::from(totals.other()),
            seconds: per_wall_second(&timeline, wall),
            latency: percentiles(&corrected),
            service_latency: percentiles(&service),
            estimated_rate: estimate.map(|e| e.rate),
            estimated_burst: estimate.map(|e| e.burst),
            fingerprint: None,
        }
    }

    /// Under, over (with isolation probes while saturated), back-off and recovery.
    async fn saturate(&self, class: &RateClass) {
        let c = &class.name;
        let limit = per_second(class);
        let window = class.policy.window.as_secs_f64();
        let mut checks = Vec::new();

        // Header count-down first, on a bucket that the contract phase barely touched.
        let countdown = self.countdown(class).await;

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
        let stats = self.stats(class, "under", &under, None);
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
        // Judged once the over phase has shown which kind of limiter this is.
        let mut under_checks = std::mem::take(&mut checks);

        // The over phase starts on an idle bucket, so its trace shows the limiter's own
        // burst (fingerprint.rs): two windows let every family forget the under phase.
        tokio::time::sleep(Duration::from_secs_f64(2.0 * window)).await;

        // Over the limit, probing isolation once the bucket is saturated.
        let over_rate = self.capped(OVER * limit);
        let over_duration = self.scaled(OVER_WINDOWS, class);
        let over = self.recorder(class, over_rate, over_duration);
        let (over, isolation, backoff) = tokio::join!(
            self.phase(class, "over", over.clone()),
            self.isolation_while_saturated(class, &over, over_duration),
            self.backoff_at_end(class, &over, window)
        );
        let mut load_end = over.schedule.end().unwrap_or_else(Instant::now);
        let timeline = over.timeline();
        let estimated = estimate::estimate(&timeline, window);
        let fingerprint = estimated
            .as_ref()
            .ok()
            .and_then(|e| fingerprint::fingerprint(&timeline, class.policy.quota, window, e.rate));
        let mut stats = self.stats(class, "over", &over, estimated.as_ref().ok());
        stats.fingerprint = fingerprint.clone();
        let _ = self.events.send(Event::PhaseFinished(stats));
        // A flat limiter's rate is its spacing, which 2x the limit cannot resolve.
        let spacing = match &fingerprint {
            Some(f) if f.family == Family::Flat => {
                let (spacing, end) = self.spacing(class).await;
                load_end = end;
                Some(spacing)
            }
            _ => None,
        };
        under_checks.insert(
            0,
            under_check(c, &under_totals, under_offered, fingerprint.as_ref()),
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
            &countdown,
            &over.header_summary(),
            window,
            limit,
        ));
        self.emit_step(
            c,
            format!(
                "over · {over_rate:.1}/s for {:.0} s",
                over_duration.as_secs_f64()
            ),
            &class.probe,
            std::mem::take(&mut checks),
        );
        for (id, step, result) in isolation {
            let _ = id;
            self.emit_step(c, step, &class.probe, vec![result]);
        }

        // Recover after one full window.
        let since_end = load_end.elapsed().as_secs_f64();
        if since_end < window {
            tokio::time::sleep(Duration::from_secs_f64(window - since_end + 0.05)).await;
        }
        let n = (class.policy.burst as usize).clamp(1, 5);
        let statuses = self
            .prober
            .few(&class.probe, &self.vars, AuthKind::Valid, n)
            .await;
        let recovered = statuses.iter().all(|s| (200..300).contains(s));
        let mut backoff = backoff;
        if backoff.verdict == Verdict::Passed && !recovered {
            backoff = CheckResult::failed(
                format!("rate.{c}.backoff"),
                format!("{n} requests accepted one window ({window} s) after the load stopped"),
                format!("statuses {statuses:?}"),
            );
        }
        self.emit_step(
            c,
            "back-off and recovery".into(),
            &class.probe,
            vec![backoff],
        );
        self.start_cleanup(class);
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
        let stats = self.stats(class, "spacing", &recorder, None);
        let _ = self.events.send(Event::PhaseFinished(stats));
        let spacing = Spacing {
            offered: estimate::offered_rate(&timeline).unwrap_or(rate),
            gap: fingerprint::median_gap(&fingerprint::accepted_times(&timeline)),
        };
        (spacing, end)
    }

    /// Sequential requests on a fresh bucket: `Remaining` must count down.
    async fn countdown(&self, class: &RateClass) -> Vec<(Option<i64>, f64)> {
        let n = (class.policy.burst as usize / 2).clamp(2, 10);
        let started = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..n {
            let probe = self
                .prober
                .send(&class.probe, &self.vars, AuthKind::Valid, Some(&class.name))
                .await;
            if let Some(e) = &probe.exchange {
                if (200..300).contains(&e.status) && class.cleanup.is_some() {
                    if let Some(id) = e.json().ok().and_then(|v| v.get("id").cloned()) {
                        self.clean_up(class, vec![id]);
                    }
                }
            }
            seen.push((probe.rate.remaining, started.elapsed().as_secs_f64()));
        }
        seen
    }

    /// While `class` is saturated: another key, the test-mode key and another class, each
    /// probed on its own at the same time (a shared bucket only rejects more).
    async fn isolation_while_saturated(
        &self,
        class: &RateClass,
        phase: &Recorder,
        over: Duration,
    ) -> Vec<(String, String, CheckResult)> {
        // Wait for the first 429 of the over phase — by then the bucket is empty.
        let deadline = Instant::now() + over;
        let saturated = loop {
            if phase.saturated() {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let never = |id: &str| {
            CheckResult::new(
                id,
                Verdict::Skipped,
                format!("{} was never saturated", class.name),
            )
        };
        let key_probe = |id: &'static str, key: AuthKind, seed: u64| async move {
            let step = format!(
                "isolation · {} key while {} is saturated",
                if key == AuthKind::Second {
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
                let statuses = self.while_loaded(phase, &class.probe, key, seed).await;
                isolation_result(id, &statuses)
            };
            (id.to_string(), step, result)
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
                    .while_loaded(phase, &other.probe, AuthKind::Valid, 3)
                    .await;
                isolation_result(id, &statuses)
            } else {
                never(id)
            };
            Some((id.to_string(), step, result))
        };
        let (key, mode, other) = tokio::join!(
            key_probe("rate.isolation.key", AuthKind::Second, 1),
            key_probe("rate.isolation.mode", AuthKind::Test, 2),
            class_probe
        );
        let mut results = vec![key, mode];
        results.extend(other);
        results
    }

    /// Probes at random moments while the load runs. A probe that shares the saturated
    /// bucket finds it closed at least half the time under every family (between two
    /// openings of a bucket, in the second half of a window), so ten of them all passing by
    /// chance is under 0.1%; an isolated bucket rejects none.
    async fn while_loaded(
        &self,
        phase: &Recorder,
        spec: &RequestSpec,
        key: AuthKind,
        seed: u64,
    ) -> Vec<u16> {
        let mut jitter = Jitter::new(self.plan.seed ^ seed);
        let mut statuses = Vec::new();
        for i in 0..ISOLATION_PROBES {
            if i > 0 {
                // At least 50 ms apart, so a limiter without burst on a fresh key (20/s)
                // admits each; random, so the probes cannot lock onto the load's rhythm.
                let pause = Duration::from_millis(50) + jitter.up_to(Duration::from_millis(50));
                tokio::time::sleep(pause).await;
            }
            if phase.finished() >= phase.schedule.count {
                break;
            }
            let probe = self.prober.send(spec, &self.vars, key, None).await;
            statuses.push(probe.status().unwrap_or(0));
        }
        statuses
    }

    /// The class whose bucket must stay untouched: read ↔ write, anything else → read.
    fn companion(&self, class: &RateClass) -> Option<RateClass> {
        let classes = &self.target.profile.rate_limits;
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
        let limit =
            Duration::from_secs_f64(phase.schedule.count as f64 / phase.schedule.rate + 5.0);
        let started = Instant::now();
        let end = loop {
            if let Some(end) = phase.schedule.end() {
                break Some(end);
            }
            if started.elapsed() > limit {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let Some(end) = end else {
            return CheckResult::new(
                format!("rate.{}.backoff", class.name),
                Verdict::Skipped,
                "the load phase never started",
            );
        };
        // Catch a 429 in the last moments of the load, so the wait starts as the load stops.
        let lead = Duration::from_millis(150);
        tokio::time::sleep_until(end.checked_sub(lead).unwrap_or(end).into()).await;
        self.backoff(class, window, end + Duration::from_millis(100))
            .await
    }

    async fn backoff(&self, class: &RateClass, window: f64, catch_until: Instant) -> CheckResult {
        let id = format!("rate.{}.backoff", class.name);
        let deadline = Duration::from_secs_f64((window * 10.0).max(5.0));
        let mut jitter = self
            .jitter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let recovery = probes::back_off(
            &self.prober,
            &class.probe,
            &self.vars,
            Some(&class.name),
            catch_until,
            deadline,
            &mut jitter,
        )
        .await;
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
            (true, _, None) => CheckResult::new(
                id,
                Verdict::Failed,
                "the first request after the load was neither a 429 nor a 2xx",
            ),
            (false, promised, Some(after)) => {
                let promise = promised.unwrap_or(window);
                verdict(
                    id,
                    after <= promise + slack,
                    format!("a 2xx within {promise:.1} s (the promised wait) + {slack:.1} s"),
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
            let probe = self
                .prober
                .send(&class.probe, &self.vars, AuthKind::Valid, Some(c))
                .await;
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
                    &self.target.profile.errors.schema,
                );
                checks.push(shape_check(c, &evidence, &record::LimitEvidence::default()));
                checks.push(retry_after_check(
                    c,
                    &evidence,
                    class.policy.window.as_secs_f64(),
                    None,
                ));
                let mut backoff = self.backoff(class, 1.0, Instant::now()).await;
                backoff.message = format!(
                    "{} (recovery after a full {} s window is not awaited)",
                    backoff.message,
                    class.policy.window.as_secs()
                )
                .trim_start_matches(' ')
                .to_string();
                checks.push(backoff);
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
        let Some(spec) = self.target.profile.concurrency.clone() else {
            return;
        };
        if !self.plan.classes.is_empty() && !self.plan.classes.iter().any(|c| c == "concurrency") {
            return;
        }
        let n = spec.limit as usize + 5;
        let spread = Duration::from_secs(1);
        let results = probes::concurrent(&self.prober, &spec.probe, &self.vars, n, spread).await;
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
            CheckResult::new(id, Verdict::Skipped, format!("the probe answered in {:.0} ms; it must stay open longer than the {} s it takes to send {n} requests", fastest * 1000.0, spread.as_secs()))
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
            file: self.target.profile.file.clone(),
            step: format!("{n} slow requests at once (limit {})", spec.limit),
            request: format!("{} {}", spec.probe.method, spec.probe.path.source()),
            origin: Origin {
                file: self.target.profile.file.clone(),
                line: spec.probe.origin.line,
                col: spec.probe.origin.col,
            },
            attempts: Vec::new(),
            checks: vec![check],
        }));
    }

    /// Remembers what a write probe created, for deletion once its class is done.
    fn clean_up(&self, class: &RateClass, ids: Vec<serde_json::Value>) {
        if class.cleanup.is_none() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.extend(ids.into_iter().map(|id| (class.name.clone(), id)));
    }

    /// Deletes what was created in `class`, paced at half its limit, in the background.
    fn start_cleanup(&self, class: &RateClass) {
        let ids: Vec<serde_json::Value> = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut *pending)
                .into_iter()
                .partition(|(c, _)| *c == class.name);
            *pending = rest;
            mine.into_iter().map(|(_, id)| id).collect()
        };
        let (Some(spec), false) = (class.cleanup.clone(), ids.is_empty()) else {
            return;
        };
        let prober = self.prober.clone();
        let vars = self.vars.clone();
        let interval = Duration::from_secs_f64(2.0 / per_second(class));
        let handle = tokio::spawn(async move {
            let mut deleted = 0;
            let total = ids.len();
            for id in ids {
                let mut vars = vars.clone();
                vars.set("id", id);
                // A 429 here means someone else shares the bucket: honour it, a few times.
                for _ in 0..4 {
                    let probe = prober.send(&spec, &vars, AuthKind::Valid, None).await;
                    if probe.accepted() || probe.status() == Some(404) {
                        deleted += 1;
                        break;
                    }
                    let wait = probe
                        .rate
                        .retry_after
                        .as_ref()
                        .and_then(|r| r.wait())
                        .unwrap_or(Duration::from_secs(1));
                    if probe.status() != Some(429) {
                        break;
                    }
                    tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
                }
                tokio::time::sleep(interval).await;
            }
            (deleted, total)
        });
        self.cleanup
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    async fn finish_cleanup(&self) {
        let classes: Vec<RateClass> = self.target.profile.rate_limits.clone();
        for class in &classes {
            self.start_cleanup(class);
        }
        let handles: Vec<_> =
            std::mem::take(&mut *self.cleanup.lock().unwrap_or_else(|e| e.into_inner()));
        if handles.is_empty() {
            return;
        }
        let (mut deleted, mut total) = (0, 0);
        for handle in handles {
            if let Ok((d, t)) = handle.await {
                deleted += d;
                total += t;
            }
        }
        let check = if deleted == total {
            verdict(
                "rate.cleanup".into(),
                true,
                "every resource the write probes created is deleted".into(),
                format!("deleted {deleted} of {total}"),
            )
        } else {
            CheckResult::new(
                "rate.cleanup",
                Verdict::Warning,
                format!(
                    "{} of {total} created resources could not be deleted",
                    total - deleted
                ),
            )
        };
        let _ = self.events.send(Event::StepFinished(StepResult {
            scenario: "rate limits · cleanup".into(),
            file: self.target.profile.file.clone(),
            step: format!("delete {total} created resources"),
            request: String::new(),
            origin: Origin::default(),
            attempts: Vec::new(),
            checks: vec![check],
        }));
    }
}

/// Counts per wall-clock second (the report's series), from a timeline that started at
/// `wall` seconds since the Unix epoch.
fn per_wall_second(timeline: &Timeline, wall: f64) -> Vec<SecondCounts> {
    let mut seconds: Vec<SecondCounts> = Vec::new();
    for (ms, bin) in timeline.bins().iter().enumerate() {
        if bin.sent == 0 {
            continue;
        }
        let second = (wall + ms as f64 / 1000.0).floor() as u64;
        if seconds.last().is_none_or(|s| s.second != second) {
            seconds.push(SecondCounts {
                second,
                offered: 0,
                accepted: 0,
                limited: 0,
                other: 0,
            });
        }
        let last = seconds.last_mut().expect("pushed above");
        tally(last, bin);
    }
    seconds
}

fn tally(second: &mut SecondCounts, bin: &Bin) {
    second.offered += u64::from(bin.sent);
    second.accepted += u64::from(bin.accepted);
    second.limited += u64::from(bin.limited);
    second.other += u64::from(bin.other());
}

fn isolation_result(id: &str, statuses: &[u16]) -> CheckResult {
    if statuses.len() < 3 {
        return CheckResult::new(
            id,
            Verdict::Skipped,
            format!(
                "the load ended after {} probe(s): too few to judge",
                statuses.len()
            ),
        );
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    verdict(
        id.into(),
        limited == 0 && statuses.iter().all(|s| *s != 0),
        format!("{} requests not limited", statuses.len()),
        format!("statuses {statuses:?}"),
    )
}

fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Latency {
    let ms = |micros: u64| micros as f64 / 1000.0;
    if h.is_empty() {
        return Latency::default();
    }
    Latency {
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    }
}

fn shape_check(
    class: &str,
    over: &record::LimitEvidence,
    under: &record::LimitEvidence,
) -> CheckResult {
    let id = format!("rate.{class}.429-shape");
    let server_errors = over.server_errors + under.server_errors;
    if over.limited == 0 && server_errors == 0 {
        return CheckResult::new(id, Verdict::Skipped, "no 429 to inspect (see enforced)");
    }
    let ok = over.bad_shape == 0 && server_errors == 0;
    let mut actual = format!(
        "{} of {} 429s not JSON in the error shape; {server_errors} 5xx",
        over.bad_shape, over.limited
    );
    if let Some(example) = &over.bad_shape_example {
        actual.push_str(&format!("; e.g. {example:?}"));
    }
    verdict(
        id,
        ok,
        "every 429 is JSON matching the error schema, and no 5xx".into(),
        actual,
    )
}

/// A flat limiter may reject an arrival below the limit: one whose gap since the last
/// admitted request shrank under the interval. At 0.8x the gap is 1.25 intervals, so only
/// arrivals late by a quarter of an interval are hit; on a loaded two-core CI runner that
/// was up to 17% of them (11 of 64). That is a property of the limiter (clients see it too),
/// not a fault, so it is a warning up to a third of the requests; a lower limit than
/// published is `enforced`'s to find, from the spacing.
const FLAT_UNDER_TOLERANCE: f64 = 0.35;

/// `rate.<class>.under`: how many requests were limited below the limit.
fn under_check(
    class: &str,
    totals: &Bin,
    offered: f64,
    fingerprint: Option<&Fingerprint>,
) -> CheckResult {
    let id = format!("rate.{class}.under");
    let limited = totals.limited;
    let allowed = (UNDER_TOLERANCE * f64::from(totals.sent)).floor() as u32;
    let expected = format!(
        "≤ {allowed} of {} requests limited at {offered:.1}/s (≤ 1%; 0 expected from a smooth schedule)",
        totals.sent
    );
    let actual = format!("{limited} limited");
    let flat = fingerprint.is_some_and(|f| f.family == Family::Flat);
    let flat_allowed = (FLAT_UNDER_TOLERANCE * f64::from(totals.sent)).floor() as u32;
    if flat && limited > allowed && limited <= flat_allowed {
        let mut check = CheckResult::new(
            id,
            Verdict::Warning,
            format!("a flat limiter (no burst) rejects arrivals that come less than one interval after the last admitted one: {limited} of {} requests at {offered:.1}/s were hit by send or network jitter (tolerated up to 35% for this family; the rate itself is judged by `enforced`); clients must space requests evenly", totals.sent),
        );
        check.expected = Some(expected);
        check.actual = Some(actual);
        return check;
    }
    verdict(id, limited <= allowed && totals.sent > 0, expected, actual)
}

/// What the spacing phase measured.
#[derive(Debug, Clone, Copy)]
struct Spacing {
    offered: f64,
    /// The median gap between admitted requests, in seconds.
    gap: Option<f64>,
}

/// `rate.<class>.enforced`: the sustained rate over the limit, judged by the limiter family.
fn enforced(
    class: &str,
    estimated: &Result<Estimate, String>,
    fingerprint: Option<&Fingerprint>,
    spacing: Option<&Spacing>,
    requested: f64,
    limit: f64,
) -> CheckResult {
    let id = format!("rate.{class}.enforced");
    match estimated {
        Err(reason) => CheckResult::failed(
            id,
            format!("a sustained rate near {limit:.1}/s over the limit"),
            reason.clone(),
        ),
        Ok(e) if e.offered < 1.4 * limit => CheckResult::new(
            id,
            Verdict::Skipped,
            format!("only {:.1}/s could be offered (--max-rps or a slow target): not enough to exceed the limit", e.offered),
        ),
        Ok(e) => match (fingerprint.map(|f| f.family), spacing) {
            (Some(Family::Flat), Some(spacing)) => flat_enforced(id, e, spacing, limit),
            _ => counted_enforced(id, e, requested, limit),
        },
    }
}

/// Bursting and windowed limiters admit exactly `rate × window` per whole window of a
/// constant overload (±1 request per window), so the count is the rate.
fn counted_enforced(id: String, e: &Estimate, requested: f64, limit: f64) -> CheckResult {
    let low = limit * (1.0 - RATE_TOLERANCE);
    let high = limit * (1.0 + RATE_TOLERANCE);
    let expected = format!(
        "sustained {limit:.1}/s ± 10% ({low:.1}–{high:.1}) at ≈{:.1}× the limit, counted over whole windows after the burst (±1 request per window)",
        requested / limit
    );
    let actual = format!(
        "{:.1}/s over {} window(s) after the burst; burst ≈ {:.0}; offered {:.1}/s",
        e.rate, e.windows, e.burst, e.offered
    );
    let check = verdict(id, (low..=high).contains(&e.rate), expected, actual);
    if e.rate < low {
        check.with_message(below_limit(e.rate, limit))
    } else {
        check
    }
}

/// A flat limiter admits one request per interval `I`, and only on an arrival: at arrivals
/// `g` apart each admitted gap lies in `[I, I + g)`. So the count over the limit may fall to
/// `1 / (I + g + jitter)` without any fault, and the rate is read from the spacing at
/// arrivals a tenth of `I` apart instead: the median admitted gap is `I + g/2` plus what
/// jitter loses (an arrival that came a little early is turned away and the next one
/// admitted), measured on send times to a 1 ms bin. So the gap may read up to 1 ms short
/// (the bin) and 2 ms long (the bin and the loss), which still separates `I` from 1.5 `I`.
fn flat_enforced(id: String, e: &Estimate, spacing: &Spacing, limit: f64) -> CheckResult {
    let interval = 1.0 / limit;
    let arrival_gap = 1.0 / spacing.offered;
    let low = (limit * (1.0 - RATE_TOLERANCE)).min(1.0 / (interval + BIN_S + JITTER_S / 2.0));
    let high = (limit * (1.0 + RATE_TOLERANCE)).max(1.0 / (interval - BIN_S).max(1e-6));
    let count_floor = 1.0 / (interval + 1.0 / e.offered + JITTER_S);
    let spaced = spacing
        .gap
        .map(|gap| 1.0 / (gap - arrival_gap / 2.0).max(1e-6));
    let expected = format!(
        "a flat limiter (no burst) admits one request per {:.1} ms: {low:.1}–{high:.1}/s from the median admitted gap minus half an arrival gap at {:.0}/s arrivals (gap 1 ms short to 2 ms long), and ≥ {count_floor:.1}/s sustained at {:.0}/s (each admitted gap ≤ interval + arrival gap + 2 ms)",
        interval * 1000.0,
        spacing.offered,
        e.offered
    );
    let actual = format!(
        "{}; {:.1}/s sustained at {:.1}/s",
        spacing.gap.map_or(
            "too few admitted requests to measure a spacing".into(),
            |gap| format!(
                "admitted a median {:.1} ms apart = {:.1}/s",
                gap * 1000.0,
                spaced.unwrap_or_default()
            )
        ),
        e.rate,
        e.offered
    );
    let ok = spaced.is_some_and(|r| (low..=high).contains(&r))
        && (count_floor..=limit * (1.0 + RATE_TOLERANCE)).contains(&e.rate);
    let check = verdict(id, ok, expected, actual);
    if e.rate < count_floor || spaced.is_some_and(|r| r < low) || spaced.is_none() {
        check.with_message(below_limit(e.rate.min(spaced.unwrap_or(0.0)), limit))
    } else {
        check
    }
}

/// Why a limiter admits less than it publishes.
fn below_limit(rate: f64, limit: f64) -> &'static str {
    if rate < 0.25 * limit {
        "starvation: a client that keeps sending over the limit gets almost nothing through — the limiter most likely counts rejected requests against the quota (a common misconfiguration), so it never reopens while requests keep coming"
    } else {
        "accepts far below the published limit while rejecting: a lower limit than published, or a limiter that counts rejected requests against the quota"
    }
}

/// `rate.<class>.worst-case`: the profile's `max_burst` against the most requests accepted
/// in any sliding window of the limit's length.
fn worst_case_check(
    class: &str,
    fingerprint: Option<&Fingerprint>,
    max: u32,
    window: f64,
) -> CheckResult {
    let id = format!("rate.{class}.worst-case");
    let Some(f) = fingerprint else {
        return CheckResult::new(
            id,
            Verdict::Skipped,
            "no limiter trace to read (see enforced)",
        );
    };
    verdict(
        id,
        f.worst_case <= max,
        format!("at most {max} accepted in any {window} s window (profile max_burst)"),
        format!(
            "{} accepted in the {window} s from {:.2} s ({}: {})",
            f.worst_case,
            f.worst_case_at_s,
            f.family.name(),
            f.algorithms
        ),
    )
}

/// Retry-After promises held against the timeline: for each 429, the time until the load
/// got a request accepted again. A promise may be late by one arrival gap (nobody asked
/// sooner), 5 ms of jitter, and a second more for an HTTP-date (whole seconds).
/// Returns (promises checked, promises too short, the worst one as (promised, real)).
fn short_promises(
    promises: &[record::Promise],
    timeline: &Timeline,
    offered: f64,
) -> (usize, usize, Option<(f64, f64)>) {
    let bins = timeline.bins();
    // next_accept[i]: the first millisecond ≥ i with an accepted request.
    let mut next_accept = vec![None; bins.len() + 1];
    for i in (0..bins.len()).rev() {
        next_accept[i] = if bins[i].accepted > 0 {
            Some(i)
        } else {
            next_accept[i + 1]
        };
    }
    let allowance = 1.0 / offered.max(1.0) + 0.005;
    let (mut checked, mut short, mut worst): (usize, usize, Option<(f64, f64)>) = (0, 0, None);
    for promise in promises {
        let from = (promise.sent_ms as usize + 1).min(bins.len());
        let Some(accepted_at) = next_accept[from] else {
            continue;
        };
        checked += 1;
        let real = (accepted_at as f64 - promise.sent_ms as f64) / 1000.0;
        let slack = allowance + if promise.date { 1.0 } else { 0.0 };
        if real > promise.wait_s + slack {
            short += 1;
            if worst.is_none_or(|(p, r)| real - promise.wait_s > r - p) {
                worst = Some((promise.wait_s, real));
            }
        }
    }
    (checked, short, worst)
}

fn retry_after_check(
    class: &str,
    evidence: &record::LimitEvidence,
    window: f64,
    measured: Option<(&Timeline, f64)>,
) -> CheckResult {
    use headers::{Reset, RetryAfter};
    let id = format!("rate.{class}.retry-after");
    if evidence.limited == 0 {
        return CheckResult::new(id, Verdict::Skipped, "no 429 to inspect (see enforced)");
    }
    let sane_limit = (window * 10.0).max(60.0);
    let invalid = evidence
        .retry_after
        .iter()
        .filter(|r| matches!(r, RetryAfter::Invalid(_)))
        .count();
    let too_long = evidence
        .retry_after
        .iter()
        .filter_map(|r| r.wait())
        .filter(|d| d.as_secs_f64() > sane_limit)
        .count();
    // Epoch, fractional and ambiguous resets are readable but not what the drafts specify.
    let odd_resets = evidence
        .resets
        .iter()
        .filter(|r| !matches!(r, Reset::Invalid(_)) && r.warning().is_some())
        .count();
    let mut reasons: Vec<String> = evidence
        .resets
        .iter()
        .filter(|r| !matches!(r, Reset::Invalid(_)))
        .filter_map(Reset::warning)
        .collect();
    reasons.sort();
    reasons.dedup();
    let bad_reset = evidence
        .resets
        .iter()
        .filter(|r| matches!(r, Reset::Invalid(_)))
        .count();
    let (checked, short, worst) = measured.map_or((0, 0, None), |(timeline, offered)| {
        short_promises(&evidence.promises, timeline, offered)
    });
    let ok = evidence.without_retry_hint == 0
        && invalid == 0
        && too_long == 0
        && bad_reset == 0
        && short == 0;
    let values: Vec<u64> = evidence
        .retry_after
        .iter()
        .filter_map(|r| r.wait())
        .map(|d| d.as_secs())
        .collect();
    let range = match (values.iter().min(), values.iter().max()) {
        (Some(lo), Some(hi)) => format!("Retry-After {lo}–{hi} s"),
        _ => "no Retry-After".into(),
    };
    let mut actual = format!(
        "{} of {} 429s without Retry-After or RateLimit reset; {invalid} unparseable, {too_long} over {sane_limit:.0} s; {range}; dialects {:?}",
        evidence.without_retry_hint, evidence.limited, evidence.dialects
    );
    if measured.is_some() {
        actual.push_str(&format!(
            "; {short} of {checked} Retry-After values shorter than the measured wait"
        ));
        if let Some((promised, real)) = worst {
            actual.push_str(&format!(
                " (worst: promised {promised:.0} s, accepted again after {real:.2} s)"
            ));
        }
    }
    let mut check = verdict(
        id,
        ok,
        "every 429 says when to retry (delay-seconds or HTTP-date, or a RateLimit reset), and no Retry-After is shorter than the measured time until a request was accepted again (± one arrival gap + 5 ms)".into(),
        actual,
    );
    if ok && odd_resets > 0 {
        check.verdict = Verdict::Warning;
        check.message = format!(
            "{odd_resets} non-standard reset value(s): {}",
            reasons.join("; ")
        );
    }
    check
}

fn headers_check(
    class: &str,
    countdown: &[(Option<i64>, f64)],
    over: &HeaderSummary,
    window: f64,
    limit: f64,
) -> CheckResult {
    let id = format!("rate.{class}.headers");
    let seen: Vec<(i64, f64)> = countdown
        .iter()
        .filter_map(|(r, t)| r.map(|r| (r, *t)))
        .collect();
    if seen.len() < 2 {
        return CheckResult::new(id, Verdict::Skipped, "no rate-limit headers on the answers");
    }
    // Between two answers at most rate × gap slots refill: a drop of one, minus the refill.
    // A rise is a refill (a window boundary, log entries ageing out) and proves nothing
    // either way; a limiter without burst has nothing to count down from.
    let steps: Vec<(f64, f64)> = seen
        .windows(2)
        .map(|w| ((w[0].0 - w[1].0) as f64, w[1].1 - w[0].1))
        .filter(|(drop, _)| *drop >= 0.0)
        .collect();
    let drops: f64 = steps.iter().map(|(drop, _)| drop).sum();
    let elapsed: f64 = steps.iter().map(|(_, gap)| gap).sum();
    let expected_drops = (steps.len() as f64 - limit * elapsed).min(seen[0].0 as f64);
    let counts_down = drops >= expected_drops - 1.0 && (drops > 0.0 || seen[0].0 == 0);
    let min_remaining = over.lowest_remaining;
    let reaches_zero = min_remaining.is_none_or(|r| r <= 1);
    let worst_reset = over.largest_reset.unwrap_or(0.0);
    let reset_ok = worst_reset <= window + 1.0;
    verdict(
        id,
        counts_down && reaches_zero && reset_ok,
        format!("Remaining drops by one per request (≥ {:.0} over {} answers), reaches 0 under load, Reset ≤ {:.0} s", (expected_drops - 1.0).max(1.0), seen.len(), window + 1.0),
        format!(
            "dropped {drops:.0}; lowest Remaining under load {}; largest Reset {worst_reset:.0} s",
            min_remaining.map_or("-".into(), |r| r.to_string())
        ),
    )
}
