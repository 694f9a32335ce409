//! Verdicts of the load phase: pure functions from what a phase measured (timelines,
//! estimates, fingerprints, 429 evidence, header samples) to check results. Nothing here
//! sends a request or reads a clock, so every verdict is unit-tested in milliseconds
//! against the limiter simulator for each family and burst (see the tests below and
//! docs/rate-limit-maths.md for where each tolerance comes from).

use super::estimate::Estimate;
use super::fingerprint::{Family, Fingerprint};
use super::headers;
use super::record::{self, HeaderSummary};
use super::timeline::{Bin, Timeline};
use crate::event::{CheckResult, Verdict};

/// 429s tolerated below the limit: strict leaky buckets and moving windows may reject a few
/// requests from client-side jitter even under smooth arrivals.
const UNDER_TOLERANCE: f64 = 0.01;
/// The published limit must be met within this fraction.
const RATE_TOLERANCE: f64 = 0.10;
/// Timeline resolution, and the client-side jitter allowed on top of an arrival gap.
const BIN_S: f64 = 0.001;
const JITTER_S: f64 = 0.002;

/// A check result for `class` with the tolerance it was judged by.
pub(super) fn verdict(id: String, ok: bool, expected: String, actual: String) -> CheckResult {
    if ok {
        CheckResult {
            expected: Some(expected),
            actual: Some(actual),
            ..CheckResult::passed(id)
        }
    } else {
        CheckResult::failed(id, expected, actual)
    }
}

pub(super) fn isolation_result(id: &str, statuses: &[u16]) -> CheckResult {
    if statuses.len() < 3 {
        return CheckResult::new(
            id,
            Verdict::Skipped,
            format!(
                "only {} probe(s) fit in the phase (slow answers or a short phase): too few to judge",
                statuses.len()
            ),
        );
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    let unanswered = statuses.iter().filter(|s| **s == 0).count();
    // A probe without an answer proves nothing about buckets: a 429 is the evidence.
    if limited == 0 && unanswered > 0 {
        return CheckResult::new(
            id,
            Verdict::Skipped,
            format!(
                "{unanswered} of {} probes got no answer (a transport failure, see rate.<class>.transport); statuses {statuses:?}",
                statuses.len()
            ),
        );
    }
    verdict(
        id.into(),
        limited == 0,
        format!("{} requests not limited", statuses.len()),
        format!("statuses {statuses:?} (0: no answer)"),
    )
}

pub(super) fn shape_check(
    class: &str,
    over: &record::LimitEvidence,
    under: &record::LimitEvidence,
) -> CheckResult {
    let id = format!("rate.{class}.429-shape");
    let server_errors = over.server_errors + under.server_errors;
    if over.limited == 0 && server_errors == 0 {
        return CheckResult::new(id, Verdict::Skipped, "no 429 to inspect (see enforced)");
    }
    let ok = over.bad_shape == 0 && server_errors == 0;
    let mut actual = format!(
        "{} of {} 429s not JSON in the error shape; {server_errors} 5xx",
        over.bad_shape, over.limited
    );
    if let Some(example) = &over.bad_shape_example {
        actual.push_str(&format!("; e.g. {example:?}"));
    }
    verdict(
        id,
        ok,
        "every 429 is JSON matching the error schema, and no 5xx".into(),
        actual,
    )
}

/// A flat limiter may reject an arrival below the limit: one whose gap since the last
/// admitted request shrank under the interval. At 0.8x the gap is 1.25 intervals, so only
/// arrivals late by a quarter of an interval are hit; on a loaded two-core CI runner that
/// was up to 17% of them (11 of 64). That is a property of the limiter (clients see it too),
/// not a fault, so it is a warning up to a third of the requests; a lower limit than
/// published is `enforced`'s to find, from the spacing.
const FLAT_UNDER_TOLERANCE: f64 = 0.35;

/// `rate.<class>.under`: how many requests were limited below the limit.
pub(super) fn under_check(
    class: &str,
    totals: &Bin,
    offered: f64,
    fingerprint: Option<&Fingerprint>,
) -> CheckResult {
    let id = format!("rate.{class}.under");
    if totals.failed > 0 {
        // A request without an answer may have been refused or not: under cannot pass.
        return CheckResult::new(
            id,
            Verdict::Skipped,
            format!(
                "{} of {} requests got no answer: below the limit every request must be answered (see rate.{class}.transport)",
                totals.failed, totals.sent
            ),
        );
    }
    let limited = totals.limited;
    let allowed = (UNDER_TOLERANCE * f64::from(totals.sent)).floor() as u32;
    let expected = format!(
        "≤ {allowed} of {} requests limited at {offered:.1}/s (≤ 1%; 0 expected from a smooth schedule)",
        totals.sent
    );
    let actual = format!("{limited} limited");
    let flat = fingerprint.is_some_and(|f| f.family == Family::Flat);
    let flat_allowed = (FLAT_UNDER_TOLERANCE * f64::from(totals.sent)).floor() as u32;
    if flat && limited > allowed && limited <= flat_allowed {
        let mut check = CheckResult::new(
            id,
            Verdict::Warning,
            format!("a flat limiter (no burst) rejects arrivals that come less than one interval after the last admitted one: {limited} of {} requests at {offered:.1}/s were hit by send or network jitter (tolerated up to 35% for this family; the rate itself is judged by `enforced`); clients must space requests evenly", totals.sent),
        );
        check.expected = Some(expected);
        check.actual = Some(actual);
        return check;
    }
    verdict(id, limited <= allowed && totals.sent > 0, expected, actual)
}

/// What the spacing phase measured.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spacing {
    pub offered: f64,
    /// The median gap between admitted requests, in seconds.
    pub gap: Option<f64>,
}

