//! The SVG charts of `report.html`, per rate class, every phase on one time axis: requests
//! per 50 ms slice (wider for limits under 80/s), accepted and 429 stacked, offered as a
//! line, the published limit, the phases as shaded bands, the estimate and the fingerprint
//! written above; and latency percentiles per second. At 50 ms a limiter's burst and refill
//! are visible; per whole second they were averaged away.
//!
//! The legends sit in a strip above the plot so they never cover data.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::event::{PhaseStats, SliceCounts};

const WIDTH: u32 = 760;
/// The strip above the plot: title, annotation, legend.
const HEAD: u32 = 66;
const FONT: &str = "sans-serif";

const OFFERED: RGBColor = RGBColor(40, 80, 190);
const ACCEPTED: RGBColor = RGBColor(60, 160, 80);
const LIMITED: RGBColor = RGBColor(215, 70, 55);
const ESTIMATE: RGBColor = RGBColor(20, 100, 40);
const PERCENTILES: [(&str, RGBColor); 3] = [
    ("p50", RGBColor(90, 140, 210)),
    ("p95", RGBColor(225, 135, 20)),
    ("p99", RGBColor(190, 30, 40)),
];

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
/// A plot on `Area`: seconds across, a count, rate or latency up.
type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn text<E: ToString>(e: E) -> String {
    e.to_string()
}

/// The background band of a phase: the under phase cool, the over phase warm.
fn shade(phase: &str) -> RGBColor {
    match phase {
        "under" => RGBColor(228, 237, 250),
        "over" => RGBColor(253, 236, 212),
        _ => RGBColor(238, 230, 247),
    }
}

/// Where phases sit on the class's time axis: seconds since the first phase started.
struct Axis {
    first_ms: u64,
}

impl Axis {
    fn of(phases: &[&PhaseStats]) -> Axis {
        let first_ms = phases.iter().map(|p| p.started_ms).min().unwrap_or(0);
        Axis { first_ms }
    }

    fn start(&self, p: &PhaseStats) -> f64 {
        p.started_ms.saturating_sub(self.first_ms) as f64 / 1000.0
    }

    /// The end of the phase's last slice, or of its schedule when it sent nothing.
    fn end(&self, p: &PhaseStats) -> f64 {
        let sliced = (p.slices.len() as u64 * p.slice_ms) as f64 / 1000.0;
        self.start(p) + sliced.max(p.duration_s)
    }

    fn max(&self, phases: &[&PhaseStats]) -> f64 {
        phases.iter().map(|p| self.end(p)).fold(1.0, f64::max)
    }
}

/// Requests the limit admits per slice below which a bar is mostly noise: a 20/s class at
/// 50 ms sees 0, 1 or 2 requests a slice. Slower classes are drawn with wider slices.
const MIN_PER_SLICE: f64 = 4.0;

/// One phase's slices as drawn: the report's 50 ms, or merged for slow limits.
struct Bars<'a> {
    phase: &'a PhaseStats,
    width_ms: u64,
    slices: Vec<SliceCounts>,
}

impl<'a> Bars<'a> {
    fn of(phase: &'a PhaseStats) -> Bars<'a> {
        let per_slice = phase.limit_per_second * phase.slice_ms as f64 / 1000.0;
        let k = if per_slice > 0.0 {
            (MIN_PER_SLICE / per_slice).ceil().clamp(1.0, 20.0) as usize
        } else {
            1
        };
        let (width_ms, slices) = phase.coarsened(k);
        Bars {
            phase,
            width_ms,
            slices,
        }
    }

    /// A slice's count as a rate, so slices and published limits share one unit.
    fn rate(&self, n: u64) -> f64 {
        n as f64 * 1000.0 / self.width_ms.max(1) as f64
    }
}

/// The plot both charts share: the time axis, each phase as a shaded band, the mesh.
fn phase_plot<'a, 'b>(
    body: &'a Area<'b>,
    phases: &[&PhaseStats],
    axis: &Axis,
    (x_max, y_max): (f64, f64),
    y_desc: &str,
) -> Result<Plot<'a, 'b>, String> {
    let mut chart = ChartBuilder::on(body)
        .margin_right(14)
        .x_label_area_size(42)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(text)?;
    chart
        .draw_series(phases.iter().map(|p| {
            let band = [(axis.start(p), 0.0), (axis.end(p), y_max)];
            Rectangle::new(band, shade(&p.phase).filled())
        }))
        .map_err(text)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE.mix(0.0))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .x_desc("seconds since the class's first phase started")
        .y_desc(y_desc)
        .draw()
        .map_err(text)?;
    Ok(chart)
}

