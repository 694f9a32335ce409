//! A load phase as unicode sparklines, for `summary.md`: GitHub shows no SVG in a job
//! summary, and a few lines of block characters keep the burst and the refill visible in a
//! few hundred bytes per class.

use std::fmt::Write as _;

use crate::event::{PhaseStats, SliceCounts};

/// The widest line: a 4 s over phase (80 slices of 50 ms) is drawn at 100 ms a character.
const MAX_CHARS: usize = 60;

/// Eighths of a character cell, and a dot for nothing at all (a 0 is worth telling from a
/// small count).
const LEVELS: [char; 9] = ['·', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character for `value` on a scale where `full` fills the cell.
fn level(value: f64, full: f64) -> char {
    if value <= 0.0 || full <= 0.0 {
        return LEVELS[0];
    }
    let eighths = (value / full * 8.0).round().clamp(1.0, 8.0);
    LEVELS[eighths as usize]
}

/// A fenced block: offered, accepted and 429 per character, all on one scale (the highest
/// offered rate fills a cell), the published limit as the character it would be, and the
/// estimate and fingerprint above.
pub fn phase_block(p: &PhaseStats) -> String {
    // Merged so the line fits in `MAX_CHARS`.
    let (width_ms, slices) = p.coarsened(p.slices.len().div_ceil(MAX_CHARS));
    let per_s = |n: u64| n as f64 * 1000.0 / width_ms.max(1) as f64;
    let full = slices
        .iter()
        .map(|s| per_s(s.offered))
        .fold(p.limit_per_second, f64::max);
    let line = |f: fn(&SliceCounts) -> u64| -> String {
        slices.iter().map(|s| level(per_s(f(s)), full)).collect()
    };
    let mut out = format!("**{} · {}**", p.class, p.phase);
    if let Some(rate) = p.estimated_rate {
        let _ = write!(out, " · estimated {rate:.1}/s");
    }
    if let Some(burst) = p.estimated_burst {
        let _ = write!(out, ", burst ≈ {burst:.0}");
    }
    if let Some(f) = &p.fingerprint {
        let _ = write!(out, " · limiter: {}", f.family.name());
    }
    let _ = write!(
        out,
        "\n\n```text\noffered  {}\naccepted {}\n429      {}\n",
        line(|s| s.offered),
        line(|s| s.accepted),
        line(|s| s.limited),
    );
    let _ = writeln!(
        out,
        "limit    {} = {:.0}/s; █ = {full:.0}/s; {width_ms} ms a character",
        level(p.limit_per_second, full),
        p.limit_per_second,
    );
    if !p.latency_seconds.is_empty() {
        let p99: Vec<String> = p
            .latency_seconds
            .iter()
            .map(|s| format!("{:.1}", s.p99_ms))
            .collect();
        let _ = writeln!(out, "p99 ms   {} (per second)", p99.join(" "));
    }
    out.push_str("```\n");
    out
}

/// A workload's request name second by second: requests answered 2xx, 429 and otherwise,
/// and its p50/p95/p99 latency, each line on its own scale (written beside it).
pub fn workload_block(p: &PhaseStats) -> String {
    let seconds = &p.seconds;
    let most = seconds.iter().map(|s| s.offered).max().unwrap_or(0) as f64;
    let counts = |f: fn(&crate::event::SecondCounts) -> u64| -> String {
        seconds.iter().map(|s| level(f(s) as f64, most)).collect()
    };
    let slowest = p
        .latency_seconds
        .iter()
        .map(|s| s.p99_ms)
        .fold(0.0, f64::max);
    let latency = |f: fn(&crate::event::SecondLatency) -> f64| -> String {
        p.latency_seconds
            .iter()
            .map(|s| level(f(s), slowest))
            .collect()
    };
    let mut out = format!(
        "**{}** · {} requests · p95 {:.1} ms · p99 {:.1} ms\n\n```text\n",
        p.class, p.requests, p.latency.p95_ms, p.latency.p99_ms
    );
    let _ = writeln!(out, "2xx      {}", counts(|s| s.accepted));
    let _ = writeln!(out, "429      {}", counts(|s| s.limited));
    let _ = writeln!(out, "other    {}", counts(|s| s.other));
    let _ = writeln!(out, "p50      {}", latency(|s| s.p50_ms));
    let _ = writeln!(out, "p95      {}", latency(|s| s.p95_ms));
    let _ = writeln!(out, "p99      {}", latency(|s| s.p99_ms));
    let _ = writeln!(
        out,
        "a second a character; █ = {most:.0} requests, {slowest:.1} ms"
    );
    out.push_str("```\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_eighths_of_the_full_scale_and_a_dot_for_nothing() {
        assert_eq!(level(0.0, 200.0), '·');
        assert_eq!(level(1.0, 200.0), '▁', "a little is not nothing");
        assert_eq!(level(100.0, 200.0), '▄');
        assert_eq!(level(200.0, 200.0), '█');
        assert_eq!(level(260.0, 200.0), '█');
    }
}
