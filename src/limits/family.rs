//! The limiter families as a black-box client sees them, and what a load phase's timeline
//! says about the one a target runs (`load::fingerprint` reads it; the reports show it).

use serde::Serialize;

/// How a limiter admits a constant over-limit load that starts on an idle bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    BurstThenSteady,
    Flat,
    Windowed,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::BurstThenSteady => "burst-then-steady",
            Family::Flat => "flat",
            Family::Windowed => "windowed",
        }
    }
}

/// What the timeline says about the limiter, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fingerprint {
    pub family: Family,
    /// The algorithms that produce this trace.
    pub algorithms: String,
    /// What it means for a client and for the backend behind the limiter.
    pub meaning: String,
    /// Accepted before the first 429, beyond what the sustained rate explains.
    pub burst: f64,
    /// The window length used for the worst case, in seconds.
    pub window_s: f64,
    /// The most requests accepted in any sliding window of `window_s`.
    pub worst_case: u32,
    /// Where that window starts, in seconds since the phase started.
    pub worst_case_at_s: f64,
    /// Coefficient of variation of the accepted count per tenth of a window (or per five
    /// expected requests, if longer), after the burst: near 0 for an even rate, near 1 for
    /// blocks.
    pub lumpiness: f64,
    /// The smallest typical gap between accepted requests (10th percentile), in ms.
    pub spacing_ms: Option<f64>,
    /// One line with the numbers the family was decided on.
    pub evidence: String,
}