/// `rate.<class>.enforced`: the sustained rate over the limit, judged by the limiter family.
pub(super) fn enforced(
    class: &str,
    estimated: &Result<Estimate, String>,
    fingerprint: Option<&Fingerprint>,
    spacing: Option<&Spacing>,
    requested: f64,
    limit: f64,
) -> CheckResult {
    let id = format!("rate.{class}.enforced");
    match estimated {
        Err(reason) => CheckResult::failed(
            id,
            format!("a sustained rate near {limit:.1}/s over the limit"),
            reason.clone(),
        ),
        Ok(e) if e.offered < 1.4 * limit => CheckResult::new(
            id,
            Verdict::Skipped,
            format!("only {:.1}/s could be offered (--max-rps or a slow target): not enough to exceed the limit", e.offered),
        ),
        Ok(e) => match (fingerprint.map(|f| f.family), spacing) {
            (Some(Family::Flat), Some(spacing)) => flat_enforced(id, e, spacing, limit),
            _ => counted_enforced(id, e, requested, limit),
        },
    }
}

/// Bursting and windowed limiters admit exactly `rate × window` per whole window of a
/// constant overload (±1 request per window), so the count is the rate.
pub(super) fn counted_enforced(
    id: String,
    e: &Estimate,
    requested: f64,
    limit: f64,
) -> CheckResult {
    let low = limit * (1.0 - RATE_TOLERANCE);
    let high = limit * (1.0 + RATE_TOLERANCE);
    let expected = format!(
        "sustained {limit:.1}/s ± 10% ({low:.1}–{high:.1}) at ≈{:.1}× the limit, counted over whole windows after the burst (±1 request per window)",
        requested / limit
    );
    let actual = format!(
        "{:.1}/s over {} window(s) after the burst; burst ≈ {:.0}; offered {:.1}/s",
        e.rate, e.windows, e.burst, e.offered
    );
    let check = verdict(id, (low..=high).contains(&e.rate), expected, actual);
    if e.rate < low {
        check.with_message(below_limit(e.rate, limit))
    } else {
        check
    }
}

/// A flat limiter admits one request per interval `I`, and only on an arrival: at arrivals
/// `g` apart each admitted gap lies in `[I, I + g)`. So the count over the limit may fall to
/// `1 / (I + g + jitter)` without any fault, and the rate is read from the spacing at
/// arrivals a tenth of `I` apart instead: the median admitted gap is `I + g/2` plus what
/// jitter loses (an arrival that came a little early is turned away and the next one
/// admitted), measured on send times to a 1 ms bin. So the gap may read up to 1 ms short
/// (the bin) and 2 ms long (the bin and the loss), which still separates `I` from 1.5 `I`.
pub(super) fn flat_enforced(
    id: String,
    e: &Estimate,
    spacing: &Spacing,
    limit: f64,
) -> CheckResult {
    let interval = 1.0 / limit;
    let arrival_gap = 1.0 / spacing.offered;
    let low = (limit * (1.0 - RATE_TOLERANCE)).min(1.0 / (interval + BIN_S + JITTER_S / 2.0));
    let high = (limit * (1.0 + RATE_TOLERANCE)).max(1.0 / (interval - BIN_S).max(1e-6));
    let count_floor = 1.0 / (interval + 1.0 / e.offered + JITTER_S);
    let spaced = spacing
        .gap
        .map(|gap| 1.0 / (gap - arrival_gap / 2.0).max(1e-6));
    let expected = format!(
        "a flat limiter (no burst) admits one request per {:.1} ms: {low:.1}–{high:.1}/s from the median admitted gap minus half an arrival gap at {:.0}/s arrivals (gap 1 ms short to 2 ms long), and ≥ {count_floor:.1}/s sustained at {:.0}/s (each admitted gap ≤ interval + arrival gap + 2 ms)",
        interval * 1000.0,
        spacing.offered,
        e.offered
    );
    let actual = format!(
        "{}; {:.1}/s sustained at {:.1}/s",
        spacing.gap.map_or(
            "too few admitted requests to measure a spacing".into(),
            |gap| format!(
                "admitted a median {:.1} ms apart = {:.1}/s",
                gap * 1000.0,
                spaced.unwrap_or_default()
            )
        ),
        e.rate,
        e.offered
    );
    let ok = spaced.is_some_and(|r| (low..=high).contains(&r))
        && (count_floor..=limit * (1.0 + RATE_TOLERANCE)).contains(&e.rate);
    let check = verdict(id, ok, expected, actual);
    if e.rate < count_floor || spaced.is_some_and(|r| r < low) || spaced.is_none() {
        check.with_message(below_limit(e.rate.min(spaced.unwrap_or(0.0)), limit))
    } else {
        check
    }
}

