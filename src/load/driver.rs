//! Driving one load phase with goose.
//!
//! goose's own throttle under-delivers by about 10% at 100/s (measured here, 2 cores), so it
//! stays off: goose's users are the worker pool, and each transaction claims the next slot of
//! a drift-free [`Schedule`] and sends at its due time. With enough users the load is open
//! model — a slow answer does not delay the next send. goose is started programmatically
//! (never from our argv), silenced, and stopped through its kill switch when the last
//! answer is in.

use std::sync::{Arc, Once};
use std::time::Duration;

use goose::client::GooseClientBuilder;
use goose::config::GooseConfiguration;
use goose::goose::{GooseUser, Scenario, Transaction, TransactionResult};
use goose::GooseAttack;

use super::record::Recorder;
use super::schedule::Schedule;
use super::tenant_vars::{CaptureLog, TenantVars};
use crate::contract::{Presenting, Target};
use crate::scenario::template::Vars;
use crate::scenario::{Credential, RequestSpec};
use crate::stop::StopSignal;

/// Users beyond which they share one HTTP client.
const SHARED_CLIENT_ABOVE: usize = 64;

/// Largest body read from a load response; the rest is dropped with the connection.
const MAX_LOAD_BODY: usize = 64 * 1024;

/// One request with one key, recorded into one recorder: what a slot sends.
pub struct Lane {
    pub spec: RequestSpec,
    pub key: Credential,
    pub recorder: Arc<Recorder>,
    /// Passed to the recorder with each answer, so what this lane created can be deleted
    /// with its key (a workload's tenant number within its request name).
    pub tag: u32,
    /// The tenant's captured values, when this lane's request reads them or its answers
    /// write them (a workload's steps).
    pub tenant: Option<Arc<TenantVars>>,
    /// What this lane's 2xx answers capture into `tenant`.
    pub captures: Option<Arc<CaptureLog>>,
}

impl Lane {
    /// A lane that sends `spec` with `key`, reading and capturing nothing.
    pub fn new(spec: RequestSpec, key: Credential, recorder: Arc<Recorder>) -> Lane {
        Lane {
            spec,
            key,
            recorder,
            tag: 0,
            tenant: None,
            captures: None,
        }
    }
}

/// Which lane sends slot k.
pub type Route = Arc<dyn Fn(u64) -> usize + Send + Sync>;

/// One phase: which requests, with which keys, on which schedule, into which recorders.
pub struct Attack {
    pub target: Arc<Target>,
    pub vars: Vars,
    pub label: String,
    pub schedule: Arc<Schedule>,
    pub lanes: Vec<Lane>,
    /// `None`: every slot goes to the first lane.
    pub route: Option<Route>,
    /// Which client every slot is sent on.
    pub clients: Clients,
    /// The run's stop: a stopped run starts no attack, and a running one ends with it.
    pub stop: StopSignal,
}

/// Which client a slot is sent on.
pub enum Clients {
    /// goose's per-user clients: benchmarks against our own server, where throughput is
    /// the point.
    Goose,
    /// The run's load client, shared by every user: its redirect rule never lets a key
    /// reach another origin. For the rate-limit phases' few dozen users.
    Shared(reqwest::Client),
    /// A client per user, each built like the run's load client: a user's connections are
    /// its own, so there are as many as users. On one shared client, every request that
    /// finds no idle connection opens one, and connects it started but did not need join
    /// the pool: after a stall of a tenth of a second, 256 users held 150–1,200 connections
    /// and seconds of the schedule were short by 4–10% (measured at 5,000/s; with a client
    /// per user, 1.7% at worst in eight runs).
    PerUser,
}

/// goose logs through `log`; tollgate's terminal is its own. Installing a logger that drops
/// every record before goose's first run makes goose's own logger setup fail quietly.
fn silence_goose_logs() {
    struct Silent;
    impl log::Log for Silent {
        fn enabled(&self, _: &log::Metadata) -> bool {
            false
        }
        fn log(&self, _: &log::Record) {}
        fn flush(&self) {}
    }
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = log::set_boxed_logger(Box::new(Silent));
        log::set_max_level(log::LevelFilter::Off);
    });
}

