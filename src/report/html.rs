//! `report.html`: one self-contained file (no network needed to view it) with the summary,
//! per rate class its charts (`chart.rs`) and numbers, and the checks: failed and warnings
//! first, skipped and passed ones folded.

use std::fmt::Write as _;

use super::chart;
use super::model::Report;
use crate::event::{CheckResult, PhaseStats, StepResult, Verdict, PERF_PHASE};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(report: &Report) -> String {
    let checks = report.checks();
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    let _ = writeln!(
        out,
        "<title>tollgate {} — {}</title>\n<style>{}</style></head><body>",
        escape(&report.run_id),
        report.verdict(),
        STYLE
    );
    let _ = writeln!(
        out,
        "<h1 class=\"{v}\">tollgate: {v}</h1>\n<p>Target <code>{}</code> ({}) · profile <code>{}</code> · run <code>{}</code> · started {} · {:.1} s · seed {}</p>",
        escape(&report.target),
        escape(&report.target_words()),
        escape(&report.profile),
        escape(&report.run_id),
        escape(&report.started),
        report.duration_ms as f64 / 1000.0,
        report.seed,
        v = report.verdict()
    );
    let _ = writeln!(
        out,
        "<p class=\"counts\">{} checks: <b>{}</b> passed, <b>{}</b> failed, <b>{}</b> skipped, <b>{}</b> warnings</p>",
        checks.passed + checks.failed + checks.skipped + checks.warnings,
        checks.passed,
        checks.failed,
        checks.skipped,
        checks.warnings
    );
    for (heading, perf) in [("Rate limits", false), ("Performance workloads", true)] {
        let phases: Vec<&PhaseStats> = report
            .phases
            .iter()
            .filter(|p| (p.phase == PERF_PHASE) == perf)
            .collect();
        let mut classes: Vec<&str> = phases.iter().map(|p| p.class.as_str()).collect();
        classes.dedup();
        if !classes.is_empty() {
            let _ = writeln!(out, "<h2>{heading}</h2>");
        }
        for class in classes {
            let mine: Vec<&PhaseStats> = phases
                .iter()
                .copied()
                .filter(|p| p.class == class)
                .collect();
            class_section(&mut out, class, &mine);
        }
    }
    checks_section(&mut out, report);
    out.push_str("</body></html>\n");
    out
}

/// One rate class (or one request name of a workload): its charts, a row per phase, and
/// the limiter it met.
fn class_section(out: &mut String, class: &str, phases: &[&PhaseStats]) {
    figure(
        out,
        &format!("chart-{}", slug(class)),
        chart::rates(class, phases),
    );
    figure(
        out,
        &format!("latency-{}", slug(class)),
        chart::latency(class, phases),
    );
    out.push_str("<table><tr><th>phase</th><th>offered/s</th><th>accepted</th><th>429</th><th>other</th><th>estimate/s</th><th>burst</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>\n");
    for p in phases {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            escape(&p.phase),
            p.offered_rate,
            p.accepted,
            p.limited,
            p.other,
            p.estimated_rate.map(|r| format!("{r:.1}")).unwrap_or_default(),
            p.estimated_burst.map(|b| format!("{b:.0}")).unwrap_or_default(),
            p.latency.p50_ms,
            p.latency.p90_ms,
            p.latency.p99_ms,
            p.latency.max_ms
        );
    }
    out.push_str("</table>\n");
    for f in phases.iter().filter_map(|p| p.fingerprint.as_ref()) {
        let _ = writeln!(
            out,
            "<p class=\"limiter\"><b>limiter: {}</b> ({}); burst ≈ {:.0}; <b>worst {} s window: {} accepted</b> from {:.2} s. {}<br><small>{}</small></p>",
            escape(f.family.name()),
            escape(&f.algorithms),
            f.burst,
            f.window_s,
            f.worst_case,
            f.worst_case_at_s,
            escape(&f.meaning),
            escape(&f.evidence)
        );
    }
}

/// `tenants · read` → `tenants-read`: an HTML id (rate class names pass unchanged).
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out
}

/// One chart, or why there is none (a report is never lost for a chart).
fn figure(out: &mut String, id: &str, svg: Result<String, String>) {
    match svg {
        Ok(svg) => {
            let _ = writeln!(
                out,
                "<figure class=\"chart\" id=\"{}\">{svg}</figure>",
                escape(id)
            );
        }
        Err(e) => {
            let _ = writeln!(out, "<p>chart unavailable: {}</p>", escape(&e));
        }
    }
}

