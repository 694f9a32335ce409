//! The contract runner: scenarios run concurrently (bounded), steps in order, every request
//! paced below the target's limits, every response checked, every result sent as an event.

pub mod checks;
pub mod client;
pub mod pace;
pub mod retry;
pub mod snapshot;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, Semaphore};

use crate::event::{Attempt, CheckResult, Event, StepResult, Verdict};
use crate::profile::{AuthSpec, Profile};
use crate::scenario::template::{render_json, UniqueSource, Vars};
use crate::scenario::{
    AuthKind, CaptureSource, MatrixCase, MatrixEntry, Origin, RequestSpec, Scenario, Step,
};
use crate::secret::{Redactor, Secret};
use crate::server::{KeyRing, KeyRole};
use client::{Exchange, HeaderValueText, Outgoing, TransportError};
use pace::Pacer;
use retry::Jitter;
use snapshot::SnapshotStore;

/// Everything the runner needs to know about the deployment under test.
#[derive(Debug)]
pub struct Target {
    pub base_url: String,
    pub profile: Profile,
    /// Key values by role; `Invalid` is generated per run and never valid anywhere.
    pub keys: HashMap<AuthKind, Secret>,
    /// The environment variable behind each role, for skip reasons.
    pub key_vars: HashMap<AuthKind, String>,
    pub snapshots: SnapshotStore,
    pub redactor: std::sync::OnceLock<Redactor>,
    /// Accept any TLS certificate (`--insecure`, for staging servers).
    pub insecure: bool,
    /// The run's one HTTP client, built on first use (after `insecure` is set).
    pub client: std::sync::OnceLock<reqwest::Client>,
}

impl Target {
    /// The embedded reference server at `base_url` holding the keys of `ring`.
    pub fn embedded(base_url: String, ring: &KeyRing, profile: Profile) -> Self {
        let key_vars = key_vars(&profile);
        // Only the roles the profile configures: the server has every key, the profile
        // decides which the checks may use.
        let mut keys: HashMap<AuthKind, Secret> = [
            (AuthKind::Valid, KeyRole::Primary),
            (AuthKind::Second, KeyRole::Second),
            (AuthKind::Revoked, KeyRole::Revoked),
            (AuthKind::ReadOnly, KeyRole::ReadOnly),
            (AuthKind::Test, KeyRole::TestMode),
        ]
        .into_iter()
        .filter(|(kind, _)| key_vars.contains_key(kind))
        .filter_map(|(kind, role)| Some((kind, Secret::new(ring.get(role)?))))
        .collect();
        keys.insert(AuthKind::Invalid, invalid_key());
        Target {
            base_url,
            key_vars,
            snapshots: SnapshotStore {
                dir: profile.snapshots.clone(),
                update: false,
            },
            profile,
            keys,
            redactor: Default::default(),
            insecure: false,
            client: Default::default(),
        }
    }

