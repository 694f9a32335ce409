//! A class driven past its limit: the under phase, the over phase (with the isolation
//! probes and the back-off client beside it), a flat limiter's spacing, and the judging of
//! what they measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fingerprint::{self, Family, Fingerprint};
use super::isolation::IsolationStep;
use super::record::{LimitEvidence, Recorder, TransportFailures};
use super::stats::phase_stats;
use super::timeline::Bin;
use super::verdict::{
    enforced, headers_check, retry_after_check, shape_check, transport_check, under_check,
    unjudgeable, unless_unjudgeable, verdict, worst_case_check, Spacing,
};
use super::{
    estimate, per_second, unless_stopped, Answered, LoadRunner, OVER, OVER_WINDOWS, SPACING_FACTOR,
    UNDER, UNDER_WINDOWS,
};
use crate::event::{CheckResult, Event, Verdict};
use crate::profile::RateClass;

/// What the under phase measured. Its check is judged once the over phase has shown which
/// kind of limiter this is (a strict one may refuse a little of 0.8x the limit).
struct Under {
    rate: f64,
    duration: Duration,
    totals: Bin,
    offered: f64,
    unjudgeable: Option<String>,
    evidence: LimitEvidence,
    failures: TransportFailures,
    /// The latency budget's check, when the class has one.
    latency: Option<CheckResult>,
}

impl Under {
    /// `rate.<class>.under` (first) and the latency check.
    fn checks(&self, class: &str, fingerprint: Option<&Fingerprint>) -> Vec<CheckResult> {
        let under = under_check(class, &self.totals, self.offered, fingerprint);
        std::iter::once(unless_unjudgeable(self.unjudgeable.as_ref(), under))
            .chain(self.latency.clone())
            .collect()
    }
}

/// What the over phase and the probes beside it measured.
struct Over {
    recorder: Arc<Recorder>,
    rate: f64,
    duration: Duration,
    isolation: Vec<IsolationStep>,
    backoff: CheckResult,
}

impl LoadRunner {
    /// Under, over (with isolation probes and the back-off client), back-off and recovery.
    /// `Answered::Mostly` when the under phase mostly got no answer (the class stops there).
    pub(super) async fn saturate(&self, class: &RateClass) -> Answered {
        let c = &class.name;
        let under = self.under(class).await;
        if self.stop.is_stopped() {
            // Stopped mid-phase: keep what it measured, judge only what that supports.
            let mut checks = under.checks(c, None);
            checks.push(transport_check(c, under.totals.sent, &under.failures));
            let step = format!("under · {:.1}/s (stopped)", under.rate);
            self.emit_step(c, step, &class.probe, checks);
            return Answered::Yes;
        }
        if under.totals.failed * 2 > under.totals.sent {
            // A target that does not answer is not a limiter to judge: say so, and stop.
            let mut checks = under.checks(c, None);
            checks[0] = CheckResult::new(
                format!("rate.{c}.under"),
                Verdict::Skipped,
                under.unjudgeable.clone().unwrap_or_default(),
            );
            checks.push(transport_check(c, under.totals.sent, &under.failures));
            self.emit_step(
                c,
                format!("under · {:.1}/s", under.rate),
                &class.probe,
                checks,
            );
            return Answered::Mostly;
        }
        let over = self.over(class).await;
        if self.stop.is_stopped() && over.recorder.scheduled().totals().sent == 0 {
            // Stopped before the over phase sent anything: the under phase is all there is.
            let step = format!("under · {:.1}/s", under.rate);
            self.emit_step(c, step, &class.probe, under.checks(c, None));
            return Answered::Yes;
        }
        let load_end = self.judge(class, &under, &over).await;
        for IsolationStep { step, result } in over.isolation {
            let request = self.isolation_request(class, &result.id);
            self.emit_step(c, step, &request, vec![result]);
        }
        let stopped = self.stop.is_stopped();
        let backoff = if stopped {
            over.backoff
        } else {
            self.recovery(class, load_end, over.backoff).await
        };
        let step = "back-off and recovery".into();
        self.emit_step(c, step, &class.probe, vec![backoff]);
        if !stopped {
            self.cleanup
                .start(class, self.prober.clone(), self.vars.clone());
        }
        Answered::Yes
    }

    /// 0.8x the limit for two windows: everything must be admitted.
    async fn under(&self, class: &RateClass) -> Under {
        let rate = self.capped(UNDER * per_second(class));
        let duration = self.scaled(UNDER_WINDOWS, class);
        let recorder = self
            .phase(class, "under", self.recorder(class, rate, duration))
            .await;
        let stats = phase_stats(class, "under", &recorder, None);
        let latency = class.max_p95_ms.map(|max| {
            verdict(
                format!("rate.{}.latency", class.name),
                stats.latency.p95_ms <= max as f64,
                format!("p95 ≤ {max} ms under the limit"),
                format!(
                    "p95 {:.1} ms (p50 {:.1}, p99 {:.1})",
                    stats.latency.p95_ms, stats.latency.p50_ms, stats.latency.p99_ms
                ),
            )
        });
        let under = Under {
            rate,
            duration,
            totals: recorder.timeline().totals(),
            offered: stats.offered_rate,
            unjudgeable: unjudgeable(&recorder.scheduled(), rate, recorder.schedule.count),
            evidence: recorder.evidence(),
            failures: recorder.failures(),
            latency,
        };
        let _ = self.events.send(Event::PhaseFinished(Box::new(stats)));
        under
    }

