//! The terminal view: a pure function of the report (and of each step for live output).

use std::fmt::Write as _;

use crate::event::{Event, PhaseStats, StepResult, Verdict};
use crate::limits::Fingerprint;

use super::model::Report;

/// ANSI colour, only when writing to a terminal and `NO_COLOR` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub const PLAIN: Style = Style { color: false };

    /// Colour for a stream that is (`terminal`) or is not a terminal, unless `NO_COLOR`.
    pub fn for_stream(terminal: bool) -> Style {
        Style {
            color: terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

pub fn header(report: &Report) -> String {
    format!(
        "tollgate {} · target {} ({}) · profile {}\n",
        report.tool_version,
        report.target,
        report.target_words(),
        report.profile
    )
}

fn label(verdict: Verdict, style: Style) -> String {
    match verdict {
        Verdict::Passed => style.paint("32", "PASS"),
        Verdict::Failed => style.paint("31;1", "FAIL"),
        Verdict::Skipped => style.paint("33", "SKIP"),
        Verdict::Warning => style.paint("33", "WARN"),
    }
}

/// One line per step, then one line per check that did not simply pass.
pub fn step(step: &StepResult, style: Style) -> String {
    let mut out = String::new();
    let outcome = match step.attempts.last() {
        Some(attempt) => match attempt.status {
            Some(status) => format!("→ {status} {:>5.0} ms", attempt.latency_ms),
            None => "→ no response".to_string(),
        },
        None => String::new(),
    };
    let retries = match step.attempts.len() {
        0 | 1 => String::new(),
        n => format!(" after {} attempts", n),
    };
    let _ = writeln!(
        out,
        "{}  {} › {}  {} {outcome}{retries}",
        label(step.verdict(), style),
        step.scenario,
        step.step,
        step.request
    );
    // Passed checks are listed only when they carry a measurement (load checks do).
    let shown = step
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Passed || c.actual.is_some());
    for check in shown {
        let mark = match check.verdict {
            Verdict::Passed => style.paint("32", "✓"),
            Verdict::Failed => style.paint("31", "✗"),
            Verdict::Warning => style.paint("33", "!"),
            Verdict::Skipped => "-".to_string(),
        };
        let mut line = format!("      {mark} {}", check.id);
        match (&check.expected, &check.actual, check.verdict) {
            (Some(expected), Some(actual), Verdict::Passed) => {
                let _ = write!(line, ": {actual} (expected {expected})");
            }
            (Some(expected), Some(actual), _) => {
                let _ = write!(line, ": expected {expected}, got {actual}");
            }
            _ => {}
        }
        if !check.message.is_empty() {
            let sep = if check.expected.is_some() {
                " — "
            } else {
                ": "
            };
            let _ = write!(line, "{sep}{}", check.message);
        }
        if let Some(origin) = &check.origin {
            let _ = write!(line, "  ({origin})");
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// One load phase: what was offered and what came back.
pub fn phase(p: &PhaseStats) -> String {
    if p.phase == crate::event::PERF_PHASE {
        return workload_part(p);
    }
    let mut line = format!(
        "LOAD  {} · {}  offered {:.1}/s (asked {:.1}/s, limit {:.1}/s) → accepted {:.1}/s, 429 {:.1}/s",
        p.class,
        p.phase,
        p.offered_rate,
        p.requested_rate,
        p.limit_per_second,
        p.per_second(p.accepted),
        p.per_second(p.limited)
    );
    if p.other > 0 {
        let _ = write!(line, ", other {}", p.other);
    }
    if let (Some(rate), Some(burst)) = (p.estimated_rate, p.estimated_burst) {
        let _ = write!(line, "; estimate {rate:.1}/s, burst ≈ {burst:.0}");
    }
    let _ = writeln!(
        line,
        "; latency p50 {:.1} ms, p99 {:.1} ms",
        p.latency.p50_ms, p.latency.p99_ms
    );
    if let Some(f) = &p.fingerprint {
        line.push_str(&limiter(f, "      "));
    }
    line
}

/// One request name of a workload: its peak, its totals and its latency.
fn workload_part(p: &PhaseStats) -> String {
    let mut line = format!(
        "PERF  {}  {} requests over {:.1} s, peak {:.1}/s (its keys' limits {:.0}/s) → 2xx {}, 429 {}",
        p.class,
        p.requests,
        p.duration_s,
        p.requested_rate,
        p.limit_per_second,
        p.accepted,
        p.limited
    );
    if p.other > 0 {
        let _ = write!(line, ", other {}", p.other);
    }
    let _ = writeln!(
        line,
        "; latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p.latency.p50_ms, p.latency.p95_ms, p.latency.p99_ms, p.latency.max_ms
    );
    line
}

/// The limiter a class runs: family, likely algorithms, worst case and what it means.
pub fn limiter(f: &Fingerprint, indent: &str) -> String {
    format!(
        "{indent}limiter: {} ({}); burst ≈ {:.0}; worst {} s window: {} accepted from {:.2} s\n{indent}  means: {}\n{indent}  evidence: {}\n",
        f.family.name(),
        f.algorithms,
        f.burst,
        f.window_s,
        f.worst_case,
        f.worst_case_at_s,
        f.meaning,
        f.evidence
    )
}

/// Any event, as the live terminal shows it.
pub fn event(event: &Event, style: Style) -> String {
    match event {
        Event::StepFinished(s) => step(s, style),
        Event::PhaseFinished(p) => phase(p),
        Event::Progress(_) | Event::RunFinished { .. } => String::new(),
    }
}

pub fn summary(report: &Report, style: Style) -> String {
    let steps = report.steps_by_verdict();
    let checks = report.checks();
    let verdict = match report.verdict() {
        "passed" => style.paint("32;1", "PASSED"),
        "failed" => style.paint("31;1", "FAILED"),
        "nothing-checked" => style.paint("31;1", "NOTHING CHECKED (every check was skipped)"),
        other => style.paint("33;1", &other.to_ascii_uppercase()),
    };
    let mut out = format!(
        "\n{} steps: {} passed, {} failed, {} skipped, {} with warnings\n{} checks: {} passed, {} failed, {} skipped, {} warnings\n",
        report.steps.len(),
        steps.passed,
        steps.failed,
        steps.skipped,
        steps.warnings,
        checks.passed + checks.failed + checks.skipped + checks.warnings,
        checks.passed,
        checks.failed,
        checks.skipped,
        checks.warnings,
    );
    for p in report.phases.iter().filter(|p| p.fingerprint.is_some()) {
        let _ = writeln!(out, "{}:", p.class);
        out.push_str(&limiter(p.fingerprint.as_ref().expect("filtered"), "  "));
    }
    let failed = report.failed_ids();
    if !failed.is_empty() {
        let _ = writeln!(out, "failed checks: {}", failed.join(", "));
    }
    let _ = writeln!(
        out,
        "{verdict} in {:.1} s",
        report.duration_ms as f64 / 1000.0
    );
    out
}

/// The whole report as the terminal shows it.
pub fn render(report: &Report, style: Style) -> String {
    let mut out = header(report);
    for s in &report.steps {
        out.push_str(&step(s, style));
    }
    for p in &report.phases {
        out.push_str(&phase(p));
    }
    out.push_str(&summary(report, style));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Family;

    #[test]
    fn the_limiter_line_names_family_worst_case_meaning_and_evidence() {
        let f = Fingerprint {
            family: Family::Windowed,
            algorithms: "fixed window".into(),
            meaning: "up to 200 requests can land inside one 1 s span across a window boundary: the backend must absorb twice the limit".into(),
            burst: 100.0,
            window_s: 1.0,
            worst_case: 187,
            worst_case_at_s: 0.43,
            lumpiness: 0.98,
            spacing_ms: Some(5.0),
            evidence: "burst ≈ 100 before the first 429 at 0.50 s; accepted per tenth of a window varies by 98%; worst 1 s window 187 (quota 100)".into(),
        };
        insta::assert_snapshot!(limiter(&f, "      "));
    }
}
