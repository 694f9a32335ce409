//! Latency second by second: one coarse histogram per second of a phase (or per slice of a
//! second, for a short workload), so the report can draw p50/p95/p99 over time. Bounded like
//! the timeline: memory grows with the phase's length (about 1.6 KB per slice at one
//! significant digit), never with its requests.

use hdrhistogram::Histogram;

use crate::event::{LatencySlice, SecondLatency};

/// Seconds kept: as long as the timeline (`timeline::MAX_BINS`); later requests share the
/// last second.
const MAX_SECONDS: usize = 30 * 60;

/// Histograms of latency in microseconds, one per second (or per `width_ms`) of a phase.
#[derive(Debug, Clone)]
pub struct LatencySeries {
    width_ms: u64,
    seconds: Vec<Histogram<u32>>,
}

impl Default for LatencySeries {
    fn default() -> Self {
        LatencySeries::with_width(1000)
    }
}

/// The slice width of a short schedule's latency series: about twenty slices over the
/// schedule, in whole 100 ms (fewer requests per slice make percentiles noise); `None` from
/// 20 s on, where the per-second series has twenty points already.
pub fn slice_width(schedule: std::time::Duration) -> Option<u64> {
    let target = schedule.as_millis() as u64 / 20;
    let width = target.div_ceil(100).max(1) * 100;
    (width < 1000).then_some(width)
}

/// One significant digit (about 6% resolution) is enough for a chart, and keeps each
/// second's histogram a few hundred counters.
pub(crate) fn histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, 120_000_000, 1).expect("valid histogram bounds")
}

impl LatencySeries {
    /// A series of `width_ms` slices.
    pub fn with_width(width_ms: u64) -> Self {
        LatencySeries {
            width_ms: width_ms.max(1),
            seconds: Vec::new(),
        }
    }

    pub fn width_ms(&self) -> u64 {
        self.width_ms
    }

    /// Each slice's histogram, from the start (empty ones too).
    pub fn histograms(&self) -> &[Histogram<u32>] {
        &self.seconds
    }

    /// A series read back (`perf::measured`): at most as many slices as one records.
    pub fn from_histograms(width_ms: u64, slices: Vec<Histogram<u32>>) -> Result<Self, String> {
        if slices.len() > MAX_SECONDS {
            return Err(format!(
                "{} latency slices, over {MAX_SECONDS}",
                slices.len()
            ));
        }
        Ok(LatencySeries {
            width_ms: width_ms.max(1),
            seconds: slices,
        })
    }

    /// Adds the latency (µs) of a request sent `sent_ms` after the phase started.
    pub fn record(&mut self, sent_ms: u64, micros: u64) {
        let index = ((sent_ms / self.width_ms) as usize).min(MAX_SECONDS - 1);
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, histogram);
        }
        self.seconds[index].saturating_record(micros.clamp(1, 120_000_000));
    }

    /// Adds another series of the same start and width, slice by slice.
    pub fn merge(&mut self, other: &LatencySeries) -> Result<(), String> {
        if self.width_ms != other.width_ms {
            return Err(format!(
                "latency series of {} ms and {} ms slices",
                self.width_ms, other.width_ms
            ));
        }
        if self.seconds.len() < other.seconds.len() {
            self.seconds.resize_with(other.seconds.len(), histogram);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            mine.add(theirs)
                .map_err(|e| format!("latency series of different ranges: {e:?}"))?;
        }
        Ok(())
    }

    /// Percentiles of every slice that sent a request, by its offset in milliseconds.
    pub fn slices(&self) -> Vec<LatencySlice> {
        let ms = |h: &Histogram<u32>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        self.seconds
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
            .map(|(slice, h)| LatencySlice {
                offset_ms: slice as u64 * self.width_ms,
                requests: h.len(),
                p50_ms: ms(h, 0.50),
                p95_ms: ms(h, 0.95),
                p99_ms: ms(h, 0.99),
            })
            .collect()
    }

    /// Percentiles of every second that sent a request (a series of 1 s slices).
    pub fn percentiles(&self) -> Vec<SecondLatency> {
        self.slices()
            .into_iter()
            .map(|s| SecondLatency {
                offset_s: s.offset_ms / 1000,
                requests: s.requests,
                p50_ms: s.p50_ms,
                p95_ms: s.p95_ms,
                p99_ms: s.p99_ms,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_schedules_get_about_twenty_slices_of_whole_100_ms() {
        let width = |ms| slice_width(std::time::Duration::from_millis(ms));
        assert_eq!(width(4_500), Some(300));
        assert_eq!(width(9_000), Some(500));
        assert_eq!(width(1_000), Some(100));
        assert_eq!(width(0), Some(100));
        assert_eq!(width(18_000), Some(900));
        assert_eq!(width(19_000), None, "1 s slices: the per-second series");
        assert_eq!(width(600_000), None);
    }

    #[test]
    fn percentiles_per_second_skip_silent_seconds() {
        let mut series = LatencySeries::default();
        for i in 0..100 {
            series.record(10, 1_000 * (i + 1));
        }
        series.record(2_500, 7_000);
        let seconds = series.percentiles();
        assert_eq!(seconds.len(), 2, "second 1 sent nothing: {seconds:?}");
        assert_eq!((seconds[0].offset_s, seconds[0].requests), (0, 100));
        let within = |got: f64, want: f64| (got - want).abs() <= want * 0.07;
        assert!(within(seconds[0].p50_ms, 50.0), "{:?}", seconds[0]);
        assert!(within(seconds[0].p99_ms, 99.0), "{:?}", seconds[0]);
        assert_eq!(seconds[1].offset_s, 2);
        assert!(within(seconds[1].p95_ms, 7.0), "{:?}", seconds[1]);
    }
}
