//! Tests for loading, validating and overriding the configuration, including every sample file
//! in `otel-config/`.

use std::error::Error as _;
use std::path::PathBuf;

use super::*;

/// Parses with an environment that has only the variables given.
fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, Error> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_yaml_str_with_env(text, "test.yaml", &move |name| {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

fn parse(text: &str) -> Result<Config, Error> {
    parse_with(text, &[])
}

fn parse_err(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error for {text:?}, got {config:?}"),
        Err(err) => format!("{err:#}"),
    }
}

fn id(text: &str) -> ComponentId {
    ComponentId::parse(text).unwrap()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn otlp_receiver<'c>(config: &'c Config, name: &str) -> &'c OtlpReceiver {
    match config.receivers.get(&id(name)) {
        Some(Receiver::Otlp(r)) => r,
        None => panic!("no receiver {name}"),
    }
}

fn prometheus<'c>(config: &'c Config, name: &str) -> &'c prometheus::Settings {
    match config.exporters.get(&id(name)) {
        Some(Exporter::Prometheus(p)) => p,
        other => panic!("no prometheus exporter {name}: {other:?}"),
    }
}

/// The zero-config pipeline, written out.
const DEFAULT_FILE: &str = "
receivers:
  otlp:
    protocols:
      grpc:
      http:
exporters:
  prometheus:
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
";

// === defaults ===

#[test]
fn zero_config_is_otlp_to_prometheus_on_loopback() {
    let config = Config::default();
    let r = otlp_receiver(&config, "otlp");
    assert_eq!(
        r.grpc.as_ref().map(|g| g.endpoint),
        Some(addr("127.0.0.1:4317"))
    );
    assert_eq!(
        r.http.as_ref().map(|h| h.endpoint),
        Some(addr("127.0.0.1:4318"))
    );
    assert_eq!(
        r.grpc.as_ref().map(|g| g.max_recv_msg_size),
        Some(4 * 1024 * 1024)
    );
    assert_eq!(
        r.http.as_ref().map(|h| h.max_request_body_size),
        Some(20 * 1024 * 1024)
    );
    let p = prometheus(&config, "prometheus");
    assert_eq!(p.endpoint, addr("127.0.0.1:9464"));
    assert_eq!(p.metric_expiration, Duration::from_secs(300));
    assert_eq!(
        config.pipelines,
        vec![Pipeline {
            id: "metrics".into(),
            signal: Signal::Metrics,
            receivers: vec![id("otlp")],
            processors: vec![],
            exporters: vec![id("prometheus")],
        }]
    );
}

#[test]
fn the_default_file_written_out_is_the_defaults() {
    let config = parse(DEFAULT_FILE).unwrap();
    let default = Config::default();
    assert_eq!(config.pipelines, default.pipelines);
    assert_eq!(
        otlp_receiver(&config, "otlp"),
        otlp_receiver(&default, "otlp")
    );
    assert_eq!(
        prometheus(&config, "prometheus"),
        prometheus(&default, "prometheus")
    );
}

#[test]
fn a_protocol_left_out_is_not_served() {
    let text = DEFAULT_FILE.replace("      http:\n", "");
    let config = parse(&text).unwrap();
    assert!(otlp_receiver(&config, "otlp").http.is_none());
    assert!(otlp_receiver(&config, "otlp").grpc.is_some());
    assert_eq!(
        parse_err(&text.replace("      grpc:\n", "")),
        "receivers.otlp.protocols: no protocol: write `grpc:` and/or `http:` under protocols"
    );
}

#[test]
fn a_file_without_pipelines_is_an_error() {
    assert!(parse_err("exporters:\n  prometheus:\n").starts_with("service.pipelines: no pipeline"));
    assert!(parse_err("service:\n  pipelines: {}\n").starts_with("service.pipelines: no pipeline"));
}

// === components and pipelines ===

