use std::net::SocketAddr;
use std::time::Duration;

use vigil_collector::app::{self, Running};
use vigil_collector::config::Config;

/// A collector on free loopback ports: the zero-config pipeline (otlp → prometheus).
pub(crate) async fn start_collector(expire_after: Duration) -> Running {
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:0}}
      http: {{endpoint: 127.0.0.1:0}}
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
    metric_expiration: {}ms
service:
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
",
        expire_after.as_millis()
    );
    let config = Config::from_yaml_str(&yaml, "test").expect("test config is valid");
    app::start(&config).await.expect("collector starts")
}

/// GET a page, with an optional Accept header; panics on a non-200 answer.
pub(crate) async fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> String {
    let client = reqwest::Client::new();
    let mut req = client.get(format!("http://{addr}{path}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.expect("GET succeeds");
    let status = resp.status();
    let body = resp.text().await.expect("body");
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";
