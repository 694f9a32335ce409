//! Small sequential clients used around the load phases: isolation probes, the back-off
//! client, recovery, header count-down and the concurrency probe. They use their own client,
//! not goose: each sends a handful of requests and must see every answer.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::headers::{self, RateHeaders};
use crate::contract::client::{self, Exchange};
use crate::contract::retry::Jitter;
use crate::contract::{Presenting, Target};
use crate::scenario::template::Vars;
use crate::scenario::{Credential, RequestSpec};

pub struct Prober {
    pub target: Arc<Target>,
    pub client: reqwest::Client,
    pub timeout: Duration,
}

/// One answer and what its rate headers say.
pub struct Probe {
    pub exchange: Option<Exchange>,
    pub error: Option<String>,
    pub rate: RateHeaders,
}

impl Probe {
    pub fn status(&self) -> Option<u16> {
        self.exchange.as_ref().map(|e| e.status)
    }

    /// A probe that was never sent, and why.
    pub fn not_sent(reason: String) -> Self {
        Probe {
            exchange: None,
            error: Some(reason),
            rate: RateHeaders::default(),
        }
    }

    pub fn accepted(&self) -> bool {
        self.status().is_some_and(|s| (200..300).contains(&s))
    }
}

impl Prober {
    pub fn new(target: Arc<Target>) -> Self {
        let timeout = Duration::from_millis(target.profile().contract.timeout_ms);
        Prober {
            client: target.load_client(),
            target,
            timeout,
        }
    }

    pub async fn send(
        &self,
        spec: &RequestSpec,
        vars: &Vars,
        key: Credential,
        policy: Option<&str>,
    ) -> Probe {
        let outgoing = match self.target.request(spec, vars, Presenting::Role(key)) {
            Ok(o) => o,
            Err(e) => {
                return Probe {
                    exchange: None,
                    error: Some(e),
                    rate: RateHeaders::default(),
                }
            }
        };
        match client::send(
            &self.client,
            self.target.base_url(),
            &outgoing,
            self.timeout,
        )
        .await
        {
            Ok(exchange) => Probe {
                rate: headers::read(&exchange.headers, policy, SystemTime::now()),
                exchange: Some(exchange),
                error: None,
            },
            Err(e) => Probe {
                exchange: None,
                error: Some(self.target.redactor().redact(&e.to_string())),
                rate: RateHeaders::default(),
            },
        }
    }
}

/// What the back-off client saw: the promise and when a 2xx came back.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// Seconds the first 429 asked to wait (Retry-After, else Reset).
    pub promised: Option<f64>,
    /// Seconds from the first 429 to the first 2xx, if one came.
    pub recovered_after: Option<f64>,
    pub attempts: u32,
    /// The first answer was not a 429 (the bucket had already recovered).
    pub not_limited: bool,
    /// The first request got no answer at all (a transport failure, not a verdict).
    pub unanswered: bool,
    /// The promised wait, when it was longer than the client may wait: nothing was tested.
    pub beyond_budget: Option<f64>,
    /// How long the accepted retry took to answer: a promise is about when to ask, and the
    /// answer to a timely question still needs its round trip.
    pub round_trip: f64,
}

/// A well-behaved client: on 429 it waits what Retry-After (or Reset) says, otherwise it
/// backs off exponentially with full jitter; it gives up at `deadline` after the first 429.
///
/// Until `catch_until` it keeps asking (10 ms apart) for its first 429: at twice the limit
/// about half the requests are accepted, so a single request might slip through. `send`
/// sends one request; the caller decides which bucket it is counted against.
pub async fn back_off<F, Fut>(
    send: F,
    catch_until: Instant,
    deadline: Duration,
    jitter: &mut Jitter,
) -> Recovery
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Probe>,
{
    // 503 with a retry hint is how some servers say "slow down"; a client backs off on both.
    let limited = |p: &Probe| matches!(p.status(), Some(429 | 503));
    let mut first = send().await;
    while !limited(&first) && first.accepted() && Instant::now() < catch_until {
        tokio::time::sleep(Duration::from_millis(10)).await;
        first = send().await;
    }
    if !limited(&first) {
        return Recovery {
            promised: None,
            recovered_after: first.accepted().then_some(0.0),
            attempts: 1,
            not_limited: true,
            unanswered: first.exchange.is_none(),
            beyond_budget: None,
            round_trip: 0.0,
        };
    }
    let started = Instant::now();
    let hint = |p: &Probe| {
        p.rate
            .retry_after
            .as_ref()
            .and_then(|r| r.wait())
            .map(|d| d.as_secs_f64())
            .or_else(|| p.rate.reset.as_ref().and_then(|r| r.seconds()))
    };
    let promised = hint(&first);
    let mut next_hint = promised;
    let mut attempts = 1;
    let mut ceiling = Duration::from_millis(100);
    loop {
        let wait = match next_hint {
            Some(seconds) => Duration::from_secs_f64(seconds),
            None => {
                let w = jitter.up_to(ceiling);
                ceiling = (ceiling * 2).min(Duration::from_secs(5));
                w
            }
        };
        if started.elapsed() + wait > deadline {
            return Recovery {
                promised,
                recovered_after: None,
                attempts,
                not_limited: false,
                unanswered: false,
                // Giving up before the first retry tests nothing: the promise stands.
                beyond_budget: (attempts == 1).then_some(wait.as_secs_f64()),
                round_trip: 0.0,
            };
        }
        tokio::time::sleep(wait).await;
        let sent = Instant::now();
        let probe = send().await;
        let round_trip = sent.elapsed().as_secs_f64();
        attempts += 1;
        if probe.accepted() {
            return Recovery {
                promised,
                recovered_after: Some(started.elapsed().as_secs_f64()),
                attempts,
                not_limited: false,
                unanswered: false,
                beyond_budget: None,
                round_trip,
            };
        }
        // A server that answers 429 again after its own Retry-After gets exponential back-off.
        next_hint = None;
    }
}

/// Sends `n` slow requests evenly over `spread`, all at once in flight; their statuses.
pub async fn concurrent(
    prober: &Arc<Prober>,
    spec: &RequestSpec,
    vars: &Vars,
    n: usize,
    spread: Duration,
) -> Vec<(u16, f64)> {
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let at = started + spread.mul_f64(i as f64 / n.max(1) as f64);
        let prober = prober.clone();
        let spec = spec.clone();
        let vars = vars.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let sent = Instant::now();
            let probe = prober.send(&spec, &vars, Credential::PRIMARY, None).await;
            (probe.status().unwrap_or(0), sent.elapsed().as_secs_f64())
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap_or((0, 0.0)));
    }
    out
}
