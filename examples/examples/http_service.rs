//! The Go platform's `/metrics` service, rebuilt on Vigil: an axum service
//! with a path parameter (`/workspaces/{id}`), a WebSocket endpoint, and a
//! pending-uploads GC sweeper that runs at start-up and then on an interval,
//! counting `acked`/`expired`/`error`. A panic in one sweep does not stop the
//! next: the second run panics on purpose to show it.
//!
//! ```text
//! cargo run -p vigil-collector &        # OTLP on 127.0.0.1:4317, /metrics on 127.0.0.1:9464
//! cargo run -p examples --example http_service
//! curl -s 127.0.0.1:9464/metrics | grep -E '^(platform_|http_server_)'
//! ```
//!
//! It serves on `EXAMPLE_HTTP_ADDR` (default `127.0.0.1:8080`; `127.0.0.1:0`
//! picks a port, printed at start) and sends metrics to the collector named
//! by the standard OTel variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_METRIC_EXPORT_INTERVAL`, ...). At start it drives itself: three
//! `GET /workspaces/{1,2,3}`, one `GET /nope` (404), `POST /uploads` and its
//! ack, and one WebSocket held open for a second. Try more with
//! `curl 127.0.0.1:8080/workspaces/7`. Ctrl-C stops it; the last metrics are
//! flushed and anything that could not be sent is printed.
//!
//! `VIGIL_EXAMPLE_DURATION=6s` (or longer) runs it for that long instead (the
//! end-to-end tests' mode; sweeps every 1 s instead of every 5 min, process
//! samples every 1 s). With `OTEL_METRIC_EXPORT_INTERVAL=500` every family
//! below is on the collector within ~2 s.
//!
//! # Families on the collector's `/metrics` (besides `job`, `instance`, `otel_scope_*`)
//!
//! | family | type | label keys | certain at exit in the short mode |
//! |---|---|---|---|
//! | `http_server_request_duration_seconds` | histogram | `http_request_method`, `url_scheme`, `network_protocol_version`, `http_route` (absent on the fallback's 404), `http_response_status_code` | `_count` = 3 for `{http_request_method="GET",http_route="/workspaces/{id}",http_response_status_code="200"}`; 1 for `GET` `/ws` `101`; 1 for `POST` `/uploads` `201`; 1 for `POST` `/uploads/{id}/ack` `204`; 1 for `GET` `404` without `http_route` |
//! | `http_server_active_requests` | gauge | `http_request_method`, `url_scheme` | `{http_request_method="GET"}` = 0 |
//! | `platform_connections_active` | gauge | `connection_kind` | `{connection_kind="websocket"}` = 0 (1 for the first second) |
//! | `platform_sweep_runs_total` | counter | `sweeper`, `result` | `{sweeper="pending_uploads_gc"}`: `result="panic"` = 1, `result="ok"` >= 2, `result="error"` = 0 |
//! | `platform_sweep_items_total` | counter | `sweeper`, `outcome` | `outcome="acked"` = 3, `"expired"` = 4, `"error"` = 1 |
//! | `platform_sweep_run_duration_seconds` | histogram | `sweeper` | `_count` = runs of every result |
//! | `platform_sweep_last_success_seconds` | gauge | `sweeper` | a Unix time |
//! | `platform_sweep_capped_total` | counter | `sweeper` | 0 |
//! | `platform_process_cpu_time_seconds_total` | counter | `cpu_mode` (`user`, `system`) | |
//! | `platform_process_cpu_utilization` | gauge | none | |
//! | `platform_process_memory_usage_bytes` | gauge | none | > 0 |
//! | `platform_process_thread_count` | gauge | none | > 0 |
//! | `platform_process_unix_file_descriptor_count` | gauge | none | > 0 |
//! | `platform_tokio_workers` | gauge | none | > 0 |
//! | `platform_tokio_alive_tasks` | gauge | none | |
//! | `platform_tokio_global_queue_depth` | gauge | none | |
//! | `platform_tokio_busy_time_seconds_total` | counter | none | |
//!
//! The process families read `/proc`, so they exist on Linux only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use examples::http_service::{AppState, Gc, Uploads, client, router};
use tokio_util::sync::CancellationToken;
use vigil::connections::Connections;
use vigil::sweep::Sweeper;