    /// Builds the request of `spec` with `vars`, presenting credentials as asked.
    pub fn request(
        &self,
        spec: &RequestSpec,
        vars: &Vars,
        presenting: Presenting,
    ) -> Result<Outgoing, String> {
        let path = spec
            .path
            .render(vars)
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let mut url = reqwest::Url::parse(&format!("http://placeholder{path}"))
            .map_err(|e| format!("`{path}` is not a valid path: {e}"))?;
        let mut headers = Vec::new();
        let mut presented = Vec::new();
        {
            let mut query = url.query_pairs_mut();
            for (name, template) in &spec.query {
                query.append_pair(
                    name,
                    &template
                        .render(vars)
                        .map_err(|e| format!("cannot build the request: {e}"))?,
                );
            }
        }
        for (name, template) in &spec.headers {
            let value = template
                .render(vars)
                .map_err(|e| format!("cannot build the request: {e}"))?;
            headers.push((name.clone(), HeaderValueText::Plain(value)));
        }
        let auth = &self.profile.auth;
        let mut present = |spec: &AuthSpec, value: String, key: &Secret| {
            headers.push((spec.header.clone(), HeaderValueText::Secret(value)));
            presented.push(key.clone());
        };
        match presenting {
            Presenting::Role(AuthKind::None) => {}
            Presenting::Role(kind) => {
                let key = self.key(kind)?;
                present(auth, auth.value(key.expose()), key);
            }
            Presenting::Style(style) => {
                let key = self.key(AuthKind::Valid)?;
                present(style, style.value(key.expose()), key);
            }
            Presenting::WrongScheme => {
                let key = self.key(AuthKind::Valid)?;
                let wrong = match &auth.scheme {
                    Some(s) if s.eq_ignore_ascii_case("basic") => "Token",
                    Some(_) => "Basic",
                    None => "Bearer",
                };
                present(auth, format!("{wrong} {}", key.expose()), key);
            }
            Presenting::InQuery => {
                let key = self.key(AuthKind::Valid)?;
                url.query_pairs_mut()
                    .append_pair("api_key", key.expose())
                    .append_pair("access_token", key.expose());
                presented.push(key.clone());
            }
        }
        let json = match &spec.json {
            Some(body) => Some(
                render_json(body, vars).map_err(|e| format!("cannot build the request: {e}"))?,
            ),
            None => None,
        };
        let path_and_query = match url.query() {
            Some(q) if !q.is_empty() => format!("{}?{q}", url.path()),
            _ => url.path().to_string(),
        };
        let method =
            reqwest::Method::from_bytes(spec.method.as_bytes()).map_err(|e| e.to_string())?;
        Ok(Outgoing {
            label: format!("{} {}", spec.method, url.path()),
            method,
            path_and_query,
            headers,
            json,
            presented,
        })
    }

    pub fn key(&self, kind: AuthKind) -> Result<&Secret, String> {
        self.keys
            .get(&kind)
            .ok_or_else(|| match self.key_vars.get(&kind) {
                Some(var) => format!("no {} key: {var} is not set", role_name(kind)),
                None => format!(
                    "the profile configures no {} key (its `keys:` leave the role out)",
                    role_name(kind)
                ),
            })
    }

    /// The run's one HTTP client (a cheap handle): the preflight, the contract runner and
    /// the probes share its TLS roots and connection pool.
    pub fn client(&self) -> reqwest::Client {
        self.client
            .get_or_init(|| client::build(self.insecure))
            .clone()
    }

    /// The run's shared redactor: every key, and every `{{ env.NAME }}` value once read.
    pub fn redactor(&self) -> Redactor {
        self.redactor
            .get_or_init(|| Redactor::new(self.keys.values().cloned()))
            .clone()
    }
}

/// The environment variable behind each key role `profile` configures.
pub fn key_vars(profile: &Profile) -> HashMap<AuthKind, String> {
    let keys = &profile.keys;
    [
        (AuthKind::Valid, Some(keys.primary.clone())),
        (AuthKind::Second, keys.second.clone()),
        (AuthKind::Revoked, keys.revoked.clone()),
        (AuthKind::ReadOnly, keys.readonly.clone()),
        (AuthKind::Test, keys.test.clone()),
    ]
    .into_iter()
    .filter_map(|(kind, var)| Some((kind, var?)))
    .collect()
}

/// A key no server issued: random per run, so it cannot collide with a real one.
pub fn invalid_key() -> Secret {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Secret::new(format!("tg_invalid_{hex}"))
}

/// Runs every scenario and returns the finished steps in completion order (tests and
/// embedding; the CLI consumes the events live instead).
pub async fn collect(
    target: Arc<Target>,
    scenarios: Vec<Scenario>,
    run_id: String,
    seed: u64,
) -> Vec<StepResult> {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let runner = tokio::spawn(run(target, scenarios, run_id, seed, sender));
    let mut steps = Vec::new();
    while let Some(event) = receiver.recv().await {
        if let Event::StepFinished(step) = event {
            steps.push(step);
        }
    }
    let _ = runner.await;
    steps
}

