//! `tollgate run`: prepare (profile, scenarios, flags, report folder), drive (reach the
//! target, run the phases, show and collect their events), finish (reports, baseline, exit
//! code).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::cli::{Format, Phase, RunArgs};
use super::lint::load_scenarios;
use super::run_options::{check_load_plan, check_shard};
use crate::contract;
use crate::contract::client::TransportError;
use crate::error::{exit, Error};
use crate::event::{Attempt, CheckResult, Event, StepResult, Verdict};
use crate::load::perf::measured::{self, ShardIndex, ShardMeasurements, WorkloadMeasured};
use crate::load::perf::PerfPlan;
use crate::load::{self, LoadPlan};
use crate::profile::{self, Profile};
use crate::report;
use crate::report::model::{ShardOfRun, Stop};
use crate::report::progress::Live;
use crate::report::terminal::{self, Style};
use crate::report::Report;
use crate::scenario::{Origin, Scenario};
use crate::secret::Redactor;
use crate::stop::StopSignal;
use crate::target::{self, Target};
use crate::transport::{self, HttpVersion, Proxies, Transport};

/// How long a stopped run waits for the interrupted phase to report what it measured.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// `tollgate run` in three steps: everything that can be refused is refused before the first
/// request (prepare), the phases run while the events are shown and collected (drive), and
/// the reports are written whatever happened (finish).
pub fn run(args: RunArgs) -> Result<ExitCode, Error> {
    // The reported duration is the run's wall time, from here to the last artifact.
    let started = Instant::now();
    let inputs = prepare(&args)?;
    crate::stop::install_signal_handler().map_err(Error::Runtime)?;
    // This run's one stop: Ctrl-C and SIGTERM reach it while attached, `--deadline` below.
    let stop = StopSignal::new();
    let _attached = stop.attach();
    super::runtime()?.block_on(execute(args, inputs, started, stop))
}

/// What a run reads before it sends anything.
struct Inputs {
    baseline: Option<serde_json::Value>,
    profile: Profile,
    scenarios: Vec<Scenario>,
    seed: u64,
}

/// Every usage error a run can have, found before the first request: a typo must not cost
/// a twenty-minute run.
fn prepare(args: &RunArgs) -> Result<Inputs, Error> {
    let baseline = match &args.baseline {
        Some(path) => Some(super::report::read(path)?),
        None => None,
    };
    let profile = super::load_profile(&args.profile)?;
    let scenarios = if args.only.is_some_and(|only| only != Phase::Contract) {
        Vec::new()
    } else {
        contract_scenarios(args, &profile)?
    };
    if args.only != Some(Phase::Contract) {
        check_load_plan(args, &profile)?;
    }
    check_shard(args, &profile)?;
    if args.deadline.is_some_and(|d| d.is_zero()) {
        return Err(Error::Usage(
            "--deadline 0 would stop the run before it starts: give a duration such as 90s or 15m"
                .into(),
        ));
    }
    check_report_dir(&args.report_dir)?;
    Ok(Inputs {
        baseline,
        profile,
        scenarios,
        seed: args.seed.unwrap_or_else(random_seed),
    })
}

fn contract_scenarios(args: &RunArgs, profile: &Profile) -> Result<Vec<Scenario>, Error> {
    let root = args
        .scenarios
        .clone()
        .or_else(|| profile.scenarios.clone())
        .unwrap_or_else(|| PathBuf::from("scenarios"));
    let scenarios = load_scenarios(std::slice::from_ref(&root))?;
    if scenarios.is_empty() {
        return Err(Error::Usage(format!(
            "no scenario files under `{}`",
            root.display()
        )));
    }
    Ok(scenarios)
}

/// How the phases ended.
struct Ending {
    stopped_by: Option<Stop>,
    /// What `--measure-only` workloads measured.
    measured: Vec<WorkloadMeasured>,
    /// The target could not be reached: nothing ran, and the run is a runtime error.
    unreachable: Option<String>,
}

