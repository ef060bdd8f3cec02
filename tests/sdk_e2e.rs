use std::time::Duration;

use vigil::genai::{GenAi, Operation, Provider, Run, Usage};
use vigil::init::Protocol;
use vigil::lifecycle::{Lifecycle, Outcome};
use vigil_tests::check_exposition;

use crate::support::{OPENMETRICS, get, start_collector};

vigil::label! {
    enum WorkerOp = "operation" { Spawn = "spawn", Activate = "activate", Drain = "drain", Retire = "retire" }
}
vigil::label! {
    enum WorkerState = "state" { Idle = "idle", Active = "active", Draining = "draining" }
}
vigil::label! {
    enum Image = "image" { Duckdb1 = "duckdb:1" }
}
vigil::label! {
    enum Binding = "binding" { Unbound = "none" }
}

const JOB: &str = r#"job="duckgres-control",instance="cp-1""#;
const SCOPE: &str = r#"otel_scope_name="vigil",otel_scope_version="0.1.0""#;

/// Records a known set of measurements through the SDK's typed instruments.
fn record(meter: opentelemetry::metrics::Meter) {
    let lc: Lifecycle<WorkerOp, WorkerState, Image, (Image, Binding)> =
        Lifecycle::builder("worker")
            .with_meter(meter.clone())
            .with_namespace("duckgres")
            .with_labels::<Image>()
            .with_count_labels::<(Image, Binding)>()
            .build();
    lc.record(
        WorkerOp::Spawn,
        Outcome::Success,
        "pool",
        Image::Duckdb1,
        Some(Duration::from_millis(120)),
    );
    lc.record(
        WorkerOp::Spawn,
        Outcome::Success,
        "pool",
        Image::Duckdb1,
        Some(Duration::from_millis(80)),
    );
    lc.record(
        WorkerOp::Drain,
        Outcome::Cancelled,
        "",
        Image::Duckdb1,
        None,
    );
    lc.move_state(
        None,
        Some(WorkerState::Idle),
        (Image::Duckdb1, Binding::Unbound),
    );
    let genai = GenAi::builder()
        .with_meter(meter)
        .with_namespace("duckgres")
        .build();
    genai.record_run(&Run {
        operation: Operation::InvokeAgent,
        provider: Provider::ANTHROPIC,
        model: "claude".into(),
        agent: None,
        usage: Usage {
            input: 100,
            output: 20,
            cache_read: 0,
            cache_creation: 0,
        },
        cost_usd: 0.25,
        duration: Duration::from_secs(2),
        error: None,
    });
}

async fn export_through(protocol: Protocol) {
    let collector = start_collector(Duration::from_secs(300)).await;
    let endpoint = match protocol {
        Protocol::Grpc => format!("http://{}", collector.grpc_addr.expect("grpc")),
        Protocol::HttpProtobuf => format!("http://{}", collector.http_addr.expect("http")),
    };
    // The exporters block while they export: build, flush and shut down off the async workers.
    let guard = tokio::task::spawn_blocking(move || {
        vigil::builder()
            .with_service_name("duckgres-control")
            .with_resource_attribute("service.instance.id", "cp-1")
            .with_protocol(protocol)
            .with_endpoint(endpoint)
            .with_tracing(false)
            .build()
    })
    .await
    .expect("join")
    .expect("vigil::init");
    record(guard.meter());
    let guard = tokio::task::spawn_blocking(move || {
        guard.force_flush().expect("export reaches the collector");
        guard
    })
    .await
    .expect("join");

    let text = get(
        collector.listen_addr.expect("prometheus exporter"),
        "/metrics",
        None,
    )
    .await;
    let expect = [
        format!(
            r#"duckgres_worker_lifecycle_transitions_total{{{JOB},image="duckdb:1",operation="spawn",origin="pool",outcome="success",{SCOPE}}} 2"#
        ),
        format!(
            r#"duckgres_worker_lifecycle_transitions_total{{{JOB},image="duckdb:1",operation="drain",origin="unknown",outcome="cancelled",{SCOPE}}} 1"#
        ),
        format!(
            r#"duckgres_worker_lifecycle_transition_duration_seconds_count{{{JOB},operation="spawn",{SCOPE}}} 2"#
        ),
        format!(
            r#"duckgres_worker_lifecycle_transition_duration_seconds_sum{{{JOB},operation="spawn",{SCOPE}}} 0.2"#
        ),
        format!(
            r#"duckgres_worker_lifecycle_count{{{JOB},binding="none",image="duckdb:1",state="idle",{SCOPE}}} 1"#
        ),
        format!(r#"duckgres_gen_ai_client_cost_usd_total{{{JOB},"#),
        "# TYPE gen_ai_client_token_usage histogram".to_string(),
        "# TYPE duckgres_worker_lifecycle_transitions_total counter".to_string(),
    ];
    for line in &expect {
        assert!(
            text.contains(line.as_str()),
            "{protocol:?}: missing {line}\n{text}"
        );
    }
    let om = get(
        collector.listen_addr.expect("prometheus exporter"),
        "/metrics",
        Some(OPENMETRICS),
    )
    .await;
    check_exposition(&text, &om);
    tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .expect("join")
        .expect("clean shutdown");
    collector.shutdown().await;
}

/// One test for both protocols: `vigil::init` installs process-wide globals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_instruments_reach_the_collector_over_grpc_and_http() {
    export_through(Protocol::Grpc).await;
    export_through(Protocol::HttpProtobuf).await;
}
