//! Latency second by second: one coarse histogram per second of a phase, so the report can
//! draw p50/p95/p99 over time. Bounded like the timeline: memory grows with the phase's
//! length (about 1.6 KB per second at one significant digit), never with its requests.

use hdrhistogram::Histogram;

use crate::event::SecondLatency;

/// Seconds kept: as long as the timeline (`timeline::MAX_BINS`); later requests share the
/// last second.
const MAX_SECONDS: usize = 30 * 60;

/// Per-second histograms of latency in microseconds.
#[derive(Debug, Clone, Default)]
pub struct LatencySeries {
    seconds: Vec<Histogram<u32>>,
}

/// One significant digit (about 6% resolution) is enough for a chart, and keeps each
/// second's histogram a few hundred counters.
fn histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, 120_000_000, 1).expect("valid histogram bounds")
}

impl LatencySeries {
    /// Adds the latency (µs) of a request sent `sent_ms` after the phase started.
    pub fn record(&mut self, sent_ms: u64, micros: u64) {
        let index = ((sent_ms / 1000) as usize).min(MAX_SECONDS - 1);
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, histogram);
        }
        self.seconds[index].saturating_record(micros.clamp(1, 120_000_000));
    }

    /// Adds another series of the same start, second by second.
    pub fn merge(&mut self, other: &LatencySeries) -> Result<(), String> {
        if self.seconds.len() < other.seconds.len() {
            self.seconds.resize_with(other.seconds.len(), histogram);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            mine.add(theirs)
                .map_err(|e| format!("latency series of different ranges: {e:?}"))?;
        }
        Ok(())
    }

    /// Percentiles of every second that sent a request.
    pub fn percentiles(&self) -> Vec<SecondLatency> {
        let ms = |h: &Histogram<u32>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        self.seconds
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
            .map(|(second, h)| SecondLatency {
                offset_s: second as u64,
                requests: h.len(),
                p50_ms: ms(h, 0.50),
                p95_ms: ms(h, 0.95),
                p99_ms: ms(h, 0.99),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