async fn execute(
    args: RunArgs,
    inputs: Inputs,
    started: Instant,
    stop: StopSignal,
) -> Result<ExitCode, Error> {
    if let Some(limit) = args.deadline {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until((started + limit).into()).await;
            stop.stop(Stop::Deadline);
        });
    }
    let (target, embedded) = resolve_target(&args, inputs.profile).await?;
    confirm_load(&args, &target)?;
    for warning in transport_warnings(&target) {
        eprintln!("warning: {warning}");
    }
    if let Some(proxy) = target
        .options()
        .transport
        .proxies
        .used_for(target.base_url())
    {
        eprintln!("proxy: {proxy}");
    }
    let mut report = new_report(&target, &embedded, inputs.seed);
    report.shard = ShardOfRun {
        index: args.shard.index,
        total: args.shard.count,
        start_at: args
            .start_at
            .map(|at| humantime::format_rfc3339_millis(at).to_string()),
        merged: false,
    };
    let mut console = Console::new(&target, report, args.format == Format::Json);
    console.show(&terminal::header(&console.report));
    let ending = match preflight(&target, &stop).await {
        Reach::Reached => {
            let (stopped_by, measured) =
                drive(&mut console, &args, target, inputs.scenarios, &stop).await;
            Ending {
                stopped_by,
                measured,
                unreachable: None,
            }
        }
        Reach::Unreachable(step, message) => {
            console.apply(Event::StepFinished(*step));
            console.apply(Event::RunFinished { stopped_by: None });
            Ending {
                stopped_by: None,
                measured: Vec::new(),
                unreachable: Some(message),
            }
        }
        Reach::Stopped(why) => {
            console.apply(Event::RunFinished {
                stopped_by: Some(why),
            });
            Ending {
                stopped_by: Some(why),
                measured: Vec::new(),
                unreachable: None,
            }
        }
    };
    let exit = finish(console, &args, started, inputs.baseline.as_ref(), ending);
    if let Some(server) = embedded {
        server.stop().await;
    }
    exit
}

fn new_report(target: &Target, embedded: &Option<target::Embedded>, seed: u64) -> Report {
    Report {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: run_id(seed),
        target: target.base_url().to_string(),
        target_kind: match embedded {
            Some(_) => format!(
                "embedded reference server, profile {}",
                target.profile().reference
            ),
            None => "external".to_string(),
        },
        profile: target.profile().file.clone(),
        seed,
        started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        ended: String::new(),
        duration_ms: 0,
        steps: Vec::new(),
        phases: Vec::new(),
        complete: true,
        stopped_by: None,
        shard: ShardOfRun::default(),
    }
}

/// Runs the phases, showing and collecting their events until they end or the run is
/// stopped (Ctrl-C, SIGTERM, `--deadline`); returns what stopped it.
/// Also what `--measure-only` workloads measured.
async fn drive(
    console: &mut Console,
    args: &RunArgs,
    target: Arc<Target>,
    scenarios: Vec<Scenario>,
    stop: &StopSignal,
) -> (Option<Stop>, Vec<WorkloadMeasured>) {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let plan = LoadPlan {
        classes: args.classes.clone(),
        duration_scale: args.duration_scale,
        max_rps: args.max_rps,
        seed: console.report.seed,
        run_id: console.report.run_id.clone(),
        long_windows: args.long_windows,
        after_contract: args.only.is_none(),
    };
    let perf = PerfPlan {
        workloads: args.workloads.clone(),
        duration_scale: args.duration_scale,
        max_rps: args.max_rps,
        run_id: plan.run_id.clone(),
        shard: args.shard,
        start_at: args.start_at,
        measure_only: args.measure_only,
    };
    let (run_id, seed) = (plan.run_id.clone(), plan.seed);
    let (contract_phase, load_phase, perf_phase) = phases(args);
    let phases_stop = stop.clone();
    let runner = tokio::spawn(async move {
        if contract_phase {
            contract::run(target.clone(), scenarios, run_id, seed, sender.clone()).await;
        }
        if load_phase && !phases_stop.is_stopped() {
            load::run(target.clone(), plan, sender.clone(), phases_stop.clone()).await;
        }
        if perf_phase && !phases_stop.is_stopped() {
            return load::perf::run(target, perf, sender, phases_stop).await;
        }
        Vec::new()
    });
    let stopped_by = watch(console, &mut receiver, stop).await;
    if stopped_by.is_some() {
        // The load phase in progress ends with goose's kill switch and reports what it
        // measured: give it a moment, never more. A contract step waiting on a silent
        // target is abandoned at once.
        let grace = if console.load_started {
            STOP_GRACE
        } else {
            Duration::ZERO
        };
        drain(console, &mut receiver, grace).await;
        runner.abort();
    }
    console.apply(Event::RunFinished { stopped_by });
    // Every sender is gone when the phases ended: the runner is done.
    let measured = match stopped_by {
        None => runner.await.unwrap_or_default(),
        Some(_) => Vec::new(),
    };
    (stopped_by, measured)
}

