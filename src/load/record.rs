//! What a load phase records: one small outcome per request (bounded), latencies in an HDR
//! histogram, and the evidence each 429 carries (shape, retry hints, headers).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::headers::{self, Reset, RetryAfter};
use super::latency_series::{slice_width, LatencySeries};
use super::measurements::Measurements;
use super::shard::Shard;
use super::timeline::Timeline;

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

/// What the rate headers of a phase's answers promised, folded as they arrive.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HeaderSummary {
    /// The lowest `Remaining` on an accepted answer.
    pub lowest_remaining: Option<i64>,
    /// The largest reset, in seconds from the answer.
    pub largest_reset: Option<f64>,
}

/// One answer's `Remaining`, by when its request was sent: the phase's first answers on an
/// idle bucket are the header count-down (no separate probe has to touch the bucket).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemainingSample {
    /// Seconds since the phase started.
    pub sent_s: f64,
    pub status: u16,
    pub remaining: i64,
}

/// Answers kept as count-down samples: the count-down ends at the first 429, which at twice
/// the limit comes after about twice the burst.
const MAX_SAMPLES: usize = 2_000;

impl HeaderSummary {
    fn observe(&mut self, accepted: bool, rate: &headers::RateHeaders) {
        if accepted {
            if let Some(r) = rate.remaining {
                self.lowest_remaining = Some(self.lowest_remaining.map_or(r, |l| l.min(r)));
            }
        }
        if let Some(reset) = rate.reset.as_ref().and_then(Reset::seconds) {
            self.largest_reset = Some(self.largest_reset.map_or(reset, |l| l.max(reset)));
        }
    }
}

/// Evidence gathered from the limited answers of a phase.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitEvidence {
    pub limited: u64,
    pub server_errors: u64,
    pub bad_shape: u64,
    pub bad_shape_example: Option<String>,
    pub without_retry_hint: u64,
    pub retry_after: Vec<RetryAfter>,
    pub resets: Vec<Reset>,
    pub dialects: Vec<&'static str>,
    /// What each 429 promised: sent at this millisecond of the phase, retry after this many
    /// seconds (bounded; load phases only).
    pub promises: Vec<Promise>,
    /// 429s whose rate headers say quota remains (`Remaining` ≥ 1 on the refusing policy),
    /// and the first such value with its dialect.
    pub claims_remaining: u64,
    pub claims_remaining_example: Option<String>,
    /// Answers with a rate header sent twice, by header name (first few names).
    pub duplicated: u64,
    pub duplicated_names: Vec<&'static str>,
    /// 429s that carried Retry-After more than once.
    pub duplicated_retry_after: u64,
    /// Rate headers sent but unreadable, as `Name: value` (first few, distinct).
    pub unreadable: Vec<String>,
    /// The limits the headers announced (distinct, first few).
    pub limits: Vec<i64>,
}

/// Distinct examples kept per kind: enough to quote, bounded whatever the target sends.
const QUOTED: usize = 3;

fn keep<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if list.len() < QUOTED && !list.contains(&item) {
        list.push(item);
    }
}

/// One 429's retry promise, to hold against when a request was accepted again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Promise {
    pub sent_ms: u64,
    pub wait_s: f64,
    /// An HTTP-date: whole seconds only, so it may fall up to a second short.
    pub date: bool,
}

const MAX_PROMISES: usize = 50_000;

const MAX_EXAMPLES: usize = 1_000;

