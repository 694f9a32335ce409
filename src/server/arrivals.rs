//! Requests counted by the wall-clock millisecond they arrived, in a fixed ring: what a load
//! generator really offered, as the server saw it (`tollgate bench`). Fixed memory and
//! lock-free, whatever the load; only present with `--test-hooks`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds the ring remembers (about 4.4 minutes).
pub const SPAN_MS: u64 = 1 << 18;
/// Low bits of a slot hold the count; the rest the millisecond it belongs to.
const COUNT_BITS: u32 = 20;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

pub struct Arrivals {
    slots: Box<[AtomicU64]>,
}

impl Default for Arrivals {
    fn default() -> Self {
        Arrivals {
            slots: (0..SPAN_MS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Arrivals {
    /// Counts one request arriving at `ms` (milliseconds since the Unix epoch).
    pub fn record(&self, ms: u64) {
        let slot = &self.slots[(ms % SPAN_MS) as usize];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            // A slot last used one ring-turn ago starts again from zero.
            let next = if current >> COUNT_BITS == ms {
                current + u64::from(current & COUNT_MASK < COUNT_MASK)
            } else {
                (ms << COUNT_BITS) | 1
            };
            match slot.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Requests per millisecond from `from_ms` (inclusive) to `to_ms` (exclusive); at most
    /// [`SPAN_MS`] of them, the most recent: the first millisecond really counted comes
    /// first.
    pub fn counts(&self, from_ms: u64, to_ms: u64) -> (u64, Vec<u64>) {
        let from_ms = from_ms.max(to_ms.saturating_sub(SPAN_MS));
        let counts = (from_ms..to_ms)
            .map(|ms| {
                let value = self.slots[(ms % SPAN_MS) as usize].load(Ordering::Relaxed);
                if value >> COUNT_BITS == ms {
                    value & COUNT_MASK
                } else {
                    0
                }
            })
            .collect();
        (from_ms, counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_millisecond_and_forgets_a_turn_ago() {
        let arrivals = Arrivals::default();
        let t = 1_700_000_000_000;
        for _ in 0..3 {
            arrivals.record(t);
        }
        arrivals.record(t + 2);
        assert_eq!(arrivals.counts(t, t + 3), (t, vec![3, 0, 1]));
        arrivals.record(t + SPAN_MS);
        assert_eq!(arrivals.counts(t + SPAN_MS, t + SPAN_MS + 1).1, vec![1]);
        assert_eq!(
            arrivals.counts(t, t + 1).1,
            vec![0],
            "overwritten one turn later"
        );
    }
}
