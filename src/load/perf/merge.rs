//! `tollgate report merge`: the measurements of a sharded run's shards (`measured.rs`)
//! added up — timelines millisecond by millisecond from the one start instant, histograms
//! bucket by bucket — and judged by the same function as one process (`report.rs`). A
//! shard that never reported is named and nothing is judged without it; a shard that
//! started late is named with how late. Files are added one at a time (`Merger`): a merge
//! holds one file and the sums, whatever the number of shards.

use std::time::Duration;

use super::measured::{ShardMeasurements, WorkloadMeasured, FORMAT};
use super::plan;
use super::report::{self, JudgedStep};
use super::LATE_START_TOLERANCE;
use crate::event::{CheckResult, PhaseStats, Verdict};
use crate::load::clock::{self, ClockBound, ClockOffset};
use crate::load::measurements::Measurements;
use crate::load::shard::MAX_SHARDS;
use crate::load::tenant_vars::CaptureTally;
use crate::profile::Profile;
use crate::workload::Workload;

/// One shard's file and where it was read from.
#[derive(Clone)]
pub struct Source {
    pub path: String,
    pub file: ShardMeasurements,
}

/// What the shards add up to.
#[derive(Debug, Default)]
pub struct Merged {
    pub target: String,
    pub shards: u32,
    pub start_at: Option<String>,
    /// The longest workload schedule.
    pub duration: Duration,
    pub phases: Vec<PhaseStats>,
    /// Each workload's steps, with the workload they belong to.
    pub steps: Vec<(Workload, JudgedStep)>,
    /// The shards that never reported, in words (`report merge` then exits 3).
    pub missing: Option<String>,
}

/// Adds up `sources` (one file per shard) and judges each workload with `profile`'s
/// thresholds (`Merger`, all at once).
pub fn merge(profile: &Profile, sources: Vec<Source>) -> Result<Merged, String> {
    let mut merger = Merger::new(profile);
    for source in sources {
        merger.add(source)?;
    }
    merger.finish()
}

/// What a shard's file said of one workload, kept once its measurements are added.
struct ShardOfWorkload {
    index: u32,
    late_by_ms: Option<f64>,
    clock: ClockOffset,
}

/// One workload's sums so far.
struct WorkloadSum {
    workload: Workload,
    planned: plan::WorkloadPlan,
    words: String,
    parts: Vec<Option<Measurements>>,
    /// Each part's capture misses, all shards together.
    captures: Vec<CaptureTally>,
    shards: Vec<ShardOfWorkload>,
}

/// The run every file must belong to: the first file's.
struct Run {
    path: String,
    count: u32,
    start_at: Option<String>,
    target: String,
    duration_scale: f64,
    max_rps: Option<f64>,
}

/// Adds shards' files one at a time, so a merge holds one file and the sums, never every
/// file. Files that cannot belong to one run, or that ran another plan than `profile`
/// makes, are an error naming them.
pub struct Merger<'p> {
    profile: &'p Profile,
    run: Option<Run>,
    /// By shard index: the file that reported it, and the workloads it measured.
    seen: Vec<Option<(String, Vec<String>)>>,
    workloads: Vec<WorkloadSum>,
}

impl<'p> Merger<'p> {
    pub fn new(profile: &'p Profile) -> Self {
        Merger {
            profile,
            run: None,
            seen: Vec::new(),
            workloads: Vec::new(),
        }
    }

    pub fn add(&mut self, source: Source) -> Result<(), String> {
        let Source { path, file } = source;
        check_file(&path, &file)?;
        let run = self.run.get_or_insert_with(|| Run {
            path: path.clone(),
            count: file.shard.count,
            start_at: file.start_at.clone(),
            target: file.target.clone(),
            duration_scale: file.duration_scale,
            max_rps: file.max_rps,
        });
        check_belongs(&path, &file, run)?;
        let (count, scale, cap) = (run.count, run.duration_scale, run.max_rps);
        self.seen.resize_with(count as usize, || None);
        let index = file.shard.index;
        if let Some((earlier, _)) = &self.seen[index as usize] {
            return Err(format!(
                "shard {index} of {count} was measured twice: {earlier} and {path} (point at one \
                 run's folders)"
            ));
        }
        let names = file.workloads.iter().map(|w| w.workload.clone()).collect();
        self.seen[index as usize] = Some((path.clone(), names));
        let profile = self.profile;
        for measured in file.workloads {
            let sum = self.sum_of(&measured.workload, scale, cap, count)?;
            sum.add(&path, index, measured, profile)?;
        }
        Ok(())
    }

