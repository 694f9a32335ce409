//! `tollgate run`: resolve the target, load the profile and scenarios, run the contract
//! phase, report.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::mpsc;

use super::lint::{load_scenarios, print_diagnostics};
use crate::cli::{Phase, RunArgs};
use crate::contract::snapshot::SnapshotStore;
use crate::contract::{self, Target};
use crate::error::{exit, Error};
use crate::event::Event;
use crate::load::{self, LoadPlan};
use crate::profile::{self, Profile};
use crate::report;
use crate::report::model::Stop;
use crate::report::progress::Live;
use crate::report::terminal::{self, Style};
use crate::report::Report;
use crate::scenario::AuthKind;
use crate::secret::Secret;
use crate::server::{KeyRing, RunningServer, ServerConfig};

/// How long a stopped run waits for the interrupted phase to report what it measured.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

pub fn run(args: RunArgs) -> Result<ExitCode, Error> {
    // The reported duration is the run's wall time, from here to the last artifact.
    let started = Instant::now();
    let deadline = args.deadline.map(|d| started + d);
    // Read the baseline first: a typo must not cost a whole run.
    let baseline = match &args.baseline {
        Some(path) => Some(super::report::read(path)?),
        None => None,
    };
    let profile = load_profile(&args.profile)?;
    let scenario_root = args
        .scenarios
        .clone()
        .or_else(|| profile.scenarios.clone())
        .unwrap_or_else(|| PathBuf::from("scenarios"));
    let scenarios = if args.only == Some(Phase::Load) {
        Vec::new()
    } else {
        let scenarios = load_scenarios(std::slice::from_ref(&scenario_root))?;
        if scenarios.is_empty() {
            return Err(Error::Usage(format!(
                "no scenario files under `{}`",
                scenario_root.display()
            )));
        }
        scenarios
    };
    if args.only != Some(Phase::Contract) {
        check_load_plan(&args, &profile)?;
    }
    if args.deadline.is_some_and(|d| d.is_zero()) {
        return Err(Error::Usage(
            "--deadline 0 would stop the run before it starts: give a duration such as 90s or 15m"
                .into(),
        ));
    }
    // A run that cannot write its reports must fail before its first request, not after
    // twenty minutes of work.
    check_report_dir(&args.report_dir)?;
    let seed = args.seed.unwrap_or_else(random_seed);
    let run_id = run_id(seed);
    load::driver::handle_interrupts().map_err(Error::Runtime)?;
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let (target, embedded) = resolve_target(&args, profile).await?;
        if args.only != Some(Phase::Contract) && !args.allow_load && !is_loopback(&target.base_url) {
            return Err(Error::Usage(format!(
                "the load phase would send hundreds of requests per second to {}: pass --allow-load to confirm (or --only contract)",
                target.base_url
            )));
        }
        for warning in transport_warnings(&target) {
            eprintln!("warning: {warning}");
        }
        preflight(&target).await?;
        // Every line and artifact passes through it: a target that echoes a key must not
        // make tollgate print or store that key.
        let redactor = target.redactor();
        let thresholds = target.profile.baseline;
        let style = Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        let mut report = Report {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id: run_id.clone(),
            target: target.base_url.clone(),
            target_kind: match &embedded {
                Some(_) => format!(
                    "embedded reference server, profile {}",
                    target.profile.reference
                ),
                None => "external".to_string(),
            },
            profile: target.profile.file.clone(),
            seed,
            started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                        ended: String::new(),
            duration_ms: 0,
            steps: Vec::new(),
            phases: Vec::new(),
            complete: true,
            stopped_by: None,
        };
                let mut out = Printer {
            closed: false,
            redactor: redactor.clone(),
        };
        let mut live = Live::new(std::io::stdout().is_terminal());
        out.print(&terminal::header(&report));
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let plan = LoadPlan {
            classes: args.classes.clone(),
            duration_scale: args.duration_scale,
            max_rps: args.max_rps,
            seed,
            run_id: run_id.clone(),
            long_windows: args.long_windows,
            after_contract: args.only != Some(Phase::Load),
        };
        let phases = (args.only != Some(Phase::Load), args.only != Some(Phase::Contract));
        let runner = tokio::spawn(async move {
            if phases.0 {
                contract::run(target.clone(), scenarios, run_id, seed, sender.clone()).await;
            }
            if phases.1 && !load::driver::interrupted() {
                load::run(target, plan, sender).await;
            }
        });
        let past_deadline = || deadline.is_some_and(|d| Instant::now() >= d);
        // An interval, not a fresh sleep per loop: a steady stream of events must not
        // starve the checks.
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        // Only a load phase reports what an interrupted phase measured; a contract step
        // waiting on a silent target is abandoned at once.
        let mut load_started = false;
        let stopped = loop {
            tokio::select! {
                event = receiver.recv() => match event {
                    Some(Event::Progress(progress)) => {
                        load_started = true;
                        live.update(&progress);
                    }
                    Some(event) => {
                        live.print(&terminal::event(&event, style), |text| out.print(text));
                        report.apply(event);
                    }
                    // goose owns SIGINT while it runs; its interruption shows up here.
                    None => break load::driver::interrupted().then_some(Stop::Interrupted),
                },
                _ = tick.tick() => {
                    if past_deadline() {
                        break Some(Stop::Deadline);
                    }
                    if load::driver::interrupted() {
                        break Some(Stop::Interrupted);
                    }
                }
            }
        };
        if let Some(stop) = stopped {
            load::driver::halt();
            // The phase in progress ends with the kill switch and reports what it measured;
            // give it a moment, never more.
            let grace = tokio::time::sleep(if load_started {
                STOP_GRACE
            } else {
                std::time::Duration::ZERO
            });
            tokio::pin!(grace);
            loop {
                tokio::select! {
                    event = receiver.recv() => match event {
                        Some(Event::Progress(_)) => {}
                        Some(event) => {
                            live.print(&terminal::event(&event, style), |text| out.print(text));
                            report.apply(event);
                        }
                        None => break,
                    },
                    () = &mut grace => break,
                }
            }
            runner.abort();
            report.complete = false;
            report.stopped_by = Some(stop);
        }
                report.duration_ms = started.elapsed().as_millis() as u64;
        report.ended = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
                out.print(&terminal::summary(&report, style));
        let folder = report::write_all(&report, &args.report_dir, &redactor).map_err(Error::Runtime)?;
        out.print(&format!("reports: {}/ (report.json, junit.xml, summary.md, report.html, terminal.txt)\n", folder.display()));
                let mut regressed = false;
        if let Some(old) = &baseline {
            let new: serde_json::Value = serde_json::from_str(&report::json::render(&report)).expect("our own JSON");
            let d = report::diff::diff(old, &new, thresholds);
            out.print(&format!("\nagainst the baseline:\n{}", report::diff::render(&d)));
            regressed = !d.regressions.is_empty();
        }
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            out.print(&report::markdown::annotations(&report));
        }
        if let Some(server) = embedded {
            let _ = server.stop().await;
        }
        if stopped == Some(Stop::Deadline) {
            let limit = humantime::format_duration(args.deadline.unwrap_or_default());
            return Err(Error::Runtime(format!(
                "the run did not finish within --deadline {limit}; what was measured is in {}",
                folder.display()
            )));
        }
        Ok(ExitCode::from(if stopped.is_some() {
            exit::INTERRUPTED
        } else if !report.passed() || regressed {
            exit::CHECK_FAILED
        } else if report.verdict() == "nothing-checked" {
            exit::NOTHING_CHECKED
        } else {
            exit::PASSED
        }))
    })
}

