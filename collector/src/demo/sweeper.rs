//! The sweep family: a periodic job expiring idle sessions, run by
//! [`vigil::sweep::Sweeper`], whose items vary, whose batches are sometimes
//! capped, and whose runs occasionally fail — and one run (the
//! [`Settings::panic_on_run`](super::Settings::panic_on_run)th) panics. The
//! SDK catches that panic, counts it as `result="panic"` and logs it at
//! `error` (target `vigil::sweep`); the loop goes on and the collector is
//! unaffected.
//!
//! The standard library's panic hook would still print the deliberate
//! panic's message and location to stderr, which on a newcomer's first
//! command reads like a crash. The SDK does not (and should not) touch the
//! process-wide hook, so [`silence_deliberate_panic`] installs, once, a hook
//! that skips exactly this panic's payload and hands every other panic to the
//! previous hook unchanged.

use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::metrics::Meter;
use vigil::sweep::{BatchCap, Handle, Items, Sweeper};

use super::NAMESPACE;
use super::rng::Rng;

vigil::label! {
    /// What happened to each session the sweep looked at.
    pub(super) enum Session = "outcome" {
        Expired = "expired",
        Renewed = "renewed",
    }
}

/// The sweeper's name: the `sweeper` attribute of its series.
pub const NAME: &str = "expired_sessions";
/// The payload of the deliberate panic.
pub(super) const PANIC_MESSAGE: &str =
    "vigil demo: deliberate panic in a sweep run (caught and counted by the SDK)";
/// Sessions expired per run at most; more stay in the backlog.
const CAP: BatchCap = BatchCap::new(200);
/// Every this many runs (other than the panicking one) fails with an error.
const FAIL_EVERY: u64 = 7;
/// How long stopping waits for a run in flight.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a run failed (the demo's stand-in for a store error).
#[derive(Debug, thiserror::Error)]
#[error("session store timed out")]
struct StoreTimeout;

/// Starts the sweeper: a run at once, then one every `interval`; run number
/// `panic_on_run` (from 1; 0 for none) panics.
pub(super) fn start(
    meter: Meter,
    interval: Duration,
    panic_on_run: u64,
    seed: u64,
) -> Result<Handle, vigil::sweep::Error> {
    silence_deliberate_panic();
    let runs = Arc::new(AtomicU64::new(0));
    let mut rng = Rng::new(seed);
    Sweeper::<Session>::builder(NAME)
        .with_meter(meter)
        .with_namespace(NAMESPACE)
        .with_interval(interval)
        .with_stop_timeout(STOP_TIMEOUT)
        .build()
        .start(move || {
            let run = runs.fetch_add(1, Ordering::Relaxed) + 1;
            let backlog = rng.range(20, 260);
            let renewed = rng.range(0, 40);
            async move {
                if run == panic_on_run {
                    std::panic::panic_any(PANIC_MESSAGE);
                }
                if run % FAIL_EVERY == 0 {
                    return Err(StoreTimeout);
                }
                let batch = CAP.take(backlog);
                let mut items = Items::new();
                items.add(Session::Expired, batch.take());
                items.add(Session::Renewed, renewed);
                items.record_batch(batch);
                Ok(items)
            }
        })
}

/// Installs (once per process) a panic hook that drops the deliberate panic
/// and passes every other panic to the hook that was there before.
pub(super) fn silence_deliberate_panic() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() == Some(&PANIC_MESSAGE) {
                return;
            }
            previous(info);
        }));
    });
}