/// Why a limiter admits less than it publishes.
pub(super) fn below_limit(rate: f64, limit: f64) -> &'static str {
    if rate < 0.25 * limit {
        "starvation: a client that keeps sending over the limit gets almost nothing through — the limiter most likely counts rejected requests against the quota (a common misconfiguration), so it never reopens while requests keep coming"
    } else {
        "accepts far below the published limit while rejecting: a lower limit than published, or a limiter that counts rejected requests against the quota"
    }
}

/// `rate.<class>.worst-case`: the profile's `max_burst` against the most requests accepted
/// in any sliding window of the limit's length.
pub(super) fn worst_case_check(
    class: &str,
    fingerprint: Option<&Fingerprint>,
    max: u32,
    window: f64,
) -> CheckResult {
    let id = format!("rate.{class}.worst-case");
    let Some(f) = fingerprint else {
        return CheckResult::new(
            id,
            Verdict::Skipped,
            "no limiter trace to read (see enforced)",
        );
    };
    verdict(
        id,
        f.worst_case <= max,
        format!("at most {max} accepted in any {window} s window (profile max_burst)"),
        format!(
            "{} accepted in the {window} s from {:.2} s ({}: {})",
            f.worst_case,
            f.worst_case_at_s,
            f.family.name(),
            f.algorithms
        ),
    )
}

/// Retry-After promises held against the timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Promises {
    /// Promises followed by an accepted request (the ones that can be checked).
    pub checked: usize,
    /// Shorter than the real wait by more than the header's whole-second resolution.
    pub broken: usize,
    /// Shorter by less than a second: a value rounded down (`0` for a wait of 300 ms).
    pub rounded_down: usize,
    /// The worst broken one, as (promised, real) seconds.
    pub worst: Option<(f64, f64)>,
}

/// For each 429, the time until the load got a request accepted again. A promise may be
/// late by one arrival gap (nobody asked sooner) and 5 ms of jitter; beyond that, by less
/// than a second it is a rounded-down value (delay-seconds and HTTP-dates carry whole
/// seconds only), by more it is broken.
pub(super) fn short_promises(
    promises: &[record::Promise],
    timeline: &Timeline,
    offered: f64,
) -> Promises {
    let bins = timeline.bins();
    // next_accept[i]: the first millisecond ≥ i with an accepted request.
    let mut next_accept = vec![None; bins.len() + 1];
    for i in (0..bins.len()).rev() {
        next_accept[i] = if bins[i].accepted > 0 {
            Some(i)
        } else {
            next_accept[i + 1]
        };
    }
    let allowance = 1.0 / offered.max(1.0) + 0.005;
    let mut found = Promises::default();
    for promise in promises {
        let from = (promise.sent_ms as usize + 1).min(bins.len());
        let Some(accepted_at) = next_accept[from] else {
            continue;
        };
        found.checked += 1;
        let real = (accepted_at as f64 - promise.sent_ms as f64) / 1000.0;
        if real <= promise.wait_s + allowance {
            continue;
        }
        if real <= promise.wait_s + allowance + 1.0 {
            found.rounded_down += 1;
            continue;
        }
        found.broken += 1;
        if found
            .worst
            .is_none_or(|(p, r)| real - promise.wait_s > r - p)
        {
            found.worst = Some((promise.wait_s, real));
        }
    }
    found
}

