//! `tollgate bench`: how good is the load behind the verdicts? Pacing accuracy, saturation
//! throughput beside oha and wrk, and memory over a long run — all counted by the reference
//! server (limits off, `--test-hooks` arrival counts), so every tool is judged by the same
//! yardstick: what arrived, per second.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::bench_shards::{merged_sends, sent_per_second, ShardRun, Sharding, SENT_PER_SECOND};
use super::cli::{BenchArgs, BenchKind};
use crate::contract::Target;
use crate::error::Error;
use crate::event::{Event, Verdict};
use crate::keys::KeyRole;
use crate::load::driver::{self, Attack, Clients};
use crate::load::perf::{self, PerfPlan};
use crate::load::record::Recorder;
use crate::load::schedule::Schedule;
use crate::load::shard::Shard;
use crate::profile::Profile;
use crate::scenario::template::{UniqueSource, Vars};
use crate::scenario::Credential;
use crate::stop::StopSignal;
use crate::workload::{Stage, Workload};

/// A schedule no client keeps up with: every user always has its next slot due.
const SATURATING_RATE: f64 = 1_000_000.0;

pub fn bench(args: BenchArgs) -> Result<ExitCode, Error> {
    let profile = super::load_profile(&args.profile)?;
    let kinds = if args.only.is_empty() {
        vec![
            BenchKind::Memory,
            BenchKind::Pacing,
            BenchKind::Throughput,
            BenchKind::Workload,
        ]
    } else {
        args.only.clone()
    };
    if args.shards > 1
        && kinds
            .iter()
            .any(|k| matches!(k, BenchKind::Throughput | BenchKind::Memory))
    {
        return Err(Error::Usage(format!(
            "--shards {} splits the pacing and workload runs over processes; throughput and \
             memory measure one process: add --only pacing or --only workload",
            args.shards
        )));
    }
    crate::stop::install_signal_handler().map_err(Error::Runtime)?;
    let stop = StopSignal::new();
    let _attached = stop.attach();
    let server = BenchServer::start(args.target.as_deref(), profile.tenants_needed())?;
    let runtime = super::runtime()?;
    if let Some(start) = args.start_at {
        crate::load::shard::check_start(start, std::time::SystemTime::now())
            .map_err(Error::Usage)?;
    }
    let sharding = Sharding {
        part: args.shard.zip(args.start_at),
        processes: args.shards,
        profile: args.profile.clone(),
    };
    runtime.block_on(async {
        let bench = Bench::new(&server, profile, sharding, stop.clone())?;
        for kind in kinds {
            match kind {
                BenchKind::Pacing => bench.pacing(&args.rates, args.seconds).await?,
                BenchKind::Throughput => {
                    bench
                        .throughput(args.seconds, args.connections, args.rounds)
                        .await?
                }
                BenchKind::Memory => bench.memory(args.memory_rate, args.memory_seconds).await?,
                BenchKind::Workload => bench.workload(args.workload_rate, args.seconds).await?,
            }
            if stop.is_stopped() {
                return Ok(ExitCode::from(crate::error::exit::INTERRUPTED));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Milliseconds since the Unix epoch: the clock the server's arrival counter keys on.
fn now_ms() -> u64 {
    crate::load::shard::unix_ms(SystemTime::now())
}

/// A fresh primary key for the server this benchmark starts (handed over in its
/// environment, never its arguments).
fn fresh_key() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("tg_live_{hex}")
}

/// The server under the benchmark: a `serve --unlimited --test-hooks` child process of
/// ours (killed on drop), or one the user started.
struct BenchServer {
    url: String,
    /// The primary key the server accepts.
    key: String,
    /// The tenant keys it accepts, comma separated (workload runs).
    tenants: String,
    child: Option<Child>,
}

impl BenchServer {
    fn start(target: Option<&str>, tenants: usize) -> Result<Self, Error> {
        if let Some(url) = target {
            let var = KeyRole::Primary.env_var();
            let Some(key) = std::env::var(var).ok().filter(|k| !k.trim().is_empty()) else {
                return Err(Error::Usage(format!(
                    "{var} is not set: export the key of the server at {url}"
                )));
            };
            return Ok(BenchServer {
                url: url.trim_end_matches('/').to_string(),
                key: key.trim().to_string(),
                tenants: std::env::var(crate::keys::TENANT_KEYS_VAR).unwrap_or_default(),
                child: None,
            });
        }
        let key = fresh_key();
        let tenant_keys: Vec<String> = (0..tenants).map(|_| fresh_key()).collect();
        let exe = std::env::current_exe()
            .map_err(|e| Error::Runtime(format!("cannot find our own binary: {e}")))?;
        // The key goes to the child through its environment, never its arguments.
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--unlimited",
                "--test-hooks",
                "--listen",
                "127.0.0.1:0",
            ])
            .env(KeyRole::Primary.env_var(), &key)
            .env(crate::keys::TENANT_KEYS_VAR, tenant_keys.join(","))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::Runtime(format!("cannot start the reference server: {e}")))?;
        let mut banner = String::new();
        let stdout = child.stdout.take().expect("piped");
        let _ = BufReader::new(stdout).read_line(&mut banner);
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_string);
        let server = BenchServer {
            url: url.unwrap_or_default(),
            key,
            tenants: tenant_keys.join(","),
            child: Some(child),
        };
        if server.url.is_empty() {
            return Err(Error::Runtime(format!(
                "the reference server did not say where it listens: {banner:?}"
            )));
        }
        Ok(server)
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Bench {
    target: Arc<Target>,
    /// The server's primary key (handed to shard processes in their environment).
    key: String,
    /// The tenant keys of the server, comma separated.
    tenants: String,
    /// The URL every tool loads: the read probe of the profile.
    url: String,
    header: (String, String),
    sharding: Sharding,
    stop: StopSignal,
}

impl Bench {
    fn new(
        server: &BenchServer,
        profile: Profile,
        sharding: Sharding,
        stop: StopSignal,
    ) -> Result<Self, Error> {
        let header = (profile.auth.header.clone(), profile.auth.value(&server.key));
        let primary = profile.keys.primary.clone();
        let key = |var: &str| (var == primary).then(|| server.key.clone());
        let target = Target::external(&server.url, profile, key, Default::default())
            .map_err(Error::Usage)?;
        let target = Arc::new(target);
        let probe = &target.profile().rate_limits[0].probe;
        let url = format!(
            "{}{}",
            server.url,
            probe
                .path
                .render(&Vars::new(UniqueSource::new("bench")))
                .unwrap_or_default()
        );
        Ok(Bench {
            stop,
            key: server.key.clone(),
            sharding,
            tenants: server.tenants.clone(),
            target,
            url,
            header,
        })
    }

    /// Sends `schedule` with goose, through the same driver `tollgate run` uses; how late
    /// its first slot was claimed after a shared start instant.
    async fn drive(
        &self,
        schedule: Schedule,
        users: Option<usize>,
    ) -> Result<Option<Duration>, Error> {
        let recorder = Arc::new(Recorder::new(
            schedule,
            self.target.profile().errors.schema.clone(),
            None,
            false,
        ));
        let attack = Attack {
            target: self.target.clone(),
            vars: Vars::new(UniqueSource::new("bench")),
            label: "bench".into(),
            schedule: recorder.schedule.clone(),
            lanes: vec![driver::Lane::new(
                self.target.profile().rate_limits[0].probe.clone(),
                Credential::PRIMARY,
                recorder,
            )],
            route: None,
            // Our own server, no redirects: goose's per-user clients, for throughput. A shard
            // process sends on a client per user, as a sharded `run` does.
            clients: if self.sharding.part.is_some() {
                Clients::PerUser
            } else {
                Clients::Goose
            },
            stop: self.stop.clone(),
        };
        let timeout = Duration::from_secs(10);
        let schedule = attack.schedule.clone();
        match users {
            Some(users) => driver::drive_with_users(attack, timeout, users).await,
            None => driver::drive(attack, timeout, Duration::ZERO).await,
        }
        .map_err(Error::Runtime)?;
        Ok(schedule.late_by())
    }

    /// Requests the server saw per whole second since `from_ms`, the seconds starting half a
    /// gap (at `rate`) before the first arrival; the last, partial second dropped.
    async fn seen_per_second(&self, from_ms: u64, rate: f64) -> Result<Vec<u64>, Error> {
        Ok(per_second(&self.arrivals(from_ms).await?, rate))
    }

    /// Requests the server saw in each of the first `seconds` whole seconds from `from_ms`.
    async fn whole_seconds(&self, from_ms: u64, seconds: usize) -> Result<Vec<u64>, Error> {
        Ok(self
            .arrivals(from_ms)
            .await?
            .chunks(1000)
            .map(|second| second.iter().sum())
            .take(seconds)
            .collect())
    }

    /// Requests the server saw per millisecond since `from_ms`.
    async fn arrivals(&self, from_ms: u64) -> Result<Vec<u64>, Error> {
        let url = format!(
            "{}/_tollgate/arrivals?from_ms={from_ms}",
            self.target.base_url()
        );
        let answer: serde_json::Value = self
            .target
            .client()
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| {
                let why = crate::contract::client::classify(&e, Duration::from_secs(30));
                Error::Runtime(format!(
                    "cannot read the server's arrival counts \
                     (is it running with --test-hooks?): {why}"
                ))
            })?
            .json()
            .await
            .map_err(|e| Error::Runtime(format!("the arrival counts are not JSON: {e}")))?;
        Ok(answer["counts"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
            .unwrap_or_default())
    }

    async fn pacing(&self, rates: &[f64], seconds: u64) -> Result<(), Error> {
        if self.sharding.part.is_none() {
            println!(
                "\n### Pacing: the rate the server saw, against the rate asked for{}\n",
                self.sharding.heading()
            );
        }
        if self.sharding.part.is_none() {
            println!(
                "| asked | seconds | seen (mean) | mean error | worst second | worst second's \
                 count |"
            );
            println!("|---:|---:|---:|---:|---:|---:|");
        }
        let mut notes = Vec::new();
        for &rate in rates {
            let from = now_ms();
            let schedule = Schedule::new(rate, Duration::from_secs(seconds));
            if let Some((shard, start)) = self.sharding.part {
                // Users and clients as a sharded workload's: a user per 50 ms of the rate
                // (on one client, or a thousand goose users, 4 processes opened up to 7,600
                // connections at once at 20,000/s and lost most of the first second).
                let schedule = schedule.sharded(shard, Some(start));
                let users = perf::users_for(schedule.own_rate(), Duration::ZERO);
                let late = self.drive(schedule, Some(users));
                if let Some(late) = late.await? {
                    // Read by the parent process (`in_shards`), shown under its table.
                    println!("shard {shard} started {} ms late", late.as_millis());
                }
                continue;
            }
            let counts = if self.sharding.processes > 1 {
                // Whole seconds from the shared start instant: every slot is due in its own.
                let (start, said) = self.in_shards("pacing", rate, seconds).await?;
                notes.extend(said);
                self.whole_seconds(start, seconds as usize).await?
            } else {
                self.drive(schedule, None).await?;
                self.seen_per_second(from, rate).await?
            };
            let mean = counts.iter().sum::<u64>() as f64 / counts.len().max(1) as f64;
            let worst = counts
                .iter()
                .copied()
                .max_by(|a, b| {
                    (*a as f64 - rate)
                        .abs()
                        .total_cmp(&(*b as f64 - rate).abs())
                })
                .unwrap_or(0);
            println!(
                "| {rate:.0}/s | {} | {mean:.1}/s | {:+.2}% | {:.2}% | {worst} |",
                counts.len(),
                100.0 * (mean - rate) / rate,
                100.0 * (worst as f64 - rate).abs() / rate,
            );
        }
        for note in notes {
            println!("\n{note}");
        }
        Ok(())
    }

    /// The profile's first workload (its tenants and mix, no thresholds, no neighbour) held
    /// at `rate` for `seconds` through the perf runner, counted by the server per whole
    /// second.
    async fn workload(&self, rate: f64, seconds: u64) -> Result<(), Error> {
        let Some(template) = self.target.profile().workloads.first().cloned() else {
            return Err(Error::Usage(format!(
                "{} has no `workloads:` to pace",
                self.target.profile().file
            )));
        };
        let level = rate / template.nominal_rate();
        let held = Duration::from_secs(seconds.max(2));
        let workload = Workload {
            stages: vec![
                Stage {
                    duration: Duration::ZERO,
                    to: level,
                },
                Stage {
                    duration: held,
                    to: level,
                },
            ],
            thresholds: Vec::new(),
            noisy_neighbour: None,
            ..template
        };
        let (started, left, sent) = match self.sharding.part {
            None if self.sharding.processes > 1 => {
                let (start, said) = self.in_shards("workload", rate, seconds).await?;
                let (sent, said) = merged_sends(said);
                (start, said.join("; "), sent)
            }
            part => {
                let sent = self.send_workload(&workload, part).await?;
                if part.is_some() {
                    // Read by the parent process (`in_shards`, `merged_sends`).
                    println!("{}", sent.1.trim_start());
                    let per_second: Vec<String> = sent.2.iter().map(u64::to_string).collect();
                    println!("{SENT_PER_SECOND}{}", per_second.join(" "));
                    return Ok(());
                }
                sent
            }
        };
        // Whole seconds of the schedule, from its start (a late first send is still the first
        // second's); the hold's only, the last dropped: the cleanup's deletions come after.
        let counts = self
            .whole_seconds(started, held.as_secs() as usize - 1)
            .await?;
        let mean = counts.iter().sum::<u64>() as f64 / counts.len().max(1) as f64;
        let worst = counts
            .iter()
            .map(|&c| (c as f64 - rate).abs() / rate)
            .fold(0.0, f64::max);
        println!(
            "\n### Workload pacing: `{}`, {} tenants, {} request names, counted by the server{}\n",
            workload.name,
            workload.tenants,
            workload.mix.len(),
            self.sharding.heading()
        );
        println!(
            "| asked | whole seconds | seen (mean) | mean error | worst second | seconds | \
             sent by tollgate's measurements / seen |"
        );
        println!("|---:|---:|---:|---:|---:|---|---|");
        let list: Vec<String> = counts.iter().map(u64::to_string).collect();
        let seen: u64 = counts.iter().sum();
        let measured: u64 = sent.iter().take(counts.len()).sum();
        println!(
            "| {rate:.0}/s | {} | {mean:.1}/s | {:+.2}% | {:.2}% | {} | {measured} / {seen} \
             ({:+.2}%) |{left}",
            counts.len(),
            100.0 * (mean - rate) / rate,
            100.0 * worst,
            list.join(" "),
            100.0 * (measured as f64 - seen as f64) / (seen.max(1) as f64)
        );
        Ok(())
    }

    /// `workload` through the perf runner (this process's share of it when it is one
    /// shard), measuring only; when its schedule started (ms since the epoch), its checks
    /// that did not pass, and its requests per whole second of the schedule as its own
    /// measurements count them.
    async fn send_workload(
        &self,
        workload: &Workload,
        part: Option<(Shard, SystemTime)>,
    ) -> Result<(u64, String, Vec<u64>), Error> {
        let mut profile = self.target.profile().clone();
        profile.workloads = vec![workload.clone()];
        let (primary, list) = (
            self.target.key(Credential::PRIMARY).map_err(Error::Usage)?,
            &self.tenants,
        );
        let tenants_var = profile.keys.tenants.clone().unwrap_or_default();
        let primary_var = profile.keys.primary.clone();
        let env = |var: &str| {
            if var == primary_var {
                Some(primary.expose().to_string())
            } else {
                (var == tenants_var).then(|| list.clone())
            }
        };
        let target = Target::external(self.target.base_url(), profile, env, Default::default())
            .map_err(Error::Usage)?;
        if target.tenant_count() < usize::from(workload.tenants) {
            return Err(Error::Usage(format!(
                "workload `{}` needs {} tenant keys; {} are known",
                workload.name,
                workload.tenants,
                target.tenant_count()
            )));
        }
        let from = now_ms();
        let (shard, start_at) = part.map_or((Shard::WHOLE, None), |(s, at)| (s, Some(at)));
        let plan = PerfPlan {
            workloads: Vec::new(),
            duration_scale: 1.0,
            max_rps: None,
            run_id: "bench".into(),
            shard,
            start_at,
            measure_only: true,
        };
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let runner = tokio::spawn(perf::run(Arc::new(target), plan, sender, self.stop.clone()));
        let mut left = String::new();
        // Counted from the schedule's start: the latency probes before it are not its own.
        let mut started = from;
        while let Some(event) = receiver.recv().await {
            match event {
                Event::StepFinished(step) => {
                    for check in step.checks.iter().filter(|c| c.verdict != Verdict::Passed) {
                        left = format!(
                            " ({}: {})",
                            check.id,
                            check.actual.as_deref().unwrap_or(&check.message)
                        );
                    }
                }
                Event::PhaseFinished(phase) => started = started.max(phase.started_ms),
                _ => {}
            }
        }
        let measured = runner.await.unwrap_or_default();
        Ok((started, left, sent_per_second(&measured)))
    }

    /// One `kind` run at `rate` for `seconds`, sent by `--shards` processes; when they
    /// started it (ms since the epoch), and what they said.
    async fn in_shards(
        &self,
        kind: &str,
        rate: f64,
        seconds: u64,
    ) -> Result<(u64, Vec<String>), Error> {
        let run = ShardRun {
            url: self.target.base_url(),
            key: &self.key,
            tenants: &self.tenants,
        };
        self.sharding.run(&run, kind, rate, seconds).await
    }

    /// Each tool in turn, `rounds` times (alternating, so a slow spell of the machine hits
    /// every tool alike); the median of each tool's rounds.
    async fn throughput(
        &self,
        seconds: u64,
        connections: usize,
        rounds: usize,
    ) -> Result<(), Error> {
        println!(
            "\n### Throughput at saturation: {connections} connections, {seconds} s per run, \
             median of {rounds} alternating runs, counted by the server\n"
        );
        println!("| tool | version | requests/s (median) | runs | vs oha |");
        println!("|---|---|---:|---|---:|");
        let header = format!("{}: {}", self.header.0, self.header.1);
        let peers: [(&str, Vec<String>, &[&str]); 2] = [
            (
                "oha",
                vec![
                    "-z".into(),
                    format!("{seconds}s"),
                    "-c".into(),
                    connections.to_string(),
                    "--no-tui".into(),
                    "-H".into(),
                    header.clone(),
                    self.url.clone(),
                ],
                &["--version"],
            ),
            (
                "wrk",
                vec![
                    "-t2".into(),
                    format!("-c{connections}"),
                    format!("-d{seconds}s"),
                    "-H".into(),
                    header.clone(),
                    self.url.clone(),
                ],
                &["-v"],
            ),
        ];
        let versions: Vec<Option<String>> = peers
            .iter()
            .map(|(tool, _, version_args)| version_of(tool, version_args))
            .collect();
        let mut ours = Vec::new();
        let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); peers.len()];
        for _ in 0..rounds {
            let from = now_ms();
            self.drive(
                Schedule::new(SATURATING_RATE, Duration::from_secs(seconds)),
                Some(connections),
            )
            .await?;
            ours.push(steady_rate(
                &self.seen_per_second(from, SATURATING_RATE).await?,
            ));
            for (i, (tool, args, _)) in peers.iter().enumerate() {
                if versions[i].is_none() || self.stop.is_stopped() {
                    continue;
                }
                let (tool, args) = (tool.to_string(), args.clone());
                let from = now_ms();
                let status = tokio::task::spawn_blocking(move || {
                    Command::new(tool)
                        .args(&args)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                })
                .await
                .map_err(|e| Error::Runtime(e.to_string()))?;
                if status.is_ok_and(|s| s.success()) {
                    theirs[i].push(steady_rate(
                        &self.seen_per_second(from, SATURATING_RATE).await?,
                    ));
                }
            }
        }
        let mut rows = vec![(
            "tollgate (goose driver)".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
            ours,
        )];
        for (i, (tool, _, _)) in peers.iter().enumerate() {
            let version = versions[i]
                .clone()
                .unwrap_or_else(|| "not installed: skipped".into());
            rows.push((tool.to_string(), version, std::mem::take(&mut theirs[i])));
        }
        let oha = rows
            .iter()
            .find(|r| r.0 == "oha")
            .and_then(|r| median(&r.2));
        for (tool, version, runs) in rows {
            let rate = median(&runs);
            let ratio = match (rate, oha) {
                (Some(r), Some(o)) if o > 0.0 => format!("{:.2}×", r / o),
                _ => "—".into(),
            };
            let list: Vec<String> = runs.iter().map(|r| format!("{r:.0}")).collect();
            let rate = rate.map_or("—".into(), |r| format!("{r:.0}"));
            println!(
                "| {tool} | {version} | {rate} | {} | {ratio} |",
                list.join(", ")
            );
        }
        Ok(())
    }

    /// Resident memory while pacing `rate` for `seconds`: sampled each second, so growth
    /// with the number of requests would show.
    async fn memory(&self, rate: f64, seconds: u64) -> Result<(), Error> {
        let before = rss_kib();
        let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sampler = {
            let samples = samples.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let mut samples = samples.lock().unwrap_or_else(|e| e.into_inner());
                    samples.push((started.elapsed().as_secs_f64(), rss_kib()));
                }
            })
        };
        self.drive(Schedule::new(rate, Duration::from_secs(seconds)), None)
            .await?;
        sampler.abort();
        let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
        println!(
            "\n### Memory: resident set of the tollgate process, {rate:.0} req/s for {seconds} s\n"
        );
        println!("| time into the run | requests sent (scheduled) | RSS |");
        println!("|---:|---:|---:|");
        println!("| before | 0 | {:.1} MiB |", before as f64 / 1024.0);
        let marks = [0.1, 0.25, 0.5, 0.75, 1.0].map(|f| f * seconds as f64);
        for mark in marks {
            if let Some((t, kib)) = samples.iter().rev().find(|(t, _)| *t <= mark + 0.5) {
                println!(
                    "| {t:.0} s | {:.0} | {:.1} MiB |",
                    (t * rate).min(rate * seconds as f64),
                    *kib as f64 / 1024.0
                );
            }
        }
        let peak = status_kib("VmHWM:");
        let after_10 = samples
            .iter()
            .find(|(t, _)| *t >= (seconds as f64 * 0.1).max(1.0))
            .map(|s| s.1);
        let last = samples.last().map(|s| s.1);
        if let (Some(early), Some(last)) = (after_10, last) {
            println!(
                "\nPeak RSS {:.1} MiB; from 10% of the run to its end RSS changed by {:+.1} MiB \
                 while the requests sent grew {:.0}×.",
                peak as f64 / 1024.0,
                (last as f64 - early as f64) / 1024.0,
                seconds as f64 / (seconds as f64 * 0.1).max(1.0)
            );
        }
        Ok(())
    }
}

