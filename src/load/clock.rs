//! How far this process's clock is from the target's, bounded by the target's `Date`
//! headers. An answer dated second `S` was made in `[S, S + 1)` on the target's clock, and
//! between its request's send and its answer on ours, so the offset θ (target − ours) lies
//! in `(S − answered, S + 1 − sent)`. Intersected over a workload's answers, the bound
//! narrows to about a round trip around each second boundary. Shards of one run measure
//! their offsets to the same target, so the difference of two shards' offsets is the
//! offset between their clocks — which `report merge` holds to a bound.

use serde::{Deserialize, Serialize};

/// Bounds of θ = the target's clock − this process's clock, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockBound {
    pub low_ms: f64,
    pub high_ms: f64,
}

/// What the answers said about the offset.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockOffset {
    /// No answer carried a readable `Date`.
    #[default]
    Unknown,
    Bounded(ClockBound),
    /// Answers disagreed beyond any one offset: several clocks behind one address (a
    /// balancer over servers that disagree), or the target's clock stepped.
    Inconsistent,
}

impl ClockOffset {
    /// Narrows the bound by an answer dated `date_s` (Unix seconds) to a request sent at
    /// `sent_ms` and answered at `answered_ms` (Unix milliseconds on this clock).
    pub fn observe(&mut self, date_s: u64, sent_ms: f64, answered_ms: f64) {
        let date_ms = date_s as f64 * 1000.0;
        self.narrow(ClockBound {
            low_ms: date_ms - answered_ms,
            high_ms: date_ms + 1000.0 - sent_ms,
        });
    }

    /// Intersects with another bound of the same clocks (another request name's).
    pub fn narrow(&mut self, bound: ClockBound) {
        *self = match *self {
            ClockOffset::Unknown => ClockOffset::Bounded(bound),
            ClockOffset::Bounded(mine) => {
                let low = mine.low_ms.max(bound.low_ms);
                let high = mine.high_ms.min(bound.high_ms);
                if low <= high {
                    ClockOffset::Bounded(ClockBound {
                        low_ms: low,
                        high_ms: high,
                    })
                } else {
                    ClockOffset::Inconsistent
                }
            }
            ClockOffset::Inconsistent => ClockOffset::Inconsistent,
        }
    }

    /// Intersects with another offset of the same clocks.
    pub fn and(mut self, other: ClockOffset) -> ClockOffset {
        match other {
            ClockOffset::Unknown => self,
            ClockOffset::Bounded(bound) => {
                self.narrow(bound);
                self
            }
            ClockOffset::Inconsistent => ClockOffset::Inconsistent,
        }
    }

    pub fn bound(&self) -> Option<ClockBound> {
        match self {
            ClockOffset::Bounded(bound) => Some(*bound),
            _ => None,
        }
    }
}

impl ClockBound {
    pub fn middle(&self) -> f64 {
        (self.low_ms + self.high_ms) / 2.0
    }

    pub fn half_width(&self) -> f64 {
        (self.high_ms - self.low_ms) / 2.0
    }
}

/// How far apart shards' clocks are: the largest difference of their offsets' middles,
/// its uncertainty, and the indexes of the shard whose clock is furthest ahead and of the
/// one furthest behind. `None` for fewer than two bounds.
pub fn spread(offsets: &[(u32, ClockBound)]) -> Option<(f64, f64, u32, u32)> {
    if offsets.len() < 2 {
        return None;
    }
    let by_middle =
        |a: &&(u32, ClockBound), b: &&(u32, ClockBound)| a.1.middle().total_cmp(&b.1.middle());
    // θ = target − ours: the smallest θ is the clock furthest ahead.
    let ahead = offsets.iter().min_by(by_middle)?;
    let behind = offsets.iter().max_by(by_middle)?;
    Some((
        behind.1.middle() - ahead.1.middle(),
        behind.1.half_width() + ahead.1.half_width(),
        ahead.0,
        behind.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target whose clock is `theta` ms ahead of ours answering requests sent every
    /// `gap` ms, each answered `rtt` ms later (made halfway).
    fn measured(theta: f64, gap: f64, rtt: f64, n: u32) -> ClockOffset {
        let mut offset = ClockOffset::default();
        let start = 1_800_000_000_000.0 + 123.0;
        for k in 0..n {
            let sent = start + f64::from(k) * gap;
            let made = sent + rtt / 2.0 + theta;
            offset.observe((made / 1000.0).floor() as u64, sent, sent + rtt);
        }
        offset
    }

    #[test]
    fn the_bound_holds_the_true_offset_and_narrows_to_a_round_trip() {
        for theta in [-2_500.0, -40.0, 0.0, 7.0, 333.0] {
            let bound = measured(theta, 1.0, 2.0, 3_000).bound().unwrap();
            assert!(
                bound.low_ms <= theta && theta <= bound.high_ms,
                "{theta}: {bound:?}"
            );
            assert!(bound.half_width() <= 1.5, "{theta}: {bound:?}");
        }
        let sparse = measured(0.0, 400.0, 2.0, 5).bound().unwrap();
        assert!(
            sparse.half_width() > 50.0,
            "five answers bound little: {sparse:?}"
        );
    }

    #[test]
    fn answers_that_cannot_share_one_offset_are_inconsistent() {
        let mut offset = measured(0.0, 1.0, 2.0, 2_000);
        offset = offset.and(measured(500.0, 1.0, 2.0, 2_000));
        assert_eq!(offset, ClockOffset::Inconsistent);
        assert_eq!(ClockOffset::Unknown.and(offset), ClockOffset::Inconsistent);
    }

    #[test]
    fn the_spread_names_the_clock_ahead() {
        let a = measured(0.0, 1.0, 2.0, 3_000).bound().unwrap();
        // Shard 3's clock is 120 ms ahead: the target is 120 ms behind it.
        let b = measured(-120.0, 1.0, 2.0, 3_000).bound().unwrap();
        let (gap, uncertainty, ahead, behind) = spread(&[(0, a), (3, b)]).unwrap();
        assert!(
            (gap - 120.0).abs() <= uncertainty + 0.01,
            "{gap} ± {uncertainty}"
        );
        assert!(uncertainty <= 3.0);
        assert_eq!((ahead, behind), (3, 0));
        assert!(spread(&[(0, a)]).is_none());
    }
}