#[test]
fn named_components_coexist_and_pipelines_reference_them() {
    let text = "
receivers:
  otlp:
    protocols: {grpc: {endpoint: 127.0.0.1:0}}
  otlp/internal:
    protocols: {http: {endpoint: 127.0.0.1:0, max_request_body_size: 1048576}}
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
    metric_expiration: 90s
  prometheus/second:
    endpoint: 127.0.0.1:0
    metric_expiration: 1m30s
service:
  pipelines:
    metrics:
      receivers: [otlp, otlp/internal]
      exporters: [prometheus]
    metrics/copy:
      receivers: [otlp/internal]
      exporters: [prometheus/second]
";
    let config = parse(text).unwrap();
    assert_eq!(config.receivers.len(), 2);
    assert_eq!(
        otlp_receiver(&config, "otlp/internal")
            .http
            .as_ref()
            .map(|h| h.max_request_body_size),
        Some(1_048_576)
    );
    assert_eq!(
        prometheus(&config, "prometheus").metric_expiration,
        Duration::from_secs(90)
    );
    assert_eq!(
        prometheus(&config, "prometheus/second").metric_expiration,
        Duration::from_secs(90)
    );
    let ids: Vec<_> = config.pipelines.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["metrics", "metrics/copy"]);
    assert_eq!(
        config.pipelines[0].receivers,
        vec![id("otlp"), id("otlp/internal")]
    );
}

#[test]
fn an_unknown_key_is_rejected_naming_it_and_its_line() {
    let cases = [
        (
            "# comment\nrecievers: {}\n",
            "test.yaml: invalid configuration: unknown field `recievers`, expected one of \
             `receivers`, `processors`, `exporters`, `extensions`, `service` at line 2 column 1",
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      grcp: {}\n",
            "test.yaml: invalid configuration: receivers.otlp.protocols: unknown field `grcp`, expected `grpc` \
             or `http` at line 4 column 7",
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpiont: 127.0.0.1:1\n",
            "test.yaml: invalid configuration: receivers.otlp.protocols.grpc: unknown field `endpiont`, expected one \
             of `endpoint`, `max_recv_msg_size_mib`, `max_concurrent_streams`, `max_connections`, \
             `keepalive`, `read_timeout`, `tls`, `auth` at line 5 column 9",
        ),
        (
            "exporters:\n  prometheus:\n    const_labels: {a: b}\n",
            "test.yaml: invalid configuration: exporters.prometheus: unknown field `const_labels`, expected \
             one of `endpoint`, `metric_expiration`, `max_future_skew`, `tls`, `auth`, `max_series_per_metric`, `max_series`, `max_tenants` at line 3 column 5",
        ),
        (
            "receivers:\n  jaeger: {}\n",
            "test.yaml: invalid configuration: receivers: unknown receiver type \"jaeger\" in \
             \"jaeger\": Vigil has otlp at line 2 column 3",
        ),
        (
            "service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      connectors: []\n",
            "test.yaml: invalid configuration: service.pipelines.metrics: unknown field \
             `connectors`, expected one of `receivers`, `processors`, `exporters` at line 5 column 7",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_err(text), want, "{text}");
    }
}

#[test]
fn references_to_missing_components_name_the_pipeline() {
    let text = DEFAULT_FILE.replace("exporters: [prometheus]", "exporters: [otlp/vendor]");
    assert_eq!(
        parse_err(&text),
        "service.pipelines.metrics.exporters: exporter \"otlp/vendor\" is not configured \
         (add it under exporters:)"
    );
    let text = DEFAULT_FILE.replace("receivers: [otlp]", "receivers: [otlp/x]");
    assert_eq!(
        parse_err(&text),
        "service.pipelines.metrics.receivers: receiver \"otlp/x\" is not configured \
         (add it under receivers:)"
    );
    let text = DEFAULT_FILE.replace(
        "receivers: [otlp]",
        "receivers: [otlp]\n      processors: [batch]",
    );
    assert_eq!(
        parse_err(&text),
        "service.pipelines.metrics.processors: processor \"batch\" is not configured \
         (add it under processors:)"
    );
}

#[test]
fn the_prometheus_exporter_takes_only_metrics() {
    let text = DEFAULT_FILE.replace("    metrics:\n", "    traces:\n");
    assert_eq!(
        parse_err(&text),
        "service.pipelines.traces: \"prometheus\" handles only metrics, not this pipeline's signal"
    );
}

#[test]
fn pipeline_ids_must_name_a_signal() {
    let text = DEFAULT_FILE.replace("    metrics:\n", "    spans/x:\n");
    assert_eq!(
        parse_err(&text),
        "service.pipelines.spans/x: \"spans/x\" is not a pipeline id: use metrics, traces or \
         logs, optionally with /name"
    );
}

#[test]
fn a_component_listed_twice_in_a_pipeline_is_an_error() {
    let text = DEFAULT_FILE.replace("receivers: [otlp]", "receivers: [otlp, otlp]");
    assert_eq!(
        parse_err(&text),
        "service.pipelines.metrics.receivers: ComponentId(\"otlp\") is listed twice"
    );
}

