//! One function per subcommand; each returns the process exit code or an [`Error`].

mod bench;
mod bench_shards;
pub mod cli;
mod init;
mod lint;
mod report;
mod report_merge;
mod run;
mod run_options;
mod serve;

pub use lint::render_diagnostics;

use std::process::ExitCode;

use crate::error::Error;
use cli::{Cli, Command};

pub fn execute(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Init(args) => init::init(args),
        Command::Serve(args) => serve::serve(args),
        Command::Run(args) => run::run(args),
        Command::Lint(args) => lint::lint(args),
        Command::Report(command) => report::report(command),
        Command::Bench(args) => bench::bench(args),
        Command::Completions { shell } => print_generated(|out| {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "tollgate", out);
            Ok(())
        }),
        Command::Man => print_generated(|out| {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command).render(out)
        }),
    }
}

/// Writes what `generate` makes to stdout; a closed pipe (`| head`) is not an error.
fn print_generated(
    generate: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<ExitCode, Error> {
    let mut stdout = std::io::stdout().lock();
    match generate(&mut stdout) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Runtime(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// A tokio runtime for one command.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the async runtime: {e}")))
}

/// The profile at `path`, for every command that needs one: its diagnostics are printed
/// (file:line:col) and make this a usage error.
fn load_profile(path: &std::path::Path) -> Result<crate::profile::Profile, Error> {
    let loaded = crate::profile::load(path).map_err(Error::Usage)?;
    if !loaded.diagnostics.is_empty() {
        let sources = vec![(path.to_string_lossy().into_owned(), loaded.source)];
        lint::print_diagnostics(&loaded.diagnostics, &sources);
        return Err(Error::Usage(format!(
            "the profile `{}` has {} error(s)",
            path.display(),
            loaded.diagnostics.len()
        )));
    }
    Ok(loaded.profile.expect("no diagnostics means a profile"))
}
