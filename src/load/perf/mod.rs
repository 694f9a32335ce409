//! Performance workloads (`--only perf`, `--workload NAME`): many tenants, each inside its
//! own published limits, send a mix of rate classes' requests through stages of one
//! drift-free schedule on goose; the report gets each request name's throughput and
//! latency over time, and the checks are the workload's thresholds and the noisy
//! neighbour.
//!
//! Measure → judge → report as in the rest of the load phase: `route.rs` deals the slots to
//! keys, this runner drives and collects, `judge.rs` holds the measurements to the
//! thresholds, `stats` shapes each request name as a report phase.

mod judge;
pub mod measured;
pub mod merge;
pub mod plan;
pub mod report;
mod route;
mod tenants;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::cleanup::Cleanup;
use super::clock::ClockOffset;
use super::driver::{self, Attack, Clients, Lane};
use super::measurements::Measurements;
use super::probes::Prober;
use super::record::Recorder;
use super::schedule::Schedule;
use super::shard::Shard;
use super::tenant_vars::{CaptureLog, CaptureTally};
use crate::contract::Target;
use crate::event::{CheckResult, Event, Progress, StepResult, Verdict, PERF_PHASE};
use crate::profile::RateClass;
use crate::scenario::template::{UniqueSource, Vars};
use crate::scenario::Credential;
use crate::stop::StopSignal;
use crate::workload::Workload;
use measured::{PartMeasured, WorkloadMeasured};
use plan::PartPlan;
use route::{Group, Routing};
use tenants::WarmCreated;

/// Which workloads to run and how.
#[derive(Debug, Clone)]
pub struct PerfPlan {
    /// Workloads to run (empty: all of the profile's).
    pub workloads: Vec<String>,
    /// Multiplies every stage's duration.
    pub duration_scale: f64,
    /// Caps the workload's peak rate (every share scaled down alike).
    pub max_rps: Option<f64>,
    pub run_id: String,
    /// This process's share of every workload's schedule.
    pub shard: Shard,
    /// The instant every shard starts the workload's schedule at.
    pub start_at: Option<SystemTime>,
    /// Measure without judging: the thresholds and the noisy neighbour are left to `report
    /// merge`, and `run` returns what each workload measured.
    pub measure_only: bool,
}

/// The most goose users one workload starts.
const MAX_USERS: usize = 4096;
/// Sequential requests that measure the target's answer time before a workload (after
/// one that warms the connection).
const LATENCY_PROBES: usize = 5;
/// How late a shard may claim its first slot unremarked: the slots due meanwhile go out at
/// once, and 20 ms of a tenant at 80% of 100/s is under two requests, inside any burst.
pub(super) const LATE_START_TOLERANCE: Duration = Duration::from_millis(20);
/// The answer time assumed when nothing could be measured.
const UNMEASURED_LATENCY: Duration = Duration::from_millis(100);

/// Goose users for `peak` requests per second at answers `latency` apart from their
/// requests: each user holds one in flight, so `rate × latency` are busy at once (Little's
/// law); three times the measured latency and 50 ms on top absorb its growth under load.
/// Not many more: on one shared client, idle users stalled the schedule for tenths of a
/// second at a time (measured at 5,000/s on two cores, seven runs each: 506 users lost over
/// 15% of a second in four runs, 256 users over 1% in three); each user now has a client of
/// its own (`driver::Clients::PerUser`), and each costs 4.5 ms to build.
pub fn users_for(peak: f64, latency: Duration) -> usize {
    let busy = peak * (3.0 * latency.as_secs_f64() + 0.05);
    (busy.ceil() as usize + 4).clamp(4, MAX_USERS)
}

/// The middle of `latencies` (the upper one of an even count).
fn median(mut latencies: Vec<Duration>) -> Option<Duration> {
    latencies.sort_unstable();
    latencies.get(latencies.len() / 2).copied()
}

/// Runs the plan's workloads; with `measure_only`, returns what each one measured.
pub async fn run(
    target: Arc<Target>,
    plan: PerfPlan,
    events: mpsc::UnboundedSender<Event>,
    stop: StopSignal,
) -> Vec<WorkloadMeasured> {
    let runner = PerfRunner {
        prober: Arc::new(Prober::new(target.clone())),
        vars: Vars::new(UniqueSource::new(&format!("{}-perf", plan.run_id)))
            .with_redactor(target.redactor()),
        target,
        plan,
        events,
        stop,
    };
    let workloads: Vec<Workload> = runner
        .target
        .profile()
        .workloads
        .iter()
        .filter(|w| runner.plan.workloads.is_empty() || runner.plan.workloads.contains(&w.name))
        .cloned()
        .collect();
    let mut measured = Vec::new();
    for workload in &workloads {
        if runner.stop.is_stopped() {
            break;
        }
        measured.extend(runner.workload(workload).await);
    }
    measured
}