/// Which phases a run has: `--only` names one. Without it, a run is contract, load and
/// perf, and the narrowing flags choose among the last two: `--class` alone leaves the
/// workloads out, `--workload` alone the rate classes.
fn phases(args: &RunArgs) -> (bool, bool, bool) {
    match args.only {
        Some(only) => (
            only == Phase::Contract,
            only == Phase::Load,
            only == Phase::Perf,
        ),
        None => {
            let (classes, workloads) = (!args.classes.is_empty(), !args.workloads.is_empty());
            (true, classes || !workloads, workloads || !classes)
        }
    }
}

/// Shows and collects events until the phases end (`None`) or the run is stopped.
async fn watch(
    console: &mut Console,
    receiver: &mut mpsc::UnboundedReceiver<Event>,
    stop: &StopSignal,
) -> Option<Stop> {
    loop {
        tokio::select! {
            event = receiver.recv() => match event {
                Some(event) => console.apply(event),
                None => return stop.reason(),
            },
            () = stop.stopped() => return stop.reason(),
        }
    }
}

/// Collects what the stopped phases still report, for at most `grace`.
async fn drain(
    console: &mut Console,
    receiver: &mut mpsc::UnboundedReceiver<Event>,
    grace: Duration,
) {
    let grace = tokio::time::sleep(grace);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            event = receiver.recv() => match event {
                Some(Event::Progress(_)) => {}
                Some(event) => console.apply(event),
                None => return,
            },
            () = &mut grace => return,
        }
    }
}

/// Writes every report whatever ended the run, compares with the baseline, and turns the
/// ending into the exit code.
fn finish(
    mut console: Console,
    args: &RunArgs,
    started: Instant,
    baseline: Option<&serde_json::Value>,
    ending: Ending,
) -> Result<ExitCode, Error> {
    let report = &mut console.report;
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.ended = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let summary = terminal::summary(report, console.style);
    console.show(&summary);
    let folder = report::write_all(&console.report, &args.report_dir, &console.redactor)
        .map_err(Error::Runtime)?;
    console.show(&format!(
        "reports: {}/ (report.json, junit.xml, summary.md, report.html, terminal.txt)\n",
        folder.display()
    ));
    report::link_latest(&args.report_dir, &folder);
    if args.measure_only && ending.unreachable.is_none() && ending.stopped_by.is_none() {
        if ending.measured.is_empty() {
            return Err(Error::Runtime(format!(
                "--measure-only: no workload was measured, so no measurements.json was written \
                 (the reports in {} say why)",
                folder.display()
            )));
        }
        let file = measurements_file(&console, args, ending.measured);
        let path = folder.join(measured::FILE_NAME);
        // Whole or not at all: a merge never reads a file cut short.
        let partial = folder.join(format!("{}.partial", measured::FILE_NAME));
        std::fs::write(&partial, file)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| Error::Runtime(format!("cannot write {}: {e}", path.display())))?;
        console.show(&format!(
            "measurements: {} (judge them with `tollgate report merge`)\n",
            path.display()
        ));
    }
    if args.format == Format::Json {
        // The file as written (redacted), so stdout and the artifact never differ.
        let json = std::fs::read_to_string(folder.join("report.json"))
            .map_err(|e| Error::Runtime(format!("cannot read back report.json: {e}")))?;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(json.as_bytes())
            .and_then(|_| stdout.flush());
    }
    let regressed = baseline.is_some_and(|old| compare(&mut console, old));
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        console.show(&report::markdown::annotations(&console.report));
    }
    if let Some(message) = ending.unreachable {
        return Err(Error::Runtime(format!(
            "{message}; the reports in {} say so",
            folder.display()
        )));
    }
    let code = match ending.stopped_by {
        Some(Stop::Deadline) => {
            let limit = humantime::format_duration(args.deadline.unwrap_or_default());
            return Err(Error::Runtime(format!(
                "the run did not finish within --deadline {limit}; what was measured is in {}",
                folder.display()
            )));
        }
        Some(Stop::Interrupted) => exit::INTERRUPTED,
        None if !console.report.passed() || regressed => exit::CHECK_FAILED,
        // Measuring was the job; `report merge` judges.
        None if args.measure_only => exit::PASSED,
        None if console.report.verdict() == "nothing-checked" => exit::NOTHING_CHECKED,
        None => exit::PASSED,
    };
    Ok(ExitCode::from(code))
}

