//! Wiring: bind every listener, start receivers, the admin server and the
//! expiry timer, and stop them in stages.
//!
//! [`start`] binds all sockets before serving anything, so a port already in
//! use fails the start with the address in the message, and the bound
//! addresses (port 0 resolved) are known to the caller. [`Running::shutdown`]
//! stops the receivers first (so no new data comes in), then the admin server
//! and the timer, each with a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::receiver::{self, Counters, Pipeline, Readiness};
use crate::server::{self, AppState};
use crate::store::{Options, Store};

/// A running collector.
pub struct Running {
    /// Where OTLP/gRPC is served, if enabled.
    pub grpc_addr: Option<SocketAddr>,
    /// Where OTLP/HTTP is served, if enabled.
    pub http_addr: Option<SocketAddr>,
    /// Where `/metrics`, the snapshot and health are served.
    pub listen_addr: SocketAddr,
    /// The store.
    pub store: Arc<Store>,
    /// Receiver counters.
    pub counters: Arc<Counters>,
    receivers_stop: CancellationToken,
    rest_stop: CancellationToken,
    receivers: Vec<JoinHandle<Result<(), receiver::Error>>>,
    rest: Vec<JoinHandle<()>>,
}

/// How often the expiry sweep runs for a given `expire_after`: often enough
/// that a series never outlives its expiry by more than a tenth of it.
pub fn sweep_interval(expire_after: Duration) -> Duration {
    (expire_after / 10).clamp(Duration::from_millis(50), Duration::from_secs(15))
}

/// Bind and start everything.
pub async fn start(config: &Config) -> Result<Running, receiver::Error> {
    let store = Arc::new(Store::new(Options {
        expire_after: config.store.expire_after,
    }));
    let counters = Arc::new(Counters::default());
    let readiness = Arc::new(Readiness::default());
    let pipeline = Pipeline {
        store: store.clone(),
        counters: counters.clone(),
    };

    let grpc_listener = match &config.receivers.grpc {
        Some(g) => Some((receiver::bind(g.endpoint).await?, g.max_recv_msg_size)),
        None => None,
    };
    let http_listener = match &config.receivers.http {
        Some(h) => Some((receiver::bind(h.endpoint).await?, h.max_request_body_size)),
        None => None,
    };
    let admin_listener = receiver::bind(config.exporters.prometheus.endpoint).await?;
    let listen_addr = local(&admin_listener, config.exporters.prometheus.endpoint);

    let receivers_stop = CancellationToken::new();
    let rest_stop = CancellationToken::new();
    let mut receivers = Vec::new();
    let mut grpc_addr = None;
    let mut http_addr = None;

    match grpc_listener {
        Some((listener, limit)) => {
            grpc_addr = listener.local_addr().ok();
            let grpc = receiver::grpc::Grpc::new(pipeline.clone(), limit);
            let stop = receivers_stop.clone();
            let ready = readiness.clone();
            receivers.push(tokio::spawn(async move {
                grpc.serve(listener, stop.cancelled_owned(), move || {
                    ready.grpc.store(true, Ordering::Release)
                })
                .await
            }));
        }
        None => readiness.grpc.store(true, Ordering::Release),
    }
    match http_listener {
        Some((listener, limit)) => {
            http_addr = listener.local_addr().ok();
            let http = receiver::http::Http::new(pipeline.clone(), limit);
            let stop = receivers_stop.clone();
            let ready = readiness.clone();
            receivers.push(tokio::spawn(async move {
                http.serve(listener, stop.cancelled_owned(), move || {
                    ready.http.store(true, Ordering::Release)
                })
                .await
            }));
        }
        None => readiness.http.store(true, Ordering::Release),
    }

    let mut rest = Vec::new();
    let state = AppState {
        store: store.clone(),
        readiness,
    };
    let stop = rest_stop.clone();
    rest.push(tokio::spawn(async move {
        if let Err(e) = server::serve(admin_listener, state, stop.cancelled_owned()).await {
            tracing::error!(error = %e, "admin server failed");
        }
    }));
    let stop = rest_stop.clone();
    let sweep_store = store.clone();
    rest.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(sweep_interval(sweep_store.expire_after()));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    let dropped = sweep_store.expire(Instant::now());
                    if dropped > 0 {
                        tracing::debug!(dropped, "expired series");
                    }
                }
            }
        }
    }));

    tracing::info!(
        grpc = ?grpc_addr, http = ?http_addr, listen = %listen_addr,
        "vigil-collector serving: OTLP/gRPC {}, OTLP/HTTP {}, metrics http://{listen_addr}/metrics",
        grpc_addr.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        http_addr.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
    );
    Ok(Running {
        grpc_addr,
        http_addr,
        listen_addr,
        store,
        counters,
        receivers_stop,
        rest_stop,
        receivers,
        rest,
    })
}

fn local(listener: &tokio::net::TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}

impl Running {
    /// Stop in stages: receivers, then the admin server and the expiry timer.
    pub async fn shutdown(self) {
        const STAGE_DEADLINE: Duration = Duration::from_secs(5);
        self.receivers_stop.cancel();
        for task in self.receivers {
            match tokio::time::timeout(STAGE_DEADLINE, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "receiver stopped with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "receiver task failed"),
                Err(_) => tracing::warn!("receiver did not stop within {STAGE_DEADLINE:?}"),
            }
        }
        self.rest_stop.cancel();
        for task in self.rest {
            if tokio::time::timeout(STAGE_DEADLINE, task).await.is_err() {
                tracing::warn!("admin server did not stop within {STAGE_DEADLINE:?}");
            }
        }
    }
}
