//! The command line. Only argument shapes live here; behaviour is in [`crate::commands`].

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::load::shard::{parse_instant, Shard};
use crate::transport::HttpVersion;

pub use super::serve::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "Contract and rate-limit conformance harness for HTTP APIs",
    after_help = "Exit codes: 0 all checks passed, 1 a check failed, 2 usage/parse/lint error, \
                  3 runtime error (target unreachable, I/O, --deadline), 4 nothing was \
                  checked, 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `tollgate run --help`'s epilogue: where the keys come from, and examples.
const RUN_HELP: &str = "\
API keys come from the environment, never from arguments: the profile's `keys:` names the
variables (tollgate.yaml: OURO_API_KEY, and OURO_API_KEY_2, OURO_TEST_API_KEY,
OURO_API_KEY_READONLY, OURO_API_KEY_REVOKED for the checks that need them, and
OURO_TENANT_KEYS listing the tenant keys of performance workloads). Most options
can also be set through the environment variable shown beside them; --insecure and
--update-snapshots only on the command line, where a reviewer sees them.

Proxies come from https_proxy, http_proxy and all_proxy (no_proxy exempts hosts; lower
case first, then upper case, as curl reads them); a target on this machine (localhost,
127.0.0.0/8, ::1, 0.0.0.0) never goes through one.

Examples:
  tollgate run                                   # the embedded reference server
  OURO_API_KEY=... tollgate run --target https://staging.example.com --only contract
  tollgate run --target http://127.0.0.1:8080 --class search --deadline 10m
  tollgate run --scenarios scenarios/ouro/users.yaml --only contract
  OURO_TENANT_KEYS=k1,k2,... tollgate run --target https://staging.example.com \
    --only perf --allow-load";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented tollgate.yaml, a first scenario and their JSON Schemas into a
    /// folder, ready to run against the embedded reference server and to edit for your API.
    Init(InitArgs),
    /// Check a deployment (the embedded reference server when no target is given).
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Run the embedded reference server.
    Serve(ServeArgs),
    /// Check scenarios and the profile, reporting every diagnostic at once.
    Lint(LintArgs),
    /// Work with reports.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Measure the load runner (pacing, throughput beside oha and wrk, memory) against a
    /// reference server with limits off.
    Bench(BenchArgs),
    /// Print a shell completion script (e.g. `tollgate completions bash >
    /// ~/.local/share/bash-completion/completions/tollgate`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; `tollgate man | man -l -`).
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchKind {
    Pacing,
    Throughput,
    Memory,
    /// The profile's first workload held at --workload-rate over its tenants.
    Workload,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A server started with `tollgate serve --unlimited --test-hooks`, whose key is in
    /// OURO_API_KEY; absent: one is started as a child process.
    #[arg(long)]
    pub target: Option<String>,
    /// Profile whose first rate class's probe is the request sent.
    #[arg(long, default_value = "tollgate.yaml")]
    pub profile: PathBuf,
    /// Measurements to make (repeatable); default: memory, pacing, throughput, workload.
    #[arg(long, value_enum)]
    pub only: Vec<BenchKind>,
    /// Rates of the pacing runs.
    #[arg(long, value_delimiter = ',', default_value = "20,100,1000,10000")]
    pub rates: Vec<f64>,
    /// Length of each pacing and throughput run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Connections of the saturation runs (tollgate's goose users, oha -c, wrk -c).
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Saturation runs per tool, alternating; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Rate of the memory run.
    #[arg(long, default_value_t = 5000.0)]
    pub memory_rate: f64,
    /// Length of the memory run.
    #[arg(long, default_value_t = 60)]
    pub memory_seconds: u64,
    /// Total rate of the workload run (its tenants and mix from the profile's first
    /// workload; held for --seconds).
    #[arg(long, default_value_t = 5000.0)]
    pub workload_rate: f64,
    /// Pacing and workload runs as this many processes (`--shard 0/N` … `N-1/N` of one
    /// schedule, one start instant), counted together by the server.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub shards: u32,
    /// One process of a sharded benchmark (what `--shards` starts): it sends its share of
    /// the schedule and counts nothing.
    #[arg(long, value_name = "I/N", hide = true, requires = "start_at")]
    pub shard: Option<Shard>,
    /// The instant the shards of a sharded benchmark start at.
    #[arg(
        long,
        value_name = "INSTANT",
        hide = true,
        requires = "shard",
        value_parser = parse_instant
    )]
    pub start_at: Option<std::time::SystemTime>,
}