/// What `--measure-only` writes: this shard's measurements of each workload.
fn measurements_file(
    console: &Console,
    args: &RunArgs,
    workloads: Vec<WorkloadMeasured>,
) -> String {
    let file = ShardMeasurements {
        format: measured::FORMAT.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        run_id: console.report.run_id.clone(),
        target: console.redactor.redact(&console.report.target),
        shard: ShardIndex {
            index: args.shard.index,
            count: args.shard.count,
        },
        start_at: console.report.shard.start_at.clone(),
        duration_scale: args.duration_scale,
        max_rps: args.max_rps,
        workloads,
    };
    serde_json::to_string(&file).expect("measurements serialise")
}

/// Shows the comparison with the baseline; true when something regressed.
fn compare(console: &mut Console, old: &serde_json::Value) -> bool {
    let new: serde_json::Value =
        serde_json::from_str(&report::json::render(&console.report)).expect("our own JSON");
    let thresholds = console.thresholds;
    let d = report::diff::diff(old, &new, thresholds, report::diff::Missing::Regression);
    console.show(&format!(
        "\nagainst the baseline:\n{}",
        report::diff::render(&d)
    ));
    !d.regressions.is_empty()
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

/// `--target`, else the profile's base URL, else an embedded reference server.
async fn resolve_target(
    args: &RunArgs,
    profile: Profile,
) -> Result<(Arc<Target>, Option<target::Embedded>), Error> {
    let options = target::Options {
        transport: transport_of(args, environment)?,
        update_snapshots: args.update_snapshots,
    };
    let url = args.target.clone().or_else(|| profile.base_url.clone());
    let Some(url) = url else {
        let (target, server) = target::start_embedded(profile, options)
            .await
            .map_err(|e| {
                Error::Runtime(format!("cannot start the embedded reference server: {e}"))
            })?;
        return Ok((Arc::new(target), Some(server)));
    };
    profile::validate_base_url(&url).map_err(Error::Usage)?;
    check_proxy_for(&options.transport, &url)?;
    let target = Target::external(&url, profile, |var| std::env::var(var).ok(), options)
        .map_err(Error::Usage)?;
    Ok((Arc::new(target), None))
}

/// The connection settings of the run's options and the proxy variables, all checked
/// before anything is sent: a CA file with no certificate, a key that does not match its
/// certificate or an unusable proxy URL is a usage error, never silently ignored.
fn transport_of(args: &RunArgs, env: impl Fn(&str) -> Option<String>) -> Result<Transport, Error> {
    let roots = match &args.ca_cert {
        Some(path) => transport::trusted_roots(path)
            .map_err(|why| Error::Usage(format!("--ca-cert `{}`: {why}", path.display())))?,
        None => Vec::new(),
    };
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            Some(transport::client_identity(cert, key).map_err(Error::Usage)?)
        }
        _ => None,
    };
    Ok(Transport {
        insecure: args.insecure,
        roots,
        identity,
        http: args.http,
        proxies: Proxies::from_env(env),
    })
}

