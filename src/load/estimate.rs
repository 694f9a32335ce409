//! Estimating the enforced rate and burst from what was accepted over time (never from
//! headers), following the limiter maths: after the burst is spent, every whole window of a
//! constant over-limit load contributes exactly `rate × window` accepted requests (±1).

use super::timeline::Timeline;

#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Sustained accepted rate, per second.
    pub rate: f64,
    /// Requests accepted beyond `rate × span`: the burst.
    pub burst: f64,
    /// The steady interval used, in seconds since the phase started.
    pub steady: (f64, f64),
    pub windows: u32,
    /// The rate actually offered (from send times), per second.
    pub offered: f64,
}

/// Offered rate measured from send times: requests between the first and last send.
pub fn offered_rate(timeline: &Timeline) -> Option<f64> {
    let (first, last) = timeline.span()?;
    let sent = timeline.totals().sent;
    (sent > 1 && last > first).then(|| f64::from(sent - 1) / (last - first))
}

/// Why no rate could be estimated.
#[derive(Debug, Clone, PartialEq)]
pub enum NoEstimate {
    TooFewRequests,
    NoRejection {
        offered: f64,
    },
    /// The burst left less than a whole window of the phase: a burst larger than the
    /// phase can show, or a phase shortened too far (`--duration-scale`).
    TooShort {
        first_rejection: f64,
        window: f64,
    },
}

impl std::fmt::Display for NoEstimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoEstimate::TooFewRequests => write!(f, "too few requests to estimate anything"),
            NoEstimate::NoRejection { offered } => {
                write!(f, "no request was rejected at {offered:.1}/s")
            }
            NoEstimate::TooShort {
                first_rejection,
                window,
            } => write!(
                f,
                "the burst lasted until {first_rejection:.2} s: less than one whole {window} s \
                 window of steady load was left"
            ),
        }
    }
}

/// The sustained rate over the whole windows after the first rejection, and the burst.
pub fn estimate(timeline: &Timeline, window: f64) -> Result<Estimate, NoEstimate> {
    let offered = offered_rate(timeline).ok_or(NoEstimate::TooFewRequests)?;
    let first_rejection = timeline
        .first_rejection()
        .ok_or(NoEstimate::NoRejection { offered })?;
    let (first, last) = timeline.span().expect("an offered rate needs sends");
    let windows = ((last - first_rejection) / window).floor();
    if windows < 1.0 {
        return Err(NoEstimate::TooShort {
            first_rejection,
            window,
        });
    }
    let from = last - windows * window;
    let in_steady = f64::from(timeline.between(from, last).accepted);
    let rate = in_steady / (windows * window);
    let total = f64::from(timeline.totals().accepted);
    Ok(Estimate {
        rate,
        burst: (total - rate * (last - first)).max(0.0),
        steady: (from, last),
        windows: windows as u32,
        offered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Algorithm;
    use crate::load::simulate::Lcg;

    /// The timeline of a constant load against a GCRA limiter, without jitter.
    fn simulate(limit: u32, burst: u32, offered: f64, seconds: f64) -> Timeline {
        let factor = offered / f64::from(limit);
        super::super::simulate::simulate(
            Algorithm::Gcra,
            burst,
            limit,
            factor,
            seconds,
            0.0,
            &mut Lcg(1),
        )
    }

    #[test]
    fn recovers_rate_and_burst_of_a_token_bucket() {
        for (limit, burst) in [(50, 50), (100, 100), (200, 10), (20, 1)] {
            let e = estimate(&simulate(limit, burst, 2.0 * limit as f64, 4.0), 1.0).unwrap();
            let error = (e.rate - limit as f64).abs() / limit as f64;
            assert!(error <= 0.03, "limit {limit}: estimated {}", e.rate);
            assert!(
                (e.burst - burst as f64).abs() <= 2.0 + 0.03 * limit as f64,
                "burst {burst}: estimated {}",
                e.burst
            );
            assert!((e.offered - 2.0 * limit as f64).abs() < 0.01 * limit as f64);
        }
    }

    #[test]
    fn says_why_when_it_cannot_estimate() {
        let unlimited = simulate(1000, 1000, 100.0, 2.0);
        assert!(estimate(&unlimited, 1.0)
            .unwrap_err()
            .to_string()
            .contains("no request was rejected"));
        let short = simulate(100, 100, 150.0, 2.5);
        assert!(estimate(&short, 1.0)
            .unwrap_err()
            .to_string()
            .contains("less than one whole"));
    }
}
