//! The target profile (`tollgate.yaml`): where the API is, how keys are presented, which
//! environment variables hold them, what errors look like, and the published rate limits.
//!
//! Key *values* never appear in a profile, only the names of the variables holding them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::decode::Decoder;
use crate::diagnostic::Diagnostic;
use crate::limits::Policy;
use crate::reference::ServerProfile;
use crate::scenario::parse::{load_schema, parse_request};
use crate::scenario::RequestSpec;
use crate::yaml::{self, Node};

const TOP: &[&str] = &[
    "name",
    "reference",
    "base_url",
    "scenarios",
    "snapshots",
    "auth",
    "alternate_auth",
    "keys",
    "errors",
    "contract",
    "rate_limits",
    "concurrency",
    "baseline",
    "secret_headers",
    "openapi",
    "workloads",
];
const KEYS: &[&str] = &[
    "primary", "second", "revoked", "readonly", "test", "tenants",
];
const ERRORS: &[&str] = &["schema", "message", "unauthorized", "revoked", "readonly"];
const CONTRACT: &[&str] = &["timeout_ms", "parallel", "pace"];
const RATE_CLASS: &[&str] = &["limit", "probe", "cleanup", "max_p95_ms", "max_burst"];

/// The default error body schema: a JSON object with a string `error`.
pub const DEFAULT_ERROR_SCHEMA: &str = include_str!("../schemas/error.schema.json");

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub file: String,
    /// Which embedded server profile stands in for this API when no target is given.
    pub reference: ServerProfile,
    pub base_url: Option<String>,
    pub scenarios: Option<PathBuf>,
    /// Where response snapshots live (default `snapshots/` in the working directory).
    pub snapshots: PathBuf,
    pub auth: AuthSpec,
    pub alternate_auth: Vec<AuthSpec>,
    pub keys: KeyVars,
    pub errors: ErrorContract,
    pub contract: ContractSettings,
    pub rate_limits: Vec<RateClass>,
    pub concurrency: Option<ConcurrencySpec>,
    /// What counts as a regression against a baseline report.
    pub baseline: crate::report::diff::Thresholds,
    /// Headers whose values never appear in any output (besides the built-in ones).
    pub secret_headers: Vec<String>,
    /// The API's OpenAPI document (`openapi:`): every contract response is also held to it.
    pub openapi: Option<Arc<crate::openapi::conformance::Conformance>>,
    /// Performance workloads, in the profile's order.
    pub workloads: Vec<crate::workload::Workload>,
}

impl Profile {
    /// The tenant keys its workloads need: the most any one of them has.
    pub fn tenants_needed(&self) -> usize {
        self.workloads
            .iter()
            .map(|w| usize::from(w.tenants))
            .max()
            .unwrap_or(0)
    }
}

/// Headers that carry credentials in any API: never shown.
const ALWAYS_SECRET: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// How a key is presented: a header, optionally with a scheme (`Authorization: Bearer k`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSpec {
    pub header: String,
    pub scheme: Option<String>,
}

impl AuthSpec {
    pub fn value(&self, key: &str) -> String {
        match &self.scheme {
            Some(scheme) => format!("{scheme} {key}"),
            None => key.to_string(),
        }
    }
}

impl std::fmt::Display for AuthSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.scheme {
            Some(scheme) => write!(f, "{}: {scheme} <key>", self.header),
            None => write!(f, "{}: <key>", self.header),
        }
    }
}

/// Names of the environment variables holding each key. A role the profile's `keys:` block
/// leaves out is not configured (`None`): an API whose document has no revoked keys or no
/// test mode must not be checked for them, and their checks are skipped with that reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVars {
    pub primary: String,
    pub second: Option<String>,
    pub revoked: Option<String>,
    pub readonly: Option<String>,
    pub test: Option<String>,
    /// The variable listing the tenant keys of performance workloads (comma or whitespace
    /// separated).
    pub tenants: Option<String>,
}

impl KeyVars {
    /// The environment variable `role` is read from, if the profile configures the role.
    pub fn get(&self, role: crate::keys::KeyRole) -> Option<&str> {
        use crate::keys::KeyRole;
        match role {
            KeyRole::Primary => Some(&self.primary),
            KeyRole::Second => self.second.as_deref(),
            KeyRole::Revoked => self.revoked.as_deref(),
            KeyRole::ReadOnly => self.readonly.as_deref(),
            KeyRole::TestMode => self.test.as_deref(),
        }
    }
}