struct PerfRunner {
    target: Arc<Target>,
    plan: PerfPlan,
    events: mpsc::UnboundedSender<Event>,
    stop: StopSignal,
    prober: Arc<Prober>,
    vars: Vars,
}

/// One group of a workload's requests as planned, the keys that send it and what it
/// measured.
struct Part {
    plan: PartPlan,
    keys: Vec<Credential>,
    recorder: Arc<Recorder>,
    /// What its answers capture into the tenants' stores, if anything.
    captures: Option<Arc<CaptureLog>>,
}

impl PerfRunner {
    async fn workload(&self, workload: &Workload) -> Option<WorkloadMeasured> {
        if let Some(reason) = self.unrunnable(workload) {
            self.not_run(workload, Verdict::Skipped, reason);
            return None;
        }
        let (schedule, parts, plan) = self.plan_parts(workload);
        let plans: Vec<PartPlan> = parts.iter().map(|p| p.plan.clone()).collect();
        let stores = tenants::stores(&plans, workload.tenants, &self.vars);
        let (warmed, warm_up) = tenants::warm_up(&self.prober, &plans, &stores, &self.stop).await;
        if let Err(why) = warm_up {
            self.not_run(workload, Verdict::Failed, why);
            self.clean_up(workload, &parts, warmed).await;
            return None;
        }
        let mut lanes = Vec::new();
        let groups: Vec<Group> = parts
            .iter()
            .map(|p| Group {
                weight: p.plan.rate,
                members: p.keys.len() as u32,
            })
            .collect();
        for part in &parts {
            for (member, key) in part.keys.iter().enumerate() {
                // Only lanes that read or capture get the tenant's store: the others'
                // requests stay prepared once (the neighbour's key is no tenant's anyway).
                let stateful = part.plan.reads_captures || part.captures.is_some();
                let tenant = (stateful && !part.plan.neighbour)
                    .then(|| stores.get(member).cloned())
                    .flatten();
                lanes.push(Lane {
                    tenant,
                    captures: part.captures.clone(),
                    tag: member as u32,
                    ..Lane::new(part.plan.class.probe.clone(), *key, part.recorder.clone())
                });
            }
        }
        let routing = Routing::new(&groups);
        debug_assert_eq!(routing.lanes(), lanes.len());
        let attack = Attack {
            target: self.target.clone(),
            vars: self.vars.clone(),
            label: format!("workload {}", workload.name),
            schedule: schedule.clone(),
            lanes,
            route: Some(Arc::new(move |k| routing.lane(k))),
            clients: Clients::PerUser,
            stop: self.stop.clone(),
        };
        let users = users_for(schedule.own_rate(), self.answer_time(&parts).await);
        let ticker = self.progress_ticker(workload, &parts, schedule.clone());
        let driven = driver::drive_with_users(attack, self.prober.timeout, users).await;
        ticker.abort();
        if let Err(e) = driven {
            self.not_run(workload, Verdict::Failed, e);
            self.clean_up(workload, &parts, warmed).await;
            return None;
        }
        let measured = self.report(workload, &parts, plan);
        if let Some(late) = schedule.late_by().filter(|&l| l > LATE_START_TOLERANCE) {
            self.late_start(workload, late);
        }
        self.clean_up(workload, &parts, warmed).await;
        measured
    }

    /// The target's answer time before the workload: the median of a few sequential
    /// requests of the first request name that creates nothing, under the first tenant's
    /// key (well inside its bucket's burst), after one that is not counted. That first one
    /// opens the connection and meets a cold target: 112 ms against the reference server's
    /// 0.1 ms, measured, which sized 1,931 users where 272 suffice — and so many users
    /// opening connections at once overflowed the server's accept queue (a second lost to
    /// SYN retransmits).
    async fn answer_time(&self, parts: &[Part]) -> Duration {
        // A GET that reads no capture: it creates nothing and needs no warm-up.
        let Some(part) = parts.iter().find(|p| {
            !p.plan.neighbour
                && p.plan.class.cleanup.is_none()
                && !p.plan.reads_captures
                && matches!(p.plan.class.probe.method.as_str(), "GET" | "HEAD")
        }) else {
            return UNMEASURED_LATENCY;
        };
        let mut latencies = Vec::with_capacity(LATENCY_PROBES);
        for n in 0..=LATENCY_PROBES {
            let probe = self
                .prober
                .send(
                    &part.plan.class.probe,
                    &self.vars,
                    part.keys[0],
                    Some(&part.plan.class.name),
                )
                .await;
            if let Some(exchange) = probe.exchange.filter(|_| n > 0) {
                latencies.push(exchange.latency);
            }
        }
        median(latencies).unwrap_or(UNMEASURED_LATENCY)
    }

