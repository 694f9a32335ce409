//! Scenario files → [`Scenario`], strictly, with every diagnostic at once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::model::*;
use super::predicate;
pub use super::schema::load_schema;
use super::schema::schema_ref;
use super::template::{json_variables, Template, UNIQUE};
use crate::decode::{Decoder, Fields};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::yaml::{self, Node};

const TOP: &[&str] = &[
    "name",
    "description",
    "vars",
    "include",
    "steps",
    "auth_matrix",
];
const FRAGMENT: &[&str] = &["name", "description", "vars", "include", "steps"];
const STEP: &[&str] = &[
    "name",
    "request",
    "expect",
    "capture",
    "retry",
    "skip_if_unset",
];
const REQUEST: &[&str] = &["method", "path", "query", "headers", "json", "auth"];
const EXPECT: &[&str] = &[
    "status",
    "headers",
    "content_type",
    "schema",
    "json",
    "body",
    "error",
    "max_latency_ms",
    "snapshot",
];
const RETRY: &[&str] = &[
    "on",
    "max_attempts",
    "honor_retry_after",
    "base_ms",
    "max_wait_ms",
];
const MATRIX: &[&str] = &["request", "status", "cases"];
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A scenario file and its source text (kept to render diagnostics).
pub struct Loaded {
    pub scenario: Option<Scenario>,
    pub diagnostics: Vec<Diagnostic>,
    /// Source text of every file read, by the name used in diagnostics.
    pub sources: Vec<(String, String)>,
}

/// Loads and checks one scenario file.
pub fn load(path: &Path) -> Loaded {
    let mut loader = Loader {
        sources: Vec::new(),
        diagnostics: Vec::new(),
        stack: Vec::new(),
    };
    let scenario = loader.scenario(path);
    Loaded {
        scenario: if loader.diagnostics.is_empty() {
            scenario
        } else {
            None
        },
        diagnostics: loader.diagnostics,
        sources: loader.sources,
    }
}

struct Loader {
    sources: Vec<(String, String)>,
    diagnostics: Vec<Diagnostic>,
    /// Files being included, outermost first (cycle detection).
    stack: Vec<PathBuf>,
}

/// What one file contributes: its vars and steps (after its own includes).
struct Part {
    name: Option<String>,
    vars: Vec<(String, Value)>,
    steps: Vec<Step>,
    auth_matrix: Vec<MatrixEntry>,
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn origin(dec: &Decoder, node: &Node) -> Origin {
    Origin::of(dec, node)
}

impl Loader {
    fn read(&mut self, path: &Path, at: Option<(&Decoder, &Node)>) -> Option<Node> {
        let name = display(path);
        let source = match crate::yaml::read_source(path) {
            Ok(source) => source,
            Err(e) => {
                let message = format!("cannot read `{name}`: {e}");
                self.diagnostics
                    .push(match (crate::files::NotUtf8::of(&e), at) {
                        // The bad byte is the place to look, even in an included file.
                        (Some(bad), _) => Diagnostic::new(&name, bad.into(), message),
                        (None, Some((dec, node))) => Diagnostic::new(&dec.file, node.pos, message),
                        (None, None) => Diagnostic::new(&name, Default::default(), message),
                    });
                return None;
            }
        };
        let parsed = yaml::parse(&source);
        self.sources.push((name.clone(), source));
        match parsed {
            Ok(node) => Some(node),
            Err(e) => {
                self.diagnostics.push(Diagnostic::new(
                    &name,
                    e.pos,
                    format!("invalid YAML: {}", e.message),
                ));
                None
            }
        }
    }

