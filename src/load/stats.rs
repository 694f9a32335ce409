//! What a phase's recorder adds up to for the report: its totals, its per-second series
//! keyed by wall-clock second, and latency percentiles.

use super::estimate::{self, Estimate};
use super::per_second;
use super::record::Recorder;
use super::timeline::{Bin, Timeline};
use crate::event::{Latency, PhaseStats, SecondCounts};
use crate::profile::RateClass;

pub(super) fn phase_stats(
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
        partial: recorder.finished() < recorder.schedule.count,
    }
}

/// Counts per wall-clock second (the report's series), from a timeline that started at
/// `wall` seconds since the Unix epoch.
pub(super) fn per_wall_second(timeline: &Timeline, wall: f64) -> Vec<SecondCounts> {
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

pub(super) fn tally(second: &mut SecondCounts, bin: &Bin) {
    second.offered += u64::from(bin.sent);
    second.accepted += u64::from(bin.accepted);
    second.limited += u64::from(bin.limited);
    second.other += u64::from(bin.other());
}

pub(super) fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Latency {
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
