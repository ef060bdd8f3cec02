//! Runnable example services built on Vigil; see examples/README.md.
//!
//! Shared plumbing for the examples lives here: how long to run, and waiting
//! for Ctrl-C.

use std::time::Duration;

/// How long an example runs: `VIGIL_EXAMPLE_DURATION` (e.g. `5s`) for the
/// short-running mode the end-to-end tests use, otherwise until Ctrl-C.
pub fn run_for() -> anyhow::Result<Option<Duration>> {
    match std::env::var("VIGIL_EXAMPLE_DURATION") {
        Ok(v) if !v.trim().is_empty() => humantime::parse_duration(v.trim())
            .map(Some)
            .map_err(|e| anyhow::anyhow!("VIGIL_EXAMPLE_DURATION={v:?}: {e}")),
        _ => Ok(None),
    }
}

/// Resolves when the example should stop: after `run_for`, or on Ctrl-C.
pub async fn stop_signal(run_for: Option<Duration>) {
    match run_for {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub mod children;
pub mod http_service;
pub mod orchestrator;
pub mod runtime_sweeper;
pub mod service;
pub mod worker_lifecycle;