/// Requests per whole second of millisecond `counts`, anchored half a gap before the first
/// arrival so a request due on a boundary is not split by jitter; the partial last second
/// dropped.
fn per_second(counts: &[u64], rate: f64) -> Vec<u64> {
    let Some(first) = counts.iter().position(|&c| c > 0) else {
        return Vec::new();
    };
    let last = counts.iter().rposition(|&c| c > 0).unwrap_or(first);
    let half_gap = ((500.0 / rate).round() as usize).min(first);
    let start = first - half_gap;
    let mut seconds: Vec<u64> = counts[start..=last]
        .chunks(1000)
        .map(|c| c.iter().sum())
        .collect();
    seconds.pop();
    seconds
}

/// The mean of the seconds in between the first and the last (ramp-up and stop left out).
fn steady_rate(seconds: &[u64]) -> f64 {
    let steady = if seconds.len() > 2 {
        &seconds[1..seconds.len() - 1]
    } else {
        seconds
    };
    steady.iter().sum::<u64>() as f64 / steady.len().max(1) as f64
}

fn median(runs: &[f64]) -> Option<f64> {
    let mut sorted = runs.to_vec();
    sorted.sort_by(f64::total_cmp);
    (!sorted.is_empty()).then(|| sorted[sorted.len() / 2])
}

fn version_of(tool: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(tool).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    text.lines().next().map(|l| l.trim().to_string())
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// A `kB` line of /proc/self/status (0 where there is none).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string(Path::new("/proc/self/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
