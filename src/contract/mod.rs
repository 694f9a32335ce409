//! The contract runner: scenarios run concurrently (bounded), steps in order, every request
//! paced below the target's limits, every response checked, every result sent as an event.

pub mod checks;
pub mod client;
pub mod pace;
pub mod retry;
pub mod snapshot;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, Semaphore};

use crate::event::{Attempt, CheckResult, Event, StepResult, Verdict};
use crate::keys::KeyRole;
use crate::scenario::template::{render_json, UniqueSource, Vars};
use crate::scenario::{CaptureSource, Credential, MatrixCase, MatrixEntry, Origin, Scenario, Step};
use crate::secret::Redactor;
pub use crate::target::{Presenting, Target};
use client::{Exchange, Outgoing, TransportError};
use pace::Pacer;
use retry::Jitter;

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
    let client = client::build_step_client(&target.options().transport);
    let runner = Arc::new(Runner {
        pacer: Pacer::new(
            &target.profile().rate_limits,
            target.profile().contract.pace,
        ),
        redactor: target.redactor(),
        api_keys: Redactor::new(target.key_values().cloned()),
        unique: UniqueSource::new(&run_id),
        client,
        target,
        events,
    });
    let permits = Arc::new(Semaphore::new(runner.target.profile().contract.parallel));
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

impl Runner {
    /// `openapi.*` checks when the profile names its document; they point at the step.
    fn openapi(&self, outgoing: &Outgoing, exchange: &Exchange, at: &Origin) -> Vec<CheckResult> {
        match &self.target.profile().openapi {
            Some(conformance) => checks::openapi(conformance, outgoing, exchange)
                .into_iter()
                .map(|c| c.at(at))
                .collect(),
            None => Vec::new(),
        }
    }

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
        let errors = &self.target.profile().errors;
        result.checks.extend(checks::expectations(
            &exchange,
            &step.expect,
            errors,
            vars,
            &self.target.profile().secret_headers,
        ));
        if let Some(spec) = &step.expect.snapshot {
            let body = snapshot::redacted_body(&exchange.body, spec, &self.redactor, vars);
            let label = format!("{} › {}", scenario.name, step.name);
            let check =
                snapshot::check(self.target.snapshots(), &scenario.file, &label, spec, &body);
            result.checks.push(check.at(&step.expect.origin));
        }
        // Built-in checks have no line of their own: they point at the step.
        let built_in = checks::built_in(&exchange, errors, &outgoing.presented, &self.api_keys);
        result
            .checks
            .extend(built_in.into_iter().map(|c| c.at(&step.origin)));
        result
            .checks
            .extend(self.openapi(&outgoing, &exchange, &step.origin));
        for capture in &step.capture {
            match captured(&exchange, &capture.source) {
                Ok(value) => vars.capture(&capture.name, value),
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
        key: Credential,
        policy: Option<&crate::scenario::RetryPolicy>,
        jitter: &mut Jitter,
        result: &mut StepResult,
    ) -> Option<Exchange> {
        let timeout = Duration::from_millis(self.target.profile().contract.timeout_ms);
        let path = outgoing
            .path_and_query
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let mut waited = Duration::ZERO;
        loop {
            self.pacer.wait(key, outgoing.method.as_str(), &path).await;
            match client::send(&self.client, self.target.base_url(), outgoing, timeout).await {
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
        let profile = &self.target.profile();
        let is_write = !matches!(entry.request.method.as_str(), "GET" | "HEAD" | "OPTIONS");
        let label = format!("{} {}", entry.request.method, entry.request.path.source());
        let mut jitter = Jitter::new(0);
        for case in &entry.cases {
            let mut runs: Vec<(String, Presenting)> = Vec::new();
            match case {
                MatrixCase::Valid => {
                    runs.push(("valid".into(), Presenting::Role(Credential::PRIMARY)))
                }
                MatrixCase::None => runs.push(("none".into(), Presenting::Role(Credential::None))),
                MatrixCase::Invalid => {
                    runs.push(("invalid".into(), Presenting::Role(Credential::Invalid)))
                }
                MatrixCase::WrongScheme => {
                    runs.push(("wrong-scheme".into(), Presenting::WrongScheme))
                }
                MatrixCase::Query => runs.push(("query".into(), Presenting::InQuery)),
                MatrixCase::Revoked => runs.push((
                    "revoked".into(),
                    Presenting::Role(Credential::Key(KeyRole::Revoked)),
                )),
                MatrixCase::ReadOnly => runs.push((
                    "readonly".into(),
                    Presenting::Role(Credential::Key(KeyRole::ReadOnly)),
                )),
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
                    _ => Credential::PRIMARY,
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
                result
                    .checks
                    .extend(self.openapi(&outgoing, &exchange, &entry.origin));
                results.push(result);
            }
        }
        results
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
            "the target answered {} and the request became {} {} (as browsers do): \
             the answer judged is that {}'s",
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