impl Default for KeyVars {
    /// No `keys:` block: every role under its conventional variable.
    fn default() -> Self {
        KeyVars {
            primary: "OURO_API_KEY".into(),
            second: Some("OURO_API_KEY_2".into()),
            revoked: Some("OURO_API_KEY_REVOKED".into()),
            readonly: Some("OURO_API_KEY_READONLY".into()),
            tenants: Some("OURO_TENANT_KEYS".into()),
            test: Some("OURO_TEST_API_KEY".into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExpectedError {
    pub status: u16,
    pub message: Option<String>,
}

#[derive(Clone)]
pub struct ErrorContract {
    pub schema: Arc<jsonschema::Validator>,
    pub schema_name: String,
    /// JSON pointer to the human message inside an error body.
    pub message: String,
    pub unauthorized: ExpectedError,
    pub revoked: ExpectedError,
    pub readonly: ExpectedError,
}

impl std::fmt::Debug for ErrorContract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorContract")
            .field("schema", &self.schema_name)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct ContractSettings {
    pub timeout_ms: u64,
    /// Scenarios run at once (steps of one scenario always run in order).
    pub parallel: usize,
    /// Fraction of each class's limit the contract runner may use.
    pub pace: f64,
}

impl Default for ContractSettings {
    fn default() -> Self {
        ContractSettings {
            timeout_ms: 10_000,
            parallel: 4,
            pace: 0.5,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RateClass {
    pub name: String,
    pub policy: Policy,
    pub probe: RequestSpec,
    pub cleanup: Option<RequestSpec>,
    /// Optional latency budget under the limit: becomes `rate.<class>.latency`.
    pub max_p95_ms: Option<u64>,
    /// Optional bound on the most requests accepted in any window of the limit's length:
    /// becomes `rate.<class>.worst-case`.
    pub max_burst: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ConcurrencySpec {
    pub limit: u32,
    pub probe: RequestSpec,
}

/// A profile file and its source, or everything wrong with it.
pub struct LoadedProfile {
    pub profile: Option<Profile>,
    pub diagnostics: Vec<Diagnostic>,
    pub source: String,
}

/// Why a profile could not be read; a missing one says how to get one.
fn missing_profile_hint(name: &str, e: impl std::fmt::Display) -> String {
    let message = format!("cannot read profile `{name}`: {e}");
    if Path::new(name).exists() {
        return message;
    }
    format!(
        "{message}; `tollgate init` writes a commented one (and a first scenario) here, or \
         pass --profile FILE"
    )
}

pub fn load(path: &Path) -> Result<LoadedProfile, String> {
    let name = path.to_string_lossy().into_owned();
    let source = crate::yaml::read_source(path).map_err(|e| missing_profile_hint(&name, e))?;
    let mut dec = Decoder::new(&name);
    let profile = match yaml::parse(&source) {
        Ok(root) => decode(&root, path, &mut dec),
        Err(e) => {
            dec.diagnostics.push(Diagnostic::new(
                &name,
                e.pos,
                format!("invalid YAML: {}", e.message),
            ));
            None
        }
    };
    let ok = dec.diagnostics.is_empty();
    Ok(LoadedProfile {
        profile: profile.filter(|_| ok),
        diagnostics: dec.diagnostics,
        source,
    })
}

fn decode(root: &Node, path: &Path, dec: &mut Decoder) -> Option<Profile> {
    let fields = dec.fields(root, "the profile", TOP, &["name", "auth"])?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let name = fields.get("name").and_then(|n| dec.string(n, "`name`"));
    let reference = match fields.get("reference") {
        None => Some(ServerProfile::Ouro),
        Some(n) => dec.choice(
            n,
            "reference server profile",
            &[
                ("ouro", ServerProfile::Ouro),
                ("x-api-key", ServerProfile::XApiKey),
                ("bearer-v1", ServerProfile::BearerV1),
                ("apikey", ServerProfile::ApiKey),
            ],
        ),
    };
    let base_url = fields.get("base_url").and_then(|n| {
        let url = dec.string(n, "`base_url`")?;
        match validate_base_url(&url) {
            Ok(()) => Some(url),
            Err(e) => {
                dec.error(n, e);
                None
            }
        }
    });
    let scenarios = fields
        .get("scenarios")
        .and_then(|n| dec.string(n, "`scenarios`"))
        .map(|s| crate::files::normalize(&dir.join(s)));
    let snapshots = fields
        .get("snapshots")
        .and_then(|n| dec.string(n, "`snapshots`"))
        .map(|s| crate::files::normalize(&dir.join(s)))
        .unwrap_or_else(|| PathBuf::from("snapshots"));
    let auth = fields.get("auth").and_then(|n| auth_spec(n, dec));
    let alternate_auth = match fields.get("alternate_auth") {
        None => Vec::new(),
        Some(n) => dec
            .list(n, "`alternate_auth`")
            .unwrap_or_default()
            .iter()
            .filter_map(|item| auth_spec(item, dec))
            .collect(),
    };
    let keys = fields
        .get("keys")
        .map(|n| key_vars(n, dec))
        .unwrap_or_default();
    let errors = error_contract(fields.get("errors"), dir, dec);
    let contract = fields
        .get("contract")
        .map(|n| contract_settings(n, dec))
        .unwrap_or_default();
    let rate_limits = fields
        .get("rate_limits")
        .map(|n| rate_classes(n, dec))
        .unwrap_or_default();
    let concurrency = fields
        .get("concurrency")
        .and_then(|n| concurrency_spec(n, dec));
    let baseline = fields
        .get("baseline")
        .map(|n| thresholds(n, dec))
        .unwrap_or_default();
    let mut secret_headers: Vec<String> = ALWAYS_SECRET.iter().map(|h| h.to_string()).collect();
    if let Some(list) = fields
        .get("secret_headers")
        .and_then(|n| dec.list(n, "`secret_headers`"))
    {
        secret_headers.extend(list.iter().filter_map(|h| dec.string(h, "a header name")));
    }
    if let Some(auth) = &auth {
        secret_headers.push(auth.header.clone());
    }
    let openapi = fields
        .get("openapi")
        .and_then(|n| openapi_document(n, dir, dec));
    let workloads = fields
        .get("workloads")
        .map(|n| {
            let limits: Vec<crate::workload::ClassLimit> = rate_limits
                .iter()
                .map(|c| crate::workload::ClassLimit {
                    name: c.name.clone(),
                    per_second: c.policy.per_second(),
                })
                .collect();
            crate::workload::decode(n, &limits, dec)
        })
        .unwrap_or_default();
    if let (Some(first), None) = (workloads.first(), &keys.tenants) {
        dec.error_with_help(
            fields.get("workloads")?,
            format!("workload `{}` needs tenant keys, and `keys:` names no `tenants` variable", first.name),
            "add `tenants: OURO_TENANT_KEYS` to `keys:` (a variable listing the keys, comma separated)",
        );
    }
    Some(Profile {
        name: name?,
        file: dec.file.clone(),
        reference: reference?,
        base_url,
        scenarios,
        snapshots,
        auth: auth?,
        alternate_auth,
        keys,
        errors: errors?,
        contract,
        rate_limits,
        concurrency,
        baseline,
        secret_headers,
        openapi,
        workloads,
    })
}

/// `openapi: openapi.yaml`: the document, relative to the profile and inside the project,
/// loaded and compiled now so a broken one is a lint error.
fn openapi_document(
    node: &Node,
    dir: &Path,
    dec: &mut Decoder,
) -> Option<Arc<crate::openapi::conformance::Conformance>> {
    let relative = dec.string(node, "`openapi`")?;
    let loaded = crate::files::inside_project(&dir.join(&relative))
        .and_then(|real| crate::openapi::load(&real))
        .map(|doc| crate::openapi::conformance::Conformance::new(&doc, &relative));
    match loaded {
        Ok(conformance) => Some(Arc::new(conformance)),
        Err(e) => {
            dec.error_with_help(
                node,
                e,
                "`openapi` names the API's OpenAPI 3.0 or 3.1 document, relative to the profile",
            );
            None
        }
    }
}

fn thresholds(node: &Node, dec: &mut Decoder) -> crate::report::diff::Thresholds {
    let mut t = crate::report::diff::Thresholds::default();
    let keys = ["max_p99_increase", "min_p99_increase_ms", "max_rate_change"];
    let Some(fields) = dec.fields(node, "`baseline`", &keys, &[]) else {
        return t;
    };
    for (name, _, value) in fields.entries() {
        let number = match value.value {
            yaml::Value::Int(i) if i >= 0 => i as f64,
            yaml::Value::Float(f) if f >= 0.0 => f,
            _ => {
                dec.error(
                    value,
                    format!("`baseline.{name}` must be a non-negative number"),
                );
                continue;
            }
        };
        match name {
            "max_p99_increase" => t.max_p99_increase = number,
            "min_p99_increase_ms" => t.min_p99_increase_ms = number,
            _ => t.max_rate_change = number,
        }
    }
    t
}

/// A base URL must be absolute http(s) with a host; credentials in it are refused because
/// they would end up in reports.
pub fn validate_base_url(url: &str) -> Result<(), String> {
    let without_scheme =
        || format!("`{url}` has no scheme: did you mean `http://{url}` (or `https://{url}`)?");
    let parsed = reqwest::Url::parse(url).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => without_scheme(),
        e => format!("`{url}` is not a valid URL: {e}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        // `localhost:8080` parses as scheme `localhost`.
        if !url.contains("://") {
            return Err(without_scheme());
        }
        return Err(format!(
            "`{url}`: only http and https targets are supported"
        ));
    }
    if parsed.host_str().is_none() {
        return Err(format!("`{url}` has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "credentials in the URL would leak into reports: use the key variables instead".into(),
        );
    }
    Ok(())
}

fn auth_spec(node: &Node, dec: &mut Decoder) -> Option<AuthSpec> {
    let fields = dec.fields(node, "`auth`", &["header", "scheme"], &["header"])?;
    let header = fields
        .get("header")
        .and_then(|n| dec.string(n, "`header`"))?;
    if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
        dec.error(
            fields.get("header")?,
            format!("`{header}` is not a valid header name"),
        );
        return None;
    }
    let scheme = fields.get("scheme").and_then(|n| dec.string(n, "`scheme`"));
    Some(AuthSpec { header, scheme })
}

fn key_vars(node: &Node, dec: &mut Decoder) -> KeyVars {
    let mut keys = KeyVars {
        primary: KeyVars::default().primary,
        second: None,
        revoked: None,
        readonly: None,
        test: None,
        tenants: None,
    };
    let Some(fields) = dec.fields(node, "`keys`", KEYS, &[]) else {
        return keys;
    };
    for (name, _, value) in fields.entries() {
        let Some(var) = dec.string(value, &format!("`keys.{name}`")) else {
            continue;
        };
        if looks_like_a_key(&var) {
            dec.error_with_help(
                value,
                format!("`keys.{name}` looks like a key value, not a variable name"),
                "put the key in the environment and name the variable here, e.g. OURO_API_KEY",
            );
            continue;
        }
        match name {
            "primary" => keys.primary = var,
            "second" => keys.second = Some(var),
            "revoked" => keys.revoked = Some(var),
            "readonly" => keys.readonly = Some(var),
            "tenants" => keys.tenants = Some(var),
            _ => keys.test = Some(var),
        }
    }
    keys
}

/// Variable names are identifiers; anything else was probably pasted from a dashboard.
fn looks_like_a_key(var: &str) -> bool {
    var.is_empty()
        || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || var.starts_with(|c: char| c.is_ascii_digit())
}

fn expected_error(node: &Node, dec: &mut Decoder, what: &str) -> Option<ExpectedError> {
    let fields = dec.fields(node, what, &["status", "message"], &["status"])?;
    let status = fields.get("status").and_then(|n| dec.uint(n, "`status`"))? as u16;
    let message = fields
        .get("message")
        .and_then(|n| dec.string(n, "`message`"));
    Some(ExpectedError { status, message })
}

fn error_contract(node: Option<&Node>, dir: &Path, dec: &mut Decoder) -> Option<ErrorContract> {
    let default_schema = || {
        let schema: serde_json::Value =
            serde_json::from_str(DEFAULT_ERROR_SCHEMA).expect("shipped schema is JSON");
        Arc::new(jsonschema::validator_for(&schema).expect("shipped schema compiles"))
    };
    let mut contract = ErrorContract {
        schema: default_schema(),
        schema_name: "built-in error schema".into(),
        message: "/error".into(),
        unauthorized: ExpectedError {
            status: 401,
            message: Some("Unauthorized. Please provide a valid API key.".into()),
        },
        revoked: ExpectedError {
            status: 403,
            message: Some("Forbidden. This API key has been revoked or expired.".into()),
        },
        readonly: ExpectedError {
            status: 403,
            message: None,
        },
    };
    let Some(node) = node else {
        return Some(contract);
    };
    let fields = dec.fields(node, "`errors`", ERRORS, &[])?;
    if let Some(n) = fields.get("schema") {
        let reference = dec
            .fields(n, "`errors.schema`", &["$ref"], &["$ref"])
            .and_then(|f| f.get("$ref").map(|r| (r, dec.string(r, "`$ref`"))));
        if let Some((ref_node, Some(relative))) = reference {
            let path = dir.join(&relative);
            match load_schema(&path) {
                Ok(validator) => {
                    contract.schema = validator;
                    contract.schema_name = path.to_string_lossy().into_owned();
                }
                Err(e) => dec.error_with_help(ref_node, e, "`$ref` is relative to the profile"),
            }
        }
    }
    if let Some(n) = fields.get("message") {
        if let Some(pointer) = dec.string(n, "`errors.message`") {
            if pointer.starts_with('/') {
                contract.message = pointer;
            } else {
                dec.error_with_help(
                    n,
                    "`errors.message` is a JSON pointer",
                    "e.g. /error or /detail",
                );
            }
        }
    }
    for (key, slot) in [
        ("unauthorized", &mut contract.unauthorized),
        ("revoked", &mut contract.revoked),
        ("readonly", &mut contract.readonly),
    ] {
        if let Some(n) = fields.get(key) {
            if let Some(expected) = expected_error(n, dec, &format!("`errors.{key}`")) {
                *slot = expected;
            }
        }
    }
    Some(contract)
}

fn contract_settings(node: &Node, dec: &mut Decoder) -> ContractSettings {
    let mut settings = ContractSettings::default();
    let Some(fields) = dec.fields(node, "`contract`", CONTRACT, &[]) else {
        return settings;
    };
    if let Some(ms) = fields
        .get("timeout_ms")
        .and_then(|n| dec.uint(n, "`timeout_ms`"))
    {
        settings.timeout_ms = ms.max(1);
    }
    if let Some(n) = fields
        .get("parallel")
        .and_then(|n| dec.uint(n, "`parallel`"))
    {
        settings.parallel = (n as usize).clamp(1, 64);
    }
    if let Some(n) = fields.get("pace") {
        match n.value {
            yaml::Value::Float(f) if f > 0.0 && f <= 1.0 => settings.pace = f,
            yaml::Value::Int(1) => settings.pace = 1.0,
            _ => dec.error_with_help(
                n,
                "`pace` must be a fraction of the limit in (0, 1]",
                "e.g. 0.5 uses half of each class's limit",
            ),
        }
    }
    settings
}

fn rate_classes(node: &Node, dec: &mut Decoder) -> Vec<RateClass> {
    let mut classes = Vec::new();
    for (name, _, value) in dec.string_map(node, "`rate_limits`") {
        let what = format!("rate class `{name}`");
        let Some(fields) = dec.fields(value, &what, RATE_CLASS, &["limit", "probe"]) else {
            continue;
        };
        let policy = fields.get("limit").and_then(|n| {
            let text = dec.scalar(n, "`limit`")?;
            match text.parse::<Policy>() {
                Ok(mut p) => {
                    p.name = name.clone();
                    Some(p)
                }
                Err(e) => {
                    dec.error_with_help(
                        n,
                        format!("`limit`: {e}"),
                        "e.g. 100/s, 100/min, 5000/h, 20/s,burst=5",
                    );
                    None
                }
            }
        });
        let probe = fields
            .get("probe")
            .and_then(|n| parse_request(n, dec, &["id"]));
        let cleanup = fields
            .get("cleanup")
            .and_then(|n| parse_request(n, dec, &["id"]));
        let max_p95_ms = fields
            .get("max_p95_ms")
            .and_then(|n| dec.uint(n, "`max_p95_ms`"));
        let max_burst = fields
            .get("max_burst")
            .and_then(|n| dec.uint(n, "`max_burst`"))
            .map(|n| n.min(u64::from(u32::MAX)) as u32);
        if let (Some(policy), Some(probe)) = (policy, probe) {
            classes.push(RateClass {
                name,
                policy,
                probe,
                cleanup,
                max_p95_ms,
                max_burst,
            });
        }
    }
    classes
}

fn concurrency_spec(node: &Node, dec: &mut Decoder) -> Option<ConcurrencySpec> {
    let fields = dec.fields(
        node,
        "`concurrency`",
        &["limit", "probe"],
        &["limit", "probe"],
    )?;
    let limit = fields.get("limit").and_then(|n| dec.uint(n, "`limit`"));
    let probe = fields
        .get("probe")
        .and_then(|n| parse_request(n, dec, &["id"]));
    Some(ConcurrencySpec {
        limit: limit? as u32,
        probe: probe?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_lexically() {
        assert_eq!(
            crate::files::normalize(Path::new("profiles/../scenarios/users-v1")),
            Path::new("scenarios/users-v1")
        );
        assert_eq!(
            crate::files::normalize(Path::new("./a/./b")),
            Path::new("a/b")
        );
        assert_eq!(
            crate::files::normalize(Path::new("../x")),
            Path::new("../x")
        );
    }
}