#[test]
fn service_extensions_must_be_configured() {
    let text = format!("{DEFAULT_FILE}  extensions: [file_storage]\n");
    assert_eq!(
        parse_err(&text),
        "service.extensions[0]: extension \"file_storage\" is not configured \
         (add it under extensions:)"
    );
}

#[test]
fn telemetry_log_level_is_read_and_checked() {
    let text = format!(
        "{DEFAULT_FILE}  telemetry:\n    logs:\n      level: WARN\n    metrics:\n      level: none\n"
    );
    assert_eq!(parse(&text).unwrap().log_level.as_deref(), Some("warn"));
    let bad = text.replace("WARN", "loud");
    assert_eq!(
        parse_err(&bad),
        "service.telemetry.logs.level: \"loud\" is not one of debug, info, warn, error"
    );
}

#[test]
fn two_listeners_on_one_port_conflict() {
    let text = DEFAULT_FILE.replace(
        "  prometheus:\n",
        "  prometheus:\n    endpoint: 127.0.0.1:4317\n",
    );
    assert_eq!(
        parse_err(&text),
        "exporters.prometheus.endpoint (127.0.0.1:4317) conflicts with \
         receivers.otlp.protocols.grpc.endpoint (127.0.0.1:4317): both would listen on port 4317"
    );
}

#[test]
fn bad_values_name_their_key() {
    let text = DEFAULT_FILE.replace(
        "      grpc:\n",
        "      grpc:\n        endpoint: example.com:4317\n",
    );
    assert!(
        parse_err(&text).starts_with(
            "receivers.otlp.protocols.grpc.endpoint: invalid socket address \"example.com:4317\""
        ),
        "{}",
        parse_err(&text)
    );
    let text = DEFAULT_FILE.replace(
        "  prometheus:\n",
        "  prometheus:\n    metric_expiration: 0s\n",
    );
    assert_eq!(
        parse_err(&text),
        "exporters.prometheus.metric_expiration: \"0s\" must be greater than zero"
    );
    let text = DEFAULT_FILE.replace(
        "      http:\n",
        "      http:\n        max_request_body_size: 0\n",
    );
    assert_eq!(
        parse_err(&text),
        "receivers.otlp.protocols.http.max_request_body_size: must be greater than zero, or \
         every request would be refused"
    );
}

#[test]
fn component_ids_are_checked() {
    assert_eq!(
        ComponentId::parse("otlp/vendor-1").map(|c| c.ty().to_owned()),
        Some("otlp".into())
    );
    for bad in ["", "/x", "otlp/", "Otlp", "otlp/a b", "1otlp"] {
        assert_eq!(ComponentId::parse(bad), None, "{bad:?}");
    }
}

// === environment substitution ===

#[test]
fn substitutes_variables_with_and_without_defaults() {
    let text = DEFAULT_FILE.replace(
        "      grpc:\n",
        "      grpc:\n        endpoint: ${env:GRPC}\n        max_recv_msg_size_mib: ${env:SIZE:-2}\n",
    );
    let config = parse_with(&text, &[("GRPC", "0.0.0.0:5317")]).unwrap();
    assert_eq!(
        otlp_receiver(&config, "otlp").grpc,
        Some(GrpcReceiver {
            endpoint: addr("0.0.0.0:5317"),
            max_recv_msg_size: 2 * 1024 * 1024,
            limits: crate::server::conn::Limits::GRPC,
            max_concurrent_streams: crate::receiver::config::DEFAULT_MAX_CONCURRENT_STREAMS,
            tls: None,
            auth: None,
        })
    );
    let err = parse(&text).unwrap_err();
    assert!(
        matches!(&err, Error::MissingEnvVar { line: 6, name, .. } if name == "GRPC"),
        "{err:?}"
    );
}

#[test]
fn a_substituted_value_cannot_inject_keys() {
    let text = DEFAULT_FILE.replace(
        "  prometheus:\n",
        "  prometheus:\n    endpoint: ${env:EVIL}\n",
    );
    let err = parse_with(&text, &[("EVIL", "127.0.0.1:1\n    metric_expiration: 1s")]).unwrap_err();
    assert!(
        matches!(&err, Error::MultilineEnvVar { name, .. } if name == "EVIL"),
        "{err:?}"
    );
}

// === command-line overrides ===

fn cli(args: &[&str]) -> Cli {
    use clap::Parser;
    let mut all = vec!["vigil-collector"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).unwrap()
}

