//! Comparing two `report.json` files: checks that flipped, and estimate and latency deltas,
//! judged against the profile's regression thresholds.
//!
//! Works on the JSON itself, so a report written by an older tollgate still compares.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// When a change counts as a regression (from the profile's `baseline:` block).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Largest tolerated relative increase of a phase's p99 latency.
    pub max_p99_increase: f64,
    /// And of at least this many milliseconds (tiny latencies jitter by large fractions).
    pub min_p99_increase_ms: f64,
    /// Largest tolerated relative change of an estimated rate.
    pub max_rate_change: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_p99_increase: 0.5,
            min_p99_increase_ms: 5.0,
            max_rate_change: 0.05,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diff {
    pub flipped: Vec<Flip>,
    pub rates: Vec<Delta>,
    /// p99 latencies in ms.
    pub latencies: Vec<Delta>,
    pub regressions: Vec<String>,
    /// Why the two reports may not be comparable (different profiles or targets).
    pub warnings: Vec<String>,
}

/// One check whose verdict changed (`absent` on the side that does not have it).
#[derive(Debug, Clone, PartialEq)]
pub struct Flip {
    /// `scenario › step · check id`
    pub check: String,
    pub was: String,
    pub now: String,
}

/// One measured value of one load phase (`class · phase`), before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    pub phase: String,
    pub old: f64,
    pub new: f64,
}

/// Whether a check that the new report no longer has counts as a regression. A run that
/// stopped checking something has lost coverage, which a gate must not call "no
/// regression"; `--allow-missing` is for a deliberate change of selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missing {
    #[default]
    Regression,
    Allowed,
}

fn checks(report: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for step in report["steps"].as_array().into_iter().flatten() {
        for check in step["checks"].as_array().into_iter().flatten() {
            let key = format!(
                "{} › {} · {}",
                step["scenario"].as_str().unwrap_or(""),
                step["step"].as_str().unwrap_or(""),
                check["id"].as_str().unwrap_or("")
            );
            // Several checks of one id in a step (e.g. expect.json) fold to the worst.
            let verdict = check["verdict"].as_str().unwrap_or("").to_string();
            let entry = out.entry(key).or_insert_with(|| verdict.clone());
            if verdict == "failed" {
                *entry = verdict;
            }
        }
    }
    out
}

fn phases(report: &Value) -> BTreeMap<String, (Option<f64>, f64)> {
    report["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let key = format!(
                "{} · {}",
                p["class"].as_str().unwrap_or(""),
                p["phase"].as_str().unwrap_or("")
            );
            (
                key,
                (
                    p["estimated_rate"].as_f64(),
                    p["latency"]["p99_ms"].as_f64().unwrap_or(0.0),
                ),
            )
        })
        .collect()
}

pub fn diff(old: &Value, new: &Value, thresholds: Thresholds, missing: Missing) -> Diff {
    let mut d = Diff {
        warnings: comparability(old, new),
        ..Diff::default()
    };
    let (before, after) = (checks(old), checks(new));
    for (key, verdict) in &after {
        let was = before.get(key).cloned().unwrap_or_else(|| "absent".into());
        if &was != verdict {
            if verdict == "failed" {
                d.regressions.push(format!("{key}: {was} → failed"));
            }
            d.flipped.push(Flip {
                check: key.clone(),
                was,
                now: verdict.clone(),
            });
        }
    }
    let mut disappeared = 0;
    for (key, was) in &before {
        if !after.contains_key(key) {
            // A skipped check that is gone checked nothing before either.
            disappeared += usize::from(was != "skipped");
            d.flipped.push(Flip {
                check: key.clone(),
                was: was.clone(),
                now: "absent".into(),
            });
        }
    }
    if disappeared > 0 && missing == Missing::Regression {
        d.regressions.push(format!(
            "{disappeared} check(s) of the old report are absent from the new one (pass --allow-missing if the selection changed on purpose)"
        ));
    }
    let (before, after) = (phases(old), phases(new));
    for (key, (rate, p99)) in &after {
        let Some((old_rate, old_p99)) = before.get(key) else {
            continue;
        };
        if let (Some(old_rate), Some(rate)) = (old_rate, rate) {
            d.rates.push(Delta {
                phase: key.clone(),
                old: *old_rate,
                new: *rate,
            });
            let change = (rate - old_rate).abs() / old_rate.max(f64::EPSILON);
            if change > thresholds.max_rate_change {
                d.regressions.push(format!(
                    "{key}: estimated rate {old_rate:.1}/s → {rate:.1}/s ({:+.1}%, more than ±{:.0}%)",
                    100.0 * (rate - old_rate) / old_rate,
                    100.0 * thresholds.max_rate_change
                ));
            }
        }
        d.latencies.push(Delta {
            phase: key.clone(),
            old: *old_p99,
            new: *p99,
        });
        let grew = p99 - old_p99;
        if grew > thresholds.min_p99_increase_ms && grew > old_p99 * thresholds.max_p99_increase {
            d.regressions.push(format!(
                "{key}: p99 {old_p99:.1} ms → {p99:.1} ms (more than +{:.0}%)",
                100.0 * thresholds.max_p99_increase
            ));
        }
    }
    d
}