/// How long an upload may stay pending before the GC deletes it.
const UPLOAD_TTL: Duration = Duration::from_secs(24 * 3600);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let run_for = examples::run_for()?;
    let short = run_for.is_some();
    let guard = vigil::builder()
        .with_service_name("http-service")
        // This example has no subscriber of its own: Vigil's prints its logs
        // (RUST_LOG) and exports its spans.
        .with_tracing(true)
        .with_namespace("platform")
        .build()?;

    // Process and tokio runtime gauges, sampled off the metric reader's thread.
    let sampler = vigil::process::Sampler::builder()
        .with_interval(Duration::from_secs(if short { 1 } else { 5 }))
        .with_runtime_metrics(true)
        .build()
        .start()?;

    let shutdown = CancellationToken::new();
    let uploads = Arc::new(Uploads::new(UPLOAD_TTL));
    uploads.seed(SystemTime::now());
    let state = AppState {
        uploads: uploads.clone(),
        websockets: Arc::new(Connections::builder("websocket").build()),
        shutdown: shutdown.clone(),
    };

    let addr: SocketAddr = std::env::var("EXAMPLE_HTTP_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8080".to_string())
        .parse()
        .context("EXAMPLE_HTTP_ADDR")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    let serve = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server = tokio::spawn(async move { serve.await });

    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap_or_else(|_| "http://localhost:4317".into());
    println!("http_service listening on http://{addr} (try /workspaces/7, /ws)");
    println!(
        "metrics go to {endpoint}; look at the collector's /metrics for platform_* and http_server_*"
    );
    match run_for {
        Some(d) => println!("running for {}", humantime::format_duration(d)),
        None => println!("Ctrl-C to stop"),
    }

    // Runs at once, then every interval; the second run panics on purpose:
    // the sweeper catches it, counts `result="panic"`, and runs again.
    let runs = Arc::new(AtomicU32::new(0));
    let gc = Sweeper::<Gc>::builder("pending_uploads_gc")
        .with_interval(Duration::from_secs(if short { 1 } else { 300 }))
        .build()
        .start(move || {
            let (uploads, runs) = (uploads.clone(), runs.clone());
            async move {
                if runs.fetch_add(1, Ordering::Relaxed) == 1 {
                    panic!("pending_uploads_gc: deliberate panic in the second run (panic recovery demo)");
                }
                let items = uploads.collect(SystemTime::now());
                tracing::info!(?items, pending = uploads.len(), "pending uploads swept");
                Ok::<_, std::convert::Infallible>(items)
            }
        })?;

    let driver = tokio::spawn(drive(addr));
    examples::stop_signal(run_for).await;

    // Stop in stages: the sweeper (its run in flight finishes and is
    // recorded), then the server and its WebSockets, then the sampler, then
    // the final flush.
    gc.stop().await;
    shutdown.cancel();
    driver.abort();
    // Stopped early, the self-driven requests are simply cut short; only
    // their failure is an error.
    let driven = match driver.await {
        Ok(result) => result,
        Err(e) if e.is_cancelled() => Ok(()),
        Err(e) => Err(e.into()),
    };
    server.await??;
    sampler.stop();
    if let Err(e) = guard.shutdown_async().await {
        eprintln!("some telemetry could not be sent: {e}");
    }
    driven.context("driving the service")?;
    println!("stopped");
    Ok(())
}

/// Makes the requests the header lists, so there is something to see (and
/// the end-to-end tests have fixed values to check).
async fn drive(addr: SocketAddr) -> anyhow::Result<()> {
    for id in 1..=3 {
        expect(
            client::request(addr, "GET", &format!("/workspaces/{id}")).await?,
            200,
        )?;
    }
    expect(client::request(addr, "GET", "/nope").await?, 404)?;
    let (status, body) = client::request(addr, "POST", "/uploads").await?;
    expect((status, body.clone()), 201)?;
    let created: serde_json::Value = serde_json::from_str(&body)?;
    let id = created["id"].as_u64().context("POST /uploads: no id")?;
    expect(
        client::request(addr, "POST", &format!("/uploads/{id}/ack")).await?,
        204,
    )?;

    let socket = client::open_websocket(addr, "/ws").await?;
    tracing::info!("websocket open; platform_connections_active is 1 for a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
    client::close(socket).await?;
    tracing::info!("self-driven requests done");
    Ok(())
}

fn expect((status, body): (u16, String), want: u16) -> anyhow::Result<()> {
    if status != want {
        bail!("expected {want}, got {status}: {body}");
    }
    Ok(())
}
