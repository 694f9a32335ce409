//! The tenants' captured values in a workload whose steps capture (a create feeding a
//! read): one store per tenant, and the warm-up that fills them before the schedule starts
//! — each tenant sends each capturing step once, in mix order, so the first slot of a read
//! already has the id it reads.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::plan::PartPlan;
use crate::load::per_second;
use crate::load::probes::{Probe, Prober};
use crate::load::record::created_id;
use crate::load::tenant_vars::TenantVars;
use crate::scenario::template::Vars;
use crate::scenario::Credential;
use crate::stop::StopSignal;

/// Tenants warmed up at once: a few, so a slow target's answers overlap.
const AT_ONCE: usize = 8;

/// One store per tenant when any part captures, none otherwise.
pub fn stores(parts: &[PartPlan], tenants: u16, vars: &Vars) -> Vec<Arc<TenantVars>> {
    if parts.iter().all(|p| p.captures.is_empty()) {
        return Vec::new();
    }
    (0..tenants)
        .map(|_| Arc::new(TenantVars::new(vars.clone())))
        .collect()
}

/// What one warm-up request created, for the clean-up: the part, the tenant, the id.
pub struct WarmCreated {
    pub part: usize,
    pub tenant: u16,
    pub id: Value,
}

/// Sends each capturing part's request once per tenant, in mix order, capturing into the
/// tenant's store: what it created (to be deleted whatever happens), and its first
/// failure, which ends it — every read of a missing capture would fail.
pub async fn warm_up(
    prober: &Arc<Prober>,
    parts: &[PartPlan],
    stores: &[Arc<TenantVars>],
    stop: &StopSignal,
) -> (Vec<WarmCreated>, Result<(), String>) {
    let capturing: Arc<Vec<(usize, PartPlan)>> = Arc::new(
        parts
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.captures.is_empty())
            .map(|(i, p)| (i, p.clone()))
            .collect(),
    );
    let mut warm = Warm {
        created: Vec::new(),
        failure: None,
    };
    let mut in_flight = tokio::task::JoinSet::new();
    for (tenant, store) in stores.iter().enumerate() {
        while in_flight.len() >= AT_ONCE {
            warm.settle(in_flight.join_next().await);
        }
        // A stopped run warms up no more tenants; what is in flight still lands (and is
        // deleted).
        if warm.failure.is_some() || stop.is_stopped() {
            break;
        }
        let (prober, store, capturing) = (prober.clone(), store.clone(), capturing.clone());
        let stop = stop.clone();
        in_flight.spawn(async move {
            one_tenant(&prober, tenant as u16, &store, &capturing, &stop).await
        });
    }
    while let Some(done) = in_flight.join_next().await {
        warm.settle(Some(done));
    }
    (warm.created, warm.failure.map_or(Ok(()), |(_, e)| Err(e)))
}

struct Warm {
    created: Vec<WarmCreated>,
    /// The lowest tenant's failure: the same message whichever answered first.
    failure: Option<(u16, String)>,
}

type TenantDone = (Vec<WarmCreated>, Result<(), (u16, String)>);

impl Warm {
    fn settle(&mut self, done: Option<Result<TenantDone, tokio::task::JoinError>>) {
        let result = match done {
            Some(Ok((created, result))) => {
                self.created.extend(created);
                result
            }
            Some(Err(e)) => Err((u16::MAX, format!("the warm-up stopped: {e}"))),
            None => Ok(()),
        };
        if let Err(failure) = result {
            if self.failure.as_ref().is_none_or(|(t, _)| failure.0 < *t) {
                self.failure = Some(failure);
            }
        }
    }
}

/// Attempts at one warm-up request that met a 429.
const ATTEMPTS: u32 = 4;
/// The longest wait a 429 may ask of the warm-up before it gives up.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// One warm-up request, sent again after the wait a 429 asks for (or one interval of the
/// class's limit): the shards of one run warm up the same tenants at about the same time,
/// and a limiter without burst refuses the second of two requests at once.
async fn send_within_limit(
    prober: &Prober,
    part: &PartPlan,
    tenant: u16,
    store: &TenantVars,
    stop: &StopSignal,
) -> Probe {
    let key = Credential::Tenant(tenant);
    let interval = Duration::from_secs_f64(1.0 / per_second(&part.class).max(0.001));
    let mut attempt = 1;
    loop {
        let vars = store.snapshot();
        let probe = prober
            .send(&part.class.probe, &vars, key, Some(&part.class.name))
            .await;
        let wait = probe.rate.retry_after.as_ref().and_then(|r| r.wait());
        let wait = wait.unwrap_or(interval).max(interval);
        if probe.status() != Some(429) || attempt == ATTEMPTS || wait > MAX_WAIT {
            return probe;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.stopped() => return probe,
        }
        attempt += 1;
    }
}

/// One tenant's warm-up: each capturing part once, in order.
async fn one_tenant(
    prober: &Prober,
    tenant: u16,
    store: &TenantVars,
    capturing: &[(usize, PartPlan)],
    stop: &StopSignal,
) -> TenantDone {
    let mut created = Vec::new();
    for (index, part) in capturing {
        let probe = send_within_limit(prober, part, tenant, store, stop).await;
        let failed = |why: String| {
            let message = format!(
                "the warm-up of `{}` for tenant {tenant} (each tenant captures before the \
                 schedule starts) {why}",
                part.name
            );
            (tenant, message)
        };
        let Some(exchange) = probe.exchange else {
            let why = probe.error.unwrap_or_else(|| "got no answer".into());
            return (created, Err(failed(format!("failed: {why}"))));
        };
        if !(200..300).contains(&exchange.status) {
            return (
                created,
                Err(failed(format!("answered {}", exchange.status))),
            );
        }
        if part.class.cleanup.is_some() {
            created.extend(created_id(&exchange.body).map(|id| WarmCreated {
                part: *index,
                tenant,
                id,
            }));
        }
        if let Err(why) = store.capture(&part.captures, &exchange.headers, &exchange.body) {
            let why = format!("answered {}, but {why}", exchange.status);
            return (created, Err(failed(why)));
        }
    }
    (created, Ok(()))
}
