//! The receivers over TLS on real sockets, with the collector's own TLS clients (the `otlp` and
//! `otlphttp` exporters' senders): a CA-trusting client is served on both protocols; mutual TLS
//! turns away a client without a certificate; a plaintext client gets nothing; a certificate
//! replaced on disk is served to new connections after `reload_interval`.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;

use crate::app::{self, Running};
use crate::config::Config;
use crate::exporters::common::testing::TestPki;
use crate::exporters::{otlp, otlphttp};
use crate::pipeline::{Batch, Outcome, Sender, Signal};
use crate::test_support::{int_point, kv, request_with, sum};

async fn tls_collector(pki: &TestPki, extra: &str) -> Running {
    let tls = format!(
        "        tls:\n          cert_file: {}\n          key_file: {}\n{extra}",
        pki.server_cert_file, pki.server_key_file
    );
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n{tls}      http:\n        endpoint: 127.0.0.1:0\n{tls}\
         exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
    );
    let config = Config::from_yaml_str(&yaml, "tls test").unwrap();
    app::start(&config).await.unwrap()
}

fn batch(key: &str) -> Batch {
    let req = request_with(vec![sum("c", vec![int_point(1, vec![kv("k", key)])])]);
    Batch {
        signal: Signal::Metrics,
        items: 1,
        body: Bytes::from(req.encode_to_vec()),
        tenant: None,
    }
}

/// A sender of each protocol trusting `ca`, presenting a client certificate when `client` is
/// set, pointed at the collector's TLS ports.
fn senders(vigil: &Running, ca: &str, client: Option<&TestPki>) -> Vec<Box<dyn Sender>> {
    let client_keys = client
        .map(|p| {
            format!(
                "\n  cert_file: {}\n  key_file: {}",
                p.client_cert_file, p.client_key_file
            )
        })
        .unwrap_or_default();
    let grpc: otlp::Config = serde_yaml::from_str(&format!(
        "endpoint: https://{}\ntls:\n  ca_file: {ca}{client_keys}\ntimeout: 2s",
        vigil.grpc_addr.unwrap()
    ))
    .unwrap();
    let http: otlphttp::Config = serde_yaml::from_str(&format!(
        "endpoint: https://{}\ntls:\n  ca_file: {ca}{client_keys}\ntimeout: 2s",
        vigil.http_addr.unwrap()
    ))
    .unwrap();
    vec![
        Box::new(otlp::GrpcSender::new(&grpc.validate().unwrap()).unwrap()),
        Box::new(otlphttp::HttpSender::new(&http.validate().unwrap()).unwrap()),
    ]
}

fn sent(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Sent { rejected: 0, .. })
}

#[tokio::test]
async fn both_protocols_serve_tls_to_a_client_that_trusts_the_ca() {
    let pki = TestPki::new();
    let vigil = tls_collector(&pki, "").await;
    for (i, sender) in senders(&vigil, &pki.ca_file, None).iter().enumerate() {
        let outcome = sender.send(&batch(&format!("k{i}"))).await;
        assert!(sent(&outcome), "sender {i}: {outcome:?}");
    }
    assert_eq!(vigil.store.as_deref().unwrap().series_count(), 2);
    // Plaintext to a TLS port: no answer.
    let plain = reqwest::Client::new()
        .post(format!("http://{}/v1/metrics", vigil.http_addr.unwrap()))
        .header("content-type", "application/x-protobuf")
        .body(batch("plain").body.to_vec())
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    vigil.shutdown().await;
}

#[tokio::test]
async fn mutual_tls_turns_away_a_client_without_a_certificate() {
    let pki = TestPki::new();
    let vigil = tls_collector(
        &pki,
        &format!("          client_ca_file: {}\n", pki.ca_file),
    )
    .await;
    for (i, sender) in senders(&vigil, &pki.ca_file, None).iter().enumerate() {
        let outcome = sender.send(&batch("anonymous")).await;
        assert!(
            !sent(&outcome),
            "sender {i} without a certificate was served: {outcome:?}"
        );
    }
    assert_eq!(vigil.store.as_deref().unwrap().series_count(), 0);
    for (i, sender) in senders(&vigil, &pki.ca_file, Some(&pki)).iter().enumerate() {
        let outcome = sender.send(&batch(&format!("k{i}"))).await;
        assert!(sent(&outcome), "sender {i} with a certificate: {outcome:?}");
    }
    assert_eq!(vigil.store.as_deref().unwrap().series_count(), 2);
    vigil.shutdown().await;
}

#[tokio::test]
async fn a_replaced_certificate_is_served_after_reload_interval() {
    let (old, new) = (TestPki::new(), TestPki::new());
    let vigil = tls_collector(&old, "          reload_interval: 100ms\n").await;
    let http_only = |ca: &str| senders(&vigil, ca, None).pop().unwrap();
    assert!(sent(&http_only(&old.ca_file).send(&batch("a")).await));
    std::fs::copy(&new.server_cert_file, &old.server_cert_file).unwrap();
    std::fs::copy(&new.server_key_file, &old.server_key_file).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New connections (each sender has its own) see the new certificate.
    assert!(sent(&http_only(&new.ca_file).send(&batch("b")).await));
    let stale = http_only(&old.ca_file).send(&batch("c")).await;
    assert!(!sent(&stale), "{stale:?}");
    vigil.shutdown().await;
}

#[test]
fn a_missing_certificate_file_is_a_configuration_error_naming_the_key() {
    let yaml = "receivers:\n  otlp:\n    protocols:\n      http:\n        tls:\n          cert_file: /nonexistent/cert.pem\n          key_file: /nonexistent/key.pem\nexporters:\n  prometheus:\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n";
    let err = Config::from_yaml_str(yaml, "t").unwrap_err().to_string();
    assert!(
        err.contains("receivers.otlp.protocols.http.tls.cert_file")
            && err.contains("cannot read /nonexistent/cert.pem"),
        "{err}"
    );
    let yaml = yaml.replace("          cert_file: /nonexistent/cert.pem\n", "");
    let err = Config::from_yaml_str(&yaml, "t").unwrap_err().to_string();
    assert!(
        err.contains("receivers.otlp.protocols.http.tls.cert_file") && err.contains("required"),
        "{err}"
    );
}

#[tokio::test]
async fn the_pages_are_served_over_tls_when_the_prometheus_exporter_has_tls() {
    use http_body_util::BodyExt;
    let pki = TestPki::new();
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n\
         exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n    tls:\n      cert_file: {}\n      key_file: {}\n\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n",
        pki.server_cert_file, pki.server_key_file
    );
    let vigil = app::start(&Config::from_yaml_str(&yaml, "tls pages").unwrap())
        .await
        .unwrap();
    let tls: crate::exporters::common::TlsConfig =
        serde_yaml::from_str(&format!("ca_file: {}", pki.ca_file)).unwrap();
    let settings = tls
        .validate(crate::exporters::common::Alpn::Http11)
        .unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Empty<Bytes>>(
        crate::exporters::common::connector::Connector::new(Some(&settings)),
    );
    let url: http::Uri = format!("https://{}/healthz", vigil.listen_addr.unwrap())
        .parse()
        .unwrap();
    let response = client.get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"ok\n");
    // Plaintext gets nothing.
    let plain = reqwest::get(format!("http://{}/healthz", vigil.listen_addr.unwrap())).await;
    assert!(plain.is_err(), "{plain:?}");
    vigil.shutdown().await;
}
