//! `summary.md`: a compact table for humans, also appended to `$GITHUB_STEP_SUMMARY` (which
//! GitHub caps at 1 MiB: this stays a few KB plus one short row per check): failed checks
//! and warnings first, each over phase as sparklines, passed and skipped checks folded;
//! and GitHub annotations that point failed checks at their scenario line.

use std::fmt::Write as _;

use super::model::Report;
use super::sparkline;
use crate::event::{PhaseStats, Verdict, PERF_PHASE};

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn render(report: &Report) -> String {
    let checks = report.checks();
    let icon = match report.verdict() {
        "passed" => "✅",
        "failed" | "nothing-checked" => "❌",
        _ => "⏸️",
    };
    let mut out = format!(
        "## {icon} tollgate: {}\n\n**Target** {} ({}) · **profile** `{}` · **run** `{}` · {:.1} s\n\n",
        report.verdict(),
        report.target,
        report.target_words(),
        report.profile,
        report.run_id,
        report.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "| checks | passed | failed | skipped | warnings |\n|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} |\n",
        checks.passed + checks.failed + checks.skipped + checks.warnings,
        checks.passed,
        checks.failed,
        checks.skipped,
        checks.warnings
    );
    let mut notable: Vec<_> = report
        .steps
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .filter(|(_, c)| matches!(c.verdict, Verdict::Failed | Verdict::Warning))
        .collect();
    // Failures before warnings; the sort is stable, so each keeps the run's order.
    notable.sort_by_key(|(_, c)| c.verdict != Verdict::Failed);
    if !notable.is_empty() {
        let _ = writeln!(out, "### Failed checks and warnings\n\n| | check | step | expected | actual | where |\n|---|---|---|---|---|---|");
        for (step, check) in notable {
            let mark = if check.verdict == Verdict::Failed {
                "❌"
            } else {
                "⚠️"
            };
            let actual = match (&check.actual, check.message.is_empty()) {
                (Some(a), true) => a.clone(),
                (Some(a), false) => format!("{a} — {}", check.message),
                (None, _) => check.message.clone(),
            };
            let _ = writeln!(
                out,
                "| {mark} | `{}` | {} › {} | {} | {} | {} |",
                check.id,
                cell(&step.scenario),
                cell(&step.step),
                cell(check.expected.as_deref().unwrap_or("")),
                cell(&actual),
                check
                    .origin
                    .as_ref()
                    .map(|o| format!("`{o}`"))
                    .unwrap_or_default()
            );
        }
        out.push('\n');
    }
    let (perf, rate): (Vec<&PhaseStats>, Vec<&PhaseStats>) =
        report.phases.iter().partition(|p| p.phase == PERF_PHASE);
    if !rate.is_empty() {
        let _ = writeln!(
            out,
            "### Load\n\n| class | phase | limit/s | offered/s | accepted/s | 429/s | estimate/s | burst | p50 ms | p99 ms |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for p in &rate {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} | {:.1} |",
                p.class,
                p.phase,
                p.limit_per_second,
                p.offered_rate,
                p.per_second(p.accepted),
                p.per_second(p.limited),
                p.estimated_rate
                    .map(|r| format!("{r:.1}"))
                    .unwrap_or_default(),
                p.estimated_burst
                    .map(|b| format!("{b:.0}"))
                    .unwrap_or_default(),
                p.latency.p50_ms,
                p.latency.p99_ms
            );
        }
        let fingerprints: Vec<_> = report
            .phases
            .iter()
            .filter_map(|p| p.fingerprint.as_ref().map(|f| (&p.class, f)))
            .collect();
        if !fingerprints.is_empty() {
            let _ = writeln!(
                out,
                "\n### Limiters\n\n| class | family | algorithms | burst | worst-case window | means | evidence |\n|---|---|---|---:|---|---|---|"
            );
            for (class, f) in fingerprints {
                let _ = writeln!(
                    out,
                    "| {class} | {} | {} | {:.0} | {} in {} s from {:.2} s | {} | {} |",
                    f.family.name(),
                    f.algorithms,
                    f.burst,
                    f.worst_case,
                    f.window_s,
                    f.worst_case_at_s,
                    f.meaning,
                    f.evidence.replace('|', "\\|")
                );
            }
        }
        out.push_str("\n### Over phases\n\n");
        for p in rate.iter().filter(|p| p.phase == "over") {
            out.push_str(&sparkline::phase_block(p));
            out.push('\n');
        }
    }
    if !perf.is_empty() {
        workloads(&mut out, &perf);
    }
    folded(&mut out, report);
    out
}