/// Checks by what needs attention: failed, then warnings, in the open; skipped and passed
/// folded, so a long passing run does not bury the one failure.
fn checks_section(out: &mut String, report: &Report) {
    let with = |verdicts: &[Verdict]| -> Vec<(&StepResult, &CheckResult)> {
        verdicts
            .iter()
            .flat_map(|v| {
                report
                    .steps
                    .iter()
                    .flat_map(move |s| s.checks.iter().map(move |c| (s, c)))
                    .filter(move |(_, c)| c.verdict == *v)
            })
            .collect()
    };
    out.push_str("<h2>Checks</h2>\n");
    let notable = with(&[Verdict::Failed, Verdict::Warning]);
    if notable.is_empty() {
        out.push_str("<p>No failed checks and no warnings.</p>\n");
    } else {
        check_table(out, "notable", &notable);
    }
    for (verdict, label) in [(Verdict::Skipped, "skipped"), (Verdict::Passed, "passed")] {
        let rows = with(&[verdict]);
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<details class=\"{label}\"><summary>{} {label} checks</summary>",
            rows.len()
        );
        check_table(out, label, &rows);
        out.push_str("</details>\n");
    }
}

fn check_table(out: &mut String, id: &str, rows: &[(&StepResult, &CheckResult)]) {
    let _ = writeln!(
        out,
        "<table class=\"checks\" id=\"checks-{id}\"><tr><th></th><th>check</th><th>step</th>\
         <th>expected</th><th>actual</th><th>where</th></tr>"
    );
    for (step, check) in rows {
        let (mark, class) = match check.verdict {
            Verdict::Passed => ("✓", "passed"),
            Verdict::Failed => ("✗", "failed"),
            Verdict::Skipped => ("–", "skipped"),
            Verdict::Warning => ("!", "warning"),
        };
        let actual = [
            check.actual.as_deref().unwrap_or(""),
            check.message.as_str(),
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" — ");
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{mark}</td><td><code>{}</code></td><td>{} › {}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&check.id),
            escape(&step.scenario),
            escape(&step.step),
            escape(check.expected.as_deref().unwrap_or("")),
            escape(&actual),
            check
                .origin
                .as_ref()
                .map(|o| escape(&o.to_string()))
                .unwrap_or_default()
        );
    }
    out.push_str("</table>\n");
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
h1.passed{color:#1b7f3b}h1.failed{color:#b3261e}h1.interrupted,h1.deadline{color:#8a6d00}\
table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.85rem}\
td,th{border:1px solid #ddd;padding:0.25rem 0.5rem;text-align:left;vertical-align:top}\
tr.failed td{background:#fde7e7}tr.warning td{background:#fff6da}tr.skipped td{color:#777}\
figure.chart{margin:0}code{font-size:0.85em}\
details{margin:0.5rem 0}summary{cursor:pointer;font-weight:600}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_checks_and_warnings_come_first_and_passed_ones_are_folded() {
        let html = render(&super::super::fixture::report());
        let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("no {needle}"));
        assert!(at("<tr class=\"failed\">") < at("<tr class=\"warning\">"));
        assert!(at("<tr class=\"warning\">") < at("<tr class=\"passed\">"));
        let folded = at("<details class=\"passed\"><summary>2 passed checks</summary>");
        assert!(
            folded < at("<tr class=\"passed\">"),
            "passed rows sit in <details>"
        );
        assert!(!html[..folded].contains("class=\"passed\""));
    }

    #[test]
    fn every_class_has_its_rate_and_latency_charts() {
        let html = render(&super::super::fixture::report());
        assert!(html.contains("<figure class=\"chart\" id=\"chart-read\"><svg"));
        assert!(html.contains("<figure class=\"chart\" id=\"latency-read\"><svg"));
        assert!(html.contains("read: requests per second, per 50 ms slice"));
    }

    #[test]
    fn a_workload_is_a_section_of_its_own_with_latency_over_time() {
        let html = render(&super::super::fixture::with_workload());
        let (rates, perf) = html.split_once("<h2>Performance workloads</h2>").unwrap();
        assert!(rates.contains("id=\"chart-read\""));
        assert!(perf.contains("<figure class=\"chart\" id=\"latency-tenants-read\"><svg"));
        // A short workload's latency is drawn per 200 ms slice, not per second.
        assert!(
            perf.contains("tenants · read: latency per 200 ms"),
            "{perf}"
        );
        assert!(rates.contains("read: latency per second"));
        assert!(!rates.contains("tenants"));
        assert_eq!(slug("tenants · files_read"), "tenants-files_read");
    }
}