#[test]
fn flags_beat_the_file() {
    let mut config = parse(DEFAULT_FILE).unwrap();
    config
        .apply_cli(&cli(&[
            "--otlp-grpc",
            "0.0.0.0:1",
            "--otlp-http",
            "127.0.0.1:2",
            "--listen",
            "127.0.0.1:3",
            "--expire-after",
            "1h 30m",
        ]))
        .unwrap();
    let r = otlp_receiver(&config, "otlp");
    assert_eq!(r.grpc.as_ref().map(|g| g.endpoint), Some(addr("0.0.0.0:1")));
    assert_eq!(
        r.http.as_ref().map(|h| h.endpoint),
        Some(addr("127.0.0.1:2"))
    );
    let p = prometheus(&config, "prometheus");
    assert_eq!(p.endpoint, addr("127.0.0.1:3"));
    assert_eq!(p.metric_expiration, Duration::from_secs(5400));
}

#[test]
fn a_flag_serves_a_protocol_the_file_left_out() {
    let mut config = parse(&DEFAULT_FILE.replace("      http:\n", "")).unwrap();
    config
        .apply_cli(&cli(&["--otlp-http", "127.0.0.1:7"]))
        .unwrap();
    assert_eq!(
        otlp_receiver(&config, "otlp").http,
        Some(HttpReceiver {
            endpoint: addr("127.0.0.1:7"),
            max_request_body_size: 20 * 1024 * 1024,
            limits: crate::server::conn::Limits::HTTP,
            tls: None,
            auth: None,
        })
    );
}

#[test]
fn a_flag_without_its_component_is_an_error() {
    let text = "
receivers:
  otlp/a:
    protocols: {grpc: {}}
exporters:
  prometheus/b:
service:
  pipelines:
    metrics: {receivers: [otlp/a], exporters: [prometheus/b]}
";
    let mut config = parse(text).unwrap();
    let err = config
        .apply_cli(&cli(&["--listen", "127.0.0.1:1"]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "--listen: the configuration has no exporter `prometheus` to apply it to"
    );
    let err = config
        .apply_cli(&cli(&["--otlp-grpc", "127.0.0.1:1"]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "--otlp-grpc: the configuration has no receiver `otlp` to apply it to"
    );
}

#[test]
fn flags_are_checked_for_conflicts() {
    let mut config = Config::default();
    let err = config
        .apply_cli(&cli(&["--listen", "127.0.0.1:4318"]))
        .unwrap_err();
    assert!(matches!(err, Error::EndpointConflict { .. }), "{err:?}");
}

// === files ===

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let path = std::env::temp_dir().join("vigil-config-does-not-exist.yaml");
    let err = Config::load(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Read { path: p, .. } if *p == path),
        "{err:?}"
    );
}

#[test]
fn display_is_the_message_and_alternate_display_adds_the_causes() {
    let err = parse("exporters:\n  prometheus:\n    ttl: 1m\n").unwrap_err();
    assert_eq!(err.to_string(), "test.yaml: invalid configuration");
    let cause = err.source().map(|c| c.to_string());
    assert_eq!(
        cause.as_deref(),
        Some(
            "exporters.prometheus: unknown field `ttl`, expected one of `endpoint`, `metric_expiration`, `max_future_skew`, `tls`, `auth`, `max_series_per_metric`, `max_series`, `max_tenants` at line 3 column 5"
        )
    );
}

/// Every `*.yaml` in `otel-config/`, sorted.
fn sample_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../otel-config");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_sample_config_validates() {
    let files = sample_files();
    assert!(
        files.len() >= 3,
        "expected sample configs in otel-config/, found {files:?}"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        // An empty environment: samples that use `${env:...}` must give defaults, except the
        // vendor's API key, which the forwarding samples take from the environment.
        let result = Config::from_yaml_str_with_env(&text, &path.display().to_string(), &|name| {
            name.ends_with("_API_KEY").then(|| "test-key".to_owned())
        });
        if let Err(err) = result {
            panic!("{err:#}");
        }
    }
}

#[test]
fn an_otlphttp_exporter_without_a_url_for_its_pipelines_signal_is_an_error() {
    let text = "
receivers: {otlp: {protocols: {grpc: {}}}}
exporters:
  otlphttp:
    metrics_endpoint: http://127.0.0.1:1/v1/metrics
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [otlphttp]}
    logs: {receivers: [otlp], exporters: [otlphttp]}
";
    assert_eq!(
        parse_err(text),
        "exporters.otlphttp: no URL for logs, which pipeline logs sends it: set endpoint or \
         logs_endpoint"
    );
    let metrics_only = text.replace("    logs: {receivers: [otlp], exporters: [otlphttp]}\n", "");
    assert!(parse(&metrics_only).is_ok());
}