/// Title, one line of annotation and the legend, in the strip above a plot.
fn heading(
    area: &Area,
    title: &str,
    note: &str,
    legend: &[(&str, RGBColor, bool)],
) -> Result<(), String> {
    let bold = (FONT, 19).into_font().style(FontStyle::Bold);
    area.draw(&Text::new(title.to_string(), (8, 4), bold))
        .map_err(text)?;
    area.draw(&Text::new(note.to_string(), (8, 25), (FONT, 15)))
        .map_err(text)?;
    let mut x = 8;
    for (name, color, line) in legend {
        let swatch = if *line {
            Rectangle::new([(x, 51), (x + 16, 53)], color.filled())
        } else {
            Rectangle::new([(x, 46), (x + 12, 58)], color.filled())
        };
        area.draw(&swatch).map_err(text)?;
        area.draw(&Text::new(name.to_string(), (x + 20, 45), (FONT, 15)))
            .map_err(text)?;
        x += 32 + 7 * name.chars().count() as i32;
    }
    Ok(())
}

/// What the over phase revealed, in one line: the estimate and the limiter's family.
fn annotation(phases: &[&PhaseStats]) -> String {
    let Some(over) = phases.iter().find(|p| p.estimated_rate.is_some()) else {
        return "no estimate: the over phase did not run or was not judged".into();
    };
    let mut note = format!(
        "{}: estimated {:.1}/s",
        over.phase,
        over.estimated_rate.unwrap_or_default()
    );
    if let Some(burst) = over.estimated_burst {
        note += &format!(", burst ≈ {burst:.0}");
    }
    if let Some(f) = &over.fingerprint {
        note += &format!(
            " · limiter: {} · worst {} s window: {} accepted",
            f.family.name(),
            f.window_s,
            f.worst_case
        );
    }
    note
}

/// The slice width the class's chart draws (its phases' widest).
fn slice_ms(bars: &[Bars]) -> u64 {
    bars.iter().map(|b| b.width_ms).max().unwrap_or(50)
}

