//! A published limit ("100 requests per second, burst 100") and its text form (`100/s`,
//! `5000/h`, `20/5s`): the words a profile, a header and a limiter share.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A published limit: `quota` requests per `window`, with a burst capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Name used in `RateLimit-Policy` / `RateLimit` headers (e.g. `read`, `minute`).
    pub name: String,
    pub quota: u32,
    pub window: Duration,
    /// How many requests may arrive at once on an idle bucket. Defaults to one window's
    /// worth (`quota`), which is what a fixed-window reading of "q per w" allows too.
    pub burst: u32,
}

impl Policy {
    pub fn new(name: &str, quota: u32, window: Duration) -> Self {
        Policy {
            name: name.to_string(),
            quota,
            window,
            burst: quota,
        }
    }

    /// The sustained rate, in requests per second.
    pub fn per_second(&self) -> f64 {
        f64::from(self.quota) / self.window.as_secs_f64()
    }

    /// Time between two accepted requests at the sustained rate.
    pub fn emission_interval(&self) -> Duration {
        self.window / self.quota.max(1)
    }

    /// The same policy with its rate multiplied by `factor` (used by faults that publish
    /// one limit and enforce another). The burst scales along when it was the default.
    pub fn scaled(&self, factor: f64) -> Self {
        let quota = ((self.quota as f64) * factor).round().max(1.0) as u32;
        let burst = if self.burst == self.quota {
            quota
        } else {
            self.burst
        };
        Policy {
            name: self.name.clone(),
            quota,
            window: self.window,
            burst,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.quota, window_unit(self.window))?;
        if self.burst != self.quota {
            write!(f, ",burst={}", self.burst)?;
        }
        Ok(())
    }
}

fn window_unit(window: Duration) -> String {
    match window.as_secs() {
        1 => "s".into(),
        60 => "min".into(),
        3600 => "h".into(),
        n => format!("{n}s"),
    }
}

/// Parses `100/s`, `100/min`, `5000/h`, `10/5s`, optionally followed by `,burst=N`.
/// The policy name is left empty for the caller to fill in.
impl FromStr for Policy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (rate, burst) = match text.split_once(',') {
            Some((rate, extra)) => {
                let value = extra.trim().strip_prefix("burst=").ok_or_else(|| {
                    format!("expected `burst=N` after the comma, found `{extra}`")
                })?;
                let burst: u32 = value
                    .parse()
                    .map_err(|_| format!("burst must be a whole number, found `{value}`"))?;
                (rate, Some(burst))
            }
            None => (text, None),
        };
        let (quota, unit) = rate
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("expected a rate like `100/s`, found `{rate}`"))?;
        let quota: u32 = quota
            .parse()
            .map_err(|_| format!("the quota must be a whole number, found `{quota}`"))?;
        if quota == 0 {
            return Err("the quota must be at least 1".into());
        }
        let window = parse_window(unit)?;
        let mut policy = Policy::new("", quota, window);
        if let Some(burst) = burst {
            policy.burst = burst;
        }
        Ok(policy)
    }
}

fn parse_window(unit: &str) -> Result<Duration, String> {
    match unit {
        "s" | "sec" | "second" => Ok(Duration::from_secs(1)),
        "m" | "min" | "minute" => Ok(Duration::from_secs(60)),
        "h" | "hour" => Ok(Duration::from_secs(3600)),
        other => humantime::parse_duration(other)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("unknown window `{other}` (use s, min, h or e.g. 5s)")),
    }
}
