//! Usage errors of a run's load options — the load phase's, the workloads' and the shards'
//! — found before anything is sent.

use std::time::SystemTime;

use super::cli::{Phase, RunArgs};
use crate::error::Error;
use crate::profile::Profile;

/// Usage errors of the load options, before anything is sent.
pub(super) fn check_load_plan(args: &RunArgs, profile: &Profile) -> Result<(), Error> {
    if !(args.duration_scale > 0.0 && args.duration_scale <= 20.0) {
        return Err(Error::Usage("--duration-scale must be in (0, 20]".into()));
    }
    if args.max_rps.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return Err(Error::Usage("--max-rps must be positive".into()));
    }
    if !args.workloads.is_empty() && matches!(args.only, Some(Phase::Contract | Phase::Load)) {
        return Err(Error::Usage(
            "--workload selects performance workloads, which this --only leaves out: use --only \
             perf, or no --only"
                .into(),
        ));
    }
    if args.only == Some(Phase::Perf) && profile.workloads.is_empty() {
        return Err(Error::Usage(format!(
            "--only perf: {} has no `workloads:` to run (README: Performance workloads)",
            profile.file
        )));
    }
    for name in &args.workloads {
        if !profile.workloads.iter().any(|w| &w.name == name) {
            let names: Vec<&str> = profile.workloads.iter().map(|w| w.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "no workload `{name}` in {} (workloads: {})",
                profile.file,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
    }
    for class in &args.classes {
        let known = profile.rate_limits.iter().any(|c| &c.name == class) || class == "concurrency";
        if !known {
            let names: Vec<&str> = profile
                .rate_limits
                .iter()
                .map(|c| c.name.as_str())
                .chain(["concurrency"])
                .collect();
            return Err(Error::Usage(format!(
                "no rate class `{class}` in {} (classes: {})",
                profile.file,
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Usage errors of `--shard` and `--start-at`: a sharded run is one performance workload
/// against one deployment, every shard starting its schedule at one instant ahead.
pub(super) fn check_shard(args: &RunArgs, profile: &Profile) -> Result<(), Error> {
    if args.measure_only && args.only != Some(Phase::Perf) {
        return Err(Error::Usage(
            "--measure-only measures performance workloads for `report merge`: add --only perf"
                .into(),
        ));
    }
    let (shard, sharded) = (args.shard, !args.shard.is_whole());
    if !sharded && args.start_at.is_none() {
        return Ok(());
    }
    // Named as the user gave it: a pod's environment sets these, not its arguments.
    let from_env =
        |var: &str| std::env::var_os(var).map_or(String::new(), |_| format!(" ({var} is set)"));
    let what = if sharded {
        format!("--shard {shard}{}", from_env("TOLLGATE_SHARD"))
    } else {
        format!("--start-at{}", from_env("TOLLGATE_START_AT"))
    };
    if args.only != Some(Phase::Perf) {
        return Err(Error::Usage(format!(
            "{what} times a performance workload's schedule: add --only perf (the contract and \
             rate-limit phases follow the target's answers, in one process)"
        )));
    }
    if sharded && args.start_at.is_none() {
        return Err(Error::Usage(format!(
            "{what} needs --start-at: every shard must start the schedule at the same instant"
        )));
    }
    if sharded && args.target.is_none() {
        return Err(Error::Usage(format!(
            "{what} needs --target: the shards load one deployment, not an embedded server each"
        )));
    }
    let selected = if args.workloads.is_empty() {
        profile.workloads.len()
    } else {
        let mut named: Vec<&String> = args.workloads.iter().collect();
        named.sort();
        named.dedup();
        named.len()
    };
    if selected != 1 {
        let names: Vec<&str> = profile.workloads.iter().map(|w| w.name.as_str()).collect();
        return Err(Error::Usage(format!(
            "{what} runs one workload, which every shard starts at --start-at: name it with \
             --workload (workloads: {})",
            names.join(", ")
        )));
    }
    if let Some(start) = args.start_at {
        let now = SystemTime::now();
        crate::load::shard::check_start(start, now).map_err(Error::Usage)?;
        let lead = start.duration_since(now).unwrap_or_default();
        if let Some(deadline) = args.deadline.filter(|&d| d <= lead) {
            return Err(Error::Usage(format!(
                "--deadline {} ends the run before --start-at, {:.0} s from now",
                humantime::format_duration(deadline),
                lead.as_secs_f64()
            )));
        }
    }
    Ok(())
}