/// Waits for a slot longer than this also watch the run's stop; shorter ones (every slot of
/// a running schedule) are plain timers.
const STOPPABLE_WAIT: Duration = Duration::from_millis(500);

/// Most goose users one phase starts.
const MAX_USERS: usize = 1024;

/// Most clients built for one attack when each user gets its own; beyond, users share them
/// in turn. Each costs about 4.5 ms to build here (the TLS roots are loaded per client) and
/// some 150 KB.
const MAX_OWN_CLIENTS: usize = 512;

/// Users needed to keep the schedule open: every user holds at most one request in flight,
/// so by Little's law `rate × latency` are busy at once. Twice the measured latency and a
/// quarter of a second on top absorb its variation; at least four.
pub fn users_for(rate: f64, latency: Duration) -> usize {
    let busy = rate * (2.0 * latency.as_secs_f64() + 0.25);
    (busy.ceil() as usize + 4).clamp(4, MAX_USERS)
}

/// Runs the attack until every slot is answered (or the bound of the phase runs out), with
/// enough users for answers `latency` apart from their requests.
pub async fn drive(attack: Attack, timeout: Duration, latency: Duration) -> Result<(), String> {
    let users = users_for(attack.schedule.own_rate(), latency);
    drive_with_users(attack, timeout, users).await
}

/// [`drive`] with `users` goose users: each holds at most one request in flight, so with a
/// schedule faster than they can answer this is a closed-model load of `users` connections
/// (`tollgate bench`'s saturation run).
pub async fn drive_with_users(
    attack: Attack,
    timeout: Duration,
    users: usize,
) -> Result<(), String> {
    // A stopped run sends nothing; nor does a shard whose share of a short schedule is no
    // slot at all (its kill switch, pulled by the last answer, would never come).
    if attack.stop.is_stopped() || attack.schedule.own_count() == 0 {
        return Ok(());
    }
    silence_goose_logs();
    let schedule_secs = attack.schedule.duration().as_secs_f64();
    let mut config = GooseConfiguration::default();
    config.host = Some(attack.target.base_url().to_string());
    config.users = Some(users);
    // Every user at once: goose starts one user per pause, and a pause is at least one
    // timer tick (1 ms), so 256 users took a quarter of a second while the schedule ran —
    // the first slots went out up to 140 ms late (measured at 5,000/s).
    config.increase_rate = Some(format!("{}", (users * 1000).max(100_000)));
    // A hard bound: the wait for a shared start instant, the schedule, one timeout for the
    // last answers, and a second to spare.
    let lead_secs = attack.schedule.lead().as_secs_f64();
    config.run_time = Some(format!(
        "{}",
        (lead_secs + schedule_secs + timeout.as_secs_f64()).ceil() as u64 + 1
    ));
    config.timeout = Some(format!("{}", timeout.as_secs().max(1)));
    config.accept_invalid_certs = attack.target.options().transport.insecure;
    config.quiet = 1;
    config.no_print_metrics = true;
    // Our recorder measures every answer; goose's own per-request metrics would only cost
    // a channel message and an aggregation per request.
    config.no_metrics = true;
    config.no_error_summary = true;
    config.no_telnet = true;
    config.no_websocket = true;

    let clients = match &attack.clients {
        Clients::Goose => Vec::new(),
        Clients::Shared(client) => vec![client.clone()],
        Clients::PerUser => own_clients(&attack.target, users.min(MAX_OWN_CLIENTS)).await,
    };
    let shared = Arc::new(Shared {
        clients,
        requests: attack.lanes.iter().map(|l| prepared(&attack, l)).collect(),
        answered: std::sync::atomic::AtomicU64::new(0),
        attack,
        timeout,
    });
    let transaction = {
        let shared = shared.clone();
        Transaction::new(Arc::new(move |user: &mut GooseUser| {
            let shared = shared.clone();
            Box::pin(async move { one_slot(&shared, user).await })
        }))
    };
    let attack = &shared.attack;
    let scenario = Scenario::new(&attack.label).register_transaction(transaction);
    if !attack.stop.is_stopped() {
        goose::reset_killswitch();
    }
    // Few users keep goose's client per user (no contention on one connection pool: about
    // 20% more throughput at saturation); many share one, since each client loads the TLS
    // roots and keeps its own pool (150 MB and a slow start at 1,024 users). When slots go
    // out on our clients, goose's are never used: one shared, built once, costs least.
    let goose = GooseAttack::initialize_with_config(config);
    let goose = if users > SHARED_CLIENT_ABOVE || !shared.clients.is_empty() {
        let client = GooseClientBuilder::new()
            .without_cookies()
            .timeout(timeout.max(Duration::from_secs(1)))
            .accept_invalid_certs(attack.target.options().transport.insecure);
        goose.and_then(|goose| goose.set_client_builder_without_cookies(client))
    } else {
        goose
    };
    let result = goose
        .map_err(|e| format!("cannot start goose: {e}"))?
        .register_scenario(scenario)
        .execute()
        .await;
    // A kill switch left set would make the next attack end at once.
    if !attack.stop.is_stopped() {
        goose::reset_killswitch();
    }
    result.map(drop).map_err(|e| format!("goose failed: {e}"))
}