/// Each workload's request names: totals, then second by second.
fn workloads(out: &mut String, phases: &[&PhaseStats]) {
    let _ = writeln!(
        out,
        "\n### Performance workloads\n\n| workload · request | requests | peak asked/s | 2xx | 429 | other | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for p in phases {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            p.class,
            p.requests,
            p.requested_rate,
            p.accepted,
            p.limited,
            p.other,
            p.latency.p50_ms,
            p.latency.p95_ms,
            p.latency.p99_ms,
            p.latency.max_ms
        );
    }
    out.push('\n');
    for p in phases {
        out.push_str(&sparkline::workload_block(p));
        out.push('\n');
    }
}

/// Skipped checks (with their reasons) and passed ones in `<details>` blocks: one short
/// row each (report.html has the rest).
fn folded(out: &mut String, report: &Report) {
    for (verdict, label) in [(Verdict::Skipped, "skipped"), (Verdict::Passed, "passed")] {
        let rows: Vec<_> = report
            .steps
            .iter()
            .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
            .filter(|(_, c)| c.verdict == verdict)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let (head, rule) = match verdict {
            Verdict::Skipped => ("| check | step | why |", "|---|---|---|"),
            _ => ("| check | step |", "|---|---|"),
        };
        let _ = writeln!(
            out,
            "<details><summary>{} {label} checks</summary>\n\n{head}\n{rule}",
            rows.len()
        );
        for (step, check) in rows {
            let _ = write!(
                out,
                "| `{}` | {} › {} |",
                check.id,
                cell(&step.scenario),
                cell(&step.step)
            );
            if verdict == Verdict::Skipped {
                let _ = write!(out, " {} |", cell(&check.message));
            }
            out.push('\n');
        }
        out.push_str("\n</details>\n\n");
    }
}

/// `::error file=…,line=…::` lines for GitHub Actions, one per failed check.
pub fn annotations(report: &Report) -> String {
    let mut out = String::new();
    for step in &report.steps {
        for check in step.checks.iter().filter(|c| c.verdict == Verdict::Failed) {
            let detail = match (&check.expected, &check.actual) {
                (Some(e), Some(a)) => format!("expected {e}, got {a}"),
                _ => check.message.clone(),
            };
            // Workflow commands end at a newline and treat % specially.
            let escape = |s: &str| {
                s.replace('%', "%25")
                    .replace('\r', "%0D")
                    .replace('\n', "%0A")
            };
            let location = match &check.origin {
                Some(o) if o.line == 0 => format!("file={},", o.file),
                Some(o) => format!("file={},line={},col={},", o.file, o.line, o.col),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "::error {location}title={}::{} › {}: {}",
                escape(&check.id),
                escape(&step.scenario),
                escape(&step.step),
                escape(&detail)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_checks_come_first_and_passed_ones_are_folded() {
        let md = render(&super::super::fixture::report());
        let at = |needle: &str| md.find(needle).unwrap_or_else(|| panic!("no {needle}"));
        assert!(at("| ❌ | `expect.status`") < at("| ⚠️ | `rate.read.headers`"));
        let folded = at("<details><summary>2 passed checks</summary>");
        assert!(at("### Failed checks and warnings") < folded);
        assert!(
            folded < at("| `expect.json` |"),
            "passed rows sit in <details>"
        );
    }

    #[test]
    fn the_over_phase_is_drawn_in_sparklines_and_the_summary_stays_small() {
        let md = render(&super::super::fixture::report());
        assert!(md.len() < 8 * 1024, "{} bytes", md.len());
        insta::assert_snapshot!(md);
    }

    #[test]
    fn a_workload_gets_its_own_table_and_second_by_second_lines() {
        let md = render(&super::super::fixture::with_workload());
        let (load, perf) = md.split_once("### Performance workloads").unwrap();
        assert!(
            !load.contains("tenants · read |"),
            "kept out of the rate-limit table"
        );
        assert!(perf
            .contains("| tenants · read | 300 | 100.0 | 300 | 0 | 0 | 2.0 | 3.5 | 40.0 | 41.0 |"));
        // Three seconds, the middle one slow: its p99 fills the cell.
        assert!(perf.contains("p99      ▁█▁"), "{perf}");
        assert!(perf.contains("2xx      ███"), "{perf}");
    }
}
