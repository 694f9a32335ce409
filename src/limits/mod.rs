//! The domain of rate limits, shared by the harness and the reference server: what a
//! published limit is ([`Policy`]), the limiter families a deployment may run behind it
//! ([`Algorithm`], each a cell per bucket), and a keyed [`Limiter`] of buckets that
//! decides and reports state; the [`Family`] a black-box client sees and the
//! [`Fingerprint`] of one. The server enforces with it; the harness simulates real
//! limiters with it to test its own verdicts. Nothing here knows HTTP.

mod algorithm;
mod family;
mod limiter;
mod policy;

pub use algorithm::Algorithm;
pub use family::{Family, Fingerprint};
pub use limiter::{Decision, Limiter, PolicyState, Rules};
pub use policy::Policy;