/// Runs every scenario against `target`, sending one event per finished step.
pub async fn run(
    target: Arc<Target>,
    scenarios: Vec<Scenario>,
    run_id: String,
    seed: u64,
    events: mpsc::UnboundedSender<Event>,
) {
    // The steps' own client: it lets `client::send` follow and show each redirect.
    let client = client::build_step_client(target.insecure);
    let runner = Arc::new(Runner {
        pacer: Pacer::new(&target.profile.rate_limits, target.profile.contract.pace),
        redactor: target.redactor(),
        api_keys: Redactor::new(target.keys.values().cloned()),
        unique: UniqueSource::new(&run_id),
        client,
        target,
        events,
    });
    let permits = Arc::new(Semaphore::new(runner.target.profile.contract.parallel));
    let mut tasks = Vec::new();
    for (index, scenario) in scenarios.into_iter().enumerate() {
        let runner = runner.clone();
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            runner
                .scenario(&scenario, Jitter::new(seed ^ index as u64))
                .await;
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            tracing::error!("a scenario task failed: {e}");
        }
    }
}

struct Runner {
    target: Arc<Target>,
    client: reqwest::Client,
    pacer: Pacer,
    redactor: Redactor,
    /// Only the API keys: `secret.echo` is about keys, not every secret the run knows.
    api_keys: Redactor,
    unique: UniqueSource,
    events: mpsc::UnboundedSender<Event>,
}

/// How a request presents credentials.
#[derive(Debug, Clone, Copy)]
pub enum Presenting<'a> {
    Role(AuthKind),
    /// The primary key in another accepted style.
    Style(&'a AuthSpec),
    /// The primary key behind a scheme nobody accepts.
    WrongScheme,
    /// The primary key only in the query string.
    InQuery,
}

impl Runner {
    fn emit(&self, result: StepResult) {
        let _ = self.events.send(Event::StepFinished(result));
    }

    async fn scenario(&self, scenario: &Scenario, mut jitter: Jitter) {
        let mut vars = Vars::new(self.unique.clone()).with_redactor(self.redactor.clone());
        for (name, value) in &scenario.vars {
            match render_json(value, &vars) {
                Ok(v) => vars.set(name, v),
                Err(e) => tracing::warn!("var {name}: {e}"),
            }
        }
        for step in &scenario.steps {
            let result = self.step(scenario, step, &mut vars, &mut jitter).await;
            self.emit(result);
        }
        for entry in &scenario.auth_matrix {
            for result in self.matrix(scenario, entry, &vars).await {
                self.emit(result);
            }
        }
    }

    fn skeleton(
        &self,
        scenario: &Scenario,
        name: &str,
        request: String,
        origin: &Origin,
    ) -> StepResult {
        StepResult {
            scenario: scenario.name.clone(),
            file: scenario.file.clone(),
            step: name.to_string(),
            request,
            origin: origin.clone(),
            attempts: Vec::new(),
            checks: Vec::new(),
        }
    }

    async fn step(
        &self,
        scenario: &Scenario,
        step: &Step,
        vars: &mut Vars,
        jitter: &mut Jitter,
    ) -> StepResult {
        let label = format!("{} {}", step.request.method, step.request.path.source());
        let mut result = self.skeleton(scenario, &step.name, label, &step.origin);
        let outgoing =
            match self
                .target
                .request(&step.request, vars, Presenting::Role(step.request.auth))
            {
                Ok(o) => o,
                Err(reason) => {
                    result.checks.push(
                        CheckResult::new("step.request", Verdict::Skipped, reason)
                            .at(&step.request.origin),
                    );
                    return result;
                }
            };
        result.request = outgoing.label.clone();
        let exchange = match self
            .send(
                &outgoing,
                step.request.auth,
                step.retry.as_ref(),
                jitter,
                &mut result,
            )
            .await
        {
            Some(exchange) => exchange,
            None => return result,
        };
        let errors = &self.target.profile.errors;
        result.checks.extend(checks::expectations(
            &exchange,
            &step.expect,
            errors,
            vars,
            &self.target.profile.secret_headers,
        ));
        if let Some(spec) = &step.expect.snapshot {
            let body = snapshot::redacted_body(&exchange.body, spec, &self.redactor);
            let label = format!("{} › {}", scenario.name, step.name);
            let check =
                snapshot::check(&self.target.snapshots, &scenario.file, &label, spec, &body);
            result.checks.push(check.at(&step.expect.origin));
        }
        // Built-in checks have no line of their own: they point at the step.
        let built_in = checks::built_in(&exchange, errors, &outgoing.presented, &self.api_keys);
        result
            .checks
            .extend(built_in.into_iter().map(|c| c.at(&step.origin)));
        for capture in &step.capture {
            match captured(&exchange, &capture.source) {
                Ok(value) => vars.set(&capture.name, value),
                Err(reason) => result.checks.push(
                    CheckResult::new(
                        "capture",
                        Verdict::Failed,
                        format!("cannot capture `{}`: {reason}", capture.name),
                    )
                    .at(&capture.origin),
                ),
            }
        }
        result
    }

