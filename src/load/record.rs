//! What a load phase records: one small outcome per request (bounded), latencies in an HDR
//! histogram, and the evidence each 429 carries (shape, retry hints, headers).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::clock::ClockOffset;
use super::headers::{self, Reset, RetryAfter};
use super::latency_series::{slice_width, LatencySeries};
use super::measurements::Measurements;
use super::schedule::Schedule;
use super::timeline::Timeline;

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
    /// This clock's offset to the target's, from the answers' `Date`.
    clock: ClockOffset,
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

impl Tally {
    /// Every answer the phase's bucket gave while the schedule sent: the schedule's and the
    /// back-off client's. The client's retries after the schedule's last send are left out:
    /// they come after the load, and would stretch the phase's span (an HTTP-date
    /// Retry-After sends one a few hundred ms later), so its last whole windows would hold
    /// less load than their length and read a correct limiter's rate short.
    fn answered(&self) -> Timeline {
        let mut timeline = self.timeline.clone();
        timeline.merge_within(&self.extra);
        timeline
    }
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
                clock: ClockOffset::default(),
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
            if let Some(id) = created_id(body) {
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
                // 2xx only: a 429 may come from a gateway with a clock of its own.
                if let (Some(date), Some(wall), true) = (rate.date, self.wall_ms(start), accepted) {
                    tally.clock.observe(date, wall(sent), wall(done));
                }
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

    /// Instants as Unix milliseconds on this clock, from the schedule's start (`start`).
    fn wall_ms(&self, start: Instant) -> Option<impl Fn(Instant) -> f64> {
        let wall = self.schedule.started_wall()?;
        let base = wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs_f64()
            * 1000.0;
        Some(move |t: Instant| {
            let since = t.saturating_duration_since(start).as_secs_f64();
            let before = start.saturating_duration_since(t).as_secs_f64();
            base + (since - before) * 1000.0
        })
    }

    /// This clock's offset to the target's, from the answers so far.
    pub fn clock(&self) -> ClockOffset {
        lock(&self.tally).clock
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
        let timeline = tally.answered();
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

    /// Every answer the phase's bucket gave while the schedule sent, by the millisecond its
    /// request was sent: the schedule's and the back-off client's.
    pub fn timeline(&self) -> Timeline {
        lock(&self.tally).answered()
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

/// The id of what an accepted answer created: its JSON body's `id`, which a class's
/// `cleanup` deletes by.
pub fn created_id(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("id").cloned())
}

/// A lock whose holder panicked still guards consistent data (every update is one short
/// critical section): the load phase keeps going instead of poisoning.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
