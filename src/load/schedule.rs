//! The drift-free open-model schedule every load phase and workload sends by: slot k is
//! due at a fixed offset from one start, whoever sends it, and a shard of several processes
//! claims only its own slots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use super::shard::Shard;

/// A drift-free open-model schedule: slot k is due at start + k / rate, whoever sends it.
/// The clock starts with the first claimed slot, when goose's users are already running.
#[derive(Debug)]
pub struct Schedule {
    /// The rate, or the peak rate of a staged schedule.
    pub rate: f64,
    pub count: u64,
    /// A staged schedule's ramps and holds; `None`: `rate` throughout.
    ramps: Option<Vec<Ramp>>,
    next: AtomicU64,
    /// The monotonic start, and the wall clock at that moment (series are keyed by
    /// wall-clock second so shards of a distributed run line up).
    start: OnceLock<(Instant, SystemTime)>,
    /// The slots this process sends (all, unless the run is one shard of several).
    shard: Shard,
    /// The wall-clock instant slot 0 is due, shared by every shard; `None`: when the first
    /// slot is claimed.
    start_at: Option<SystemTime>,
    /// How long after `start_at` the first slot was claimed, when it was.
    late: OnceLock<Duration>,
}

/// Head start so every user is waiting on a slot before the first one is due.
const START_DELAY: Duration = Duration::from_millis(20);

impl Schedule {
    pub fn new(rate: f64, duration: Duration) -> Self {
        Schedule {
            rate,
            count: (rate * duration.as_secs_f64()).round().max(1.0) as u64,
            ramps: None,
            next: AtomicU64::new(0),
            start: OnceLock::new(),
            shard: Shard::WHOLE,
            start_at: None,
            late: OnceLock::new(),
        }
    }

    /// A schedule whose rate follows `stages` (duration, rate at its end), linearly from 0:
    /// slot k is due when the integral of the rate reaches k, so every stage gets exactly
    /// its share whatever the slots before it did.
    pub fn staged(stages: &[(Duration, f64)]) -> Self {
        let mut ramps = Vec::new();
        let (mut at, mut level, mut before) = (0.0, 0.0, 0.0);
        for &(duration, to) in stages {
            let length = duration.as_secs_f64();
            let ramp = Ramp {
                at,
                length,
                from: level,
                to,
                before,
            };
            before += ramp.count();
            at += length;
            level = to;
            ramps.push(ramp);
        }
        let rate = stages.iter().map(|s| s.1).fold(0.0, f64::max);
        Schedule {
            rate,
            count: before.floor().max(1.0) as u64,
            ramps: Some(ramps),
            next: AtomicU64::new(0),
            start: OnceLock::new(),
            shard: Shard::WHOLE,
            start_at: None,
            late: OnceLock::new(),
        }
    }

    /// When slot `k` is due, from the start.
    pub fn offset(&self, k: u64) -> Duration {
        let Some(ramps) = &self.ramps else {
            return Duration::from_secs_f64(k as f64 / self.rate);
        };
        let k = k as f64;
        let ramp = ramps
            .iter()
            .rev()
            .find(|r| r.before <= k && r.count() > 0.0)
            .unwrap_or(&ramps[0]);
        Duration::from_secs_f64(ramp.at + ramp.time_of(k - ramp.before))
    }

    /// How long the schedule lasts.
    pub fn duration(&self) -> Duration {
        match &self.ramps {
            Some(ramps) => Duration::from_secs_f64(ramps.iter().map(|r| r.length).sum()),
            None => Duration::from_secs_f64(self.count as f64 / self.rate),
        }
    }

    /// This schedule as `shard`'s share of one that every shard starts at `start_at`.
    pub fn sharded(self, shard: Shard, start_at: Option<SystemTime>) -> Self {
        Schedule {
            shard,
            start_at,
            ..self
        }
    }

    /// How many slots this process sends.
    pub fn own_count(&self) -> u64 {
        self.shard.share(self.count)
    }

    /// The peak rate this process sends at.
    pub fn own_rate(&self) -> f64 {
        self.rate / f64::from(self.shard.count)
    }

    /// How long until the shared start instant (zero without one, or once it passed).
    pub fn lead(&self) -> Duration {
        self.start_at
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .unwrap_or_default()
    }

    /// How long after the shared start instant this process claimed its first slot: its
    /// slots due meanwhile went out at once, late.
    pub fn late_by(&self) -> Option<Duration> {
        self.late.get().copied().filter(|late| !late.is_zero())
    }

    /// The next slot of this shard and when it is due, or `None` when every one is taken.
    pub fn claim(&self) -> Option<(u64, Instant)> {
        let k = self.shard.slot(self.next.fetch_add(1, Ordering::Relaxed));
        if k >= self.count {
            return None;
        }
        let (start, _) = *self.start.get_or_init(|| self.begin());
        Some((k, start + self.offset(k)))
    }