    /// The sums of the workload `name`, started on its first file.
    fn sum_of(
        &mut self,
        name: &str,
        scale: f64,
        cap: Option<f64>,
        count: u32,
    ) -> Result<&mut WorkloadSum, String> {
        if let Some(at) = self.workloads.iter().position(|w| w.workload.name == name) {
            return Ok(&mut self.workloads[at]);
        }
        let profile = self.profile;
        let workload = profile
            .workloads
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| {
                format!(
                    "the shards measured workload `{name}`, which {} does not have",
                    profile.file
                )
            })?;
        // The plan comes from the profile the merge judges with, never from the files:
        // each file must have run exactly that plan.
        let planned = plan::plan(workload, &profile.rate_limits, scale, cap)
            .ok_or_else(|| format!("{} names a rate class it lacks", profile.file))?;
        self.workloads.push(WorkloadSum {
            workload: workload.clone(),
            words: planned.words(count),
            parts: vec![None; planned.parts.len()],
            captures: vec![CaptureTally::default(); planned.parts.len()],
            planned,
            shards: Vec::new(),
        });
        Ok(self.workloads.last_mut().expect("just pushed"))
    }

    /// Judges each workload's sums; the shards that never reported are named.
    pub fn finish(self) -> Result<Merged, String> {
        let run = self.run.ok_or("no measurements.json was found")?;
        let read = self.seen.iter().flatten().count();
        let mut merged = Merged {
            target: run.target,
            shards: run.count,
            start_at: run.start_at,
            ..Merged::default()
        };
        for sum in self.workloads {
            let missing = missing(&sum.workload.name, &self.seen, read);
            let measurements: Vec<Measurements> = sum.parts.into_iter().flatten().collect();
            merged.duration = merged
                .duration
                .max(measurements.first().map_or(Duration::ZERO, |m| m.duration));
            let judged = report::report(&sum.workload, &sum.planned.parts, measurements, 1.0);
            let captured = report::capture_steps(&sum.workload, &sum.planned.parts, &sum.captures);
            merged.phases.extend(judged.phases);
            let step = shards_step(&sum.workload, &sum.shards, &merged, missing.as_deref());
            merged.steps.push((sum.workload.clone(), step));
            match missing {
                // Nothing is judged without every shard's requests.
                Some(missing) => {
                    let all = merged
                        .missing
                        .take()
                        .map_or(missing.clone(), |earlier| format!("{earlier}; {missing}"));
                    merged.missing = Some(all);
                }
                None => merged.steps.extend(
                    judged
                        .steps
                        .into_iter()
                        .chain(captured)
                        .map(|s| (sum.workload.clone(), s)),
                ),
            }
        }
        Ok(merged)
    }
}

impl WorkloadSum {
    /// Adds shard `index`'s measurements of this workload (read from `path`).
    fn add(
        &mut self,
        path: &str,
        index: u32,
        measured: WorkloadMeasured,
        profile: &Profile,
    ) -> Result<(), String> {
        let names = measured.parts.iter().map(|p| p.name.as_str());
        if measured.plan != self.words
            || !names.eq(self.planned.parts.iter().map(|p| p.name.as_str()))
        {
            return Err(format!(
                "{path} ran workload `{}` as\n  {}\nbut {} plans it as\n  {}\n(merge with the \
                 profile, --duration-scale and --max-rps the shards ran)",
                self.workload.name, measured.plan, profile.file, self.words
            ));
        }
        if let ClockOffset::Bounded(b) = measured.clock {
            if !(b.low_ms.is_finite() && b.high_ms.is_finite() && b.low_ms <= b.high_ms) {
                return Err(format!("{path}: an impossible clock bound {b:?}"));
            }
        }
        for ((tally, part), planned) in self
            .captures
            .iter_mut()
            .zip(&measured.parts)
            .zip(&self.planned.parts)
        {
            // A part that captures reports its misses, and only such a part: a file
            // without them has no evidence for the capture check.
            match (&part.captures, planned.captures.is_empty()) {
                (Some(theirs), false) => tally.add(theirs),
                (None, true) => {}
                _ => {
                    return Err(format!(
                        "{path}: `{}` {} capture misses, but {} plans it {} captures",
                        part.name,
                        if part.captures.is_some() {
                            "reports"
                        } else {
                            "lacks"
                        },
                        profile.file,
                        if planned.captures.is_empty() {
                            "without"
                        } else {
                            "with"
                        },
                    ))
                }
            }
        }
        for (sum, part) in self.parts.iter_mut().zip(&measured.parts) {
            let mine = part
                .measurements
                .to_measurements()
                .map_err(|e| format!("{path}: {}: {e}", part.name))?;
            match sum {
                Some(sum) => sum
                    .merge(&mine)
                    .map_err(|e| format!("{path}: {}: {e}", part.name))?,
                None => *sum = Some(mine),
            }
        }
        self.shards.push(ShardOfWorkload {
            index,
            late_by_ms: measured.late_by_ms,
            clock: measured.clock,
        });
        Ok(())
    }
}