/// A variable of the process environment; one that is not UTF-8 reads as a value no
/// parser accepts, so a proxy variable that cannot be read is an error, not silently unset.
fn environment(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotUnicode(_)) => Some("(not UTF-8)".into()),
        Err(std::env::VarError::NotPresent) => None,
    }
}

/// The proxy that would carry the requests to `url` must be usable, and able to carry
/// what `--http` asks for.
fn check_proxy_for(transport: &Transport, url: &str) -> Result<(), Error> {
    transport.proxies.check(url).map_err(Error::Usage)?;
    let proxied = transport.proxies.used_for(url);
    if let (Some(proxy), HttpVersion::Http2, true) =
        (proxied, transport.http, url.starts_with("http://"))
    {
        return Err(Error::Usage(format!(
            "--http 2 on an http:// target speaks h2c, which a forward proxy ({proxy}) does \
             not carry: exempt the host with NO_PROXY, use https://, or drop --http 2"
        )));
    }
    Ok(())
}

/// Refuses a load phase aimed at a remote target without `--allow-load`.
fn confirm_load(args: &RunArgs, target: &Target) -> Result<(), Error> {
    if args.only == Some(Phase::Contract) || args.allow_load || is_loopback(target.base_url()) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "the load phase would send hundreds of requests per second to {}: pass --allow-load to \
         confirm (or --only contract)",
        target.base_url()
    )))
}

/// Load goes only where the user meant it to: this machine, or anything with --allow-load.
fn is_loopback(url: &str) -> bool {
    transport::is_local(url)
}

/// What the user should know about how the keys travel, before anything is sent.
fn transport_warnings(target: &Target) -> Vec<String> {
    let mut warnings = Vec::new();
    let presents_keys = target.presents_keys();
    if target.base_url().starts_with("http://") && !is_loopback(target.base_url()) && presents_keys
    {
        warnings.push(format!(
            "{} is plain HTTP: the API keys travel in clear text to a non-loopback host; use \
             https://",
            target.base_url()
        ));
    }
    let transport = &target.options().transport;
    if transport.insecure {
        warnings.push(
            "--insecure: TLS certificates are not checked, so the target's identity is not either"
                .into(),
        );
        if transport.proxies.any_https() {
            warnings.push(
                "--insecure also stops the https:// proxy's certificate from being checked: its \
                 password goes to whoever answers"
                    .into(),
            );
        }
    }
    if transport.identity.is_some() && transport.proxies.any_https() {
        warnings
            .push("the client certificate (--cert) is also offered to the https:// proxy".into());
    }
    warnings
}

/// Whether the target answered the first request.
enum Reach {
    Reached,
    /// No answer: the failed step the reports show, and the message the run ends with.
    Unreachable(Box<StepResult>, String),
    /// The run was stopped (`--deadline`, Ctrl-C) before an answer came.
    Stopped(Stop),
}

/// One request to the base URL, bounded by the contract timeout and by the run's stop (a
/// `--deadline` covers it): any HTTP answer means the target is there.
async fn preflight(target: &Target, stop: &StopSignal) -> Reach {
    let timeout = Duration::from_millis(target.profile().contract.timeout_ms);
    let sent = Instant::now();
    let request = target
        .client()
        .get(target.base_url())
        .timeout(timeout)
        .send();
    let error = tokio::select! {
        answer = request => match answer {
            Ok(_) => return Reach::Reached,
            Err(e) => contract::client::classify(&e, timeout),
        },
        () = stop.stopped() => return Reach::Stopped(stop.reason().unwrap_or(Stop::Interrupted)),
    };
    let error = tokio::select! {
        diagnosed = diagnosed_over_http1(target, error, timeout) => diagnosed,
        () = stop.stopped() => return Reach::Stopped(stop.reason().unwrap_or(Stop::Interrupted)),
    };
    let message = format!("cannot reach {}: {error}", target.base_url());
    let origin = Origin {
        file: target.profile().file.clone(),
        line: 0,
        col: 0,
    };
    let step = StepResult {
        scenario: "reachability".into(),
        file: origin.file.clone(),
        step: "reach the target".into(),
        request: "GET /".into(),
        origin: origin.clone(),
        attempts: vec![Attempt {
            status: None,
            latency_ms: sent.elapsed().as_secs_f64() * 1000.0,
            waited_ms: 0,
        }],
        checks: vec![
            CheckResult::new(error.check_id(), Verdict::Failed, message.clone()).at(&origin),
        ],
    };
    Reach::Unreachable(Box::new(step), message)
}