    /// `perf.<workload>.start`: this process claimed its first slot `late` after the
    /// instant every shard was to start at, and sent the slots due meanwhile at once — the
    /// seconds it was late hold fewer of its requests, the next one more.
    fn late_start(&self, workload: &Workload, late: Duration) {
        let check = CheckResult::new(
            format!("perf.{}.start", workload.name),
            Verdict::Warning,
            format!(
                "shard {} started {:.3} s after --start-at: the slots due meanwhile went out at \
                 once; give the shards more lead",
                self.plan.shard,
                late.as_secs_f64()
            ),
        );
        self.emit(
            workload,
            "start instant".into(),
            String::new(),
            vec![check.at(&workload.origin)],
        );
    }

    /// The one check of a workload that did not run: `perf.<workload>`, and why.
    fn not_run(&self, workload: &Workload, verdict: Verdict, why: String) {
        let check = CheckResult::new(format!("perf.{}", workload.name), verdict, why);
        self.emit(
            workload,
            "not run".into(),
            String::new(),
            vec![check.at(&workload.origin)],
        );
    }

    /// Why `workload` cannot run here, if it cannot.
    fn unrunnable(&self, workload: &Workload) -> Option<String> {
        let have = self.target.tenant_count();
        if have < usize::from(workload.tenants) {
            let var = self.target.profile().keys.tenants.as_deref().unwrap_or("?");
            return Some(format!(
                "workload `{}` needs {} tenant keys and {var} lists {have}",
                workload.name, workload.tenants
            ));
        }
        let primary = self.target.key(Credential::PRIMARY).ok()?;
        let shared = (0..workload.tenants).any(|n| {
            self.target
                .key(Credential::Tenant(n))
                .is_ok_and(|k| k.expose() == primary.expose())
        });
        (workload.noisy_neighbour.is_some() && shared).then(|| {
            "the primary key (the noisy neighbour) is also one of the tenant keys: the neighbour \
                must be another account"
                .to_string()
        })
    }

    /// The schedule of `workload` (its stages scaled and capped) and its parts, whose
    /// recorders share it.
    fn plan_parts(&self, workload: &Workload) -> (Arc<Schedule>, Vec<Part>, String) {
        let planned = plan::plan(
            workload,
            &self.target.profile().rate_limits,
            self.plan.duration_scale,
            self.plan.max_rps,
        )
        .expect("workloads name only the profile's classes (checked when it was read)");
        let schedule = Arc::new(
            Schedule::staged(&planned.stages).sharded(self.plan.shard, self.plan.start_at),
        );
        let errors = self.target.profile().errors.schema.clone();
        let words = planned.words(self.plan.shard.count);
        let parts = planned
            .parts
            .into_iter()
            .map(|plan| Part {
                keys: if plan.neighbour {
                    vec![Credential::PRIMARY]
                } else {
                    (0..plan.keys as u16).map(Credential::Tenant).collect()
                },
                captures: (!plan.captures.is_empty())
                    .then(|| Arc::new(CaptureLog::new(plan.captures.clone()))),
                recorder: Arc::new(
                    Recorder::sharing(
                        schedule.clone(),
                        errors.clone(),
                        Some(plan.class.name.clone()),
                        plan.class.cleanup.is_some(),
                    )
                    .with_latency_slices(),
                ),
                plan,
            })
            .collect();
        (schedule, parts, words)
    }

    /// Every part as a report phase, and the thresholds and the noisy neighbour judged —
    /// or, measuring only, what each part measured for `report merge` (`plan` in words).
    fn report(
        &self,
        workload: &Workload,
        parts: &[Part],
        plan: String,
    ) -> Option<WorkloadMeasured> {
        let plans: Vec<PartPlan> = parts.iter().map(|p| p.plan.clone()).collect();
        let measurements: Vec<Measurements> =
            parts.iter().map(|p| p.recorder.measurements()).collect();
        // Each part's capture misses (none for a part that captures nothing).
        let tallies: Vec<CaptureTally> = parts
            .iter()
            .map(|p| {
                p.captures
                    .as_ref()
                    .map(|c| c.failures())
                    .unwrap_or_default()
            })
            .collect();
        let kept = self.plan.measure_only.then(|| WorkloadMeasured {
            workload: workload.name.clone(),
            plan,
            late_by_ms: parts
                .first()
                .and_then(|p| p.recorder.schedule.late_by())
                .map(|late| late.as_secs_f64() * 1000.0),
            clock: parts
                .iter()
                .fold(ClockOffset::Unknown, |all, p| all.and(p.recorder.clock())),
            parts: parts
                .iter()
                .zip(&measurements)
                .zip(&tallies)
                .map(|((p, m), t)| {
                    PartMeasured::new(&p.plan, m, p.captures.as_ref().map(|_| t.clone()))
                })
                .collect(),
        });
        // A shard sends its share of every request name: its report asks that much.
        let share = 1.0 / f64::from(self.plan.shard.count);
        let judged = report::report(workload, &plans, measurements, share);
        for phase in judged.phases {
            let _ = self.events.send(Event::PhaseFinished(Box::new(phase)));
        }
        if kept.is_none() {
            let captured = report::capture_steps(workload, &plans, &tallies);
            for step in judged.steps.into_iter().chain(captured) {
                self.emit(workload, step.step, step.request, step.checks);
            }
        }
        kept
    }

