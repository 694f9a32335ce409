//! tollgate: does this deployment keep its API contract?
//!
//! tollgate runs YAML scenarios against a base URL to confirm status codes, the JSON error
//! shape and API-key handling, then drives load to confirm published rate limits and the
//! 429 / back-off behaviour. With no target it starts its own conformant reference server.
//!
//! # Module map
//!
//! * [`cli`] — the command line (clap); [`commands`] — one function per subcommand.
//! * [`server`] — the embedded reference server: config, keys, auth, gate (concurrency and
//!   rate limits), limiter (GCRA), routes, store, and the switchable faults.
//! * [`error`] — the error type and the documented exit codes.
//! * [`files`] — bounded reads of every input file, confined to the project folder.
//!
//! `ARCHITECTURE.md` holds the invariants every module keeps.

pub mod commands;
pub use commands::cli;
pub mod contract;
pub mod decode;
pub mod diagnostic;
pub mod error;
pub mod event;
pub mod files;
pub mod keys;
pub mod limits;
pub mod load;
pub mod profile;
pub mod reference;
pub mod report;
pub mod scenario;
pub mod secret;
pub mod server;
pub mod stop;
pub mod target;
pub mod yaml;
