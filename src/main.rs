//! Thin entry point: parse arguments, run the command, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use tollgate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match tollgate::commands::execute(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            error.exit_code()
        }
    }
}