pub(super) fn retry_after_check(
    class: &str,
    evidence: &record::LimitEvidence,
    window: f64,
    measured: Option<(&Timeline, f64)>,
) -> CheckResult {
    use headers::{Reset, RetryAfter};
    let id = format!("rate.{class}.retry-after");
    if evidence.limited == 0 {
        return CheckResult::new(id, Verdict::Skipped, "no 429 to inspect (see enforced)");
    }
    let sane_limit = (window * 10.0).max(60.0);
    let invalid = evidence
        .retry_after
        .iter()
        .filter(|r| matches!(r, RetryAfter::Invalid(_)))
        .count();
    let too_long = evidence
        .retry_after
        .iter()
        .filter_map(|r| r.wait())
        .filter(|d| d.as_secs_f64() > sane_limit)
        .count();
    // Epoch, fractional and ambiguous resets are readable but not what the drafts specify.
    let odd_resets = evidence
        .resets
        .iter()
        .filter(|r| !matches!(r, Reset::Invalid(_)) && r.warning().is_some())
        .count();
    let mut reasons: Vec<String> = evidence
        .resets
        .iter()
        .filter(|r| !matches!(r, Reset::Invalid(_)))
        .filter_map(Reset::warning)
        .collect();
    reasons.sort();
    reasons.dedup();
    let bad_reset = evidence
        .resets
        .iter()
        .filter(|r| matches!(r, Reset::Invalid(_)))
        .count();
    let promises = measured.map_or(Promises::default(), |(timeline, offered)| {
        short_promises(&evidence.promises, timeline, offered)
    });
    let (checked, short, worst) = (promises.checked, promises.broken, promises.worst);
    let ok = evidence.without_retry_hint == 0
        && invalid == 0
        && too_long == 0
        && bad_reset == 0
        && short == 0
        && evidence.duplicated_retry_after == 0;
    // The values themselves, so a failure explains itself.
    let mut unreadable: Vec<String> = Vec::new();
    for text in evidence
        .retry_after
        .iter()
        .filter_map(|r| match r {
            RetryAfter::Invalid(text) => Some(format!("Retry-After `{text}`")),
            _ => None,
        })
        .chain(evidence.resets.iter().filter_map(|r| match r {
            Reset::Invalid(text) => Some(format!("reset `{text}`")),
            _ => None,
        }))
    {
        if unreadable.len() < 3 && !unreadable.contains(&text) {
            unreadable.push(text);
        }
    }
    let values: Vec<u64> = evidence
        .retry_after
        .iter()
        .filter_map(|r| r.wait())
        .map(|d| d.as_secs())
        .collect();
    let range = match (values.iter().min(), values.iter().max()) {
        (Some(lo), Some(hi)) => format!("Retry-After {lo}–{hi} s"),
        _ => "no Retry-After".into(),
    };
    // An HTTP-date already past on arrival reads as "0 s": say why instead.
    let past_dates = evidence
        .retry_after
        .iter()
        .filter(|r| matches!(r, RetryAfter::Date(d) if d.is_zero()))
        .count();
    let mut actual = format!(
        "{} of {} 429s without Retry-After or RateLimit reset; {invalid} unparseable Retry-After, {bad_reset} unreadable resets, {too_long} over {sane_limit:.0} s; {range}; dialects {:?}",
        evidence.without_retry_hint, evidence.limited, evidence.dialects
    );
    if !unreadable.is_empty() {
        actual.push_str(&format!("; e.g. {}", unreadable.join(", ")));
    }
    if evidence.duplicated_retry_after > 0 {
        actual.push_str(&format!(
            "; {} 429s sent Retry-After twice (which one a client obeys depends on its library)",
            evidence.duplicated_retry_after
        ));
    }
    if past_dates > 0 {
        actual.push_str(&format!(
            "; {past_dates} Retry-After HTTP-dates were already past when they arrived (the server's clock behind tollgate's, or dates rounded down)"
        ));
    }
    if measured.is_some() {
        actual.push_str(&format!(
            "; {short} of {checked} Retry-After values shorter than the measured wait by more than a second"
        ));
        if promises.rounded_down > 0 {
            actual.push_str(&format!(
                ", {} by less (rounded down)",
                promises.rounded_down
            ));
        }
        if let Some((promised, real)) = worst {
            actual.push_str(&format!(
                " (worst: promised {promised:.0} s, accepted again after {real:.2} s)"
            ));
        }
    }
    let mut check = verdict(
        id,
        ok,
        "every 429 says when to retry (delay-seconds or HTTP-date, or a RateLimit reset), and no Retry-After is shorter than the measured time until a request was accepted again by more than its whole-second resolution (± one arrival gap + 5 ms)".into(),
        actual,
    );
    if ok && promises.rounded_down > 0 {
        reasons.push(format!(
            "{} Retry-After value(s) shorter than the real wait by under a second: rounded down, so a client that obeys exactly is refused once more (round up)",
            promises.rounded_down
        ));
    }
    if ok && past_dates > 0 {
        reasons.push(format!(
            "{past_dates} Retry-After HTTP-date(s) already past on arrival: clock skew between the server and this machine, or a date rounded down; a client retries at once"
        ));
    }
    if ok && (odd_resets > 0 || promises.rounded_down > 0 || past_dates > 0) {
        check.verdict = Verdict::Warning;
        check.message = reasons.join("; ");
        if odd_resets > 0 {
            check.message = format!(
                "{odd_resets} non-standard reset value(s): {}",
                check.message
            );
        }
    }
    check
}

