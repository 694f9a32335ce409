//! The reference APIs tollgate knows by name. The embedded server impersonates each (its
//! behaviour is `server::config`'s `impl ServerProfile`); a profile's `reference:` names
//! the one its embedded target runs, so the harness names them without depending on the
//! server.

use std::fmt;

/// The API styles the reference server can impersonate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerProfile {
    /// X-API-KEY or Bearer; 100/s read and write, 20/s files and search.
    Ouro,
    /// X-API-KEY only; same limits as ouro.
    #[value(name = "x-api-key")]
    XApiKey,
    /// Bearer only; users v1 API with 100/min and 5000/hour on every request.
    #[value(name = "bearer-v1")]
    BearerV1,
    /// `Authorization: apikey <key>` only; same limits as ouro.
    #[value(name = "apikey")]
    ApiKey,
}

impl fmt::Display for ServerProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerProfile::Ouro => "ouro",
            ServerProfile::XApiKey => "x-api-key",
            ServerProfile::BearerV1 => "bearer-v1",
            ServerProfile::ApiKey => "apikey",
        })
    }
}
