//! The reference server's API keys: who holds them and what they may do.
//!
//! Key values are never written in the source: standalone `serve` reads them from the
//! environment (the same variable names the harness reads, so one shell can drive the
//! other) or generates fresh random ones; in-process callers pass them in.

use std::collections::HashMap;
use std::fmt;

pub use crate::keys::KeyRole;

/// Live and test mode of one account have separate limits (and would have separate data
/// in a real deployment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Live,
    Test,
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
    Revoked,
}

/// The account a key belongs to: rate-limit buckets are per account and mode.
pub type AccountId = u32;

/// Tenant keys' accounts start here, far above the roles' own.
pub const FIRST_TENANT_ACCOUNT: AccountId = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    pub account: AccountId,
    pub mode: Mode,
    pub access: Access,
}

/// What the server lets a key of `role` do, and whose it is.
fn info(role: KeyRole) -> KeyInfo {
    let (account, mode, access) = match role {
        KeyRole::Primary => (1, Mode::Live, Access::ReadWrite),
        KeyRole::TestMode => (1, Mode::Test, Access::ReadWrite),
        KeyRole::Second => (2, Mode::Live, Access::ReadWrite),
        KeyRole::ReadOnly => (3, Mode::Live, Access::ReadOnly),
        KeyRole::Revoked => (4, Mode::Live, Access::Revoked),
    };
    KeyInfo {
        account,
        mode,
        access,
    }
}

/// The keys one server accepts. `Debug` never prints a key value.
#[derive(Clone)]
pub struct KeyRing {
    by_role: HashMap<KeyRole, String>,
    by_value: HashMap<String, KeyInfo>,
    /// Tenant keys of performance workloads, in order: one read-write account each.
    tenants: Vec<String>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.by_value.len())
            .finish_non_exhaustive()
    }
}

/// Where a key value came from, so `serve` can print only the ones it made up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    Generated,
}

impl KeyRing {
    /// Builds a ring from explicit values (in-process use).
    pub fn from_values(values: impl IntoIterator<Item = (KeyRole, String)>) -> Self {
        let mut ring = KeyRing {
            by_role: HashMap::new(),
            by_value: HashMap::new(),
            tenants: Vec::new(),
        };
        for (role, value) in values {
            ring.by_value.insert(value.clone(), info(role));
            ring.by_role.insert(role, value);
        }
        ring
    }

    /// Fresh random keys for every role.
    pub fn generate() -> Self {
        Self::from_values(KeyRole::ALL.map(|role| (role, random_key(role))))
    }

    /// Each role's key from its environment variable, or a fresh random one.
    pub fn from_env_or_generate(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> (Self, Vec<(KeyRole, KeySource)>) {
        let mut sources = Vec::new();
        let values: Vec<_> = KeyRole::ALL
            .into_iter()
            .map(
                |role| match lookup(role.env_var()).filter(|v| !v.trim().is_empty()) {
                    Some(value) => {
                        sources.push((role, KeySource::Environment));
                        (role, value.trim().to_string())
                    }
                    None => {
                        sources.push((role, KeySource::Generated));
                        (role, random_key(role))
                    }
                },
            )
            .collect();
        (Self::from_values(values), sources)
    }

    /// The same ring with `values` as tenant keys, each an account of its own (numbered
    /// from [`FIRST_TENANT_ACCOUNT`], so they share no bucket with the role keys).
    pub fn with_tenants(mut self, values: impl IntoIterator<Item = String>) -> Self {
        for value in values {
            let account = FIRST_TENANT_ACCOUNT + self.tenants.len() as AccountId;
            self.by_value.insert(
                value.clone(),
                KeyInfo {
                    account,
                    mode: Mode::Live,
                    access: Access::ReadWrite,
                },
            );
            self.tenants.push(value);
        }
        self
    }

    /// Tenant keys from the list in `lookup`'s [`crate::keys::TENANT_KEYS_VAR`], else `count`
    /// fresh ones; and whether they were generated (`serve` prints only those).
    pub fn with_tenants_from_env_or(
        self,
        lookup: impl Fn(&str) -> Option<String>,
        count: usize,
    ) -> (Self, KeySource) {
        let listed: Vec<String> = lookup(crate::keys::TENANT_KEYS_VAR)
            .map(|list| {
                crate::keys::tenant_list(&list)
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if listed.is_empty() {
            (self.with_generated_tenants(count), KeySource::Generated)
        } else {
            (self.with_tenants(listed), KeySource::Environment)
        }
    }

    /// `count` fresh random tenant keys added.
    pub fn with_generated_tenants(self, count: usize) -> Self {
        let fresh: Vec<String> = (0..count).map(|_| random_key(KeyRole::Primary)).collect();
        self.with_tenants(fresh)
    }

    /// The tenant keys, in order.
    pub fn tenants(&self) -> &[String] {
        &self.tenants
    }

    pub fn lookup(&self, presented: &str) -> Option<KeyInfo> {
        self.by_value.get(presented).copied()
    }

    pub fn get(&self, role: KeyRole) -> Option<&str> {
        self.by_role.get(&role).map(String::as_str)
    }

    /// Every key value, for redaction.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.by_value.keys().map(String::as_str)
    }
}

fn random_key(role: KeyRole) -> String {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Test-mode keys look like test-mode keys, as real providers' do.
    let prefix = match role {
        KeyRole::TestMode => "tg_test_",
        _ => "tg_live_",
    };
    format!("{prefix}{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_distinct_and_resolve_to_their_roles() {
        let ring = KeyRing::generate();
        let primary = ring.get(KeyRole::Primary).unwrap();
        let test = ring.get(KeyRole::TestMode).unwrap();
        assert!(primary.starts_with("tg_live_") && primary.len() == 48);
        assert!(test.starts_with("tg_test_"));
        assert_ne!(primary, ring.get(KeyRole::Second).unwrap());
        let info = ring.lookup(test).unwrap();
        assert_eq!((info.account, info.mode), (1, Mode::Test));
        assert_eq!(ring.lookup(primary).unwrap().account, 1);
        assert_eq!(
            ring.lookup(ring.get(KeyRole::Revoked).unwrap())
                .unwrap()
                .access,
            Access::Revoked
        );
        assert!(ring.lookup("nope").is_none());
    }

    #[test]
    fn tenant_keys_are_accounts_of_their_own() {
        let ring = KeyRing::generate().with_generated_tenants(3);
        let accounts: Vec<_> = ring
            .tenants()
            .iter()
            .map(|k| ring.lookup(k).unwrap().account)
            .collect();
        assert_eq!(accounts, [1000, 1001, 1002]);
        assert_eq!(
            ring.lookup(&ring.tenants()[0]).unwrap().access,
            Access::ReadWrite
        );
        assert_eq!(format!("{ring:?}"), "KeyRing { keys: 8, .. }");
    }

    #[test]
    fn environment_values_win_and_debug_hides_them() {
        let (ring, sources) = KeyRing::from_env_or_generate(|name| {
            (name == "OURO_API_KEY").then(|| "from-env-canary".to_string())
        });
        assert_eq!(ring.get(KeyRole::Primary), Some("from-env-canary"));
        assert!(sources.contains(&(KeyRole::Primary, KeySource::Environment)));
        assert!(sources.contains(&(KeyRole::Second, KeySource::Generated)));
        assert!(!format!("{ring:?}").contains("from-env-canary"));
    }
}