/// Over HTTP/2 a TLS alert that comes after the handshake (TLS 1.3's "certificate
/// required", a refused client certificate) closes the connection, and the request only
/// learns "channel closed". One more request over HTTP/1.1 reads the alert itself, so the
/// message can say what to do; any other answer leaves the first error as it was.
async fn diagnosed_over_http1(
    target: &Target,
    error: TransportError,
    timeout: Duration,
) -> TransportError {
    let transport = &target.options().transport;
    let vague = !matches!(
        error,
        TransportError::Tls { .. } | TransportError::Dns { .. } | TransportError::Timeout(_)
    );
    if !vague || !target.base_url().starts_with("https://") || transport.http != HttpVersion::Auto {
        return error;
    }
    let http1 = Transport {
        http: HttpVersion::Http1,
        ..transport.clone()
    };
    let client = contract::client::build(&http1);
    // Under TLS 1.3 the server's alert (a client certificate required) races the request:
    // it may land after the client thinks the handshake is done, and the error then says
    // less. A few fresh connections, only on this failure path, nearly always catch it.
    for _ in 0..DIAGNOSIS_ATTEMPTS {
        let answer = client.get(target.base_url()).timeout(timeout).send().await;
        match answer.map_err(|e| contract::client::classify(&e, timeout)) {
            Err(tls @ TransportError::Tls { .. }) => return tls,
            Err(TransportError::Timeout(_)) | Ok(_) => break,
            Err(_) => {}
        }
    }
    error
}

/// Connections the HTTP/1.1 diagnosis opens at most.
const DIAGNOSIS_ATTEMPTS: usize = 3;

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

/// The run's terminal and report: every event is shown (redacted) and collected. The
/// human lines go to stdout, or to stderr when stdout carries report.json. Once that stream
/// is closed (`| head`), it stays quiet instead of failing.
struct Console {
    report: Report,
    /// The human lines go to stderr (stdout is for report.json).
    to_stderr: bool,
    redactor: Redactor,
    style: Style,
    thresholds: report::diff::Thresholds,
    live: Live,
    load_started: bool,
    closed: bool,
}

impl Console {
    fn new(target: &Target, report: Report, to_stderr: bool) -> Self {
        let terminal = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        Console {
            report,
            to_stderr,
            // Every line and artifact passes through it: a target that echoes a key must not
            // make tollgate print or store that key.
            redactor: target.redactor(),
            style: Style::for_stream(terminal),
            thresholds: target.profile().baseline,
            live: Live::new(terminal),
            load_started: false,
            closed: false,
        }
    }

    fn apply(&mut self, event: Event) {
        if let Event::Progress(progress) = &event {
            self.load_started = true;
            self.live.update(progress);
            return;
        }
        let text = terminal::event(&event, self.style);
        let mut live = std::mem::replace(&mut self.live, Live::new(false));
        live.print(&text, |text| self.show(text));
        self.live = live;
        self.report.apply(event);
    }

    fn show(&mut self, text: &str) {
        if self.closed {
            return;
        }
        let text = self.redactor.redact(text);
        let written = if self.to_stderr {
            let mut stderr = std::io::stderr().lock();
            stderr
                .write_all(text.as_bytes())
                .and_then(|_| stderr.flush())
        } else {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush())
        };
        self.closed = written.is_err();
    }
}