/// What `run` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// A line per step and a summary.
    #[default]
    Human,
    /// report.json (the lines per step go to stderr).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    /// The scenarios and the auth matrix.
    Contract,
    /// The rate classes under and over their limits.
    Load,
    /// The profile's performance workloads.
    Perf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Base URL of the API under test; absent: start the embedded reference server.
    #[arg(long, env = "TOLLGATE_TARGET")]
    pub target: Option<String>,
    /// Target profile.
    #[arg(long, env = "TOLLGATE_PROFILE", default_value = "tollgate.yaml")]
    pub profile: PathBuf,
    /// Scenario file or folder (default: the profile's `scenarios`, else scenarios/).
    #[arg(long, env = "TOLLGATE_SCENARIOS")]
    pub scenarios: Option<PathBuf>,
    /// Run only one phase.
    #[arg(long, env = "TOLLGATE_ONLY", value_enum)]
    pub only: Option<Phase>,
    /// Rate classes to load (repeatable); default: all.
    #[arg(
        long = "class",
        value_name = "NAME",
        env = "TOLLGATE_CLASSES",
        value_delimiter = ','
    )]
    pub classes: Vec<String>,
    /// Performance workloads to run (repeatable); default: all of the profile's.
    #[arg(
        long = "workload",
        value_name = "NAME",
        env = "TOLLGATE_WORKLOADS",
        value_delimiter = ','
    )]
    pub workloads: Vec<String>,
    /// What stdout gets: the human lines, or report.json for a program to read (the human
    /// lines then go to stderr).
    #[arg(long, env = "TOLLGATE_FORMAT", value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Where run folders with reports (report.json, junit.xml, summary.md) are written;
    /// `latest` in it points at the newest.
    #[arg(long, env = "TOLLGATE_REPORT_DIR", default_value = "reports")]
    pub report_dir: PathBuf,
    /// An earlier report.json to compare against: regressions beyond the profile's
    /// `baseline` thresholds fail the run.
    #[arg(long, env = "TOLLGATE_BASELINE")]
    pub baseline: Option<PathBuf>,
    /// Rewrite response snapshots instead of comparing them.
    #[arg(long)]
    pub update_snapshots: bool,
    /// Allow load against a non-loopback target.
    #[arg(long, env = "TOLLGATE_ALLOW_LOAD", value_parser = BoolishValueParser::new())]
    pub allow_load: bool,
    /// Multiply every load phase's duration (longer runs, tighter estimates).
    #[arg(long, env = "TOLLGATE_DURATION_SCALE", default_value_t = 1.0)]
    pub duration_scale: f64,
    /// Cap the request rate of every load schedule.
    #[arg(long, env = "TOLLGATE_MAX_RPS")]
    pub max_rps: Option<f64>,
    /// Seed for unique values and jitter.
    #[arg(long, env = "TOLLGATE_SEED")]
    pub seed: Option<u64>,
    /// Wait out the Retry-After of minute and hour limits (up to a window and 10 s) to
    /// test the back-off promise; without it a longer promise is recorded, not judged.
    #[arg(long, env = "TOLLGATE_LONG_WINDOWS", value_parser = BoolishValueParser::new())]
    pub long_windows: bool,
    /// Trust the certificate authorities in this PEM file besides the system's (a staging
    /// server behind a private CA): the safe alternative to --insecure.
    #[arg(long, env = "TOLLGATE_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Show this client certificate (PEM file) to servers that ask for one (mTLS);
    /// needs --key.
    #[arg(
        long,
        env = "TOLLGATE_CLIENT_CERT",
        value_name = "PEM",
        requires = "key"
    )]
    pub cert: Option<PathBuf>,
    /// The private key of --cert (PEM file). A file, never an API key: those come from the
    /// environment.
    #[arg(
        long,
        env = "TOLLGATE_CLIENT_KEY",
        value_name = "PEM",
        requires = "cert"
    )]
    pub key: Option<PathBuf>,
    /// HTTP version: `auto` (HTTP/1.1, or HTTP/2 where TLS negotiates it), `1.1`, or `2`
    /// (HTTP/2 only; h2c with prior knowledge on http:// targets).
    #[arg(long, env = "TOLLGATE_HTTP", value_enum, default_value_t = HttpVersion::Auto)]
    pub http: HttpVersion,
    /// Accept any TLS certificate (self-signed staging servers); never for production.
    #[arg(long)]
    pub insecure: bool,
    /// Stop the whole run after this long (e.g. `90s`, `10m`), write what was measured as
    /// an incomplete report, and exit 3.
    #[arg(long, env = "TOLLGATE_DEADLINE", value_parser = humantime::parse_duration)]
    pub deadline: Option<std::time::Duration>,
    /// Send shard I of N of a performance workload's schedule (`--only perf`): the slots
    /// k ≡ I (mod N), so N processes started with one --start-at offer the asked rate
    /// together.
    #[arg(
        long,
        env = "TOLLGATE_SHARD",
        value_name = "I/N",
        default_value = "0/1"
    )]
    pub shard: Shard,
    /// The RFC 3339 instant the workload's schedule starts at (every shard gets the same one,
    /// a few seconds ahead), e.g. 2026-12-03T14:00:00Z.
    #[arg(
        long,
        env = "TOLLGATE_START_AT",
        value_name = "INSTANT",
        value_parser = parse_instant
    )]
    pub start_at: Option<std::time::SystemTime>,
    /// Measure the workload without judging it (`--only perf`): write `measurements.json`
    /// beside the reports for `tollgate report merge`, which judges every shard's together.
    #[arg(long, env = "TOLLGATE_MEASURE_ONLY")]
    pub measure_only: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write into (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
    /// Generate the profile, scenarios and schemas from this OpenAPI 3.0 or 3.1 document
    /// (YAML or JSON, a local file).
    #[arg(long, value_name = "FILE")]
    pub from_openapi: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Scenario files or folders and profiles; default: scenarios/ and tollgate.yaml.
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Show what changed between two report.json files; exit 1 on regressions beyond the
    /// profile's `baseline` thresholds.
    Diff {
        old: PathBuf,
        new: PathBuf,
        /// Profile whose `baseline:` thresholds apply (defaults when it does not exist).
        #[arg(long, default_value = "tollgate.yaml")]
        profile: PathBuf,
        /// Checks of OLD that NEW does not have are not a regression (the selection
        /// changed on purpose).
        #[arg(long)]
        allow_missing: bool,
    },
    /// Add up the measurements of a sharded run (`run --only perf --measure-only --shard
    /// I/N`) and judge them as one run: the usual five reports. Exit 3 when a shard never
    /// reported.
    Merge {
        /// measurements.json files, or folders searched three levels down for them.
        #[arg(required = true, value_name = "DIR")]
        inputs: Vec<PathBuf>,
        /// The profile the shards ran: its workloads' thresholds judge the merge.
        #[arg(long, default_value = "tollgate.yaml")]
        profile: PathBuf,
        /// Where the merged run's folder is written; `latest` in it points at the newest.
        #[arg(long, env = "TOLLGATE_REPORT_DIR", default_value = "reports")]
        report_dir: PathBuf,
    },
}
