//! The command line. Only argument shapes live here; behaviour is in [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use super::serve::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "Contract and rate-limit conformance harness for HTTP APIs",
    after_help = "Exit codes: 0 all checks passed, 1 a check failed, 2 usage/parse/lint error, \
                  3 runtime error (target unreachable, I/O), 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a deployment (the embedded reference server when no target is given).
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchKind {
    Pacing,
    Throughput,
    Memory,
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
    /// Measurements to make (repeatable); default: memory, pacing, throughput.
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    Contract,
    Load,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Base URL of the API under test; absent: start the embedded reference server.
    #[arg(long)]
    pub target: Option<String>,
    /// Target profile.
    #[arg(long, default_value = "tollgate.yaml")]
    pub profile: PathBuf,
    /// Scenario file or folder (default: the profile's `scenarios`, else scenarios/).
    #[arg(long)]
    pub scenarios: Option<PathBuf>,
    /// Run only one phase.
    #[arg(long, value_enum)]
    pub only: Option<Phase>,
    /// Rate classes to load (repeatable); default: all.
    #[arg(long = "class", value_name = "NAME")]
    pub classes: Vec<String>,
    /// Where run folders with reports (report.json, junit.xml, summary.md) are written.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// An earlier report.json to compare against: regressions beyond the profile's
    /// `baseline` thresholds fail the run.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Rewrite response snapshots instead of comparing them.
    #[arg(long)]
    pub update_snapshots: bool,
    /// Allow load against a non-loopback target.
    #[arg(long)]
    pub allow_load: bool,
    /// Multiply every load phase's duration (longer runs, tighter estimates).
    #[arg(long, default_value_t = 1.0)]
    pub duration_scale: f64,
    /// Cap the request rate of every load schedule.
    #[arg(long)]
    pub max_rps: Option<f64>,
    /// Seed for unique values and jitter.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Wait out the Retry-After of minute and hour limits (up to a window and 10 s) to
    /// test the back-off promise; without it a longer promise is recorded, not judged.
    #[arg(long)]
    pub long_windows: bool,
    /// Accept any TLS certificate (self-signed staging servers); never for production.
    #[arg(long)]
    pub insecure: bool,
    /// Stop the whole run after this long (e.g. `90s`, `10m`), write what was measured as
    /// an incomplete report, and exit 3.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub deadline: Option<std::time::Duration>,
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
}
