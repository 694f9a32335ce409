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

// glibc's malloc showed up at ~10% of a saturation profile (`perf record` of `tollgate
// bench --only throughput`): the load path allocates per request (goose, reqwest, hyper).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
