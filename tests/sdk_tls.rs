//! The `vigil` SDK over TLS to the collector's receivers (issue 10): both protocols served TLS
//! to an SDK that trusts the test CA, and, with `client_ca_file` set, mutual TLS that turns
//! away an SDK without a client certificate and serves one with it. The Python SDK's half of
//! the same promise is `python_client.rs`.
//!
//! A binary of its own: `vigil`'s builder installs process-wide providers, so its tests run
//! one after another in one test function.

#[path = "common/pki.rs"]
mod pki;

use std::net::SocketAddr;

use opentelemetry::KeyValue;
use vigil::init::Protocol;
use vigil_collector::app::{self, Running};
use vigil_collector::config::Config;

use pki::Pki;

async fn start(pki: &Pki, mutual: bool) -> Running {
    let client_ca = if mutual {
        format!(", client_ca_file: {}", pki.ca)
    } else {
        String::new()
    };
    let tls = format!(
        "tls: {{cert_file: {}, key_file: {}{client_ca}}}",
        pki.cert, pki.key
    );
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:0, {tls}}}
      http: {{endpoint: 127.0.0.1:0, {tls}}}
exporters:
  prometheus: {{endpoint: 127.0.0.1:0}}
service:
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
"
    );
    let config = Config::from_yaml_str(&yaml, "sdk-tls").expect("the test config is valid");
    app::start(&config).await.expect("the collector starts")
}

fn name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Grpc => "grpc",
        Protocol::HttpProtobuf => "http",
    }
}

/// Build the SDK for `endpoint`, add 3 to a counter, flush, shut down: the flush's outcome.
async fn export(
    collector: &Running,
    protocol: Protocol,
    pki: &Pki,
    client_identity: bool,
    service: &str,
) -> Result<(), String> {
    let addr = match protocol {
        Protocol::Grpc => collector.grpc_addr.expect("a gRPC port"),
        Protocol::HttpProtobuf => collector.http_addr.expect("an HTTP port"),
    };
    // The server certificate names 127.0.0.1.
    let endpoint = format!("https://{addr}");
    let (ca, cert, key) = (
        pki.ca.clone(),
        pki.client_cert.clone(),
        pki.client_key.clone(),
    );
    let service = service.to_owned();
    // The exporters block while they export: run the SDK off the async workers.
    tokio::task::spawn_blocking(move || {
        let mut builder = vigil::builder()
            .with_service_name(service)
            .with_protocol(protocol)
            .with_endpoint(endpoint)
            .with_certificate(ca)
            .with_tracing(false);
        if client_identity {
            builder = builder.with_client_certificate(cert).with_client_key(key);
        }
        let guard = builder.build().map_err(|e| format!("build: {e}"))?;
        guard
            .meter()
            .u64_counter("tls.exports")
            .build()
            .add(3, &[KeyValue::new("protocol", name(protocol))]);
        let flushed = guard.force_flush().map_err(|e| format!("flush: {e}"));
        let _ = guard.shutdown();
        flushed
    })
    .await
    .expect("the SDK task")
}

async fn page(listen: SocketAddr) -> String {
    reqwest::get(format!("http://{listen}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("GET /metrics")
        .text()
        .await
        .expect("the page")
}

/// The counter's sample line of `service`, when the page has one.
fn exported(page: &str, service: &str) -> Option<String> {
    let prefix = format!("tls_exports_total{{job=\"{service}\"");
    page.lines()
        .find(|l| l.starts_with(&prefix))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_exports_over_tls_and_mutual_tls_needs_its_certificate() {
    let pki = Pki::new("vigil-sdk-tls");

    // Server TLS: both protocols, an SDK that trusts the test CA.
    let collector = start(&pki, false).await;
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let service = format!("tls-{}", name(protocol));
        export(&collector, protocol, &pki, false, &service)
            .await
            .unwrap_or_else(|e| panic!("{service}: {e}"));
    }
    let text = page(collector.listen_addr.expect("the /metrics port")).await;
    for protocol in ["grpc", "http"] {
        let line = exported(&text, &format!("tls-{protocol}"))
            .unwrap_or_else(|| panic!("no tls-{protocol} line in\n{text}"));
        assert!(
            line.contains(&format!("protocol=\"{protocol}\"")) && line.ends_with("} 3"),
            "{line}"
        );
    }
    collector.shutdown().await;

    // Mutual TLS: without a client certificate the export fails and nothing is stored; with
    // one it goes through.
    let collector = start(&pki, true).await;
    let listen = collector.listen_addr.expect("the /metrics port");
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let anonymous = format!("anonymous-{}", name(protocol));
        let refused = export(&collector, protocol, &pki, false, &anonymous).await;
        assert!(
            refused.is_err(),
            "{anonymous}: exported without a client certificate"
        );
        assert_eq!(exported(&page(listen).await, &anonymous), None);
        let known = format!("mtls-{}", name(protocol));
        export(&collector, protocol, &pki, true, &known)
            .await
            .unwrap_or_else(|e| panic!("{known}: {e}"));
        let text = page(listen).await;
        let line = exported(&text, &known).unwrap_or_else(|| panic!("no {known} line in\n{text}"));
        assert!(line.ends_with("} 3"), "{line}");
    }
    collector.shutdown().await;
    drop(pki.dir);
}
