//! One function per subcommand; each returns the process exit code or an [`Error`].

mod lint;
mod run;
mod serve;

pub use lint::render_diagnostics;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::Error;

pub fn execute(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Run(args) => run::run(args),
        Command::Lint(args) => lint::lint(args),
        Command::Report(_) => not_yet("report"),
    }
}

/// Subcommands whose issue has not landed yet say so instead of pretending.
fn not_yet(command: &str) -> Result<ExitCode, Error> {
    Err(Error::Usage(format!(
        "`tollgate {command}` is not yet available in this version"
    )))
}

/// A tokio runtime for one command.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the async runtime: {e}")))
}