/// The report folder exists (or is created) and takes a file.
fn check_report_dir(dir: &Path) -> Result<(), Error> {
    let unusable = |e: std::io::Error| {
        Error::Usage(format!(
            "cannot write reports to `{}`: {e} (pass --report-dir with a writable folder)",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(unusable)?;
    let probe = dir.join(format!(".tollgate-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(unusable)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn load_profile(path: &Path) -> Result<Profile, Error> {
    let loaded = profile::load(path).map_err(Error::Usage)?;
    if !loaded.diagnostics.is_empty() {
        let sources = vec![(path.to_string_lossy().into_owned(), loaded.source)];
        print_diagnostics(&loaded.diagnostics, &sources);
        return Err(Error::Usage(format!(
            "the profile `{}` has {} error(s)",
            path.display(),
            loaded.diagnostics.len()
        )));
    }
    Ok(loaded.profile.expect("no diagnostics means a profile"))
}

/// `--target`, else the profile's base URL, else an embedded reference server.
async fn resolve_target(
    args: &RunArgs,
    profile: Profile,
) -> Result<(Arc<Target>, Option<RunningServer>), Error> {
    let url = args.target.clone().or_else(|| profile.base_url.clone());
    let Some(url) = url else {
        let ring = KeyRing::generate();
        let mut config = ServerConfig::new(profile.reference, ring.clone());
        // The concurrency probe holds requests open through `delay_ms`.
        config.test_hooks = true;
        let server = RunningServer::start(config).await.map_err(|e| {
            Error::Runtime(format!("cannot start the embedded reference server: {e}"))
        })?;
        let mut target = Target::embedded(server.base_url(), &ring, profile);
        target.snapshots.update = args.update_snapshots;
        return Ok((Arc::new(target), Some(server)));
    };
    profile::validate_base_url(&url).map_err(Error::Usage)?;
    let key_vars = contract::key_vars(&profile);
    let mut keys: HashMap<AuthKind, Secret> = key_vars
        .iter()
        .filter_map(|(kind, var)| {
            let value = std::env::var(var).ok().filter(|v| !v.trim().is_empty())?;
            Some((*kind, Secret::new(value.trim())))
        })
        .collect();
    if !keys.contains_key(&AuthKind::Valid) {
        return Err(Error::Usage(format!(
            "{} is not set: the primary API key is required to check {url} (export it, never pass it as an argument)",
            profile.keys.primary
        )));
    }
    keys.insert(AuthKind::Invalid, contract::invalid_key());
    let target = Target {
        base_url: url.trim_end_matches('/').to_string(),
        snapshots: SnapshotStore {
            dir: profile.snapshots.clone(),
            update: args.update_snapshots,
        },
        profile,
        keys,
        key_vars,
        redactor: Default::default(),
        insecure: args.insecure,
        client: Default::default(),
    };
    Ok((Arc::new(target), None))
}

/// Load goes only where the user meant it to: loopback, or anything with --allow-load.
fn is_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Usage errors of the load options, before anything is sent.
fn check_load_plan(args: &RunArgs, profile: &Profile) -> Result<(), Error> {
    if !(args.duration_scale > 0.0 && args.duration_scale <= 20.0) {
        return Err(Error::Usage("--duration-scale must be in (0, 20]".into()));
    }
    if args.max_rps.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return Err(Error::Usage("--max-rps must be positive".into()));
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

/// What the user should know about how the keys travel, before anything is sent.
fn transport_warnings(target: &Target) -> Vec<String> {
    let mut warnings = Vec::new();
    let presents_keys = target.keys.len() > 1; // beyond the generated invalid key
    if target.base_url.starts_with("http://") && !is_loopback(&target.base_url) && presents_keys {
        warnings.push(format!(
            "{} is plain HTTP: the API keys travel in clear text to a non-loopback host; use https://",
            target.base_url
        ));
    }
    if target.insecure {
        warnings.push(
            "--insecure: TLS certificates are not checked, so the target's identity is not either"
                .into(),
        );
    }
    warnings
}

/// One request to the base URL: any HTTP answer means the target is there.
async fn preflight(target: &Target) -> Result<(), Error> {
    let client = target.client();
    let timeout = std::time::Duration::from_millis(target.profile.contract.timeout_ms);
    match client.get(&target.base_url).timeout(timeout).send().await {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::Runtime(format!(
            "cannot reach {}: {}",
            target.base_url,
            contract::client::classify(&e, timeout)
        ))),
    }
}

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    u64::from_le_bytes(bytes)
}

fn run_id(seed: u64) -> String {
    // 2026-11-23T20:55:14Z → 20261123T205514Z: sortable, and safe as a folder name.
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{stamp}-{:04x}", seed & 0xffff)
}

/// Writes redacted text to stdout; once stdout is closed (`| head`), stays quiet instead
/// of failing.
struct Printer {
    closed: bool,
    redactor: crate::secret::Redactor,
}

impl Printer {
    fn print(&mut self, text: &str) {
        if self.closed {
            return;
        }
        let text = self.redactor.redact(text);
        let mut stdout = std::io::stdout().lock();
        if stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush())
            .is_err()
        {
            self.closed = true;
        }
    }
}