    fn scenario(&mut self, path: &Path) -> Option<Scenario> {
        let root = self.read(path, None)?;
        let mut dec = Decoder::new(display(path));
        self.stack.push(path.to_path_buf());
        let part = self.part(&root, path, &mut dec, TOP);
        self.stack.pop();
        let name = match part.name {
            Some(name) => name,
            None => {
                if matches!(root.value, yaml::Value::Map(_)) {
                    dec.error(&root, "a scenario is missing the required key `name`");
                }
                String::new()
            }
        };
        if part.steps.is_empty() && part.auth_matrix.is_empty() && dec.diagnostics.is_empty() {
            dec.error(&root, "a scenario needs `steps` or an `auth_matrix`");
        }
        self.diagnostics.append(&mut dec.diagnostics);
        Some(Scenario {
            name,
            file: display(path),
            origin: origin(&dec, &root),
            vars: part.vars,
            steps: part.steps,
            auth_matrix: part.auth_matrix,
        })
    }

    fn part(&mut self, root: &Node, path: &Path, dec: &mut Decoder, allowed: &[&str]) -> Part {
        let mut part = Part {
            name: None,
            vars: Vec::new(),
            steps: Vec::new(),
            auth_matrix: Vec::new(),
        };
        let Some(fields) = dec.fields(root, "a scenario", allowed, &[]) else {
            return part;
        };
        part.name = fields.get("name").and_then(|n| dec.string(n, "`name`"));
        if let Some(node) = fields.get("description") {
            dec.string(node, "`description`");
        }
        let dir = path.parent().unwrap_or(Path::new(""));
        if let Some(list) = fields.get("include").and_then(|n| dec.list(n, "`include`")) {
            for item in list {
                let Some(relative) = dec.string(item, "an include") else {
                    continue;
                };
                let target = crate::files::normalize(&dir.join(&relative));
                if let Some(mut included) = self.include(&target, dec, item) {
                    part.vars.append(&mut included.vars);
                    part.steps.append(&mut included.steps);
                }
            }
        }
        if let Some(node) = fields.get("vars") {
            for (name, _, value) in dec.string_map(node, "`vars`") {
                part.vars.push((name, value.to_json()));
            }
        }
        let mut known: HashSet<String> = UNIQUE.iter().map(|s| s.to_string()).collect();
        known.extend(part.vars.iter().map(|(n, _)| n.clone()));
        for step in &part.steps {
            known.extend(step.capture.iter().map(|c| c.name.clone()));
        }
        if let Some(node) = fields.get("vars") {
            self.check_json_vars(dec, node, &known);
        }
        if let Some(list) = fields.get("steps").and_then(|n| dec.list(n, "`steps`")) {
            let mut names: Vec<String> = part.steps.iter().map(|s| s.name.clone()).collect();
            for item in list {
                if let Some(step) = self.step(item, dir, dec, &known) {
                    if names.contains(&step.name) {
                        dec.error(item, format!("duplicate step name `{}`", step.name));
                    }
                    names.push(step.name.clone());
                    if let Some(snapshot) = &step.expect.snapshot {
                        let taken = part.steps.iter().any(|s| {
                            s.expect
                                .snapshot
                                .as_ref()
                                .is_some_and(|o| o.name == snapshot.name)
                        });
                        if taken {
                            dec.error(
                                item,
                                format!("two steps write the snapshot `{}`", snapshot.name),
                            );
                        }
                    }
                    known.extend(step.capture.iter().map(|c| c.name.clone()));
                    part.steps.push(step);
                }
            }
        }
        if let Some(node) = fields.get("auth_matrix") {
            let entries: Vec<&Node> = match &node.value {
                yaml::Value::Seq(items) => items.iter().collect(),
                _ => vec![node],
            };
            for entry in entries {
                if let Some(m) = self.matrix_entry(entry, dec, &known) {
                    part.auth_matrix.push(m);
                }
            }
        }
        part
    }

    fn include(&mut self, target: &Path, dec: &mut Decoder, at: &Node) -> Option<Part> {
        let canonical = target
            .canonicalize()
            .unwrap_or_else(|_| target.to_path_buf());
        let cycle = self
            .stack
            .iter()
            .any(|p| p.canonicalize().unwrap_or_else(|_| p.clone()) == canonical);
        if cycle {
            let chain: Vec<String> = self
                .stack
                .iter()
                .map(|p| display(p))
                .chain([display(target)])
                .collect();
            dec.error_with_help(
                at,
                format!("include cycle: `{}` includes itself", display(target)),
                format!("chain: {}", chain.join(" → ")),
            );
            return None;
        }
        if let Err(refused) = crate::files::inside_project(target) {
            dec.error(at, refused);
            return None;
        }
        let root = self.read(target, Some((dec, at)))?;
        let mut inner = Decoder::new(display(target));
        self.stack.push(target.to_path_buf());
        let part = self.part(&root, target, &mut inner, FRAGMENT);
        self.stack.pop();
        self.diagnostics.append(&mut inner.diagnostics);
        Some(part)
    }