/// `rate.<class>.headers`: `Remaining` counts down on the over phase's first answers (the
/// bucket starts idle, so they are the count-down), reaches 0 under load, every Reset lies
/// within the window, and no 429 claims quota remains.
///
/// The count-down is read on send times, so it holds at any latency: between two requests
/// `gap` seconds apart at most `limit × gap` slots refill, so `n` steps must drop at least
/// `n − limit × elapsed` in all. A rise is a refill (a window boundary, log entries ageing out)
/// or two answers overtaking each other, and proves nothing either way; a limiter without
/// burst has nothing to count down from.
pub(super) fn headers_check(
    class: &str,
    samples: &[record::RemainingSample],
    over: &HeaderSummary,
    evidence: &record::LimitEvidence,
    window: f64,
    limit: f64,
    published: &[i64],
) -> CheckResult {
    let id = format!("rate.{class}.headers");
    let mut broken: Vec<String> = Vec::new();
    if evidence.claims_remaining > 0 {
        broken.push(format!(
            "{} of {} 429s claim quota remains (e.g. {})",
            evidence.claims_remaining,
            evidence.limited,
            evidence
                .claims_remaining_example
                .as_deref()
                .unwrap_or("Remaining ≥ 1")
        ));
    }
    let duplicated: Vec<&str> = evidence
        .duplicated_names
        .iter()
        .copied()
        .filter(|n| *n != "retry-after")
        .collect();
    if !duplicated.is_empty() {
        broken.push(format!(
            "rate headers sent twice in one answer: {} (a client reads one of them)",
            duplicated.join(", ")
        ));
    }
    if !evidence.unreadable.is_empty() {
        broken.push(format!(
            "unreadable rate headers: {}",
            evidence.unreadable.join("; ")
        ));
    }
    let contradicting: Vec<String> = evidence
        .limits
        .iter()
        .filter(|l| !published.contains(l))
        .map(i64::to_string)
        .collect();
    if !contradicting.is_empty() && !published.is_empty() {
        let published: Vec<String> = published.iter().map(i64::to_string).collect();
        broken.push(format!(
            "the headers announce a limit of {} where the profile publishes {}",
            contradicting.join(", "),
            published.join(" or ")
        ));
    }
    let lying = (!broken.is_empty()).then(|| broken.join("; "));
    let first_429 = samples
        .iter()
        .find(|s| s.status == 429)
        .map_or(f64::INFINITY, |s| s.sent_s);
    let seen: Vec<(i64, f64)> = samples
        .iter()
        .filter(|s| s.sent_s < first_429 && (200..300).contains(&s.status))
        .map(|s| (s.remaining, s.sent_s))
        .collect();
    if seen.len() < 2 {
        return match lying {
            Some(lie) => CheckResult::failed(
                id,
                "readable rate headers, each sent once, that agree with the published limit, and no 429 claiming quota remains",
                lie,
            ),
            None => CheckResult::new(id, Verdict::Skipped, "no rate-limit headers on the answers"),
        };
    }
    let steps: Vec<(f64, f64)> = seen
        .windows(2)
        .map(|w| ((w[0].0 - w[1].0) as f64, w[1].1 - w[0].1))
        .filter(|(drop, _)| *drop >= 0.0)
        .collect();
    let drops: f64 = steps.iter().map(|(drop, _)| drop).sum();
    let elapsed: f64 = steps.iter().map(|(_, gap)| gap).sum();
    let expected_drops = (steps.len() as f64 - limit * elapsed).min(seen[0].0 as f64);
    let counts_down = drops >= expected_drops - 1.0 && (drops > 0.0 || seen[0].0 == 0);
    let min_remaining = over.lowest_remaining;
    let reaches_zero = min_remaining.is_none_or(|r| r <= 1);
    let worst_reset = over.largest_reset.unwrap_or(0.0);
    let reset_ok = worst_reset <= window + 1.0;
    let mut actual = format!(
        "dropped {drops:.0} over the first {} answers; lowest Remaining under load {}; largest Reset {worst_reset:.0} s",
        seen.len(),
        min_remaining.map_or("-".into(), |r| r.to_string())
    );
    if let Some(lie) = &lying {
        actual.push_str(&format!("; {lie}"));
    }
    verdict(
        id,
        counts_down && reaches_zero && reset_ok && lying.is_none(),
        format!(
            "Remaining drops by one per request less the refill (≥ {:.0} over {} answers {:.0} ms apart), reaches 0 under load, Reset ≤ {:.0} s, each rate header once and readable, the announced limit the published one, and no 429 claims quota remains",
            (expected_drops - 1.0).max(1.0),
            seen.len(),
            1000.0 * elapsed / steps.len().max(1) as f64,
            window + 1.0
        ),
        actual,
    )
}

/// Why a phase cannot be judged on what it measured, if it cannot: most of its requests got
/// no answer (a verdict on the few that did would be a guess), or tollgate itself did not
/// offer the asked rate (some whole second off by more than a quarter, or three requests at
/// low rates) — then the numbers describe tollgate's own stall, not the limiter.
pub(super) fn unjudgeable(timeline: &Timeline, asked: f64, slots: u64) -> Option<String> {
    let totals = timeline.totals();
    if totals.sent > 0 && totals.failed * 2 > totals.sent {
        return Some(format!(
            "{} of {} requests got no answer: not judged on the {} that did (see transport)",
            totals.failed,
            totals.sent,
            totals.sent - totals.failed
        ));
    }
    if u64::from(totals.sent) < slots {
        return Some(format!(
            "tollgate could not keep its schedule: {} of {slots} requests went out in time (slow answers held every load user), so nothing is judged on this phase",
            totals.sent
        ));
    }
    let whole_seconds = (slots as f64 / asked) as usize;
    let bins = timeline.bins();
    let per_second: Vec<u32> = (0..whole_seconds)
        .map(|s| {
            let (from, to) = ((s * 1000).min(bins.len()), ((s + 1) * 1000).min(bins.len()));
            bins[from..to].iter().map(|b| b.sent).sum()
        })
        .collect();
    // A stall of a few hundred milliseconds on a busy machine shifts requests into the next
    // second without changing what the verdicts read; a collapse (users all waiting on slow
    // answers: 133, 77, 590 at an asked 200/s) is far outside a quarter.
    let allowed = (0.25 * asked).max(3.0);
    if per_second
        .iter()
        .any(|&sent| (f64::from(sent) - asked).abs() > allowed)
    {
        let shown: Vec<String> = per_second.iter().map(u32::to_string).collect();
        return Some(format!(
            "tollgate could not keep its schedule (sent {} in its whole seconds at an asked {asked:.1}/s, ±{allowed:.0} allowed): the machine or the target's latency held the load back, so nothing is judged on this phase",
            shown.join(", ")
        ));
    }
    None
}