/// Which shards did not measure `workload`, in words: those with no file among the
/// `read`, and those whose file lacks it (it could not run there: their reports say why).
fn missing(workload: &str, seen: &[Option<(String, Vec<String>)>], read: usize) -> Option<String> {
    let shards = seen.len();
    let list = |indexes: Vec<usize>| {
        let words: Vec<String> = indexes.iter().map(usize::to_string).collect();
        words.join(", ")
    };
    let mut said = Vec::new();
    let absent: Vec<usize> = (0..shards).filter(|&i| seen[i].is_none()).collect();
    if !absent.is_empty() {
        said.push(format!(
            "shard(s) {} of {shards} never reported: no measurements.json of theirs among the \
             {read} read",
            list(absent)
        ));
    }
    let without: Vec<usize> = (0..shards)
        .filter(|&i| {
            seen[i]
                .as_ref()
                .is_some_and(|(_, names)| !names.iter().any(|n| n == workload))
        })
        .collect();
    if !without.is_empty() {
        said.push(format!(
            "shard(s) {} of {shards} measured no `{workload}` (their reports say why)",
            list(without)
        ));
    }
    (!said.is_empty()).then(|| said.join("; "))
}

/// The refusals of a file that cannot be any shard.
fn check_file(path: &str, file: &ShardMeasurements) -> Result<(), String> {
    if file.format != FORMAT {
        return Err(format!(
            "{path} is `{}`, not `{FORMAT}` (written by tollgate {})",
            file.format, file.tool_version
        ));
    }
    let shard = file.shard;
    if shard.count == 0 || shard.count > MAX_SHARDS || shard.index >= shard.count {
        return Err(format!(
            "{path} claims to be shard {} of {}",
            shard.index, shard.count
        ));
    }
    Ok(())
}

/// The refusals of a file that cannot be a shard of `run` (the first file's).
fn check_belongs(path: &str, file: &ShardMeasurements, run: &Run) -> Result<(), String> {
    let differs = |what: &str, mine: String, theirs: String| {
        Err(format!(
            "{path} and {} are not shards of one run: {what} {mine} and {theirs}",
            run.path
        ))
    };
    if file.shard.count != run.count {
        return differs(
            "shard counts",
            file.shard.count.to_string(),
            run.count.to_string(),
        );
    }
    if file.start_at != run.start_at {
        return differs(
            "start instants",
            format!("{:?}", file.start_at),
            format!("{:?}", run.start_at),
        );
    }
    if file.target != run.target {
        return differs("targets", file.target.clone(), run.target.clone());
    }
    Ok(())
}

/// How far apart the shards' clocks may be unremarked: a shard's slots go out that far off
/// the others', as far as a late start may (`LATE_START_TOLERANCE`).
const CLOCK_TOLERANCE_MS: f64 = 20.0;

