//! `vigil-collector healthcheck URL`, the real binary against a real collector: what a Docker
//! `HEALTHCHECK` (deploy/docker/Dockerfile) runs. Exit 0 while the collector serves `/healthz`
//! and `/readyz`, 1 against a closed port, a non-2xx answer or a bad URL, with the reason on
//! stderr; never Docker's reserved 2, except for a malformed command line (clap's usage error).

use std::process::{Command, Output};

use vigil_collector::{app, config::Config};

fn healthcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil-collector"))
        .arg("healthcheck")
        .args(args)
        .output()
        .expect("run vigil-collector healthcheck")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_0_against_a_live_collector_and_1_otherwise() {
    let config = Config::from_yaml_str(
        "receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}}
exporters: {prometheus: {endpoint: 127.0.0.1:0}}
service: {pipelines: {metrics: {receivers: [otlp], exporters: [prometheus]}}}
",
        "healthcheck test",
    )
    .expect("valid config");
    let running = app::start(&config).await.expect("collector starts");
    let listen = running
        .listen_addr
        .expect("the prometheus exporter listens");

    // The check is synchronous: run the binary off the runtime's worker threads.
    let alive = tokio::task::spawn_blocking(move || {
        (
            healthcheck(&[&format!("http://{listen}/healthz")]),
            healthcheck(&["--timeout", "2s", &format!("http://{listen}/readyz")]),
            healthcheck(&[&format!("http://{listen}/no-such-page")]),
        )
    })
    .await
    .expect("join");
    let (healthz, readyz, missing) = alive;
    assert_eq!(healthz.status.code(), Some(0), "{}", stderr(&healthz));
    assert_eq!(stderr(&healthz), "");
    assert_eq!(readyz.status.code(), Some(0), "{}", stderr(&readyz));
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing),
        format!("vigil-collector healthcheck: {listen} answered 404\n")
    );

    running.shutdown().await;
    // The collector is gone: its port is closed now.
    let closed = tokio::task::spawn_blocking(move || {
        healthcheck(&["--timeout", "1s", &format!("http://{listen}/healthz")])
    })
    .await
    .expect("join");
    assert_eq!(closed.status.code(), Some(1));
    assert!(
        stderr(&closed).starts_with(&format!(
            "vigil-collector healthcheck: cannot connect to {listen}: "
        )),
        "{}",
        stderr(&closed)
    );
}

#[test]
fn a_bad_url_exits_1_saying_what_is_wrong() {
    let out = healthcheck(&["https://127.0.0.1:9464/healthz"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "vigil-collector healthcheck: bad URL \"https://127.0.0.1:9464/healthz\": only http:// is \
         supported (the check talks to a collector on the same host or pod)\n"
    );
    let out = healthcheck(&["http://collector:9464/healthz"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the host must be an IP address or localhost"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_timeout_is_a_usage_error() {
    let out = healthcheck(&["--timeout", "soon", "http://127.0.0.1:9464/healthz"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(stderr(&out).contains("--timeout"), "{}", stderr(&out));
}
