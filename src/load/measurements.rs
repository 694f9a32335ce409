//! What one recorder measured, detached from it: the input of a report phase's statistics
//! (`stats.rs`) and of the workload judge. Shards of one schedule (`shard.rs`) measure from
//! the same start instant, so their measurements add up exactly — the timelines millisecond
//! by millisecond, the histograms bucket by bucket: the percentiles of the sum are those of
//! one histogram of every sample, not an average of the shards' percentiles.

use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use super::latency_series::LatencySeries;
use super::timeline::Timeline;

#[derive(Debug, Clone)]
pub struct Measurements {
    /// When slot 0 was due, on the wall clock (`None`: the schedule never started).
    pub started_wall: Option<SystemTime>,
    /// How long the schedule lasts.
    pub duration: Duration,
    /// Slots of the schedule this process was to send, and those this recorder had answered
    /// (or failed). A workload's request names share one schedule: each one's `scheduled`
    /// is the whole schedule's, so only their sum of `finished` says whether it completed.
    pub scheduled: u64,
    pub finished: u64,
    /// Every answer by the millisecond its request was sent, from the schedule's start.
    pub timeline: Timeline,
    /// Latency from each slot's due time (coordinated-omission corrected), in µs.
    pub corrected: Histogram<u64>,
    /// Latency from the actual send, in µs.
    pub service: Histogram<u64>,
    /// How late requests went out after their slots were due, in µs.
    pub lag: Histogram<u64>,
    /// Corrected latency, second by second of the schedule.
    pub per_second: LatencySeries,
    /// The same in slices of a second (short workloads).
    pub per_slice: Option<LatencySeries>,
}

impl Measurements {
    /// Adds the measurements of another shard of the same schedule.
    pub fn merge(&mut self, other: &Measurements) -> Result<(), String> {
        if let (Some(mine), Some(theirs)) = (self.started_wall, other.started_wall) {
            if mine != theirs {
                return Err(format!(
                    "measured from different start instants ({} and {}): not shards of one \
                     schedule",
                    humantime::format_rfc3339_millis(mine),
                    humantime::format_rfc3339_millis(theirs)
                ));
            }
        }
        self.started_wall = self.started_wall.or(other.started_wall);
        self.duration = self.duration.max(other.duration);
        self.scheduled += other.scheduled;
        self.finished += other.finished;
        self.timeline.merge(&other.timeline);
        for (mine, theirs) in [
            (&mut self.corrected, &other.corrected),
            (&mut self.service, &other.service),
            (&mut self.lag, &other.lag),
        ] {
            mine.add(theirs)
                .map_err(|e| format!("latency histograms of different ranges: {e:?}"))?;
        }
        self.per_second.merge(&other.per_second)?;
        match (&mut self.per_slice, &other.per_slice) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, None) => Ok(()),
            _ => Err("one shard measured latency in slices, another did not".into()),
        }
    }

    /// Whether some slot was never answered (a stopped run, or goose's bound ran out).
    pub fn partial(&self) -> bool {
        self.finished < self.scheduled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same latency histogram the recorder keeps.
    fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 120_000_000, 3).unwrap()
    }

    fn measured(samples: &[(u64, u64)], start: SystemTime) -> Measurements {
        let mut m = Measurements {
            started_wall: Some(start),
            duration: Duration::from_secs(3),
            scheduled: samples.len() as u64,
            finished: samples.len() as u64,
            timeline: Timeline::default(),
            corrected: histogram(),
            service: histogram(),
            lag: histogram(),
            per_second: LatencySeries::default(),
            per_slice: Some(LatencySeries::with_width(200)),
        };
        for &(sent_ms, micros) in samples {
            m.timeline
                .record(sent_ms, if micros > 50_000 { 503 } else { 200 });
            m.corrected.record(micros).unwrap();
            m.service.record(micros / 2 + 1).unwrap();
            m.lag.record(micros % 997 + 1).unwrap();
            m.per_second.record(sent_ms, micros);
            if let Some(slices) = &mut m.per_slice {
                slices.record(sent_ms, micros);
            }
        }
        m
    }

    #[test]
    fn shards_merge_into_exactly_the_measurements_of_all_samples() {
        // 3,000 sends over 3 s with a long-tailed latency, dealt to 4 shards as k mod 4.
        let samples: Vec<(u64, u64)> = (0..3_000u64)
            .map(|k| {
                (
                    k,
                    200 + (k * 7_919) % 9_973 + if k % 97 == 0 { 80_000 } else { 0 },
                )
            })
            .collect();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let whole = measured(&samples, start);
        let mut merged: Option<Measurements> = None;
        for shard in 0..4u64 {
            let mine: Vec<(u64, u64)> = samples
                .iter()
                .copied()
                .filter(|(k, _)| k % 4 == shard)
                .collect();
            let part = measured(&mine, start);
            match &mut merged {
                Some(all) => all.merge(&part).unwrap(),
                None => merged = Some(part),
            }
        }
        let merged = merged.unwrap();
        for q in [0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            assert_eq!(
                merged.corrected.value_at_quantile(q),
                whole.corrected.value_at_quantile(q),
                "p{q}"
            );
            assert_eq!(
                merged.service.value_at_quantile(q),
                whole.service.value_at_quantile(q)
            );
            assert_eq!(
                merged.lag.value_at_quantile(q),
                whole.lag.value_at_quantile(q)
            );
        }
        assert_eq!(merged.corrected.len(), 3_000);
        assert_eq!(merged.timeline, whole.timeline);
        assert_eq!(
            merged.per_second.percentiles(),
            whole.per_second.percentiles()
        );
        let slices = |m: &Measurements| m.per_slice.as_ref().unwrap().slices();
        assert_eq!(slices(&merged), slices(&whole));
        assert_eq!(slices(&whole).len(), 15, "3 s in 200 ms slices");
        assert_eq!((merged.scheduled, merged.finished), (3_000, 3_000));
        assert!(!merged.partial());
    }

    #[test]
    fn measurements_of_different_start_instants_do_not_merge() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut one = measured(&[(0, 100)], start);
        let other = measured(&[(0, 100)], start + Duration::from_millis(1));
        let refused = one.merge(&other).unwrap_err();
        assert!(refused.contains("not shards of one schedule"), "{refused}");
    }
}