    fn check_vars<'a>(
        &self,
        dec: &mut Decoder,
        node: &Node,
        names: impl IntoIterator<Item = &'a str>,
        known: &HashSet<String>,
    ) {
        for name in names {
            if known.contains(name) {
                continue;
            }
            if let Some(var) = name.strip_prefix("env.").filter(|v| !v.is_empty()) {
                if std::env::var_os(var).is_none() {
                    dec.error_with_help(
                        node,
                        format!("environment variable `{var}` is not set"),
                        format!(
                            "export it, or add `skip_if_unset: [{var}]` to the step \
                             to skip the step without it"
                        ),
                    );
                }
                continue;
            }
            let message = format!("unknown variable `{name}`");
            match did_you_mean(name, known.iter().map(String::as_str)) {
                Some(s) => dec.error_with_help(node, message, format!("did you mean `{s}`?")),
                None => dec.error_with_help(
                    node,
                    message,
                    "define it in `vars`, capture it in an earlier step, \
                     or use unique.email / unique.id / unique.name",
                ),
            }
        }
    }

    /// Checks the placeholders of every string in a YAML subtree, each at its own position.
    fn check_json_vars(&self, dec: &mut Decoder, node: &Node, known: &HashSet<String>) {
        match &node.value {
            yaml::Value::Str(text) => match json_variables(&Value::String(text.clone())) {
                Ok(names) => self.check_vars(dec, node, names.iter().map(String::as_str), known),
                Err(e) => dec.error(node, e),
            },
            yaml::Value::Seq(items) => items
                .iter()
                .for_each(|item| self.check_json_vars(dec, item, known)),
            yaml::Value::Map(entries) => entries.iter().for_each(|(k, v)| {
                self.check_json_vars(dec, k, known);
                self.check_json_vars(dec, v, known);
            }),
            _ => {}
        }
    }

    fn template(
        &self,
        dec: &mut Decoder,
        node: &Node,
        what: &str,
        known: &HashSet<String>,
    ) -> Option<Template> {
        let text = dec.scalar(node, what)?;
        match Template::parse(&text) {
            Ok(t) => {
                self.check_vars(dec, node, t.variables(), known);
                Some(t)
            }
            Err(e) => {
                dec.error(node, format!("{what}: {e}"));
                None
            }
        }
    }

    fn step(
        &mut self,
        node: &Node,
        dir: &Path,
        dec: &mut Decoder,
        known: &HashSet<String>,
    ) -> Option<Step> {
        let fields = dec.fields(node, "a step", STEP, &["name", "request", "expect"])?;
        let name = fields
            .get("name")
            .and_then(|n| dec.string(n, "a step's `name`"));
        // The step says which environment values it can do without: it is skipped when
        // one is unset. Any other unset `env.` value is an error before anything is sent.
        let mut known = known.clone();
        for n in fields
            .get("skip_if_unset")
            .and_then(|n| dec.list(n, "`skip_if_unset`"))
            .unwrap_or_default()
        {
            if let Some(var) = dec.string(n, "an environment variable name") {
                known.insert(format!("env.{var}"));
            }
        }
        let known = &known;
        let request = fields
            .get("request")
            .and_then(|n| self.request(n, dec, known));
        let expect = fields
            .get("expect")
            .and_then(|n| self.expect(n, dir, dec, known));
        let capture = fields
            .get("capture")
            .map(|n| captures(n, dec))
            .unwrap_or_default();
        let retry = fields.get("retry").and_then(|n| retry_policy(n, dec));
        Some(Step {
            name: name?,
            origin: origin(dec, node),
            request: request?,
            expect: expect?,
            capture,
            retry,
        })
    }