    /// Sends with pacing and the step's retry policy; records every attempt.
    async fn send(
        &self,
        outgoing: &Outgoing,
        key: AuthKind,
        policy: Option<&crate::scenario::RetryPolicy>,
        jitter: &mut Jitter,
        result: &mut StepResult,
    ) -> Option<Exchange> {
        let timeout = Duration::from_millis(self.target.profile.contract.timeout_ms);
        let path = outgoing
            .path_and_query
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let mut waited = Duration::ZERO;
        loop {
            self.pacer.wait(key, outgoing.method.as_str(), &path).await;
            match client::send(&self.client, &self.target.base_url, outgoing, timeout).await {
                Err(error) => {
                    result.attempts.push(Attempt {
                        status: None,
                        latency_ms: 0.0,
                        waited_ms: waited.as_millis() as u64,
                    });
                    // The step's line: which request could not be sent is the first question.
                    let failure = transport_failure(&error, &self.redactor).at(&result.origin);
                    result.checks.push(failure);
                    return None;
                }
                Ok(exchange) => {
                    result.attempts.push(Attempt {
                        status: Some(exchange.status),
                        latency_ms: exchange.latency.as_secs_f64() * 1000.0,
                        waited_ms: waited.as_millis() as u64,
                    });
                    show_redirects(result, &exchange);
                    let Some(policy) = policy else {
                        return Some(exchange);
                    };
                    let attempt = result.attempts.len() as u32;
                    match retry::next_wait(
                        policy,
                        attempt,
                        exchange.status,
                        exchange.header("retry-after"),
                        jitter,
                    ) {
                        Ok(Some(wait)) => {
                            tokio::time::sleep(wait).await;
                            waited = wait;
                        }
                        Ok(None) => return Some(exchange),
                        Err(reason) => {
                            result
                                .checks
                                .push(CheckResult::new("retry", Verdict::Failed, reason));
                            return Some(exchange);
                        }
                    }
                }
            }
        }
    }

