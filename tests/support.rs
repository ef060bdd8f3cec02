use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use vigil_collector::app::{self, Running};
use vigil_collector::config::Config;

pub(crate) fn any_port() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
}

/// A collector on free loopback ports.
pub(crate) async fn start_collector(expire_after: Duration) -> Running {
    let mut config = Config::default();
    if let Some(g) = config.receivers.grpc.as_mut() {
        g.endpoint = any_port();
    }
    if let Some(h) = config.receivers.http.as_mut() {
        h.endpoint = any_port();
    }
    config.exporters.prometheus.endpoint = any_port();
    config.store.expire_after = expire_after;
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