/// Requests per slice of every phase of one class.
pub fn rates(class: &str, phases: &[&PhaseStats]) -> Result<String, String> {
    let axis = Axis::of(phases);
    let limit = phases.first().map_or(0.0, |p| p.limit_per_second);
    let x_max = axis.max(phases);
    let bars: Vec<Bars> = phases.iter().map(|p| Bars::of(p)).collect();
    let peak = bars
        .iter()
        .flat_map(|b| b.slices.iter().map(|s| b.rate(s.offered)))
        .fold(limit, f64::max);
    let y_max = peak * 1.2 + 1.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(text)?;
        let (head, body) = root.split_vertically(HEAD);
        let title = format!(
            "{class}: requests per second, per {} ms slice",
            slice_ms(&bars)
        );
        let legend = [
            ("accepted (2xx)", ACCEPTED, false),
            ("429", LIMITED, false),
            ("offered", OFFERED, true),
            ("published limit", BLACK, true),
            ("estimate", ESTIMATE, true),
        ];
        heading(&head, &title, &annotation(phases), &legend)?;
        let mut chart = phase_plot(&body, phases, &axis, (x_max, y_max), "requests / s")?;
        chart
            .draw_series(phases.iter().map(|p| {
                let at = (axis.start(p) + x_max * 0.004, y_max);
                Text::new(p.phase.clone(), at, (FONT, 15).into_font().color(&BLACK))
            }))
            .map_err(text)?;
        for b in &bars {
            let start = axis.start(b.phase);
            chart.draw_series(stacked(b, start)).map_err(text)?;
            let offered = b
                .slices
                .iter()
                .map(|s| (middle(b, s, start), b.rate(s.offered)));
            chart
                .draw_series(LineSeries::new(offered, OFFERED.stroke_width(2)))
                .map_err(text)?;
        }
        let limit_line = [(0.0, limit), (x_max, limit)];
        chart
            .draw_series(DashedLineSeries::new(
                limit_line,
                6,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(text)?;
        for p in phases {
            if let Some(estimate) = p.estimated_rate {
                let line = [(axis.start(p), estimate), (axis.end(p), estimate)];
                let style = ESTIMATE.stroke_width(2);
                chart
                    .draw_series(DashedLineSeries::new(line, 3, 3, style))
                    .map_err(text)?;
            }
        }
        root.present().map_err(text)?;
    }
    Ok(svg)
}

/// The middle of a slice on the class's axis.
fn middle(b: &Bars, s: &SliceCounts, start: f64) -> f64 {
    start + (s.offset_ms as f64 + b.width_ms as f64 / 2.0) / 1000.0
}

/// Accepted at the bottom of each slice, its 429s on top; empty bars are left out.
fn stacked(b: &Bars, start: f64) -> Vec<Rectangle<(f64, f64)>> {
    let width = b.width_ms as f64 / 1000.0;
    let mut rectangles = Vec::new();
    for s in &b.slices {
        let x0 = start + s.offset_ms as f64 / 1000.0;
        let (accepted, limited) = (b.rate(s.accepted), b.rate(s.limited));
        if s.accepted > 0 {
            rectangles.push(Rectangle::new(
                [(x0, 0.0), (x0 + width, accepted)],
                ACCEPTED.filled(),
            ));
        }
        if s.limited > 0 {
            rectangles.push(Rectangle::new(
                [(x0, accepted), (x0 + width, accepted + limited)],
                LIMITED.filled(),
            ));
        }
    }
    rectangles
}

/// A phase's latency over time: (seconds from its start to the middle of the slice, p50,
/// p95, p99) — per slice of a second when the phase has them (short workloads), else per
/// second.
fn latency_points(p: &PhaseStats) -> Vec<(f64, [f64; 3])> {
    match &p.latency_slices {
        Some(sliced) => sliced
            .slices
            .iter()
            .map(|s| {
                let middle = (s.offset_ms as f64 + sliced.width_ms as f64 / 2.0) / 1000.0;
                (middle, [s.p50_ms, s.p95_ms, s.p99_ms])
            })
            .collect(),
        None => p
            .latency_seconds
            .iter()
            .map(|s| (s.offset_s as f64 + 0.5, [s.p50_ms, s.p95_ms, s.p99_ms]))
            .collect(),
    }
}

/// p50/p95/p99 of each second (or slice of one) of every phase, on the same axis as `rates`.
pub fn latency(class: &str, phases: &[&PhaseStats]) -> Result<String, String> {
    let axis = Axis::of(phases);
    let x_max = axis.max(phases);
    let points: Vec<Vec<(f64, [f64; 3])>> = phases.iter().map(|p| latency_points(p)).collect();
    let y_max = points
        .iter()
        .flatten()
        .map(|(_, ms)| ms[2])
        .fold(1.0, f64::max)
        * 1.15;
    let slice = phases
        .iter()
        .find_map(|p| p.latency_slices.as_ref().map(|s| s.width_ms))
        .map_or("second".to_string(), |ms| format!("{ms} ms"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 250)).into_drawing_area();
        root.fill(&WHITE).map_err(text)?;
        let (head, body) = root.split_vertically(HEAD);
        let legend: Vec<(&str, RGBColor, bool)> =
            PERCENTILES.iter().map(|(n, c)| (*n, *c, true)).collect();
        let title = format!("{class}: latency per {slice}");
        let note = "from each request's scheduled send time (coordinated omission corrected)";
        heading(&head, &title, note, &legend)?;
        let mut chart = phase_plot(&body, phases, &axis, (x_max, y_max), "ms")?;
        for (p, points) in phases.iter().zip(&points) {
            let start = axis.start(p);
            for (i, (_, color)) in PERCENTILES.iter().enumerate() {
                let points: Vec<(f64, f64)> =
                    points.iter().map(|(at, ms)| (start + at, ms[i])).collect();
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                    .map_err(text)?;
                // A phase of one second is one point: a line alone would not show it.
                chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|at| Circle::new(at, 3, color.filled())),
                    )
                    .map_err(text)?;
            }
        }
        root.present().map_err(text)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phases() -> Vec<PhaseStats> {
        super::super::fixture::report().phases
    }

    #[test]
    fn the_rate_chart_shades_phases_and_writes_the_estimate_and_the_fingerprint() {
        let phases = phases();
        let svg = rates("read", &phases.iter().collect::<Vec<_>>()).unwrap();
        for text in [
            "read: requests per second, per 50 ms slice",
            "over: estimated 100.0/s, burst ≈ 100 · limiter: burst-then-steady",
            "\nunder\n",
            "\nover\n",
            "published limit",
        ] {
            assert!(svg.contains(text), "no {text:?} in the chart");
        }
        // One bar per slice that accepted, one per slice with 429s: the over phase's 60
        // refill slices have both.
        let bars = svg.matches("<rect").count();
        assert!(bars >= 40 + 80 + 60, "{bars} rectangles");
    }

    #[test]
    fn slow_limits_are_drawn_with_wider_slices() {
        let mut phases = phases();
        for p in &mut phases {
            p.limit_per_second = 20.0;
        }
        let svg = rates("search", &phases.iter().collect::<Vec<_>>()).unwrap();
        assert!(svg.contains("search: requests per second, per 200 ms slice"));
    }

    #[test]
    fn the_latency_chart_has_a_point_per_second_and_percentile() {
        let phases = phases();
        let svg = latency("read", &phases.iter().collect::<Vec<_>>()).unwrap();
        assert!(svg.contains("read: latency per second"));
        assert_eq!(svg.matches("<circle").count(), (2 + 4) * 3);
    }
}
