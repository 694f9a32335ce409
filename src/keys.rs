//! The one vocabulary of API keys, shared by the profile (`keys:`), the scenarios
//! (`auth:`), the runners, the reports and the reference server.
//!
//! A deployment hands out keys in [`KeyRole`]s; a request presents a [`Credential`]: one of
//! those keys, none, or a key nobody issued.

/// The roles of the keys a deployment hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyRole {
    /// The key everything is checked with.
    Primary,
    /// A key of another account: its own rate-limit bucket.
    Second,
    /// The test-mode key of the primary's account: its own bucket too.
    TestMode,
    ReadOnly,
    Revoked,
}

impl KeyRole {
    pub const ALL: [KeyRole; 5] = [
        KeyRole::Primary,
        KeyRole::Second,
        KeyRole::TestMode,
        KeyRole::ReadOnly,
        KeyRole::Revoked,
    ];

    /// Its name in a profile's `keys:` block and a scenario's `auth:`.
    pub fn name(self) -> &'static str {
        match self {
            KeyRole::Primary => "primary",
            KeyRole::Second => "second",
            KeyRole::TestMode => "test",
            KeyRole::ReadOnly => "readonly",
            KeyRole::Revoked => "revoked",
        }
    }

    /// The environment variable the shipped profiles read it from, and `tollgate serve`
    /// too (so one shell can drive the other).
    pub fn env_var(self) -> &'static str {
        match self {
            KeyRole::Primary => "OURO_API_KEY",
            KeyRole::Second => "OURO_API_KEY_2",
            KeyRole::TestMode => "OURO_TEST_API_KEY",
            KeyRole::ReadOnly => "OURO_API_KEY_READONLY",
            KeyRole::Revoked => "OURO_API_KEY_REVOKED",
        }
    }

    /// In words, for messages ("no read-only key: … is not set").
    pub fn label(self) -> &'static str {
        match self {
            KeyRole::Primary => "primary key",
            KeyRole::Second => "second key",
            KeyRole::TestMode => "test-mode key",
            KeyRole::ReadOnly => "read-only key",
            KeyRole::Revoked => "revoked key",
        }
    }
}

/// What a request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    Key(KeyRole),
    /// No credential at all.
    None,
    /// A well-formed key nobody issued.
    Invalid,
    /// The n-th tenant key of a performance workload: an account of its own each (the
    /// profile's `keys.tenants` names the variable that lists them).
    Tenant(u16),
}

impl Credential {
    /// The primary key: what every request presents unless a step says otherwise.
    pub const PRIMARY: Credential = Credential::Key(KeyRole::Primary);

    /// A scenario's `auth:` values.
    pub const CHOICES: [(&'static str, Credential); 7] = [
        ("valid", Credential::PRIMARY),
        ("none", Credential::None),
        ("invalid", Credential::Invalid),
        ("revoked", Credential::Key(KeyRole::Revoked)),
        ("readonly", Credential::Key(KeyRole::ReadOnly)),
        ("test", Credential::Key(KeyRole::TestMode)),
        ("second", Credential::Key(KeyRole::Second)),
    ];
}

/// The variable `tollgate serve` reads tenant keys from, and the shipped profile names.
pub const TENANT_KEYS_VAR: &str = "OURO_TENANT_KEYS";

/// The keys of a tenant list: comma or whitespace separated, blanks skipped, a key that
/// repeats counted once (two tenants on one key would share its buckets), at most
/// `u16::MAX`.
pub fn tenant_list(list: &str) -> Vec<&str> {
    let mut keys: Vec<&str> = Vec::new();
    for key in list.split(|c: char| c == ',' || c.is_whitespace()) {
        if !key.is_empty() && !keys.contains(&key) && keys.len() < usize::from(u16::MAX) {
            keys.push(key);
        }
    }
    keys
}
