//! The error type of the command line and its documented exit codes.

use std::fmt;
use std::process::ExitCode;

/// Exit codes, as documented in the README.
pub mod exit {
    /// Every check passed.
    pub const PASSED: u8 = 0;
    /// At least one check failed.
    pub const CHECK_FAILED: u8 = 1;
    /// Usage, parse or lint error.
    pub const USAGE: u8 = 2;
    /// Runtime error: target unreachable, I/O.
    pub const RUNTIME: u8 = 3;
    /// The run completed but checked nothing: every check was skipped.
    pub const NOTHING_CHECKED: u8 = 4;
    /// Interrupted by SIGINT/SIGTERM.
    pub const INTERRUPTED: u8 = 130;
}

/// An error that ends a command, with the exit code it maps to.
#[derive(Debug)]
pub enum Error {
    /// The user asked for something that cannot be done as asked (exit 2).
    Usage(String),
    /// Something outside tollgate failed: network, file system (exit 3).
    Runtime(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Error::Usage(_) => exit::USAGE,
            Error::Runtime(_) => exit::RUNTIME,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) | Error::Runtime(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}