/// `perf.<workload>.clocks`: the shards' clocks agreed within `CLOCK_TOLERANCE_MS`,
/// compared through each one's offset to the target's `Date` headers (`clock.rs`).
fn clocks_check(workload: &Workload, shards: &[ShardOfWorkload]) -> CheckResult {
    let id = format!("perf.{}.clocks", workload.name);
    if let Some(s) = shards.iter().find(|s| s.clock == ClockOffset::Inconsistent) {
        return CheckResult::new(
            id,
            Verdict::Skipped,
            format!(
                "the target's Date headers to shard {} fit no single clock offset (servers whose \
                 clocks disagree behind one address, or a Date cached by a proxy): the shards' \
                 clocks were not compared",
                s.index
            ),
        );
    }
    let bounds: Vec<(u32, ClockBound)> = shards
        .iter()
        .filter_map(|s| s.clock.bound().map(|b| (s.index, b)))
        .collect();
    let Some((gap, uncertainty, ahead, behind)) = clock::spread(&bounds) else {
        return CheckResult::new(
            id,
            Verdict::Skipped,
            "the target's answers carried no Date header: the shards' clocks were not compared",
        );
    };
    let expected = format!(
        "the shards' clocks within {CLOCK_TOLERANCE_MS:.0} ms of each other (each measured \
         against the target's Date headers)"
    );
    let actual =
        format!("shard {ahead}'s clock {gap:.1} ms (± {uncertainty:.1}) ahead of shard {behind}'s");
    if gap - uncertainty > CLOCK_TOLERANCE_MS {
        let mut check = CheckResult::new(
            id,
            Verdict::Warning,
            format!(
                "{actual}: its requests went out that far off the others' slots; keep the \
                 shards' clocks synchronised (NTP)"
            ),
        );
        check.expected = Some(expected);
        check.actual = Some(actual);
        check
    } else if gap + uncertainty <= CLOCK_TOLERANCE_MS {
        CheckResult {
            expected: Some(expected),
            actual: Some(actual),
            ..CheckResult::passed(id)
        }
    } else {
        CheckResult::new(
            id,
            Verdict::Skipped,
            format!("{actual}: too few answers near a second's turn to tell"),
        )
    }
}