    /// The start on both clocks: the shared instant when there is one (in the past if this
    /// process is late: its slots then catch up at once, drift-free), else a head start
    /// from now.
    fn begin(&self) -> (Instant, SystemTime) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let Some(at) = self.start_at else {
            return (now + START_DELAY, wall + START_DELAY);
        };
        match at.duration_since(wall) {
            Ok(ahead) => {
                let _ = self.late.set(Duration::ZERO);
                (now + ahead, at)
            }
            Err(behind) => {
                let _ = self.late.set(behind.duration());
                match now.checked_sub(behind.duration()) {
                    Some(then) => (then, at),
                    // Too far back for this clock: from now, on both clocks.
                    None => (now, wall),
                }
            }
        }
    }

    pub fn started(&self) -> Option<Instant> {
        self.start.get().map(|(instant, _)| *instant)
    }

    pub fn started_wall(&self) -> Option<SystemTime> {
        self.start.get().map(|(_, wall)| *wall)
    }

    /// When the last slot is due.
    pub fn end(&self) -> Option<Instant> {
        self.started()
            .map(|s| s + self.offset(self.count.saturating_sub(1)))
    }
}

/// One stage of a staged schedule: the rate goes linearly from `from` to `to` over `length`
/// seconds, starting `at` seconds in, after `before` slots.
#[derive(Debug, Clone, Copy)]
struct Ramp {
    at: f64,
    length: f64,
    from: f64,
    to: f64,
    before: f64,
}

impl Ramp {
    /// Slots in the stage: the integral of its rate.
    fn count(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.length
    }

    /// Seconds into the stage at which `n` slots have become due: the root of
    /// `from·t + (to − from)·t²/(2·length) = n`.
    fn time_of(&self, n: f64) -> f64 {
        let a = (self.to - self.from) / (2.0 * self.length.max(f64::MIN_POSITIVE));
        let b = self.from;
        let t = if a.abs() < 1e-12 {
            n / b.max(f64::MIN_POSITIVE)
        } else {
            (-b + (b * b + 4.0 * a * n).max(0.0).sqrt()) / (2.0 * a)
        };
        t.clamp(0.0, self.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_schedule_follows_its_ramps_and_holds() {
        // 0 → 100/s over 2 s (100 slots), 100/s for 1 s (100), 100 → 0 over 1 s (50).
        let schedule = Schedule::staged(&[
            (Duration::from_secs(2), 100.0),
            (Duration::from_secs(1), 100.0),
            (Duration::from_secs(1), 0.0),
        ]);
        assert_eq!(schedule.count, 250);
        assert_eq!(schedule.rate, 100.0);
        assert_eq!(schedule.duration(), Duration::from_secs(4));
        let at = |k| schedule.offset(k).as_secs_f64();
        // Half the ramp's slots are due at 1/√2 of it (the integral grows with t²).
        assert!((at(50) - 2.0_f64.sqrt()).abs() < 1e-9, "{}", at(50));
        assert!((at(100) - 2.0).abs() < 1e-9);
        assert!((at(150) - 2.5).abs() < 1e-9);
        assert!((at(200) - 3.0).abs() < 1e-9);
        // The ramp down: 37.5 of its 50 slots are in after half a second.
        assert!((at(237) - 3.5).abs() < 0.01, "{}", at(237));
        let offsets: Vec<f64> = (0..250).map(at).collect();
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
        assert!(offsets[249] <= 4.0);
    }

    #[test]
    fn slots_are_evenly_spaced_from_one_start_and_bounded() {
        let schedule = Schedule::new(100.0, Duration::from_millis(50));
        assert_eq!(schedule.count, 5);
        let slots: Vec<_> = std::iter::from_fn(|| schedule.claim()).collect();
        assert_eq!(slots.len(), 5);
        let start = schedule.started().unwrap();
        for (k, at) in &slots {
            assert_eq!(at.duration_since(start), Duration::from_millis(10 * k));
        }
        assert_eq!(
            schedule.end().unwrap().duration_since(start),
            Duration::from_millis(40)
        );
    }

    #[test]
    fn shards_of_one_start_instant_send_every_slot_once_at_its_own_time() {
        let start = SystemTime::now() + Duration::from_secs(2);
        let whole = Schedule::new(1000.0, Duration::from_millis(10));
        let mut due: Vec<(u64, Duration)> = Vec::new();
        for index in 0..3 {
            let shard = Schedule::new(1000.0, Duration::from_millis(10))
                .sharded(Shard { index, count: 3 }, Some(start));
            assert!(shard.lead() > Duration::from_secs(1));
            let slots: Vec<_> = std::iter::from_fn(|| shard.claim()).collect();
            assert_eq!(slots.len() as u64, shard.own_count());
            assert_eq!(shard.started_wall(), Some(start));
            assert_eq!(shard.late_by(), None);
            let began = shard.started().unwrap();
            due.extend(slots.iter().map(|(k, at)| (*k, at.duration_since(began))));
        }
        due.sort();
        let expected: Vec<(u64, Duration)> =
            (0..whole.count).map(|k| (k, whole.offset(k))).collect();
        assert_eq!(due, expected);
    }

    #[test]
    fn a_shard_that_begins_after_the_start_instant_knows_how_late_it_is() {
        let start = SystemTime::now() - Duration::from_millis(300);
        let shard = Schedule::new(100.0, Duration::from_secs(1))
            .sharded(Shard { index: 1, count: 2 }, Some(start));
        let (k, at) = shard.claim().unwrap();
        assert_eq!(k, 1);
        // Slot 1 was due 290 ms ago: it goes at once.
        assert!(at <= Instant::now());
        let late = shard.late_by().unwrap();
        assert!(
            late >= Duration::from_millis(300) && late < Duration::from_secs(2),
            "{late:?}"
        );
    }
}