/// Two reports of different profiles or targets compare different things: say so.
fn comparability(old: &Value, new: &Value) -> Vec<String> {
    ["profile", "target"]
        .iter()
        .filter_map(|field| {
            let (was, now) = (old[field].as_str()?, new[field].as_str()?);
            (was != now).then(|| {
                format!("the reports come from different {field}s: `{was}` and `{now}`; their checks may not compare")
            })
        })
        .collect()
}

pub fn render(d: &Diff) -> String {
    let mut out = String::new();
    for warning in &d.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    if d.flipped.is_empty() {
        out.push_str("checks: nothing flipped\n");
    } else {
        let _ = writeln!(out, "checks that changed ({}):", d.flipped.len());
        for Flip { check, was, now } in &d.flipped {
            let _ = writeln!(out, "  {was:>8} → {now:<8} {check}");
        }
    }
    for Delta { phase, old, new } in &d.rates {
        let _ = writeln!(
            out,
            "estimate  {phase}: {old:.1}/s → {new:.1}/s ({:+.1}%)",
            100.0 * (new - old) / old.max(f64::EPSILON)
        );
    }
    for Delta { phase, old, new } in &d.latencies {
        let _ = writeln!(out, "p99       {phase}: {old:.1} ms → {new:.1} ms");
    }
    if d.regressions.is_empty() {
        out.push_str("no regression beyond the thresholds\n");
    } else {
        let _ = writeln!(out, "REGRESSIONS ({}):", d.regressions.len());
        for r in &d.regressions {
            let _ = writeln!(out, "  {r}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(verdict: &str, rate: f64, p99: f64) -> Value {
        json!({
            "steps": [{ "scenario": "users", "step": "create", "checks": [{ "id": "expect.status", "verdict": verdict }] }],
            "phases": [{ "class": "read", "phase": "over", "estimated_rate": rate, "latency": { "p99_ms": p99 } }]
        })
    }

    #[test]
    fn a_flipped_check_and_large_deltas_are_regressions() {
        let d = diff(
            &report("passed", 100.0, 4.0),
            &report("failed", 120.0, 40.0),
            Thresholds::default(),
            Missing::Regression,
        );
        assert_eq!(
            d.flipped,
            vec![Flip {
                check: "users › create · expect.status".into(),
                was: "passed".into(),
                now: "failed".into()
            }]
        );
        assert_eq!(d.regressions.len(), 3, "{:?}", d.regressions);
        assert!(render(&d).contains("REGRESSIONS (3)"));
    }

    #[test]
    fn small_changes_and_improvements_are_not_regressions() {
        let d = diff(
            &report("failed", 100.0, 4.0),
            &report("passed", 102.0, 7.0),
            Thresholds::default(),
            Missing::Regression,
        );
        assert_eq!(d.flipped.len(), 1);
        assert!(d.regressions.is_empty(), "{:?}", d.regressions);
    }

    #[test]
    fn a_check_that_disappeared_is_a_regression_unless_allowed() {
        let old = report("passed", 100.0, 4.0);
        let mut new = old.clone();
        new["steps"] = json!([]);
        let d = diff(&old, &new, Thresholds::default(), Missing::Regression);
        assert_eq!(d.regressions.len(), 1, "{:?}", d.regressions);
        assert!(d.regressions[0].contains("1 check(s) of the old report are absent"));
        let d = diff(&old, &new, Thresholds::default(), Missing::Allowed);
        assert!(d.regressions.is_empty(), "{:?}", d.regressions);
        assert_eq!(d.flipped.len(), 1);
    }

    #[test]
    fn reports_of_different_profiles_or_targets_are_named() {
        let mut old = report("passed", 100.0, 4.0);
        let mut new = old.clone();
        old["profile"] = json!("tollgate.yaml");
        new["profile"] = json!("profiles/x-api-key.yaml");
        old["target"] = json!("http://127.0.0.1:1");
        new["target"] = json!("http://127.0.0.1:1");
        let d = diff(&old, &new, Thresholds::default(), Missing::Regression);
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert!(render(&d).starts_with(
            "warning: the reports come from different profiles: `tollgate.yaml` and `profiles/x-api-key.yaml`"
        ));
    }
}