impl LimitEvidence {
    /// Adds one answer: its dialects, a 5xx, and for a 429 its shape and retry hints.
    pub fn observe(
        &mut self,
        status: u16,
        rate: &headers::RateHeaders,
        body: &[u8],
        error_schema: &jsonschema::Validator,
    ) {
        for dialect in &rate.dialects {
            if !self.dialects.contains(dialect) {
                self.dialects.push(dialect);
            }
        }
        if !rate.duplicated.is_empty() {
            self.duplicated += 1;
            for name in &rate.duplicated {
                keep(&mut self.duplicated_names, *name);
            }
            if status == 429 && rate.duplicated.contains(&"retry-after") {
                self.duplicated_retry_after += 1;
            }
        }
        for text in &rate.unreadable {
            keep(&mut self.unreadable, text.clone());
        }
        if let Some(limit) = rate.limit {
            keep(&mut self.limits, limit);
        }
        if status >= 500 {
            self.server_errors += 1;
        }
        if status != 429 {
            return;
        }
        self.limited += 1;
        let shaped = serde_json::from_slice::<Value>(body)
            .ok()
            .is_some_and(|json| error_schema.is_valid(&json));
        if !shaped {
            self.bad_shape += 1;
            if self.bad_shape_example.is_none() {
                let text = String::from_utf8_lossy(&body[..body.len().min(120)]).replace('\n', " ");
                self.bad_shape_example = Some(text);
            }
        }
        if rate.retry_after.is_none() && rate.reset.is_none() {
            self.without_retry_hint += 1;
        }
        // `remaining` is the tightest policy's (or the one named for this class): if even
        // that one has quota left, no policy the server told about refused this request.
        if let Some(left) = rate.remaining.filter(|r| *r >= 1) {
            self.claims_remaining += 1;
            if self.claims_remaining_example.is_none() {
                self.claims_remaining_example = Some(format!(
                    "Remaining {left} on a 429 ({})",
                    rate.dialects.join(", ")
                ));
            }
        }
        if self.retry_after.len() < MAX_EXAMPLES {
            self.retry_after.extend(rate.retry_after.clone());
        }
        if self.resets.len() < MAX_EXAMPLES {
            self.resets.extend(rate.reset.clone());
        }
    }

    fn promise(&mut self, sent_ms: u64, rate: &headers::RateHeaders) {
        let Some(retry) = &rate.retry_after else {
            return;
        };
        if let (Some(wait), true) = (retry.wait(), self.promises.len() < MAX_PROMISES) {
            self.promises.push(Promise {
                sent_ms,
                wait_s: wait.as_secs_f64(),
                date: matches!(retry, RetryAfter::Date(_)),
            });
        }
    }
}

/// Requests of a phase that got no answer at all, by transport check id, with the first
/// message of each kind (what the user needs to see: timeouts, resets, refusals).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransportFailures {
    pub kinds: Vec<TransportKind>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransportKind {
    /// `transport.timeout`, `transport.error`, …
    pub id: &'static str,
    pub count: u64,
    pub example: String,
}

impl TransportFailures {
    fn add(&mut self, id: &'static str, message: impl FnOnce() -> String) {
        match self.kinds.iter_mut().find(|k| k.id == id) {
            Some(kind) => kind.count += 1,
            None => self.kinds.push(TransportKind {
                id,
                count: 1,
                example: message(),
            }),
        }
    }

    pub fn total(&self) -> u64 {
        self.kinds.iter().map(|k| k.count).sum()
    }

    /// `40 transport.timeout (no response within 10 s), 2 transport.error (…)`.
    pub fn describe(&self) -> String {
        self.kinds
            .iter()
            .map(|k| format!("{} {} ({})", k.count, k.id, k.example))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn merge(&mut self, other: &TransportFailures) {
        for kind in &other.kinds {
            match self.kinds.iter_mut().find(|k| k.id == kind.id) {
                Some(mine) => mine.count += kind.count,
                None => self.kinds.push(kind.clone()),
            }
        }
    }
}

/// What a phase's answers add up to.
struct Tally {
    timeline: Timeline,
    header_summary: HeaderSummary,
    corrected: Histogram<u64>,
    service: Histogram<u64>,
    /// How late each request went out after its slot was due: tollgate's own delay.
    lag: Histogram<u64>,
    /// The corrected latency again, second by second (the report's latency chart).
    per_second: LatencySeries,
    /// And in slices of a second, for a short workload (`with_latency_slices`).
    per_slice: Option<LatencySeries>,
    evidence: LimitEvidence,
    samples: Vec<RemainingSample>,
    failures: TransportFailures,
    /// Requests to the phase's bucket from outside its schedule (the back-off client).
    extra: Timeline,
}

/// Shared by every goose user of one phase.
pub struct Recorder {
    /// The schedule the recorded requests came from (shared by every lane of a mixed
    /// attack, so their timelines start together).
    pub schedule: Arc<Schedule>,
    /// Everything each answer adds to, behind one lock (one acquisition per request).
    tally: Mutex<Tally>,
    /// Ids of what accepted requests created, with the tag of the lane that sent each.
    created: Mutex<Vec<(u32, Value)>>,
    finished: AtomicU64,
    accepted: AtomicU64,
    limited: AtomicU64,
    /// Whether the latest answer was a 429 (the bucket is closed right now).
    last_limited: AtomicBool,
    error_schema: Arc<jsonschema::Validator>,
    policy: Option<String>,
    capture_ids: bool,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

impl Recorder {
    pub fn new(
        schedule: Schedule,
        error_schema: Arc<jsonschema::Validator>,
        policy: Option<String>,
        capture_ids: bool,
    ) -> Self {
        Self::sharing(Arc::new(schedule), error_schema, policy, capture_ids)
    }

