//! What a reference server instance is: its API profile, keys, limits and faults.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{header, HeaderMap};

pub use crate::reference::ServerProfile;

use crate::limits::Policy;

/// How a client presents its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// `X-API-KEY: <key>`
    XApiKey,
    /// `Authorization: Bearer <key>`
    Bearer,
    /// `Authorization: apikey <key>`
    ApiKeyScheme,
}

const ALL_STYLES: [AuthStyle; 3] = [
    AuthStyle::XApiKey,
    AuthStyle::Bearer,
    AuthStyle::ApiKeyScheme,
];

/// The key presented in one of `styles`, if any. A key in the query string is never
/// looked at: URLs end up in logs.
pub fn presented_key<'h>(headers: &'h HeaderMap, styles: &[AuthStyle]) -> Option<&'h str> {
    styles
        .iter()
        .find_map(|style| key_in_style(headers, *style))
}

/// The key presented in any style (for faults that echo it).
pub fn any_presented_key(headers: &HeaderMap) -> Option<&str> {
    presented_key(headers, &ALL_STYLES)
}

fn key_in_style(headers: &HeaderMap, style: AuthStyle) -> Option<&str> {
    let scheme = match style {
        AuthStyle::XApiKey => {
            return headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty());
        }
        AuthStyle::Bearer => "bearer",
        AuthStyle::ApiKeyScheme => "apikey",
    };
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (given.eq_ignore_ascii_case(scheme) && !token.is_empty()).then_some(token)
}

/// What a request does, independent of how a profile groups it into rate classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    Read,
    Write,
    FilesRead,
    FilesWrite,
    Search,
}

impl RouteKind {
    pub fn is_write(self) -> bool {
        matches!(self, RouteKind::Write | RouteKind::FilesWrite)
    }
}

/// How resources look on the wire: the users v1 document is exact about its users (a bare
/// array, `{id, name, email, created_at}`, ids like `user_abc123`, PUT answering
/// `updated_at`); the Ouro documents give no shapes, so the reference server chooses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resources {
    #[default]
    Ouro,
    UsersV1,
}

impl ServerProfile {
    pub fn resources(self) -> Resources {
        match self {
            ServerProfile::BearerV1 => Resources::UsersV1,
            _ => Resources::Ouro,
        }
    }

    /// The 401 body's message: each document's own.
    pub fn unauthorized_message(self) -> &'static str {
        match self {
            ServerProfile::BearerV1 => "Invalid API key provided.",
            _ => super::response::UNAUTHORIZED,
        }
    }

    pub fn auth_styles(self) -> &'static [AuthStyle] {
        match self {
            ServerProfile::Ouro => &[AuthStyle::XApiKey, AuthStyle::Bearer],
            ServerProfile::XApiKey => &[AuthStyle::XApiKey],
            ServerProfile::BearerV1 => &[AuthStyle::Bearer],
            ServerProfile::ApiKey => &[AuthStyle::ApiKeyScheme],
        }
    }

    /// The rate class a kind of request is charged to.
    pub fn class_of(self, kind: RouteKind) -> &'static str {
        if self == ServerProfile::BearerV1 {
            return "default";
        }
        match kind {
            RouteKind::Read => "read",
            RouteKind::Write => "write",
            RouteKind::FilesRead => "files_read",
            RouteKind::FilesWrite => "files_write",
            RouteKind::Search => "search",
        }
    }

    /// The limits this API style publishes.
    pub fn default_limits(self) -> LimitTable {
        let second = Duration::from_secs(1);
        let mut table = LimitTable::default();
        if self == ServerProfile::BearerV1 {
            table.set(
                "default",
                vec![
                    Policy::new("minute", 100, Duration::from_secs(60)),
                    Policy::new("hour", 5000, Duration::from_secs(3600)),
                ],
            );
            return table;
        }
        for (class, quota) in [
            ("read", 100),
            ("write", 100),
            ("files_read", 20),
            ("files_write", 20),
            ("search", 20),
        ] {
            table.set(class, vec![Policy::new(class, quota, second)]);
        }
        table
    }
}