    fn request(
        &self,
        node: &Node,
        dec: &mut Decoder,
        known: &HashSet<String>,
    ) -> Option<RequestSpec> {
        let fields = dec.fields(node, "a request", REQUEST, &["method", "path"])?;
        let method = fields.get("method").and_then(|n| {
            let text = dec.string(n, "`method`")?.to_ascii_uppercase();
            if METHODS.contains(&text.as_str()) {
                Some(text)
            } else {
                dec.error_with_help(
                    n,
                    format!("unknown HTTP method `{text}`"),
                    format!("expected one of: {}", METHODS.join(", ")),
                );
                None
            }
        });
        let path = fields.get("path").and_then(|n| {
            let t = self.template(dec, n, "`path`", known)?;
            if !n.as_str().unwrap_or_default().starts_with('/') {
                dec.error_with_help(
                    n,
                    "`path` must start with `/`",
                    "the base URL comes from the profile or --target",
                );
                return None;
            }
            Some(t)
        });
        let query = self.template_map(&fields, "query", dec, known);
        let headers = self.template_map(&fields, "headers", dec, known);
        let json = fields.get("json").map(|n| {
            self.check_json_vars(dec, n, known);
            n.to_json()
        });
        let auth = match fields.get("auth") {
            Some(n) => dec.choice(n, "auth kind", &Credential::CHOICES)?,
            None => Credential::PRIMARY,
        };
        Some(RequestSpec {
            method: method?,
            path: path?,
            query,
            headers,
            json,
            auth,
            origin: origin(dec, node),
        })
    }

    fn template_map(
        &self,
        fields: &Fields,
        key: &str,
        dec: &mut Decoder,
        known: &HashSet<String>,
    ) -> Vec<(String, Template)> {
        let Some(node) = fields.get(key) else {
            return Vec::new();
        };
        dec.string_map(node, &format!("`{key}`"))
            .into_iter()
            .filter_map(|(name, _, value)| {
                Some((
                    name,
                    self.template(dec, value, &format!("`{key}` value"), known)?,
                ))
            })
            .collect()
    }

    fn expect(
        &mut self,
        node: &Node,
        dir: &Path,
        dec: &mut Decoder,
        known: &HashSet<String>,
    ) -> Option<Expect> {
        let fields = dec.fields(node, "`expect`", EXPECT, &["status"])?;
        let mut expect = Expect {
            origin: origin(dec, node),
            ..Expect::default()
        };
        if let Some(n) = fields.get("status") {
            expect.status_origin = origin(dec, n);
            expect.status = statuses(n, dec, "`status`")?;
        }
        if let Some(n) = fields.get("headers") {
            for (name, _, value) in dec.string_map(n, "`expect.headers`") {
                if let Some(rule) = self.header_rule(value, dec, known) {
                    expect.headers.push(HeaderExpect {
                        name,
                        rule,
                        origin: origin(dec, value),
                    });
                }
            }
        }
        expect.content_type = fields
            .get("content_type")
            .and_then(|n| dec.string(n, "`content_type`"));
        expect.schema = fields.get("schema").and_then(|n| schema_ref(n, dir, dec));
        if let Some(n) = fields.get("json") {
            for (path_text, key, value) in dec.string_map(n, "`expect.json`") {
                let Some(path) = json_path(&path_text, key, dec) else {
                    continue;
                };
                self.check_json_vars(dec, value, known);
                let rule = if predicate::is_predicates(value) {
                    match predicate::parse(value, dec) {
                        Some(predicates) => JsonRule::Predicates(predicates),
                        None => continue,
                    }
                } else {
                    JsonRule::Equals(value.to_json())
                };
                expect.json.push(JsonExpect {
                    path_text,
                    path,
                    rule,
                    origin: origin(dec, key),
                });
            }
        }
        if let Some(n) = fields.get("body") {
            match n.as_str() {
                Some("empty") => expect.body_empty = true,
                _ => dec.error_with_help(
                    n,
                    "`body` must be `empty`",
                    "check body content with `json`, `schema` or `error`",
                ),
            }
        }
        if let Some(n) = fields.get("error") {
            expect.error = self
                .template(dec, n, "`error`", known)
                .map(|t| (t, origin(dec, n)));
        }
        expect.max_latency_ms = fields
            .get("max_latency_ms")
            .and_then(|n| dec.uint(n, "`max_latency_ms`"));
        expect.snapshot = fields.get("snapshot").and_then(|n| snapshot_spec(n, dec));
        Some(expect)
    }

