//! Verdicts of the load phase: pure functions from what a phase measured (timelines,
//! estimates, fingerprints, 429 evidence, header samples) to check results. Nothing here
//! sends a request or reads a clock, so every verdict is unit-tested in milliseconds
//! against the limiter simulator for each family and burst (see the tests below and
//! docs/rate-limit-maths.md for where each tolerance comes from).

use super::estimate::{Estimate, NoEstimate};
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
    estimated: &Result<Estimate, NoEstimate>,
    full_length: Option<f64>,
    fingerprint: Option<&Fingerprint>,
    spacing: Option<&Spacing>,
    requested: f64,
    limit: f64,
) -> CheckResult {
    let id = format!("rate.{class}.enforced");
    match estimated {
        // A phase that --duration-scale cut shorter than the burst needs is the run's
        // doing, not the target's: skipped when the phase at full length (`full_length`
        // seconds) would have left a whole window after this burst, failed otherwise.
        Err(
            reason @ NoEstimate::TooShort {
                first_rejection,
                window,
            },
        ) if full_length.is_some_and(|full| first_rejection + window <= full) => CheckResult::new(
            id,
            Verdict::Skipped,
            format!("{reason}: --duration-scale shortened the phase below what this burst needs"),
        ),
        Err(reason) => CheckResult::failed(
            id,
            format!("a sustained rate near {limit:.1}/s over the limit"),
            reason.to_string(),
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
mod tests;