/// `perf.<workload>.shards`: every shard reported (failed, naming the missing ones,
/// otherwise); and `perf.<workload>.start` for the shards that began late.
fn shards_step(
    workload: &Workload,
    shards: &[ShardOfWorkload],
    merged: &Merged,
    missing: Option<&str>,
) -> JudgedStep {
    let count = merged.shards;
    let id = format!("perf.{}.shards", workload.name);
    let expected = format!("all {count} shards measured from one instant");
    let mut checks = vec![match missing {
        Some(missing) => CheckResult::failed(id, expected, missing.to_string()),
        None => CheckResult {
            expected: Some(expected),
            actual: Some(format!("{} of {count} shards", shards.len())),
            ..CheckResult::passed(id)
        },
    }];
    let tolerance = LATE_START_TOLERANCE.as_secs_f64() * 1000.0;
    let late: Vec<String> = shards
        .iter()
        .filter_map(|s| {
            s.late_by_ms
                .filter(|&ms| ms > tolerance)
                .map(|ms| (s.index, ms))
        })
        .map(|(index, ms)| format!("shard {index} began {ms:.0} ms late"))
        .collect();
    if shards.len() > 1 {
        checks.push(clocks_check(workload, shards));
    }
    if !late.is_empty() {
        checks.push(CheckResult::new(
            format!("perf.{}.start", workload.name),
            Verdict::Warning,
            format!(
                "{}: the slots due meanwhile went out at once; give the shards more lead",
                late.join(", ")
            ),
        ));
    }
    JudgedStep {
        step: format!(
            "{} shards from {}",
            merged.shards,
            merged.start_at.as_deref().unwrap_or("their start")
        ),
        request: String::new(),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::load::latency_series::LatencySeries;
    use crate::load::perf::measured::{PartMeasured, ShardIndex};
    use crate::load::timeline::Timeline;

    fn profile() -> Profile {
        crate::profile::load(std::path::Path::new("tollgate.yaml"))
            .unwrap()
            .profile
            .unwrap()
    }

    /// Shard `index` of `count`: `sends` requests of `read`, one per millisecond from its
    /// index, each answered 2xx in 1–2 ms.
    fn shard(index: u32, count: u32, sends: u64, late_by_ms: Option<f64>, plan: &str) -> Source {
        let histogram = || hdrhistogram::Histogram::new_with_bounds(1, 120_000_000, 3).unwrap();
        let mut m = Measurements {
            started_wall: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            duration: Duration::from_secs(1),
            scheduled: sends,
            finished: sends,
            timeline: Timeline::default(),
            corrected: histogram(),
            service: histogram(),
            lag: histogram(),
            per_second: LatencySeries::default(),
            per_slice: None,
        };
        for k in 0..sends {
            let ms = k * u64::from(count) + u64::from(index);
            m.timeline.record(ms, 200);
            m.corrected.record(1_000 + ms).unwrap();
            m.service.record(1_000).unwrap();
            m.lag.record(10).unwrap();
            m.per_second.record(ms, 1_000 + ms);
        }
        // Every request name the profile plans, each with these measurements; "p" is the
        // profile's own plan in words.
        let profile = profile();
        let workload = &profile.workloads[0];
        let planned = plan::plan(workload, &profile.rate_limits, 1.0, None).unwrap();
        let plan = match plan {
            "p" => planned.words(count),
            other => other.to_string(),
        };
        let parts = planned
            .parts
            .iter()
            .map(|p| PartMeasured::new(p, &m, (!p.captures.is_empty()).then(Default::default)))
            .collect();
        Source {
            path: format!("shard-{index}/measurements.json"),
            file: ShardMeasurements {
                format: FORMAT.into(),
                tool_version: "0.1.0".into(),
                run_id: format!("run-{index}"),
                target: "http://127.0.0.1:8080".into(),
                shard: ShardIndex { index, count },
                start_at: Some("2027-01-15T08:00:00.000Z".into()),
                duration_scale: 1.0,
                max_rps: None,
                workloads: vec![WorkloadMeasured {
                    workload: "tenants".into(),
                    plan,
                    late_by_ms,
                    clock: ClockOffset::Bounded(ClockBound {
                        low_ms: 4.0,
                        high_ms: 6.0,
                    }),
                    parts,
                }],
            },
        }
    }

    fn ids(merged: &Merged) -> Vec<(String, Verdict)> {
        merged
            .steps
            .iter()
            .flat_map(|(_, s)| &s.checks)
            .map(|c| (c.id.clone(), c.verdict))
            .collect()
    }

    #[test]
    fn shards_add_up_and_a_late_one_is_named() {
        let sources = [
            shard(0, 2, 300, None, "p"),
            shard(1, 2, 300, Some(340.0), "p"),
        ];
        let merged = merge(&profile(), sources.to_vec()).unwrap();
        assert_eq!(
            merged.phases.len(),
            6,
            "every request name and the neighbour"
        );
        assert_eq!(merged.phases[0].requests, 600);
        assert_eq!(merged.phases[0].accepted, 600);
        let ids = ids(&merged);
        assert!(
            ids.contains(&("perf.tenants.shards".into(), Verdict::Passed)),
            "{ids:?}"
        );
        assert!(
            ids.contains(&("perf.tenants.start".into(), Verdict::Warning)),
            "{ids:?}"
        );
        assert!(
            ids.iter().any(|(id, _)| id == "perf.tenants.p95"),
            "{ids:?}"
        );
        let start = merged.steps.iter().flat_map(|(_, s)| &s.checks);
        let start = start
            .clone()
            .find(|c| c.id == "perf.tenants.start")
            .unwrap();
        assert!(
            start.message.contains("shard 1 began 340 ms late"),
            "{}",
            start.message
        );
        assert!(merged.missing.is_none());
    }

    #[test]
    fn capture_misses_add_up_over_the_shards_and_fail_the_merge() {
        let mut sources = [shard(0, 2, 300, None, "p"), shard(1, 2, 300, None, "p")];
        let merged = merge(&profile(), sources.to_vec()).unwrap();
        let id = "perf.tenants.upload.capture";
        assert!(ids(&merged).contains(&(id.into(), Verdict::Passed)));
        for (source, missed) in sources.iter_mut().zip([2, 3]) {
            let parts = &mut source.file.workloads[0].parts;
            let upload = parts.iter_mut().find(|p| p.name == "upload").unwrap();
            upload.captures = Some(CaptureTally {
                missed,
                first: Some(format!("`file`: shard {missed}")),
            });
        }
        let merged = merge(&profile(), sources.to_vec()).unwrap();
        let check = merged
            .steps
            .iter()
            .flat_map(|(_, s)| &s.checks)
            .find(|c| c.id == id)
            .unwrap();
        assert_eq!(check.verdict, Verdict::Failed);
        assert!(
            check.message.starts_with("5 2xx answers lacked a capture")
                && check.message.ends_with("the first: `file`: shard 2"),
            "{}",
            check.message
        );
        // A file without the misses of a part that captures has no evidence: refused.
        let parts = &mut sources[1].file.workloads[0].parts;
        parts
            .iter_mut()
            .find(|p| p.name == "upload")
            .unwrap()
            .captures = None;
        let Err(why) = merge(&profile(), sources.to_vec()) else {
            panic!("merged a file without capture misses");
        };
        assert_eq!(
            why,
            "shard-1/measurements.json: `upload` lacks capture misses, but tollgate.yaml plans \
             it with captures"
        );
    }

    #[test]
    fn a_missing_shard_is_named_and_nothing_is_judged_without_it() {
        let sources = [shard(0, 3, 100, None, "p"), shard(2, 3, 100, None, "p")];
        let merged = merge(&profile(), sources.to_vec()).unwrap();
        let missing = merged.missing.as_deref().unwrap();
        assert!(
            missing.starts_with("shard(s) 1 of 3 never reported"),
            "{missing}"
        );
        assert_eq!(
            ids(&merged),
            [
                ("perf.tenants.shards".into(), Verdict::Failed),
                ("perf.tenants.clocks".into(), Verdict::Passed)
            ],
            "no threshold is judged"
        );
    }

    #[test]
    fn files_of_different_runs_are_refused_with_both_paths() {
        let refused = |sources: &[Source]| merge(&profile(), sources.to_vec()).unwrap_err();
        let twice = refused(&[shard(1, 2, 10, None, "p"), shard(1, 2, 10, None, "p")]);
        assert!(twice.contains("shard 1 of 2 was measured twice"), "{twice}");
        let plans = refused(&[shard(0, 2, 10, None, "p"), shard(1, 2, 10, None, "q")]);
        assert!(
            plans.contains("shard-1/measurements.json ran workload `tenants` as\n  q\nbut"),
            "{plans}"
        );
        let counts = refused(&[shard(0, 2, 10, None, "p"), shard(1, 3, 10, None, "p")]);
        assert!(
            counts.contains("not shards of one run: shard counts 3 and 2"),
            "{counts}"
        );
        let mut later = shard(1, 2, 10, None, "p");
        later.file.start_at = Some("2027-01-15T08:00:05.000Z".into());
        let starts = refused(&[shard(0, 2, 10, None, "p"), later]);
        assert!(starts.contains("start instants"), "{starts}");
        let mut forged = shard(0, 2, 10, None, "p");
        forged.file.shard.index = 7;
        assert!(refused(&[forged]).contains("claims to be shard 7 of 2"));
    }

    #[test]
    fn shards_whose_clocks_disagree_are_named_with_the_offset() {
        let clocked = |index: u32, low_ms: f64, high_ms: f64| {
            let mut source = shard(index, 3, 50, None, "p");
            source.file.workloads[0].clock = ClockOffset::Bounded(ClockBound { low_ms, high_ms });
            source
        };
        let check = |sources: &[Source]| {
            let merged = merge(&profile(), sources.to_vec()).unwrap();
            let steps = merged.steps.into_iter().flat_map(|(_, s)| s.checks);
            steps
                .into_iter()
                .find(|c| c.id == "perf.tenants.clocks")
                .unwrap()
        };
        // Shard 2's clock is 150 ms ahead: the target's is 150 ms behind it.
        let skewed = check(&[
            clocked(0, 3.0, 5.0),
            clocked(1, 0.0, 9.0),
            clocked(2, -147.0, -145.0),
        ]);
        assert_eq!(skewed.verdict, Verdict::Warning);
        assert!(
            skewed
                .message
                .starts_with("shard 2's clock 150.5 ms (± 5.5) ahead of shard 1's"),
            "{}",
            skewed.message
        );
        let vague = check(&[
            clocked(0, 0.0, 10.0),
            clocked(1, -30.0, 30.0),
            clocked(2, 4.0, 6.0),
        ]);
        assert_eq!(vague.verdict, Verdict::Skipped, "{vague:?}");
        let mut dateless = shard(1, 3, 50, None, "p");
        dateless.file.workloads[0].clock = ClockOffset::Unknown;
        let mut unsure = shard(2, 3, 50, None, "p");
        unsure.file.workloads[0].clock = ClockOffset::Inconsistent;
        assert_eq!(
            check(&[clocked(0, 3.0, 5.0), dateless]).verdict,
            Verdict::Skipped
        );
        let torn = check(&[clocked(0, 3.0, 5.0), unsure]);
        assert_eq!(torn.verdict, Verdict::Skipped);
        assert!(
            torn.message.contains("fit no single clock offset"),
            "{}",
            torn.message
        );
    }

    #[test]
    fn a_shard_whose_file_lacks_the_workload_is_missing_too() {
        let mut empty = shard(1, 2, 10, None, "p");
        empty.file.workloads.clear();
        let merged = merge(&profile(), vec![shard(0, 2, 10, None, "p"), empty]).unwrap();
        let missing = merged.missing.unwrap();
        assert_eq!(
            missing,
            "shard(s) 1 of 2 measured no `tenants` (their reports say why)"
        );
    }
}