    fn header_rule(
        &self,
        node: &Node,
        dec: &mut Decoder,
        known: &HashSet<String>,
    ) -> Option<HeaderRule> {
        if !matches!(node.value, yaml::Value::Map(_)) {
            return self
                .template(dec, node, "a header value", known)
                .map(HeaderRule::Equals);
        }
        let yaml::Value::Map(entries) = &node.value else {
            unreachable!("checked above")
        };
        let keys: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_str()).collect();
        match keys.as_slice() {
            [key @ ("present" | "absent")] => {
                let value = &entries[0].1;
                let rule = if *key == "present" {
                    HeaderRule::Present
                } else {
                    HeaderRule::Absent
                };
                match dec.boolean(value, &format!("`{key}`"))? {
                    true => Some(rule),
                    false => {
                        dec.error_with_help(
                            value,
                            format!("`{key}: false` says nothing"),
                            "use the other of present/absent",
                        );
                        None
                    }
                }
            }
            ["equals"] => self
                .template(dec, &entries[0].1, "`equals`", known)
                .map(HeaderRule::Equals),
            _ if keys.iter().any(|k| matches!(*k, "present" | "absent")) => {
                dec.error(
                    node,
                    "`present` and `absent` stand alone: \
                     a header that must match something is present",
                );
                None
            }
            [] => {
                dec.error(
                    node,
                    "a header expectation needs a predicate, e.g. `{ matches: \"^v1\" }`",
                );
                None
            }
            _ => {
                self.check_json_vars(dec, node, known);
                predicate::parse(node, dec).map(HeaderRule::Predicates)
            }
        }
    }
}

/// A step's `capture:` map: name → JSONPath into the body, or `{ header: name }`.
pub fn captures(node: &Node, dec: &mut Decoder) -> Vec<Capture> {
    let mut out = Vec::new();
    for (name, _, value) in dec.string_map(node, "`capture`") {
        let source = if let Some(text) = value.as_str() {
            json_path(text, value, dec).map(|p| CaptureSource::Json(text.to_string(), p))
        } else {
            dec.fields(value, "a capture", &["header"], &["header"])
                .and_then(|f| f.get("header").and_then(|h| dec.string(h, "`header`")))
                .map(CaptureSource::Header)
        };
        if let Some(source) = source {
            out.push(Capture {
                name,
                source,
                origin: origin(dec, value),
            });
        }
    }
    out
}

impl Loader {
    fn matrix_entry(
        &self,
        node: &Node,
        dec: &mut Decoder,
        known: &HashSet<String>,
    ) -> Option<MatrixEntry> {
        let fields = dec.fields(node, "an auth_matrix entry", MATRIX, &["request"])?;
        let request = fields
            .get("request")
            .and_then(|n| self.request(n, dec, known))?;
        let success = match fields.get("status") {
            Some(n) => statuses(n, dec, "`status`")?,
            None => vec![match request.method.as_str() {
                "POST" => 201,
                "DELETE" => 204,
                _ => 200,
            }],
        };
        let cases = match fields.get("cases") {
            None => MatrixCase::ALL.to_vec(),
            Some(n) => {
                let choices: Vec<(&str, MatrixCase)> =
                    MatrixCase::ALL.iter().map(|c| (c.name(), *c)).collect();
                dec.list(n, "`cases`")?
                    .iter()
                    .filter_map(|item| dec.choice(item, "auth_matrix case", &choices))
                    .collect()
            }
        };
        Some(MatrixEntry {
            request,
            success,
            cases,
            origin: origin(dec, node),
        })
    }
}