/// A check that `reason` makes unjudgeable becomes a skip with that reason.
pub(super) fn unless_unjudgeable(reason: Option<&String>, check: CheckResult) -> CheckResult {
    match reason {
        Some(reason) if check.verdict != Verdict::Skipped => {
            CheckResult::new(check.id, Verdict::Skipped, reason.clone())
        }
        _ => check,
    }
}

/// `rate.<class>.transport`: every request of the measured phases got an HTTP answer.
/// A timeout, a reset or a refused connection is never a 429 and never "other": a target
/// that drops 2% of its connections under load has a finding, whatever its limiter does.
pub(super) fn transport_check(
    class: &str,
    sent: u32,
    failures: &record::TransportFailures,
) -> CheckResult {
    let id = format!("rate.{class}.transport");
    let failed = failures.total();
    let mut actual = format!("{failed} of {sent} requests got no answer");
    if failed > 0 {
        actual.push_str(&format!(": {}", failures.describe()));
    }
    verdict(
        id,
        failed == 0 && sent > 0,
        "every request of the load phases gets an HTTP answer (no timeout, reset or refused connection)".into(),
        actual,
    )
}

#[cfg(test)]
mod tests {
    //! Every verdict against the limiter simulator: each family × burst ∈ {0, 1, q/4, q/2, q}
    //! × the published limits of the default profile (20/s and 100/s), each phase on an
    //! idle limiter as the runner guarantees, with 1 ms of send jitter. A correct limiter
    //! must pass every time; one that enforces 150% or 60% of the published limit must fail.

    use super::*;
    use crate::load::estimate::{estimate, offered_rate};
    use crate::load::fingerprint::{accepted_times, fingerprint, median_gap};
    use crate::load::record::{LimitEvidence, RemainingSample};
    use crate::load::simulate::{simulate, Lcg};
    use crate::server::limiter::Algorithm;

    fn bursts(quota: u32) -> [u32; 5] {
        [0, 1, quota / 4, quota / 2, quota]
    }

    /// The under and over verdicts of one simulated run against a server whose real limit
    /// is `served` per second while the profile publishes `published`.
    fn judge(
        algorithm: Algorithm,
        burst: u32,
        served: u32,
        published: u32,
        seed: u64,
    ) -> (CheckResult, CheckResult) {
        let mut rng = Lcg(seed);
        let limit = f64::from(published);
        let factor = |x: f64| x * limit / f64::from(served);
        let under = simulate(algorithm, burst, served, factor(0.8), 2.0, 1.0, &mut rng);
        let over = simulate(algorithm, burst, served, factor(2.0), 4.0, 1.0, &mut rng);
        let estimated = estimate(&over, 1.0);
        let print = estimated
            .as_ref()
            .ok()
            .and_then(|e| fingerprint(&over, published, 1.0, e.rate));
        let spacing = print
            .as_ref()
            .filter(|f| f.family == Family::Flat)
            .map(|_| {
                let seconds = (30.0 / limit).max(0.5);
                let phase = simulate(
                    algorithm,
                    burst,
                    served,
                    factor(10.0),
                    seconds,
                    1.0,
                    &mut rng,
                );
                Spacing {
                    offered: offered_rate(&phase).unwrap_or(10.0 * limit),
                    gap: median_gap(&accepted_times(&phase)),
                }
            });
        let under_offered = offered_rate(&under).unwrap_or(0.8 * limit);
        (
            under_check("c", &under.totals(), under_offered, print.as_ref()),
            enforced(
                "c",
                &estimated,
                print.as_ref(),
                spacing.as_ref(),
                2.0 * limit,
                limit,
            ),
        )
    }

