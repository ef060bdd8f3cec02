//! The health family: [`vigil::health::HealthChecker`] probing the demo's
//! dependencies over HTTP (`GET /healthz/{dependency}` on the demo's own
//! server, see `web.rs`), where exactly one of them, [`FAILING`], answers 503
//! every time.
//!
//! The targets are few and fixed, so the target id is an attribute
//! (`with_target_attribute`): the dashboard lists checks by target with the
//! failing one first. Two failures in a row make a target unhealthy; the SDK
//! logs the loss (`target lost`, at info), so the demo adds no callback.

use std::time::Duration;

use opentelemetry::metrics::Meter;
use vigil::health::{Handle, HealthChecker, Target};

use super::NAMESPACE;
use super::web::Client;

/// The dependencies probed, the failing one last.
pub const TARGETS: [&str; 4] = ["postgres", "redis", "object-store", FAILING];
/// The one dependency that is down.
pub const FAILING: &str = "billing";
/// Failures in a row that make a target unhealthy.
pub(super) const THRESHOLD: u32 = 2;
/// The most a probe may take. Not tied to the interval: a round whose
/// probes outlast it is followed at once by the next, and a short interval
/// (the tests') must not turn a slow machine into failing targets.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Starts probing every target once per `interval`.
pub(super) fn start(
    meter: Meter,
    interval: Duration,
    client: Client,
) -> Result<Handle, vigil::health::Error> {
    HealthChecker::builder("dependency")
        .with_meter(meter)
        .with_namespace(NAMESPACE)
        .with_interval(interval)
        .with_timeout(TIMEOUT)
        .with_threshold(THRESHOLD)
        .with_target_attribute()
        .with_targets(TARGETS.map(Target::new))
        .build()
        .start(move |target: Target| {
            let client = client.clone();
            async move {
                let path = format!("/healthz/{}", target.id());
                let status = client.send(http::Method::GET, &path, "").await?;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("{path} answered {status}"))
                }
            }
        })
}