/// Which rate-limit header dialect the server speaks (the harness must read them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HeaderDialect {
    /// IETF `RateLimit-Policy` / `RateLimit` items and `RateLimit-Limit/-Remaining/-Reset`.
    #[default]
    Both,
    /// Only the IETF structured fields (draft-08 and later).
    Ietf,
    /// Only `RateLimit-Limit/-Remaining/-Reset` (older drafts, Kong).
    Draft,
    /// `X-RateLimit-Limit/-Remaining/-Reset` with a delta reset.
    XRatelimit,
    /// `X-RateLimit-*` with the reset as epoch seconds (GitHub, Twitter style).
    XRatelimitEpoch,
    /// `X-RateLimit-*` with the reset as epoch milliseconds.
    XRatelimitEpochMs,
    /// No rate headers at all (Retry-After stays on 429s).
    None,
}

/// How `Retry-After` is written on a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RetryAfterForm {
    /// Delay-seconds, rounded up.
    #[default]
    Seconds,
    /// An HTTP-date, rounded up to the next whole second.
    Date,
}

/// Rate class → the policies a request of that class must fit. A class with no policies is
/// unlimited.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitTable {
    classes: BTreeMap<String, Vec<Policy>>,
}

impl LimitTable {
    pub fn set(&mut self, class: &str, policies: Vec<Policy>) {
        self.classes.insert(class.to_string(), policies);
    }

    pub fn policies(&self, class: &str) -> &[Policy] {
        self.classes.get(class).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Sets the burst of every policy (`--burst`).
    pub fn set_burst(&mut self, burst: u32) {
        for policy in self.classes.values_mut().flatten() {
            policy.burst = burst;
        }
    }

    pub fn policies_mut(&mut self, class: &str) -> Option<&mut Vec<Policy>> {
        self.classes.get_mut(class)
    }

    pub fn classes(&self) -> impl Iterator<Item = (&str, &[Policy])> {
        self.classes
            .iter()
            .map(|(class, policies)| (class.as_str(), policies.as_slice()))
    }

    /// Replaces classes named in `overrides` (`class=rate[,burst=N]`, repeatable: several
    /// entries for one class become several policies, e.g. per minute and per hour).
    pub fn apply_overrides(&mut self, overrides: &[LimitOverride]) {
        let mut replaced: BTreeMap<&str, Vec<Policy>> = BTreeMap::new();
        for o in overrides {
            let mut policy = o.policy.clone();
            let list = replaced.entry(o.class.as_str()).or_default();
            policy.name = if list.is_empty() {
                o.class.clone()
            } else {
                format!("{}-{}", o.class, list.len() + 1)
            };
            list.push(policy);
        }
        for (class, policies) in replaced {
            self.set(class, policies);
        }
    }
}

/// One `--limit class=rate[,burst=N]` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitOverride {
    pub class: String,
    pub policy: Policy,
}

impl std::str::FromStr for LimitOverride {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (class, rate) = text
            .split_once('=')
            .ok_or_else(|| format!("expected CLASS=RATE (e.g. read=50/s), found `{text}`"))?;
        let class = class.trim();
        if class.is_empty() {
            return Err("the class name is empty".into());
        }
        Ok(LimitOverride {
            class: class.to_string(),
            policy: rate.parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_whole_classes_and_stack_policies() {
        let mut table = ServerProfile::Ouro.default_limits();
        let overrides: Vec<LimitOverride> = ["read=50/s", "search=5/s,burst=2", "search=100/min"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        table.apply_overrides(&overrides);
        assert_eq!(table.policies("read")[0].quota, 50);
        assert_eq!(table.policies("read")[0].name, "read");
        let search = table.policies("search");
        assert_eq!(search.len(), 2);
        assert_eq!((search[0].quota, search[0].burst), (5, 2));
        assert_eq!(search[1].name, "search-2");
        assert_eq!(table.policies("write")[0].quota, 100, "untouched");
    }

    #[test]
    fn bearer_v1_charges_everything_to_one_class_with_two_windows() {
        let profile = ServerProfile::BearerV1;
        assert_eq!(profile.class_of(RouteKind::Search), "default");
        let policies = profile.default_limits().policies("default").to_vec();
        assert_eq!(policies.len(), 2);
        assert_eq!(policies[1].window, Duration::from_secs(3600));
    }

    #[test]
    fn bad_overrides_say_what_is_wrong() {
        let err = "read".parse::<LimitOverride>().unwrap_err();
        assert!(err.contains("CLASS=RATE"), "{err}");
        let err = "read=fast".parse::<LimitOverride>().unwrap_err();
        assert!(err.contains("100/s"), "{err}");
    }
}
