//! tollgate: does this deployment keep its API contract?
//!
//! tollgate runs YAML scenarios against a base URL to confirm status codes, the JSON error
//! shape and API-key handling, then drives load to confirm published rate limits and the
//! 429 / back-off behaviour. With no target it starts its own conformant reference server.
//!
//! # Module map
//!
//! From the bottom up; each layer uses only its own and the ones below (`tests/layout.rs`
//! checks it). `ARCHITECTURE.md` has the flow of a run and the invariants.
//!
//! * domain: [`keys`] (key roles and credentials), [`limits`] (policies, limiter families,
//!   fingerprints), [`reference`] (the reference APIs by name).
//! * base: [`error`], [`files`] (bounded, confined reads), [`secret`], [`yaml`], [`decode`],
//!   [`diagnostic`], [`event`] (what runners emit), [`stop`] (one stop signal per run).
//! * formats: [`scenario`], [`profile`].
//! * harness: [`target`] (the deployment under test), [`contract`] and [`load`] (the two
//!   phases), [`report`] (every output format).
//! * [`server`]: the reference server, beside the harness on the domain layer.
//! * [`commands`]: the command line ([`cli`]) and one function per subcommand.

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
pub mod openapi;
pub mod profile;
pub mod reference;
pub mod report;
pub mod scenario;
pub mod secret;
pub mod server;
pub mod stop;
pub mod target;
pub mod transport;
pub mod workload;
pub mod yaml;