    fn every_cell(algorithm: Algorithm) {
        for quota in [20, 100] {
            for burst in bursts(quota) {
                for seed in 1..=3 {
                    let (under, over) = judge(algorithm, burst, quota, quota, seed);
                    let cell = format!("{algorithm:?} burst {burst} at {quota}/s, seed {seed}");
                    assert_ne!(under.verdict, Verdict::Failed, "{cell}: {under:?}");
                    assert_eq!(over.verdict, Verdict::Passed, "{cell}: {over:?}");
                }
                for served in [quota * 3 / 2, quota * 3 / 5] {
                    let (_, over) = judge(algorithm, burst, served, quota, 7);
                    assert_eq!(
                        over.verdict,
                        Verdict::Failed,
                        "{algorithm:?} burst {burst} serving {served}/s for a published {quota}/s: {over:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn gcra_passes_at_every_burst_and_a_wrong_limit_fails() {
        every_cell(Algorithm::Gcra);
    }

    #[test]
    fn token_bucket_passes_at_every_burst_and_a_wrong_limit_fails() {
        every_cell(Algorithm::TokenBucket);
    }

    #[test]
    fn leaky_bucket_passes_at_every_burst_and_a_wrong_limit_fails() {
        every_cell(Algorithm::LeakyBucket);
    }

    #[test]
    fn fixed_window_passes_and_a_wrong_limit_fails() {
        every_cell(Algorithm::FixedWindow);
    }

    #[test]
    fn sliding_log_passes_and_a_wrong_limit_fails() {
        every_cell(Algorithm::SlidingLog);
    }

    #[test]
    fn sliding_window_counter_passes_and_a_wrong_limit_fails() {
        every_cell(Algorithm::SlidingWindowCounter);
    }

    fn samples(values: &[(f64, u16, i64)]) -> Vec<RemainingSample> {
        values
            .iter()
            .map(|&(sent_s, status, remaining)| RemainingSample {
                sent_s,
                status,
                remaining,
            })
            .collect()
    }

    /// A token bucket of 100 at twice its rate of 100/s: one request every 5 ms, half a
    /// token back per request.
    fn token_bucket_countdown(n: usize) -> Vec<RemainingSample> {
        samples(
            &(0..n)
                .map(|k| (k as f64 * 0.005, 200, 99 - (k as i64) / 2))
                .collect::<Vec<_>>(),
        )
    }

    fn summary(lowest: i64) -> HeaderSummary {
        HeaderSummary {
            lowest_remaining: Some(lowest),
            largest_reset: Some(1.0),
        }
    }

    #[test]
    fn a_count_down_net_of_the_refill_passes() {
        let check = headers_check(
            "c",
            &token_bucket_countdown(60),
            &summary(0),
            &LimitEvidence::default(),
            1.0,
            100.0,
            &[100, 20],
        );
        assert_eq!(check.verdict, Verdict::Passed, "{check:?}");
    }

    #[test]
    fn remaining_that_never_moves_fails() {
        let frozen = samples(
            &(0..60)
                .map(|k| (k as f64 * 0.005, 200, 99))
                .collect::<Vec<_>>(),
        );
        let check = headers_check(
            "c",
            &frozen,
            &summary(99),
            &LimitEvidence::default(),
            1.0,
            100.0,
            &[100, 20],
        );
        assert_eq!(check.verdict, Verdict::Failed, "{check:?}");
    }

    #[test]
    fn answers_that_overtake_each_other_do_not_break_the_count_down() {
        let mut shuffled = token_bucket_countdown(60);
        for pair in shuffled.chunks_mut(2) {
            if let [a, b] = pair {
                std::mem::swap(&mut a.remaining, &mut b.remaining);
            }
        }
        let check = headers_check(
            "c",
            &shuffled,
            &summary(0),
            &LimitEvidence::default(),
            1.0,
            100.0,
            &[100, 20],
        );
        assert_eq!(check.verdict, Verdict::Passed, "{check:?}");
    }

    #[test]
    fn a_429_that_claims_quota_remains_fails_in_any_dialect() {
        let evidence = LimitEvidence {
            limited: 30,
            claims_remaining: 30,
            claims_remaining_example: Some("Remaining 20 on a 429 (ietf-ratelimit)".into()),
            ..LimitEvidence::default()
        };
        let check = headers_check(
            "c",
            &token_bucket_countdown(60),
            &summary(0),
            &evidence,
            1.0,
            100.0,
            &[100, 20],
        );
        assert_eq!(check.verdict, Verdict::Failed);
        assert!(check
            .actual
            .unwrap()
            .contains("30 of 30 429s claim quota remains"));
        // Without any count-down to read, the lie alone still fails.
        let check = headers_check(
            "c",
            &[],
            &HeaderSummary::default(),
            &evidence,
            1.0,
            100.0,
            &[100, 20],
        );
        assert_eq!(check.verdict, Verdict::Failed);
    }

    #[test]
    fn the_count_down_ends_at_the_first_429() {
        // Remaining resets to a full window after the first 429 (a fixed window's boundary);
        // only the answers before it are the count-down.
        let mut values: Vec<(f64, u16, i64)> = (0..20)
            .map(|k| (k as f64 * 0.005, 200, 19 - k as i64))
            .collect();
        values.push((0.1, 429, 0));
        values.extend((0..20).map(|k| (0.2 + k as f64 * 0.005, 200, 19)));
        let check = headers_check(
            "c",
            &samples(&values),
            &summary(0),
            &LimitEvidence::default(),
            1.0,
            20.0,
            &[100, 20],
        );
        assert_eq!(check.verdict, Verdict::Passed, "{check:?}");
        assert!(check.actual.unwrap().contains("over the first 20 answers"));
    }

    fn sent_per_second(counts: &[u32], status: u16) -> Timeline {
        let mut timeline = Timeline::default();
        for (second, &n) in counts.iter().enumerate() {
            for k in 0..n {
                timeline.record(
                    second as u64 * 1000 + u64::from(k) * 1000 / u64::from(n),
                    status,
                );
            }
        }
        timeline
    }

    #[test]
    fn a_kept_schedule_is_judged_and_a_mild_stall_too() {
        assert_eq!(
            unjudgeable(&sent_per_second(&[200, 200, 200, 200], 200), 200.0, 800),
            None
        );
        // A 200 ms stall shifts 40 requests into the next second.
        assert_eq!(
            unjudgeable(&sent_per_second(&[160, 240, 200, 200], 200), 200.0, 800),
            None
        );
    }

    #[test]
    fn a_collapsed_schedule_is_not_judged() {
        let reason = unjudgeable(&sent_per_second(&[133, 77, 590], 200), 200.0, 800).unwrap();
        assert!(reason.contains("sent 133, 77, 590"), "{reason}");
        let reason = unjudgeable(&sent_per_second(&[80, 40], 200), 80.0, 160).unwrap();
        assert!(reason.contains("120 of 160 requests went out"), "{reason}");
    }

    #[test]
    fn a_phase_that_mostly_got_no_answer_is_not_judged() {
        let reason = unjudgeable(&sent_per_second(&[80, 80], 0), 80.0, 160).unwrap();
        assert!(
            reason.starts_with("160 of 160 requests got no answer"),
            "{reason}"
        );
    }

    #[test]
    fn under_never_passes_with_an_unanswered_request() {
        let mut timeline = sent_per_second(&[80, 80], 200);
        timeline.record(1500, 0);
        let check = under_check("c", &timeline.totals(), 80.0, None);
        assert_eq!(check.verdict, Verdict::Skipped, "{check:?}");
    }

    #[test]
    fn duplicated_unreadable_or_contradicting_rate_headers_fail_and_say_which() {
        let evidence = LimitEvidence {
            duplicated: 4,
            duplicated_names: vec!["ratelimit-remaining"],
            unreadable: vec!["RateLimit: garbage".into()],
            limits: vec![0],
            ..LimitEvidence::default()
        };
        let check = headers_check(
            "c",
            &token_bucket_countdown(60),
            &summary(0),
            &evidence,
            1.0,
            100.0,
            &[100],
        );
        assert_eq!(check.verdict, Verdict::Failed);
        let actual = check.actual.unwrap();
        for quoted in [
            "ratelimit-remaining",
            "RateLimit: garbage",
            "a limit of 0 where the profile publishes 100",
        ] {
            assert!(actual.contains(quoted), "{quoted} in {actual}");
        }
        // A garbage header is a finding, not "no rate-limit headers".
        let check = headers_check(
            "c",
            &[],
            &HeaderSummary::default(),
            &evidence,
            1.0,
            100.0,
            &[100],
        );
        assert_eq!(check.verdict, Verdict::Failed);
    }

    #[test]
    fn a_retry_after_failure_quotes_the_values_and_flags_duplicates() {
        use crate::load::headers::{Reset, RetryAfter};
        let evidence = LimitEvidence {
            limited: 10,
            retry_after: vec![RetryAfter::Invalid("soon".into()), RetryAfter::Seconds(1)],
            resets: vec![Reset::Invalid("-1".into())],
            duplicated_retry_after: 2,
            ..LimitEvidence::default()
        };
        let check = retry_after_check("c", &evidence, 1.0, None);
        assert_eq!(check.verdict, Verdict::Failed);
        let actual = check.actual.unwrap();
        assert!(actual.contains("Retry-After `soon`"), "{actual}");
        assert!(actual.contains("reset `-1`"), "{actual}");
        assert!(actual.contains("2 429s sent Retry-After twice"), "{actual}");
    }

    fn promise_then_accept(wait_s: f64, accepted_after_ms: u64) -> (LimitEvidence, Timeline) {
        let mut timeline = Timeline::default();
        timeline.record(100, 429);
        timeline.record(100 + accepted_after_ms, 200);
        let evidence = LimitEvidence {
            limited: 1,
            retry_after: vec![crate::load::headers::RetryAfter::Seconds(wait_s as u64)],
            promises: vec![record::Promise {
                sent_ms: 100,
                wait_s,
                date: false,
            }],
            ..LimitEvidence::default()
        };
        (evidence, timeline)
    }

    #[test]
    fn a_retry_after_rounded_down_warns_and_one_seconds_short_fails() {
        let (evidence, timeline) = promise_then_accept(0.0, 300);
        let check = retry_after_check("c", &evidence, 1.0, Some((&timeline, 40.0)));
        assert_eq!(check.verdict, Verdict::Warning, "{check:?}");
        assert!(check.message.contains("rounded down"), "{check:?}");
        let (evidence, timeline) = promise_then_accept(1.0, 5_000);
        let check = retry_after_check("c", &evidence, 1.0, Some((&timeline, 40.0)));
        assert_eq!(check.verdict, Verdict::Failed, "{check:?}");
        assert!(check
            .actual
            .unwrap()
            .contains("promised 1 s, accepted again after 5.00 s"));
    }

    #[test]
    fn a_past_http_date_is_named_as_clock_skew() {
        let evidence = LimitEvidence {
            limited: 2,
            retry_after: vec![crate::load::headers::RetryAfter::Date(std::time::Duration::ZERO); 2],
            ..LimitEvidence::default()
        };
        let check = retry_after_check("c", &evidence, 1.0, None);
        assert_eq!(check.verdict, Verdict::Warning, "{check:?}");
        assert!(check.message.contains("clock skew"), "{check:?}");
        assert!(check.actual.unwrap().contains("already past"));
    }
}
