//! One stop signal per run, handed down to everything that runs (mini-redis's `Shutdown` is
//! the model): Ctrl-C, SIGTERM and `--deadline` all feed it; the contract runner, the load
//! phases and goose's kill switch all stop on it.
//!
//! Process-wide state, and why: goose installs a Ctrl-C handler of its own on its first run
//! (whose second Ctrl-C exits with a bare 1), and a process has one such handler. tollgate
//! installs its handler first, once per process ([`install_signal_handler`]); since that
//! handler cannot be replaced, it reaches the run in progress through one slot,
//! [`StopSignal::attach`]. goose's kill switch is global too (goose's own design). Nothing
//! else about a run is global: two runs in one process do not see each other's stop.

use std::sync::{Arc, Mutex, Once};

use tokio::sync::Notify;

pub use crate::event::Stop;

/// Cheap to clone; every clone sees the same stop.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    reason: Mutex<Option<Stop>>,
    notify: Notify,
}

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the run (the first reason is kept): no new work starts, and goose's load ends
    /// now.
    pub fn stop(&self, why: Stop) {
        {
            let mut reason = self.inner.reason.lock().unwrap_or_else(|e| e.into_inner());
            if reason.is_none() {
                *reason = Some(why);
            }
        }
        goose::trigger_killswitch("stopped");
        self.inner.notify.notify_waiters();
    }

    /// Why the run was stopped, if it was.
    pub fn reason(&self) -> Option<Stop> {
        *self.inner.reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_stopped(&self) -> bool {
        self.reason().is_some()
    }

    /// Resolves once the run is stopped (at once if it already is).
    pub async fn stopped(&self) {
        let notified = self.inner.notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so a stop in between is not missed.
        notified.as_mut().enable();
        if self.is_stopped() {
            return;
        }
        notified.await;
    }

    /// Makes this the run Ctrl-C and SIGTERM stop, until the returned guard is dropped.
    pub fn attach(&self) -> Attached {
        *SIGNALLED.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.clone());
        Attached
    }
}

/// While held, Ctrl-C and SIGTERM stop the attached run.
#[must_use = "the run is detached from Ctrl-C when this is dropped"]
pub struct Attached;

impl Drop for Attached {
    fn drop(&mut self) {
        *SIGNALLED.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The run Ctrl-C and SIGTERM stop (see the module's notes: the one slot the process-wide
/// handler can reach).
static SIGNALLED: Mutex<Option<StopSignal>> = Mutex::new(None);

/// Installs tollgate's SIGINT/SIGTERM handler, once per process. Call it before goose's
/// first run: goose then fails to install its own and carries on, so a first Ctrl-C stops
/// the attached run (its reports are written) and a second exits at once with 130 — never
/// goose's bare `exit(1)`.
pub fn install_signal_handler() -> Result<(), String> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = ctrlc::set_handler(|| {
            let run = SIGNALLED.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match run {
                Some(run) if !run.is_stopped() => run.stop(Stop::Interrupted),
                _ => std::process::exit(130),
            }
        })
        .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"));
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_wakes_every_waiter_and_keeps_its_first_reason() {
        let signal = StopSignal::new();
        let waiter = tokio::spawn({
            let signal = signal.clone();
            async move { signal.stopped().await }
        });
        assert!(!signal.is_stopped());
        signal.stop(Stop::Deadline);
        signal.stop(Stop::Interrupted);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("the waiter woke")
            .unwrap();
        assert_eq!(signal.reason(), Some(Stop::Deadline));
        // A fresh signal knows nothing of the first.
        assert_eq!(StopSignal::new().reason(), None);
    }
}
