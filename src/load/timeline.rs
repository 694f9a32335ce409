//! A phase's answers by the millisecond they were sent: the whole accept/reject timeline,
//! in memory that grows with the phase's length, never with its number of requests (a
//! 60 s phase is 60,000 bins of 16 bytes, at 20 or at 20,000 requests per second).

/// Answers of the requests sent in one millisecond.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bin {
    pub sent: u32,
    /// 2xx answers.
    pub accepted: u32,
    /// 429 answers.
    pub limited: u32,
    /// No answer at all (timeout, connection error).
    pub failed: u32,
}

impl Bin {
    /// Answered, but not with a 2xx.
    pub fn rejected(&self) -> u32 {
        self.sent - self.accepted - self.failed
    }

    /// Neither a 2xx nor a 429 (no answer included).
    pub fn other(&self) -> u32 {
        self.sent - self.accepted - self.limited
    }

    fn add(&mut self, other: &Bin) {
        self.sent += other.sent;
        self.accepted += other.accepted;
        self.limited += other.limited;
        self.failed += other.failed;
    }
}

/// Longest timeline kept: sends later than this (a phase far beyond any schedule) share
/// the last bin.
const MAX_BINS: usize = 30 * 60 * 1000;

/// Most requests one process can send in a millisecond, for a timeline read back: a
/// million, so the bins of 1,024 shards still add up inside a `u32`.
const MAX_SENDS_PER_MS: u32 = 1_000_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Bin `i` holds the requests sent in millisecond `i` after the schedule started.
    bins: Vec<Bin>,
}

impl Timeline {
    /// Adds the answer (`status`, 0 for none) of a request sent `sent_ms` after the start.
    pub fn record(&mut self, sent_ms: u64, status: u16) {
        let index = (sent_ms as usize).min(MAX_BINS - 1);
        if self.bins.len() <= index {
            self.bins.resize(index + 1, Bin::default());
        }
        let bin = &mut self.bins[index];
        bin.sent += 1;
        match status {
            0 => bin.failed += 1,
            200..=299 => bin.accepted += 1,
            429 => bin.limited += 1,
            _ => {}
        }
    }

    /// Adds another timeline of the same start, bin by bin.
    pub fn merge(&mut self, other: &Timeline) {
        if self.bins.len() < other.bins.len() {
            self.bins.resize(other.bins.len(), Bin::default());
        }
        for (mine, theirs) in self.bins.iter_mut().zip(&other.bins) {
            mine.add(theirs);
        }
    }

    /// Adds the requests of another timeline of the same start sent no later than this
    /// one's last send: what else reached the bucket while this timeline's load ran.
    pub fn merge_within(&mut self, other: &Timeline) {
        let within = Timeline {
            bins: other.bins[..other.bins.len().min(self.bins.len())].to_vec(),
        };
        self.merge(&within);
    }

    /// Adds `bin` as the requests sent `ms` after the start (a timeline read back).
    pub fn add_bin(&mut self, ms: u64, bin: Bin) -> Result<(), String> {
        let index = usize::try_from(ms)
            .ok()
            .filter(|&i| i < MAX_BINS)
            .ok_or_else(|| format!("a send {ms} ms after the start, beyond {MAX_BINS} ms"))?;
        let answered = u64::from(bin.accepted) + u64::from(bin.limited) + u64::from(bin.failed);
        if answered > u64::from(bin.sent) || bin.sent > MAX_SENDS_PER_MS {
            return Err(format!("an impossible count of requests at {ms} ms"));
        }
        if self.bins.get(index).is_some_and(|b| b.sent > 0) {
            return Err(format!("the requests sent at {ms} ms are listed twice"));
        }
        if self.bins.len() <= index {
            self.bins.resize(index + 1, Bin::default());
        }
        self.bins[index] = bin;
        Ok(())
    }

    pub fn bins(&self) -> &[Bin] {
        &self.bins
    }

    pub fn totals(&self) -> Bin {
        self.between_ms(0, self.bins.len())
    }

    /// Seconds since the start of the first and the last send.
    pub fn span(&self) -> Option<(f64, f64)> {
        let first = self.bins.iter().position(|b| b.sent > 0)?;
        let last = self.bins.iter().rposition(|b| b.sent > 0)?;
        Some((seconds(first), seconds(last)))
    }

    /// When the first request that got a non-2xx answer was sent.
    pub fn first_rejection(&self) -> Option<f64> {
        self.bins.iter().position(|b| b.rejected() > 0).map(seconds)
    }

    /// The requests sent after `from` and up to `to` (seconds since the start).
    pub fn between(&self, from: f64, to: f64) -> Bin {
        let start = (from * 1000.0).round() as usize + 1;
        let end = (to * 1000.0).round() as usize + 1;
        self.between_ms(start, end)
    }

    fn between_ms(&self, start: usize, end: usize) -> Bin {
        let mut sum = Bin::default();
        for bin in &self.bins[start.min(self.bins.len())..end.min(self.bins.len())] {
            sum.add(bin);
        }
        sum
    }
}

fn seconds(ms: usize) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_by_millisecond_and_finds_the_first_rejection() {
        let mut t = Timeline::default();
        t.record(0, 200);
        t.record(0, 200);
        t.record(5, 429);
        t.record(7, 0);
        t.record(9, 503);
        assert_eq!(t.span(), Some((0.0, 0.009)));
        assert_eq!(t.first_rejection(), Some(0.005));
        let all = t.totals();
        assert_eq!(
            (all.sent, all.accepted, all.limited, all.failed),
            (5, 2, 1, 1)
        );
        assert_eq!(all.other(), 2, "the 503 and the unanswered one");
        assert_eq!(t.between(0.0, 0.007).sent, 2, "after 0 ms, up to 7 ms");
        assert_eq!(t.between(0.0, 0.009).rejected(), 2);
    }

    #[test]
    fn merging_within_keeps_the_span_of_the_load() {
        let mut load = Timeline::default();
        load.record(0, 200);
        load.record(10, 429);
        let mut beside = Timeline::default();
        beside.record(3, 429);
        beside.record(10, 200);
        beside.record(400, 200);
        load.merge_within(&beside);
        assert_eq!(
            load.span(),
            Some((0.0, 0.010)),
            "the send at 400 ms is left out"
        );
        let all = load.totals();
        assert_eq!((all.sent, all.accepted, all.limited), (4, 2, 2));
    }
}