    /// A recorder of some of `schedule`'s slots (one lane of a mixed attack).
    pub fn sharing(
        schedule: Arc<Schedule>,
        error_schema: Arc<jsonschema::Validator>,
        policy: Option<String>,
        capture_ids: bool,
    ) -> Self {
        Recorder {
            schedule,
            tally: Mutex::new(Tally {
                timeline: Timeline::default(),
                header_summary: HeaderSummary::default(),
                corrected: histogram(),
                service: histogram(),
                lag: histogram(),
                per_second: LatencySeries::default(),
                per_slice: None,
                evidence: LimitEvidence::default(),
                samples: Vec::new(),
                failures: TransportFailures::default(),
                extra: Timeline::default(),
            }),
            created: Mutex::new(Vec::new()),
            finished: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            limited: AtomicU64::new(0),
            last_limited: AtomicBool::new(false),
            error_schema,
            policy,
            capture_ids,
        }
    }

    /// The rate headers of an answer, read before its body so the header map need not be
    /// kept.
    pub fn rate_headers(&self, headers: &HeaderMap) -> headers::RateHeaders {
        headers::read(headers, self.policy.as_deref(), SystemTime::now())
    }

    /// Records one answer (or `None` for a transport failure). Returns true for the last one.
    pub fn record(
        &self,
        due: Instant,
        sent: Instant,
        answer: Option<(u16, &headers::RateHeaders, &[u8])>,
    ) -> bool {
        self.record_tagged(0, due, sent, answer)
    }

    /// [`Recorder::record`] for the lane `tag` (what it created is remembered as its own).
    pub fn record_tagged(
        &self,
        tag: u32,
        due: Instant,
        sent: Instant,
        answer: Option<(u16, &headers::RateHeaders, &[u8])>,
    ) -> bool {
        let done = Instant::now();
        let start = self.schedule.started().unwrap_or(due);
        let status = answer.map_or(0, |(status, _, _)| status);
        let accepted = (200..300).contains(&status);
        if let Some((_, _, body)) = answer.filter(|_| accepted && self.capture_ids) {
            if let Some(id) = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("id").cloned())
            {
                lock(&self.created).push((tag, id));
            }
        }
        let micros = |d: Duration| (d.as_micros() as u64).clamp(1, 120_000_000);
        let sent_ms = sent.saturating_duration_since(start).as_millis() as u64;
        {
            let mut tally = lock(&self.tally);
            if let Some((status, rate, body)) = answer {
                tally
                    .evidence
                    .observe(status, rate, body, &self.error_schema);
                tally.header_summary.observe(accepted, rate);
                if let (Some(remaining), true) = (rate.remaining, tally.samples.len() < MAX_SAMPLES)
                {
                    tally.samples.push(RemainingSample {
                        sent_s: sent.saturating_duration_since(start).as_secs_f64(),
                        status,
                        remaining,
                    });
                }
            }
            let corrected = micros(done.saturating_duration_since(due));
            tally.corrected.saturating_record(corrected);
            tally.per_second.record(sent_ms, corrected);
            if let Some(slices) = &mut tally.per_slice {
                slices.record(sent_ms, corrected);
            }
            tally
                .service
                .saturating_record(micros(done.saturating_duration_since(sent)));
            tally
                .lag
                .saturating_record(micros(sent.saturating_duration_since(due)));
            tally.timeline.record(sent_ms, status);
            if let Some((429, rate, _)) = answer {
                tally.evidence.promise(sent_ms, rate);
            }
        }
        self.last_limited.store(status == 429, Ordering::Relaxed);
        if accepted {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        } else if status == 429 {
            self.limited.fetch_add(1, Ordering::Relaxed);
        }
        self.finished.fetch_add(1, Ordering::Relaxed) + 1 == self.schedule.own_count()
    }

    /// Also keeps the latency in slices of a second when the schedule is short: a short
    /// workload's chart then has some twenty points, not four.
    pub fn with_latency_slices(self) -> Self {
        if let Some(width) = slice_width(self.schedule.duration()) {
            lock(&self.tally).per_slice = Some(LatencySeries::with_width(width));
        }
        self
    }

