//! The load phase: for each rate class of the profile, offer load under and over the
//! published limit with goose, and judge what came back — the enforced rate and burst, the
//! shape of every 429, its retry hints, recovery for a client that backs off, isolation of
//! keys, classes and modes, the concurrency limiter, and the rate headers.
//!
//! Every tolerance is derived from the limiter maths (`accepted ≈ burst + rate × time`, see
//! shared/notes/rate-limit-maths.md) and printed with its result.

pub mod driver;
pub mod estimate;
pub mod headers;
pub mod probes;
pub mod record;
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
        let limited = under_totals.limited;
        let allowed = (UNDER_TOLERANCE * f64::from(under_totals.sent)).floor() as u32;
        let stats = self.stats(class, "under", &under, None);
        checks.push(verdict(
            format!("rate.{c}.under"),
            limited <= allowed && under_totals.sent > 0,
            format!("≤ {allowed} of {} requests limited at {:.1}/s (≤ 1%; 0 expected from a smooth schedule)", under_totals.sent, stats.offered_rate),
            format!("{limited} limited"),
        ));
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
        self.emit_step(
            c,
            format!(
                "under · {under_rate:.1}/s for {:.0} s",
                self.scaled(UNDER_WINDOWS, class).as_secs_f64()
            ),
            &class.probe,
            std::mem::take(&mut checks),
        );

        // Over the limit, probing isolation once the bucket is saturated.
        let over_rate = self.capped(OVER * limit);
        let over_duration = self.scaled(OVER_WINDOWS, class);
        let over = self.recorder(class, over_rate, over_duration);
        let (over, isolation, backoff) = tokio::join!(
            self.phase(class, "over", over.clone()),
            self.isolation_while_saturated(class, &over, over_duration),
            self.backoff_at_end(class, &over, window)
        );
        let over_end = over.schedule.end().unwrap_or_else(Instant::now);
        let estimated = estimate::estimate(&over.timeline(), window);
        let stats = self.stats(class, "over", &over, estimated.as_ref().ok());
        checks.push(self.enforced(class, &estimated, over_rate, limit));
        let evidence = over.evidence();
        checks.push(shape_check(c, &evidence, &under_evidence));
        checks.push(retry_after_check(c, &evidence, window));
        checks.push(headers_check(
            c,
            &countdown,
            &over.header_summary(),
            window,
            limit,
        ));
        let _ = self.events.send(Event::PhaseFinished(stats));
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
        let since_end = over_end.elapsed().as_secs_f64();
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

    fn enforced(
        &self,
        class: &RateClass,
        estimated: &Result<Estimate, String>,
        requested: f64,
        limit: f64,
    ) -> CheckResult {
        let id = format!("rate.{}.enforced", class.name);
        let low = limit * (1.0 - RATE_TOLERANCE);
        let high = limit * (1.0 + RATE_TOLERANCE);
        let expected = format!(
            "sustained {limit:.1}/s ± 10% ({low:.1}–{high:.1}) at ≈{:.1}× the limit",
            requested / limit
        );
        match estimated {
            Err(reason) => CheckResult::failed(id, expected, reason.clone()),
            Ok(e) if e.offered < 1.4 * limit => CheckResult::new(
                id,
                Verdict::Skipped,
                format!("only {:.1}/s could be offered (--max-rps or a slow target): not enough to exceed the limit", e.offered),
            ),
            Ok(e) => {
                let actual = format!(
                    "{:.1}/s over {} window(s) after the burst; burst ≈ {:.0}; offered {:.1}/s",
                    e.rate, e.windows, e.burst, e.offered
                );
                let mut check = verdict(id, (low..=high).contains(&e.rate), expected, actual);
                if e.rate < low {
                    check = check.with_message(
                        "accepts far below the published limit while rejecting: a lower limit than published, or a limiter that counts rejected requests against the quota",
                    );
                }
                check
            }
        }
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

    /// While `class` is saturated: another key, the test-mode key and another class.
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
        let mut results = Vec::new();
        let others: Vec<(&str, AuthKind)> = vec![
            ("rate.isolation.key", AuthKind::Second),
            ("rate.isolation.mode", AuthKind::Test),
        ];
        for (id, key) in others {
            let step = format!(
                "isolation · {} key while {} is saturated",
                if key == AuthKind::Second {
                    "second"
                } else {
                    "test-mode"
                },
                class.name
            );
            if !saturated {
                results.push((
                    id.to_string(),
                    step,
                    CheckResult::new(
                        id,
                        Verdict::Skipped,
                        format!("{} was never saturated", class.name),
                    ),
                ));
                continue;
            }
            if let Err(reason) = self.target.key(key) {
                results.push((
                    id.to_string(),
                    step,
                    CheckResult::new(id, Verdict::Skipped, reason),
                ));
                continue;
            }
            let statuses = self.prober.few(&class.probe, &self.vars, key, 3).await;
            results.push((id.to_string(), step, isolation_result(id, &statuses)));
        }
        if let Some(other) = self.companion(class) {
            let id = "rate.isolation.class";
            let step = format!(
                "isolation · {} while {} is saturated",
                other.name, class.name
            );
            let result = if saturated {
                let statuses = self
                    .prober
                    .few(&other.probe, &self.vars, AuthKind::Valid, 3)
                    .await;
                isolation_result(id, &statuses)
            } else {
                CheckResult::new(
                    id,
                    Verdict::Skipped,
                    format!("{} was never saturated", class.name),
                )
            };
            results.push((id.to_string(), step, result));
        }
        results
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

fn retry_after_check(class: &str, evidence: &record::LimitEvidence, window: f64) -> CheckResult {
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
    let epoch = evidence
        .resets
        .iter()
        .filter(|r| matches!(r, Reset::EpochSeconds(_) | Reset::EpochMillis(_)))
        .count();
    let bad_reset = evidence
        .resets
        .iter()
        .filter(|r| matches!(r, Reset::Invalid(_)))
        .count();
    let ok = evidence.without_retry_hint == 0 && invalid == 0 && too_long == 0 && bad_reset == 0;
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
    let actual = format!(
        "{} of {} 429s without Retry-After or RateLimit reset; {invalid} unparseable, {too_long} over {sane_limit:.0} s; {range}; dialects {:?}",
        evidence.without_retry_hint, evidence.limited, evidence.dialects
    );
    let mut check = verdict(
        id,
        ok,
        "every 429 says when to retry (delay-seconds or HTTP-date, or a RateLimit reset)".into(),
        actual,
    );
    if ok && epoch > 0 {
        check.verdict = Verdict::Warning;
        check.message = format!("{epoch} reset value(s) look like epoch timestamps, not delta-seconds as the drafts specify");
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
    let drops: f64 = seen.windows(2).map(|w| (w[0].0 - w[1].0) as f64).sum();
    let elapsed = seen.last().expect("two or more").1 - seen[0].1;
    let expected_drops = (seen.len() - 1) as f64 - limit * elapsed;
    let counts_down = drops >= expected_drops - 1.0 && drops > 0.0;
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
