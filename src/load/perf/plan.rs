//! A workload as planned: its stages in requests per second (scaled by
//! `--duration-scale`, capped by `--max-rps`) and the groups of requests the schedule's
//! slots are dealt to. A pure function of the profile and the two options, so one process,
//! every shard and `report merge` plan alike — and the merge can check that the shards ran
//! what the profile it judges with plans.

use std::time::Duration;

use crate::load::per_second;
use crate::profile::RateClass;
use crate::scenario::Capture;
use crate::workload::Workload;
pub use crate::workload::NEIGHBOUR;

/// One group of a workload's requests, as planned: a request name of the mix (all
/// tenants), or the noisy neighbour.
#[derive(Debug, Clone)]
pub struct PartPlan {
    /// The request name in reports and check ids.
    pub name: String,
    /// The class it counts against; a step of its own in place of its probe and cleanup.
    pub class: RateClass,
    /// What each tenant captures from its answers (a step's `capture:`).
    pub captures: Vec<Capture>,
    /// Its request reads values the tenants captured.
    pub reads_captures: bool,
    /// How many keys send it: the tenants' `0..keys`, or the primary key alone.
    pub keys: usize,
    /// The one part sent with the primary key, past its limit.
    pub neighbour: bool,
    /// Requests per second at the workload's 100%.
    pub rate: f64,
}

#[derive(Debug, Clone)]
pub struct WorkloadPlan {
    /// Each stage's length and the rate it ends at, in requests per second.
    pub stages: Vec<(Duration, f64)>,
    pub parts: Vec<PartPlan>,
}

/// Plans `workload` from the profile's rate `classes`, its stages multiplied by
/// `duration_scale` and its peak capped at `max_rps` (every share scaled down alike).
/// `None` when the workload names a class the profile lacks.
pub fn plan(
    workload: &Workload,
    classes: &[RateClass],
    duration_scale: f64,
    max_rps: Option<f64>,
) -> Option<WorkloadPlan> {
    let class = |name: &str| classes.iter().find(|c| c.name == name).cloned();
    // At the workload's peak the neighbour sends `factor` × its limit.
    let neighbour = match &workload.noisy_neighbour {
        Some(noisy) => {
            let class = class(&noisy.class)?;
            let rate = noisy.factor * per_second(&class) / workload.peak().max(f64::MIN_POSITIVE);
            Some((class, rate))
        }
        None => None,
    };
    let nominal = workload.nominal_rate() + neighbour.as_ref().map_or(0.0, |(_, rate)| *rate);
    let peak = nominal * workload.peak();
    let cap = max_rps.map_or(1.0, |cap| (cap / peak).min(1.0));
    let scale = duration_scale.max(0.01);
    let stages = workload
        .stages
        .iter()
        .map(|s| (s.duration.mul_f64(scale), s.to * nominal * cap))
        .collect();
    let mut parts = Vec::new();
    for m in &workload.mix {
        let mut class = class(&m.class)?;
        // A step of its own is sent in place of the class's probe, and deleted its own way.
        if let Some(step) = &m.step {
            class.probe = step.request.clone();
            class.cleanup = step.cleanup.clone();
        }
        parts.push(PartPlan {
            name: m.name.clone(),
            class,
            captures: m
                .step
                .as_ref()
                .map(|s| s.capture.clone())
                .unwrap_or_default(),
            reads_captures: m.step.as_ref().is_some_and(|s| !s.reads.is_empty()),
            keys: usize::from(workload.tenants),
            neighbour: false,
            rate: m.per_tenant * f64::from(workload.tenants) * cap,
        });
    }
    parts.extend(neighbour.map(|(class, rate)| PartPlan {
        name: NEIGHBOUR.into(),
        class,
        captures: Vec::new(),
        reads_captures: false,
        keys: 1,
        neighbour: true,
        rate: rate * cap,
    }));
    Some(WorkloadPlan { stages, parts })
}

impl WorkloadPlan {
    /// The plan in words, for `shards` processes: shards of one run plan the same words,
    /// so `report merge` refuses to add measurements of different plans.
    pub fn words(&self, shards: u32) -> String {
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|(d, rate)| format!("{} ms to {rate:.3}/s", d.as_millis()))
            .collect();
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|p| {
                // A step's request and captures too: a changed step is another plan.
                let step = if p.name != p.class.name && !p.neighbour {
                    format!("; {} {}", p.class.probe.method, p.class.probe.path.source())
                } else {
                    String::new()
                };
                let names: Vec<&str> = p.captures.iter().map(|c| c.name.as_str()).collect();
                let captures = match names.as_slice() {
                    [] => String::new(),
                    names => format!("; captures {}", names.join(", ")),
                };
                format!(
                    "{} ({} × {} keys, {:.3}/s{step}{captures})",
                    p.name, p.class.name, p.keys, p.rate
                )
            })
            .collect();
        format!(
            "stages {}; requests {}; {shards} shard(s)",
            stages.join(", "),
            parts.join(", ")
        )
    }
}
