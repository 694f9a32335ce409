//! `report.html`: one self-contained file (no network needed to view it) with the summary,
//! the check table, and per rate class an SVG chart of offered / accepted / 429 per second
//! against the published limit, plus latency percentiles.

use std::fmt::Write as _;

use plotters::prelude::*;

use super::model::Report;
use crate::event::{PhaseStats, Verdict};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A named line of the chart and its colour.
type Series<'a> = (&'a str, &'a Vec<(f64, f64)>, RGBColor);

/// The chart of one class: every phase on one timeline, one point per wall-clock second.
pub fn chart(class: &str, phases: &[&PhaseStats]) -> Result<String, String> {
    let first = phases
        .iter()
        .flat_map(|p| p.seconds.first())
        .map(|s| s.second)
        .min()
        .unwrap_or(0);
    let points = |f: &dyn Fn(&crate::event::SecondCounts) -> u64| -> Vec<(f64, f64)> {
        phases
            .iter()
            .flat_map(|p| p.seconds.iter())
            .map(|s| ((s.second - first) as f64, f(s) as f64))
            .collect()
    };
    let offered = points(&|s| s.offered);
    let accepted = points(&|s| s.accepted);
    let limited = points(&|s| s.limited);
    let limit = phases.first().map(|p| p.limit_per_second).unwrap_or(0.0);
    let x_max = offered.iter().map(|p| p.0).fold(1.0, f64::max) + 1.0;
    let y_max = offered.iter().map(|p| p.1).fold(limit, f64::max) * 1.15 + 1.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{class}: requests per second"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("requests / s")
            .draw()
            .map_err(|e| e.to_string())?;
        let series: [Series; 3] = [
            ("offered", &offered, RGBColor(70, 110, 200)),
            ("accepted", &accepted, RGBColor(40, 150, 70)),
            ("429", &limited, RGBColor(210, 60, 50)),
        ];
        for (name, data, color) in series {
            chart
                .draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .draw_series(LineSeries::new(
                [(0.0, limit), (x_max, limit)],
                BLACK.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?
            .label(format!("published limit {limit:.0}/s"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
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
        escape(&report.target_kind),
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
    let mut classes: Vec<&str> = report.phases.iter().map(|p| p.class.as_str()).collect();
    classes.dedup();
    if !classes.is_empty() {
        out.push_str("<h2>Rate limits</h2>\n");
    }
    for class in classes {
        let phases: Vec<&PhaseStats> = report.phases.iter().filter(|p| p.class == class).collect();
        match chart(class, &phases) {
            Ok(svg) => {
                let _ = writeln!(
                    out,
                    "<figure class=\"chart\" id=\"chart-{}\">{svg}</figure>",
                    escape(class)
                );
            }
            Err(e) => {
                let _ = writeln!(out, "<p>chart unavailable: {}</p>", escape(&e));
            }
        }
        out.push_str("<table><tr><th>phase</th><th>offered/s</th><th>accepted</th><th>429</th><th>other</th><th>estimate/s</th><th>burst</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>\n");
        for p in &phases {
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
    out.push_str("<h2>Checks</h2>\n<table class=\"checks\"><tr><th></th><th>check</th><th>step</th><th>expected</th><th>actual</th><th>where</th></tr>\n");
    for step in &report.steps {
        for check in &step.checks {
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
                "<tr class=\"{class}\"><td>{mark}</td><td><code>{}</code></td><td>{} › {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&check.id),
                escape(&step.scenario),
                escape(&step.step),
                escape(check.expected.as_deref().unwrap_or("")),
                escape(&actual),
                check.origin.as_ref().map(|o| escape(&o.to_string())).unwrap_or_default()
            );
        }
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
h1.passed{color:#1b7f3b}h1.failed{color:#b3261e}h1.interrupted,h1.deadline{color:#8a6d00}\
table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.85rem}\
td,th{border:1px solid #ddd;padding:0.25rem 0.5rem;text-align:left;vertical-align:top}\
tr.failed td{background:#fde7e7}tr.warning td{background:#fff6da}tr.skipped td{color:#777}\
figure.chart{margin:0}code{font-size:0.85em}";