    /// Deletes what the workload's requests (and its warm-up's) created, each with the key
    /// that created it, the way its request name says.
    async fn clean_up(&self, workload: &Workload, parts: &[Part], warmed: Vec<WarmCreated>) {
        let cleanup = Cleanup::default();
        // By request name: two names of one class may delete their creations differently.
        // Each key's deletions of one name are paced at half the class's limit: names that
        // share a class share that half.
        let classes: Vec<RateClass> = parts
            .iter()
            .map(|p| {
                let sharing = parts
                    .iter()
                    .filter(|o| {
                        o.plan.class.cleanup.is_some() && o.plan.class.name == p.plan.class.name
                    })
                    .count()
                    .max(1) as u32;
                let mut class = RateClass {
                    name: p.plan.name.clone(),
                    ..p.plan.class.clone()
                };
                class.policy.window *= sharing;
                class
            })
            .collect();
        for (part, class) in parts.iter().zip(&classes) {
            for (member, id) in part.recorder.created_by_lane() {
                if let Some(key) = part.keys.get(member as usize) {
                    cleanup.remember(class, *key, vec![id]);
                }
            }
        }
        for created in warmed {
            let key = Credential::Tenant(created.tenant);
            cleanup.remember(&classes[created.part], key, vec![created.id]);
        }
        let Some((created, check)) = cleanup.finish(&classes, &self.prober, &self.vars).await
        else {
            return;
        };
        let check = CheckResult {
            id: format!("perf.{}.cleanup", workload.name),
            ..check
        };
        self.emit(
            workload,
            format!("delete {created} created resources"),
            String::new(),
            vec![check],
        );
    }

    fn emit(&self, workload: &Workload, step: String, request: String, checks: Vec<CheckResult>) {
        let step = step_result(workload, step, request, checks);
        let _ = self.events.send(Event::StepFinished(step));
    }

    fn progress_ticker(
        &self,
        workload: &Workload,
        parts: &[Part],
        schedule: Arc<Schedule>,
    ) -> tokio::task::JoinHandle<()> {
        let events = self.events.clone();
        let name = format!("workload {}", workload.name);
        let recorders: Vec<Arc<Recorder>> = parts.iter().map(|p| p.recorder.clone()).collect();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let mut progress = Progress {
                    class: name.clone(),
                    phase: PERF_PHASE.into(),
                    done: 0,
                    total: schedule.own_count(),
                    accepted: 0,
                    limited: 0,
                };
                for recorder in &recorders {
                    let one = recorder.progress("", "");
                    progress.done += one.done;
                    progress.accepted += one.accepted;
                    progress.limited += one.limited;
                }
                if events.send(Event::Progress(progress)).is_err() {
                    return;
                }
            }
        })
    }
}

/// A step of `workload`'s report, its checks pointing at the workload unless they point
/// at one of its lines already.
pub fn step_result(
    workload: &Workload,
    step: String,
    request: String,
    checks: Vec<CheckResult>,
) -> StepResult {
    let origin = workload.origin.clone();
    let checks = checks
        .into_iter()
        .map(|c| if c.origin.is_none() { c.at(&origin) } else { c })
        .collect();
    StepResult {
        scenario: format!("performance · {}", workload.name),
        file: origin.file.clone(),
        step,
        request,
        origin,
        attempts: Vec::new(),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_time_is_the_median_probe() {
        let ms = Duration::from_millis;
        assert_eq!(
            median(vec![ms(9), ms(1), ms(300), ms(2), ms(3)]),
            Some(ms(3))
        );
        assert_eq!(median(vec![ms(4), ms(1)]), Some(ms(4)));
        assert_eq!(median(Vec::new()), None);
    }
}