    /// 2x the limit for four windows, on an idle bucket again (the quiet clock waits), so
    /// its trace shows the limiter's own burst (fingerprint.rs) and its first answers count
    /// down; the isolation probes and the back-off client run beside it.
    async fn over(&self, class: &RateClass) -> Over {
        let rate = self.capped(OVER * per_second(class));
        let duration = self.scaled(OVER_WINDOWS, class);
        let window = class.policy.window.as_secs_f64();
        let recorder = self.recorder(class, rate, duration);
        let (recorder, isolation, backoff) = tokio::join!(
            self.phase(class, "over", recorder.clone()),
            unless_stopped(
                &self.stop,
                self.isolation_while_saturated(class, &recorder, duration),
                Vec::new()
            ),
            unless_stopped(
                &self.stop,
                self.backoff_at_end(class, &recorder, window),
                CheckResult::new(
                    format!("rate.{}.backoff", class.name),
                    Verdict::Skipped,
                    "the run was stopped before the back-off client could finish",
                )
            )
        );
        Over {
            recorder,
            rate,
            duration,
            isolation,
            backoff,
        }
    }

    /// Emits the under and over steps, judged on the limiter the over phase revealed
    /// (measuring a flat limiter's spacing first). Returns when the load last ran.
    async fn judge(&self, class: &RateClass, under: &Under, over: &Over) -> Instant {
        let c = &class.name;
        let limit = per_second(class);
        let window = class.policy.window.as_secs_f64();
        let recorder = &over.recorder;
        let mut load_end = recorder.schedule.end().unwrap_or_else(Instant::now);
        let timeline = recorder.timeline();
        let estimated = estimate::estimate(&timeline, window);
        let fingerprint = estimated
            .as_ref()
            .ok()
            .and_then(|e| fingerprint::fingerprint(&timeline, class.policy.quota, window, e.rate));
        let mut stats = phase_stats(class, "over", recorder, estimated.as_ref().ok());
        stats.fingerprint = fingerprint.clone();
        let _ = self.events.send(Event::PhaseFinished(Box::new(stats)));
        // A flat limiter's rate is its spacing, which 2x the limit cannot resolve.
        let spacing = match &fingerprint {
            Some(f) if f.family == Family::Flat && !self.stop.is_stopped() => {
                let (spacing, end) = self.spacing(class).await;
                load_end = end;
                Some(spacing)
            }
            _ => None,
        };
        self.emit_step(
            c,
            format!(
                "under · {:.1}/s for {:.0} s",
                under.rate,
                under.duration.as_secs_f64()
            ),
            &class.probe,
            under.checks(c, fingerprint.as_ref()),
        );
        let mut checks = vec![enforced(
            c,
            &estimated,
            // The full-length phase, when --duration-scale shortened this one.
            (self.plan.duration_scale < 1.0).then_some(OVER_WINDOWS * window),
            fingerprint.as_ref(),
            spacing.as_ref(),
            over.rate,
            limit,
        )];
        if let Some(max) = class.max_burst {
            checks.push(worst_case_check(c, fingerprint.as_ref(), max, window));
        }
        let evidence = recorder.evidence();
        checks.push(shape_check(c, &evidence, &under.evidence));
        checks.push(retry_after_check(
            c,
            &evidence,
            window,
            Some((&timeline, over.rate)),
        ));
        checks.push(headers_check(
            c,
            &recorder.remaining_samples(),
            &recorder.header_summary(),
            &evidence,
            window,
            limit,
            &self.published_limits(class),
        ));
        let over_unjudgeable =
            unjudgeable(&recorder.scheduled(), over.rate, recorder.schedule.count);
        let mut checks: Vec<CheckResult> = checks
            .into_iter()
            .map(|check| unless_unjudgeable(over_unjudgeable.as_ref(), check))
            .collect();
        let mut failures = under.failures.clone();
        failures.merge(&recorder.failures());
        let sent = under.totals.sent + recorder.scheduled().totals().sent;
        checks.push(transport_check(c, sent, &failures));
        let step = format!(
            "over · {:.1}/s for {:.0} s",
            over.rate,
            over.duration.as_secs_f64()
        );
        self.emit_step(c, step, &class.probe, checks);
        load_end
    }

    /// Arrivals at ten times the limit for at least 30 intervals: a flat limiter admits one
    /// per interval, so the gaps between admitted requests are its rate to about a
    /// millisecond. Returns when the phase ended.
    pub(super) async fn spacing(&self, class: &RateClass) -> (Spacing, Instant) {
        let limit = per_second(class);
        let rate = self.capped(SPACING_FACTOR * limit);
        let seconds = (30.0 / limit).max(0.5);
        let recorder = self.recorder(class, rate, Duration::from_secs_f64(seconds));
        let recorder = self.phase(class, "spacing", recorder).await;
        let end = recorder.schedule.end().unwrap_or_else(Instant::now);
        let timeline = recorder.timeline();
        let stats = phase_stats(class, "spacing", &recorder, None);
        let _ = self.events.send(Event::PhaseFinished(Box::new(stats)));
        let spacing = Spacing {
            offered: estimate::offered_rate(&timeline).unwrap_or(rate),
            gap: fingerprint::median_gap(&fingerprint::accepted_times(&timeline)),
        };
        (spacing, end)
    }
}