    async fn matrix(
        &self,
        scenario: &Scenario,
        entry: &MatrixEntry,
        vars: &Vars,
    ) -> Vec<StepResult> {
        let mut results = Vec::new();
        let profile = &self.target.profile;
        let is_write = !matches!(entry.request.method.as_str(), "GET" | "HEAD" | "OPTIONS");
        let label = format!("{} {}", entry.request.method, entry.request.path.source());
        let mut jitter = Jitter::new(0);
        for case in &entry.cases {
            let mut runs: Vec<(String, Presenting)> = Vec::new();
            match case {
                MatrixCase::Valid => runs.push(("valid".into(), Presenting::Role(AuthKind::Valid))),
                MatrixCase::None => runs.push(("none".into(), Presenting::Role(AuthKind::None))),
                MatrixCase::Invalid => {
                    runs.push(("invalid".into(), Presenting::Role(AuthKind::Invalid)))
                }
                MatrixCase::WrongScheme => {
                    runs.push(("wrong-scheme".into(), Presenting::WrongScheme))
                }
                MatrixCase::Query => runs.push(("query".into(), Presenting::InQuery)),
                MatrixCase::Revoked => {
                    runs.push(("revoked".into(), Presenting::Role(AuthKind::Revoked)))
                }
                MatrixCase::ReadOnly => {
                    runs.push(("readonly".into(), Presenting::Role(AuthKind::ReadOnly)))
                }
                MatrixCase::Alternate => {
                    for style in &profile.alternate_auth {
                        runs.push((format!("alternate ({style})"), Presenting::Style(style)));
                    }
                }
            }
            for (name, presenting) in runs {
                let mut result = self.skeleton(scenario, &name, label.clone(), &entry.origin);
                let key_role = match presenting {
                    Presenting::Role(kind) => kind,
                    _ => AuthKind::Valid,
                };
                let outgoing = match self.target.request(&entry.request, vars, presenting) {
                    Ok(o) => o,
                    Err(reason) => {
                        result.checks.push(
                            CheckResult::new(
                                format!("auth.{}.status", case.name()),
                                Verdict::Skipped,
                                reason,
                            )
                            .at(&entry.origin),
                        );
                        results.push(result);
                        continue;
                    }
                };
                result.request = outgoing.label.clone();
                let Some(exchange) = self
                    .send(&outgoing, key_role, None, &mut jitter, &mut result)
                    .await
                else {
                    results.push(result);
                    continue;
                };
                let id = case.name();
                let errors = &profile.errors;
                let expected = match case {
                    MatrixCase::None
                    | MatrixCase::Invalid
                    | MatrixCase::WrongScheme
                    | MatrixCase::Query => Some(&errors.unauthorized),
                    MatrixCase::Revoked => Some(&errors.revoked),
                    MatrixCase::ReadOnly if is_write => Some(&errors.readonly),
                    _ => None,
                };
                match expected {
                    Some(expected) => result.checks.extend(checks::expected_error(
                        id,
                        &exchange,
                        expected,
                        errors,
                        &entry.origin,
                    )),
                    None => result.checks.push(
                        checks::status(
                            exchange.status,
                            &entry.success,
                            &format!("auth.{id}.status"),
                        )
                        .at(&entry.origin),
                    ),
                }
                let built_in =
                    checks::built_in(&exchange, errors, &outgoing.presented, &self.api_keys);
                result
                    .checks
                    .extend(built_in.into_iter().map(|c| c.at(&entry.origin)));
                results.push(result);
            }
        }
        results
    }
}

fn role_name(kind: AuthKind) -> &'static str {
    match kind {
        AuthKind::Valid => "primary",
        AuthKind::None => "",
        AuthKind::Invalid => "invalid",
        AuthKind::Revoked => "revoked",
        AuthKind::ReadOnly => "read-only",
        AuthKind::Test => "test-mode",
        AuthKind::Second => "second",
    }
}

/// Same-origin redirects stay allowed but never hidden: the step's request line shows each
/// hop (`POST /v1/users ↪ 303 GET /v1/users/1`), and a hop that changed the method is a
/// warning, since the answer judged is then another request's.
fn show_redirects(result: &mut StepResult, exchange: &Exchange) {
    if exchange.redirects.is_empty() || result.request.contains('↪') {
        return;
    }
    for hop in &exchange.redirects {
        result.request = format!("{} {hop}", result.request);
    }
    if let Some(hop) = exchange.redirects.iter().find(|hop| hop.changed_method()) {
        let message = format!(
            "the target answered {} and the request became {} {} (as browsers do): the answer judged is that {}'s",
            hop.status, hop.method, hop.path, hop.method
        );
        let check = CheckResult::new("transport.redirect-method", Verdict::Warning, message);
        result.checks.push(check.at(&result.origin));
    }
}

fn transport_failure(error: &TransportError, redactor: &Redactor) -> CheckResult {
    CheckResult::new(
        error.check_id(),
        Verdict::Failed,
        redactor.redact(&error.to_string()),
    )
}

fn captured(exchange: &Exchange, source: &CaptureSource) -> Result<Value, String> {
    match source {
        CaptureSource::Json(text, path) => {
            let body = exchange.json()?;
            path.query(&body)
                .first()
                .cloned()
                .ok_or_else(|| format!("nothing at {text}"))
        }
        CaptureSource::Header(name) => exchange
            .header(name)
            .map(|v| Value::String(v.to_string()))
            .ok_or_else(|| format!("no {name} header")),
    }
}