    /// Everything measured so far, detached: what the report's statistics and the
    /// workload judge read, and what shards of one schedule add up.
    pub fn measurements(&self) -> Measurements {
        let tally = lock(&self.tally);
        let mut timeline = tally.timeline.clone();
        timeline.merge(&tally.extra);
        Measurements {
            started_wall: self.schedule.started_wall(),
            duration: self.schedule.duration(),
            scheduled: self.schedule.own_count(),
            finished: self.finished(),
            timeline,
            corrected: tally.corrected.clone(),
            service: tally.service.clone(),
            lag: tally.lag.clone(),
            per_second: tally.per_second.clone(),
            per_slice: tally.per_slice.clone(),
        }
    }

    /// Latency from each slot's due time (coordinated-omission corrected) and from the
    /// actual send, in microseconds.
    pub fn latencies(&self) -> (Histogram<u64>, Histogram<u64>) {
        let tally = lock(&self.tally);
        (tally.corrected.clone(), tally.service.clone())
    }

    /// Every answer the phase's bucket gave while it was measured, by the millisecond its
    /// request was sent: the schedule's and the back-off client's.
    pub fn timeline(&self) -> Timeline {
        let tally = lock(&self.tally);
        let mut timeline = tally.timeline.clone();
        timeline.merge(&tally.extra);
        timeline
    }

    /// The schedule's own requests only: what tollgate offered.
    pub fn scheduled(&self) -> Timeline {
        lock(&self.tally).timeline.clone()
    }

    pub fn header_summary(&self) -> HeaderSummary {
        lock(&self.tally).header_summary
    }

    /// A request that got no answer: recorded like any other (status 0), and its cause
    /// tallied by check id.
    pub fn record_failure(
        &self,
        due: Instant,
        sent: Instant,
        id: &'static str,
        message: impl FnOnce() -> String,
    ) -> bool {
        lock(&self.tally).failures.add(id, message);
        self.record(due, sent, None)
    }

    pub fn failures(&self) -> TransportFailures {
        lock(&self.tally).failures.clone()
    }

    /// Answers that carried a `Remaining`, in the order their requests were sent.
    pub fn remaining_samples(&self) -> Vec<RemainingSample> {
        let mut samples = lock(&self.tally).samples.clone();
        samples.sort_by(|a, b| a.sent_s.total_cmp(&b.sent_s));
        samples
    }

    /// An answer to a request that shares the phase's bucket but not its schedule (the
    /// back-off client): counted into the timeline, so the verdicts see every request the
    /// bucket got while it was measured.
    pub fn count_extra(&self, sent: Instant, status: u16) {
        let Some(start) = self.schedule.started() else {
            return;
        };
        let sent_ms = sent.saturating_duration_since(start).as_millis() as u64;
        lock(&self.tally).extra.record(sent_ms, status);
    }

    pub fn evidence(&self) -> LimitEvidence {
        lock(&self.tally).evidence.clone()
    }

    pub fn created(&self) -> Vec<Value> {
        lock(&self.created)
            .iter()
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// What was created, with the tag of the lane that created it.
    pub fn created_by_lane(&self) -> Vec<(u32, Value)> {
        lock(&self.created).clone()
    }

    /// Whether any 429 has been seen yet (the bucket is saturated).
    pub fn saturated(&self) -> bool {
        self.limited.load(Ordering::Relaxed) > 0
    }

    /// Whether the latest answer was a 429.
    pub fn limited_now(&self) -> bool {
        self.last_limited.load(Ordering::Relaxed)
    }

    pub fn finished(&self) -> u64 {
        self.finished.load(Ordering::Relaxed)
    }

    /// What the phase has had answered so far, for its progress bar.
    pub fn progress(&self, class: &str, phase: &str) -> crate::event::Progress {
        crate::event::Progress {
            class: class.to_string(),
            phase: phase.to_string(),
            done: self.finished.load(Ordering::Relaxed),
            total: self.schedule.own_count(),
            accepted: self.accepted.load(Ordering::Relaxed),
            limited: self.limited.load(Ordering::Relaxed),
        }
    }
}

/// A lock whose holder panicked still guards consistent data (every update is one short
/// critical section): the load phase keeps going instead of poisoning.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
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
