//! What a phase's recorder adds up to for the report: its totals, its per-second series
//! keyed by wall-clock second, its 50 ms slices (where a limiter's burst shows), and
//! latency percentiles, overall and per second.

use super::estimate::{self, Estimate};
use super::measurements::Measurements;
use super::per_second;
use super::record::Recorder;
use super::timeline::{Bin, Timeline};
use crate::event::{Latency, LatencySlices, PhaseStats, SecondCounts, SliceCounts};
use crate::profile::RateClass;

pub(super) fn phase_stats(
    class: &RateClass,
    name: &str,
    recorder: &Recorder,
    estimate: Option<&Estimate>,
) -> PhaseStats {
    PhaseStats {
        estimated_rate: estimate.map(|e| e.rate),
        estimated_burst: estimate.map(|e| e.burst),
        ..measured(
            &class.name,
            name,
            per_second(class),
            recorder.schedule.rate,
            &recorder.measurements(),
        )
    }
}

/// What was measured, as the report's phase `class · name`: offered `requested` per second
/// (at its peak) against a limit of `limit` per second.
pub(super) fn measured(
    class: &str,
    name: &str,
    limit: f64,
    requested: f64,
    measured: &Measurements,
) -> PhaseStats {
    let timeline = &measured.timeline;
    let totals = timeline.totals();
    let wall = measured
        .started_wall
        .and_then(|w| w.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
        .unwrap_or_default();
    let (slice_ms, slices) = slices(timeline);
    PhaseStats {
        class: class.to_string(),
        phase: name.to_string(),
        limit_per_second: limit,
        requested_rate: requested,
        offered_rate: estimate::offered_rate(timeline).unwrap_or_default(),
        duration_s: measured.duration.as_secs_f64(),
        requests: u64::from(totals.sent),
        accepted: u64::from(totals.accepted),
        limited: u64::from(totals.limited),
        other: u64::from(totals.other()),
        seconds: per_wall_second(timeline, wall.as_secs_f64()),
        started_ms: wall.as_millis() as u64,
        slice_ms,
        slices,
        latency_seconds: measured.per_second.percentiles(),
        latency_slices: measured.per_slice.as_ref().map(|series| LatencySlices {
            width_ms: series.width_ms(),
            slices: series.slices(),
        }),
        latency: percentiles(&measured.corrected),
        service_latency: percentiles(&measured.service),
        estimated_rate: None,
        estimated_burst: None,
        fingerprint: None,
        partial: measured.partial(),
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

/// The finest slice: a 100/s limiter's burst at 2x the limit lasts about a second, its refill
/// is one request per 10 ms; 50 ms shows both at a glance.
const SLICE_MS: usize = 50;

/// The most slices a phase reports: 100 s at 50 ms, so report.json stays small.
const MAX_SLICES: usize = 2_000;

/// Counts per slice from the phase's start up to its last send, and the slice width: 50 ms,
/// or a multiple of it so a long phase still fits in `MAX_SLICES`.
pub(super) fn slices(timeline: &Timeline) -> (u64, Vec<SliceCounts>) {
    let bins = timeline.bins();
    let used = bins
        .iter()
        .rposition(|b| b.sent > 0)
        .map_or(0, |last| last + 1);
    let width = SLICE_MS * used.div_ceil(SLICE_MS * MAX_SLICES).max(1);
    let slices = bins[..used]
        .chunks(width)
        .enumerate()
        .map(|(i, chunk)| {
            let mut slice = SliceCounts {
                offset_ms: (i * width) as u64,
                offered: 0,
                accepted: 0,
                limited: 0,
            };
            for bin in chunk {
                slice.offered += u64::from(bin.sent);
                slice.accepted += u64::from(bin.accepted);
                slice.limited += u64::from(bin.limited);
            }
            slice
        })
        .collect();
    (width as u64, slices)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_50_ms_and_keep_empty_ones_up_to_the_last_send() {
        let mut timeline = Timeline::default();
        timeline.record(0, 200);
        timeline.record(49, 429);
        timeline.record(160, 200);
        let (width, slices) = slices(&timeline);
        assert_eq!(width, 50);
        let counts: Vec<_> = slices
            .iter()
            .map(|s| (s.offset_ms, s.offered, s.accepted, s.limited))
            .collect();
        assert_eq!(
            counts,
            [(0, 2, 1, 1), (50, 0, 0, 0), (100, 0, 0, 0), (150, 1, 1, 0)]
        );
    }

    #[test]
    fn a_long_phase_coarsens_to_at_most_2000_slices() {
        let mut timeline = Timeline::default();
        for ms in (0..250_000).step_by(10) {
            timeline.record(ms, 200);
        }
        let (width, slices) = slices(&timeline);
        assert_eq!(width, 150, "250 s in 50 ms multiples under 2,000 slices");
        assert!(slices.len() <= MAX_SLICES, "{}", slices.len());
        assert_eq!(slices.iter().map(|s| s.offered).sum::<u64>(), 25_000);
        assert_eq!(slices[1].offset_ms, 150);
    }

    #[test]
    fn an_empty_timeline_has_no_slices() {
        assert_eq!(slices(&Timeline::default()), (50, Vec::new()));
    }
}