fn statuses(node: &Node, dec: &mut Decoder, what: &str) -> Option<Vec<u16>> {
    let one = |dec: &mut Decoder, n: &Node| -> Option<u16> {
        let code = dec.uint(n, what)?;
        if (100..=599).contains(&code) {
            Some(code as u16)
        } else {
            dec.error(n, format!("{what}: {code} is not an HTTP status (100-599)"));
            None
        }
    };
    match &node.value {
        yaml::Value::Seq(items) if !items.is_empty() => items.iter().map(|n| one(dec, n)).collect(),
        yaml::Value::Seq(_) => {
            dec.error(node, format!("{what} needs at least one status"));
            None
        }
        _ => one(dec, node).map(|c| vec![c]),
    }
}

fn snapshot_spec(node: &Node, dec: &mut Decoder) -> Option<SnapshotSpec> {
    let (name_node, redact) = match &node.value {
        yaml::Value::Str(_) => (node, Vec::new()),
        _ => {
            let fields = dec.fields(node, "`snapshot`", &["name", "redact"], &["name"])?;
            let redact = match fields.get("redact") {
                None => Vec::new(),
                Some(list) => dec
                    .list(list, "`redact`")?
                    .iter()
                    .filter_map(|item| {
                        let text = dec.string(item, "a redaction")?;
                        json_path(&text, item, dec)
                    })
                    .collect(),
            };
            (fields.get("name")?, redact)
        }
    };
    let name = dec.string(name_node, "a snapshot name")?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        dec.error_with_help(
            name_node,
            format!("`{name}` is not a snapshot name"),
            "use letters, digits, - and _ (it becomes a file name)",
        );
        return None;
    }
    Some(SnapshotSpec { name, redact })
}

fn json_path(text: &str, node: &Node, dec: &mut Decoder) -> Option<serde_json_path::JsonPath> {
    match serde_json_path::JsonPath::parse(text) {
        Ok(path) => Some(path),
        Err(e) => {
            dec.error_with_help(
                node,
                format!("invalid JSONPath `{text}`: {e}"),
                "JSONPath (RFC 9535) starts at `$`, e.g. `$.data[0].id`",
            );
            None
        }
    }
}

fn retry_policy(node: &Node, dec: &mut Decoder) -> Option<RetryPolicy> {
    let fields = dec.fields(node, "`retry`", RETRY, &[])?;
    let mut policy = RetryPolicy::default();
    if let Some(n) = fields.get("on") {
        policy.on = statuses(n, dec, "`retry.on`")?;
    }
    if let Some(n) = fields.get("max_attempts") {
        let attempts = dec.uint(n, "`max_attempts`")?;
        if !(1..=20).contains(&attempts) {
            dec.error(n, "`max_attempts` must be between 1 and 20");
            return None;
        }
        policy.max_attempts = attempts as u32;
    }
    if let Some(n) = fields.get("honor_retry_after") {
        policy.honor_retry_after = dec.boolean(n, "`honor_retry_after`")?;
    }
    if let Some(n) = fields.get("base_ms") {
        policy.base_ms = dec.uint(n, "`base_ms`")?;
    }
    if let Some(n) = fields.get("max_wait_ms") {
        policy.max_wait_ms = dec.uint(n, "`max_wait_ms`")?;
    }
    Some(policy)
}

/// A request outside a scenario (profile probes and cleanups, workload steps): `unique.*`
/// and the names `known` (`id`, the probe's response's, for a cleanup) are available.
pub fn parse_request(node: &Node, dec: &mut Decoder, known: &[&str]) -> Option<RequestSpec> {
    let loader = Loader {
        sources: Vec::new(),
        diagnostics: Vec::new(),
        stack: Vec::new(),
    };
    let known: HashSet<String> = UNIQUE
        .iter()
        .map(|s| s.to_string())
        .chain(known.iter().map(|s| s.to_string()))
        .collect();
    loader.request(node, dec, &known)
}
