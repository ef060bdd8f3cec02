//! The DNS resolver: the back-ends are the addresses a name resolves to, looked up again every
//! `interval`; a failed lookup keeps the last answer (as otelcol does).

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::balancer::Shared;
use super::config::{DnsSettings, MAX_BACKENDS};
use crate::pipeline::BoxFuture;

/// Looks the back-ends' addresses up (the DNS resolver; tests give their own).
pub type Resolve =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Vec<SocketAddr>, String>> + Send + Sync>;

/// Every `interval`, resolves the back-ends again; a failed resolution keeps the last answer.
pub(super) async fn resolver(shared: Weak<Shared>, interval: Duration, resolve: Resolve) {
    let mut failures = 0u64;
    loop {
        let Some(this) = shared.upgrade() else { return };
        let stop = this.tasks_stop.clone();
        match resolve().await {
            Ok(mut addrs) => {
                failures = 0;
                addrs.sort();
                addrs.dedup();
                if addrs.len() > MAX_BACKENDS {
                    tracing::warn!(exporter = %this.id, "the resolver gave {} addresses; using the first {MAX_BACKENDS}", addrs.len());
                    addrs.truncate(MAX_BACKENDS);
                }
                let wanted = addrs
                    .into_iter()
                    .filter_map(|addr| {
                        let endpoint = addr.to_string();
                        match this.template.with_authority(&endpoint) {
                            Ok(settings) => Some((endpoint, settings)),
                            Err(e) => {
                                tracing::warn!(exporter = %this.id, "skipping {endpoint}: {e}");
                                None
                            }
                        }
                    })
                    .collect();
                this.set_backends(wanted);
            }
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(exporter = %this.id, "resolving the back-ends failed, keeping the last answer: {e}");
                } else {
                    tracing::debug!(exporter = %this.id, failures, "resolving the back-ends failed again: {e}");
                }
            }
        }
        drop(this);
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// The system resolver's answer for `dns.hostname`, within `dns.timeout`.
pub(super) fn lookup(dns: DnsSettings) -> Resolve {
    Arc::new(move || {
        let dns = dns.clone();
        Box::pin(async move {
            let lookup = tokio::net::lookup_host((dns.hostname.as_str(), dns.port));
            match tokio::time::timeout(dns.timeout, lookup).await {
                Ok(Ok(addrs)) => Ok(addrs.collect()),
                Ok(Err(e)) => Err(format!("{}: {e}", dns.hostname)),
                Err(_) => Err(format!(
                    "{}: no answer within {:?}",
                    dns.hostname, dns.timeout
                )),
            }
        })
    })
}