/// `count` new load clients ([`Target::new_load_client`]), built on blocking threads:
/// building one loads the TLS roots. Never none: the run's own if no thread built any, so
/// a slot never goes out on a client without the run's redirect rule.
async fn own_clients(target: &Arc<Target>, count: usize) -> Vec<reqwest::Client> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let builders: Vec<_> = (0..threads)
        .map(|t| {
            let target = target.clone();
            let mine = count / threads + usize::from(t < count % threads);
            tokio::task::spawn_blocking(move || {
                (0..mine)
                    .map(|_| target.new_load_client())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(count);
    for built in builders {
        clients.extend(built.await.unwrap_or_default());
    }
    if clients.is_empty() {
        clients.push(target.load_client());
    }
    clients
}

/// What every goose user of one attack shares.
struct Shared {
    /// The clients users send on, user `i` on `i mod len` (empty: goose's own).
    clients: Vec<reqwest::Client>,
    /// Each lane's request prepared once, when it is the same for every slot.
    requests: Vec<Option<reqwest::Request>>,
    /// Slots answered (or failed): the last one ends the attack.
    answered: std::sync::atomic::AtomicU64,
    attack: Attack,
    timeout: Duration,
}

/// The request of a phase built once when its spec renders the same every time (no
/// `unique.*` values): each slot then sends a clone, with no URL parsed and no header built.
fn prepared(attack: &Attack, lane: &Lane) -> Option<reqwest::Request> {
    // A tenant's values change as its answers are captured.
    if lane.tenant.is_some() {
        return None;
    }
    let client = attack.target.client();
    let build = || {
        attack
            .target
            .request(&lane.spec, &attack.vars, Presenting::Role(lane.key))
            .ok()?
            .builder(&client, attack.target.base_url())
            .build()
            .ok()
    };
    let (first, second) = (build()?, build()?);
    let body = |r: &reqwest::Request| r.body().and_then(|b| b.as_bytes()).map(<[u8]>::to_vec);
    let same = first.url() == second.url()
        && first.headers() == second.headers()
        && body(&first) == body(&second);
    same.then_some(first)
}

/// The request of one slot: a clone of the prepared one, or built now.
fn slot_request(
    attack: &Attack,
    lane: &Lane,
    prepared: Option<&reqwest::Request>,
    client: &reqwest::Client,
) -> Result<reqwest::Request, String> {
    if let Some(request) = prepared.and_then(reqwest::Request::try_clone) {
        return Ok(request);
    }
    let tenant_vars = lane.tenant.as_ref().map(|t| t.snapshot());
    let vars = tenant_vars.as_ref().unwrap_or(&attack.vars);
    attack
        .target
        .request(&lane.spec, vars, Presenting::Role(lane.key))?
        .builder(client, attack.target.base_url())
        .build()
        .map_err(|e| format!("cannot build the request: {e}"))
}

async fn one_slot(shared: &Shared, user: &mut GooseUser) -> TransactionResult {
    let (attack, timeout) = (&shared.attack, shared.timeout);
    let Some((k, due)) = attack.schedule.claim() else {
        // Every slot is taken: idle until the kill switch (or run_time) ends the phase.
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Ok(());
    };
    // A slot already due (a saturating schedule, a late user) goes at once, without a
    // timer entry. A long wait (a shard's first slots, before its start instant) ends with
    // a stop, and sends nothing; goose's kill switch, pulled by the stop, ends the users.
    let wait = due.saturating_duration_since(std::time::Instant::now());
    if wait > STOPPABLE_WAIT {
        tokio::select! {
            () = tokio::time::sleep_until(due.into()) => {}
            () = attack.stop.stopped() => return Ok(()),
        }
    } else if !wait.is_zero() {
        tokio::time::sleep_until(due.into()).await;
    }
    let index = attack.route.as_ref().map_or(0, |route| route(k));
    let (lane, prepared) = (&attack.lanes[index], shared.requests[index].as_ref());
    let recorder = &lane.recorder;
    let client = match shared.clients.len() {
        0 => &user.client,
        n => &shared.clients[user.weighted_users_index % n],
    };
    let mut request = match slot_request(attack, lane, prepared, client) {
        Ok(request) => request,
        Err(e) => {
            // Still this slot's turn: the last slot, sent or not, ends the attack.
            slot_done(shared);
            return Err(Box::new(goose::goose::TransactionError::Custom(e)));
        }
    };
    *request.timeout_mut() = Some(timeout);
    // Sent on the goose user's own client, not through `GooseUser::request`: that wrapper
    // builds a metric per request (copies of the URL and names) which nothing reads with
    // goose's metrics off — our recorder measures every answer.
    let sent = std::time::Instant::now();
    match client.execute(request).await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let rate = recorder.rate_headers(response.headers());
            let headers = lane
                .captures
                .as_ref()
                .filter(|c| c.reads_headers())
                .map(|_| response.headers().clone())
                .unwrap_or_default();
            let mut body = Vec::new();
            let mut broken = None;
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_LOAD_BODY => {
                        body.extend_from_slice(&chunk)
                    }
                    Ok(_) => break,
                    Err(e) => {
                        broken = Some(crate::contract::client::classify(&e, timeout));
                        break;
                    }
                }
            }
            match broken {
                // The answer never arrived whole: the connection broke under it.
                Some(failure) => recorder.record_failure(due, sent, failure.check_id(), || {
                    format!("{failure} after a {status} status line")
                }),
                None => {
                    if let (Some(log), Some(tenant)) = (&lane.captures, &lane.tenant) {
                        if (200..300).contains(&status) {
                            log.record(tenant, &headers, &body);
                        }
                    }
                    recorder.record_tagged(lane.tag, due, sent, Some((status, &rate, &body)))
                }
            }
        }
        Err(e) => {
            let failure = crate::contract::client::classify(&e, timeout);
            recorder.record_failure(due, sent, failure.check_id(), || failure.to_string())
        }
    };
    slot_done(shared);
    Ok(())
}

/// Counts one slot of this process as done; the last one pulls goose's kill switch.
fn slot_done(shared: &Shared) {
    let answered = shared
        .answered
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    if answered == shared.attack.schedule.own_count() {
        goose::trigger_killswitch("schedule complete");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enough_users_for_the_measured_latency() {
        assert_eq!(users_for(20.0, Duration::ZERO), 9);
        assert_eq!(users_for(200.0, Duration::ZERO), 54);
        // 3 s answers at 40/s: 120 in flight on average; room for twice that.
        assert_eq!(users_for(40.0, Duration::from_secs(3)), 254);
        assert_eq!(users_for(1e6, Duration::ZERO), 1024);
    }
}
