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

/// The error and its causes, as `main` prints it.
fn chain(err: &Error) -> String {
    format!("{err:#}")
}

fn parse_err(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error for {text:?}, got {config:?}"),
        Err(err) => chain(&err),
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

// === defaults ===

#[test]
fn defaults_listen_on_loopback_with_the_otlp_ports() {
    let config = Config::default();
    assert_eq!(
        config,
        Config {
            receivers: Receivers {
                grpc: Some(GrpcReceiver {
                    endpoint: addr("127.0.0.1:4317"),
                    max_recv_msg_size: 4 * 1024 * 1024,
                }),
                http: Some(HttpReceiver {
                    endpoint: addr("127.0.0.1:4318"),
                    max_request_body_size: 8 * 1024 * 1024,
                }),
            },
            store: Store {
                expire_after: Duration::from_secs(300)
            },
            exporters: Exporters {
                prometheus: Prometheus {
                    endpoint: addr("127.0.0.1:9464")
                }
            },
        }
    );
}

#[test]
fn an_empty_file_gives_the_defaults() {
    for text in [
        "",
        "\n",
        "# only a comment\n",
        "{}",
        "---\n",
        "receivers:\nstore:\nexporters:\n",
    ] {
        assert_eq!(
            parse(text).map_err(|e| chain(&e)),
            Ok(Config::default()),
            "text {text:?}"
        );
    }
}

#[test]
fn a_protocol_with_no_value_takes_its_defaults() {
    let config = parse("receivers:\n  otlp:\n    protocols:\n      grpc:\n      http:\n").unwrap();
    assert_eq!(config, Config::default());
}

// === a full file ===

#[test]
fn a_full_file_sets_every_key() {
    let text = r#"
receivers:
  otlp:
    protocols:
      grpc:
        enabled: true
        endpoint: 0.0.0.0:14317
        max_recv_msg_size_mib: 16
      http:
        endpoint: "[::1]:14318"
        max_request_body_size_mib: 1
store:
  expire_after: 1h 30m
exporters:
  prometheus:
    endpoint: localhost:19464
"#;
    assert_eq!(
        parse(text).unwrap(),
        Config {
            receivers: Receivers {
                grpc: Some(GrpcReceiver {
                    endpoint: addr("0.0.0.0:14317"),
                    max_recv_msg_size: 16 * 1024 * 1024,
                }),
                http: Some(HttpReceiver {
                    endpoint: addr("[::1]:14318"),
                    max_request_body_size: 1024 * 1024,
                }),
            },
            store: Store {
                expire_after: Duration::from_secs(90 * 60)
            },
            exporters: Exporters {
                prometheus: Prometheus {
                    endpoint: addr("127.0.0.1:19464")
                }
            },
        }
    );
}

#[test]
fn localhost_means_ipv4_loopback() {
    let config = parse("exporters:\n  prometheus:\n    endpoint: localhost:9000\n").unwrap();
    assert_eq!(config.exporters.prometheus.endpoint, addr("127.0.0.1:9000"));
}

#[test]
fn accepts_humantime_durations() {
    for (text, secs) in [
        ("30s", 30),
        ("5m", 300),
        ("1h 30m", 5400),
        ("1h30m", 5400),
        ("2days", 172_800),
        ("1500ms", 1),
    ] {
        let config = parse(&format!("store:\n  expire_after: {text}\n")).unwrap();
        assert_eq!(config.store.expire_after.as_secs(), secs, "{text}");
    }
}

#[test]
fn enabled_false_disables_a_protocol() {
    let config =
        parse("receivers:\n  otlp:\n    protocols:\n      http:\n        enabled: false\n")
            .unwrap();
    assert_eq!(config.receivers.http, None);
    assert_eq!(config.receivers.grpc, Config::default().receivers.grpc);
}

#[test]
fn a_disabled_protocol_is_not_validated() {
    let text = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        enabled: false\n        endpoint: nonsense\n";
    assert_eq!(parse(text).unwrap().receivers.grpc, None);
}

// === bad values name their key ===

#[test]
fn a_bad_address_names_its_key_path() {
    let cases = [
        (
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: abc\n",
            r#"receivers.otlp.protocols.grpc.endpoint: invalid socket address "abc": expected HOST:PORT, like 127.0.0.1:4317, but there is no port"#,
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:99999\n",
            r#"receivers.otlp.protocols.http.endpoint: invalid socket address "127.0.0.1:99999": port "99999" is not a number from 0 to 65535"#,
        ),
        (
            "exporters:\n  prometheus:\n    endpoint: metrics.internal:9464\n",
            r#"exporters.prometheus.endpoint: invalid socket address "metrics.internal:9464": host "metrics.internal" is not an IP address or "localhost"; host names are not resolved, so that the collector binds exactly what the configuration says"#,
        ),
        (
            "exporters:\n  prometheus:\n    endpoint: \":9464\"\n",
            r#"exporters.prometheus.endpoint: invalid socket address ":9464": the host is empty; write 127.0.0.1 to listen on this machine only, or 0.0.0.0 to listen on every interface"#,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_err(text), want);
    }
}

#[test]
fn a_bad_duration_names_its_key_path() {
    let cases = [
        (
            "0s",
            r#"store.expire_after: duration "0s" must be greater than zero"#,
        ),
        (
            "0",
            r#"store.expire_after: duration "0" must be greater than zero"#,
        ),
        (
            "-5m",
            r#"store.expire_after: invalid duration "-5m" (expected a positive duration like "30s", "5m" or "1h 30m"): expected number at 0"#,
        ),
        (
            "soon",
            r#"store.expire_after: invalid duration "soon" (expected a positive duration like "30s", "5m" or "1h 30m"): expected number at 0"#,
        ),
        (
            "5 fortnights",
            r#"store.expire_after: invalid duration "5 fortnights" (expected a positive duration like "30s", "5m" or "1h 30m"): unknown time unit "fortnights", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)"#,
        ),
        (
            "300",
            r#"store.expire_after: invalid duration "300" (expected a positive duration like "30s", "5m" or "1h 30m"): time unit needed, for example 300sec or 300ms"#,
        ),
        (
            "400days",
            r#"store.expire_after: duration "400days" is longer than the maximum of 365 days"#,
        ),
    ];
    for (value, want) in cases {
        assert_eq!(
            parse_err(&format!("store:\n  expire_after: {value}\n")),
            want,
            "value {value:?}"
        );
    }
}

#[test]
fn a_bad_size_names_its_key_path() {
    let cases = [
        (
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        max_recv_msg_size_mib: 0\n",
            "receivers.otlp.protocols.grpc.max_recv_msg_size_mib: must be at least 1 (MiB), or every request would be refused",
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      http:\n        max_request_body_size_mib: 4096\n",
            "receivers.otlp.protocols.http.max_request_body_size_mib: 4096 MiB is more than the maximum of 1024 MiB",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_err(text), want);
    }
}

#[test]
fn an_unknown_key_is_rejected_naming_it_at_every_depth() {
    let cases = [
        // serde_yaml leaves out the location when it is the very start of the file.
        (
            "recievers: {}\n",
            "test.yaml: invalid configuration: unknown field `recievers`, expected one of `receivers`, `store`, `exporters`",
        ),
        (
            "# comment\nrecievers: {}\n",
            "test.yaml: invalid configuration: unknown field `recievers`, expected one of `receivers`, `store`, `exporters` at line 2 column 1",
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      grcp: {}\n",
            "test.yaml: invalid configuration: receivers.otlp.protocols: unknown field `grcp`, expected `grpc` or `http` at line 4 column 7",
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpiont: 127.0.0.1:1\n",
            "test.yaml: invalid configuration: receivers.otlp.protocols.grpc: unknown field `endpiont`, expected one of `enabled`, `endpoint`, `max_recv_msg_size_mib` at line 5 column 9",
        ),
        (
            "store:\n  ttl: 5m\n",
            "test.yaml: invalid configuration: store: unknown field `ttl`, expected `expire_after` at line 2 column 3",
        ),
        (
            "exporters:\n  prometheus:\n    path: /metrics\n",
            "test.yaml: invalid configuration: exporters.prometheus: unknown field `path`, expected `endpoint` at line 3 column 5",
        ),
        (
            "receivers:\n  jaeger: {}\n",
            "test.yaml: invalid configuration: receivers: unknown field `jaeger`, expected `otlp` at line 2 column 3",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_err(text), want);
    }
}

#[test]
fn a_value_of_the_wrong_type_is_rejected_naming_its_key() {
    let cases = [
        (
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        max_recv_msg_size_mib: four\n",
            "receivers.otlp.protocols.grpc.max_recv_msg_size_mib: invalid type: string \"four\", expected u64",
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      http:\n        max_request_body_size_mib: -1\n",
            "receivers.otlp.protocols.http.max_request_body_size_mib: invalid type: integer `-1`, expected u64",
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      http:\n        enabled: maybe\n",
            "receivers.otlp.protocols.http.enabled: invalid type: string \"maybe\", expected a boolean",
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      grpc: null\n",
            "receivers.otlp.protocols.grpc: invalid type: unit value, expected struct Grpc",
        ),
        (
            "store: 5m\n",
            "store: invalid type: string \"5m\", expected struct Store",
        ),
        (
            "receivers: []\n",
            "receivers: invalid type: sequence, expected struct Receivers",
        ),
        (
            "exporters:\n  prometheus:\n    endpoint: [1, 2]\n",
            "exporters.prometheus.endpoint: invalid type: sequence, expected a string",
        ),
        ("- a\n", "invalid type: sequence, expected struct Raw"),
    ];
    for (text, want) in cases {
        let got = parse_err(text);
        assert!(
            got.starts_with(&format!("test.yaml: invalid configuration: {want}")),
            "for {text:?}\n got: {got}\nwant: {want}"
        );
    }
}

#[test]
fn a_number_where_a_string_is_expected_is_read_as_text() {
    // serde_yaml hands plain scalars to string fields as written, so a bare number reaches the
    // duration and address checks, whose messages say what is missing.
    assert_eq!(
        parse_err("exporters:\n  prometheus:\n    endpoint: 9464\n"),
        r#"exporters.prometheus.endpoint: invalid socket address "9464": expected HOST:PORT, like 127.0.0.1:4317, but there is no port"#
    );
}

#[test]
fn malformed_yaml_names_the_file_and_line() {
    let got = parse_err("receivers:\n  otlp: [\n");
    assert!(
        got.starts_with("test.yaml: invalid configuration: "),
        "{got}"
    );
    assert!(got.contains("line "), "{got}");
}

// === whole-config checks ===

#[test]
fn disabling_both_protocols_is_an_error() {
    let text = "receivers:\n  otlp:\n    protocols:\n      grpc: {enabled: false}\n      http: {enabled: false}\n";
    let err = parse(text).unwrap_err();
    assert!(matches!(err, Error::NoReceivers), "{err:?}");
}

#[test]
fn two_listeners_on_one_port_conflict() {
    let text =
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:4317\n";
    assert_eq!(
        parse_err(text),
        "receivers.otlp.protocols.http.endpoint (127.0.0.1:4317) conflicts with \
         receivers.otlp.protocols.grpc.endpoint (127.0.0.1:4317): both would listen on port 4317"
    );
    let wildcard = "exporters:\n  prometheus:\n    endpoint: 0.0.0.0:4318\n";
    let err = parse(wildcard).unwrap_err();
    assert!(
        matches!(
            err,
            Error::EndpointConflict {
                first: HTTP_ENDPOINT,
                second: PROMETHEUS_ENDPOINT,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn listeners_on_disjoint_addresses_or_port_zero_do_not_conflict() {
    let cases = [
        "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 127.0.0.1:0}\n      http: {endpoint: 127.0.0.1:0}\nexporters:\n  prometheus: {endpoint: 127.0.0.1:0}\n",
        "receivers:\n  otlp:\n    protocols:\n      http: {endpoint: 127.0.0.2:4317}\n",
        "receivers:\n  otlp:\n    protocols:\n      http: {endpoint: \"[::1]:4317\"}\n",
        "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 0.0.0.0:4317}\n      http: {endpoint: \"[::1]:4317\"}\n",
    ];
    for text in cases {
        assert!(
            parse(text).is_ok(),
            "{text}: {:?}",
            parse(text).map_err(|e| chain(&e))
        );
    }
    // `[::]` is dual-stack on Linux, so it takes the port on 127.0.0.1 too.
    let dual_stack = "receivers:\n  otlp:\n    protocols:\n      http: {endpoint: \"[::]:4317\"}\n";
    assert!(matches!(
        parse(dual_stack),
        Err(Error::EndpointConflict { .. })
    ));
}

// === environment substitution ===

#[test]
fn substitutes_a_set_variable() {
    let text = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${env:GRPC}\n        max_recv_msg_size_mib: ${env:SIZE}\n";
    let config = parse_with(text, &[("GRPC", "0.0.0.0:5317"), ("SIZE", "2")]).unwrap();
    assert_eq!(
        config.receivers.grpc,
        Some(GrpcReceiver {
            endpoint: addr("0.0.0.0:5317"),
            max_recv_msg_size: 2 * 1024 * 1024
        })
    );
}

#[test]
fn a_missing_variable_is_an_error_naming_it() {
    let text = "store:\n  expire_after: ${env:VIGIL_EXPIRE}\n";
    let err = parse(text).unwrap_err();
    assert!(
        matches!(&err, Error::MissingEnvVar { origin, line: 2, name } if origin == "test.yaml" && name == "VIGIL_EXPIRE"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "test.yaml:2: environment variable VIGIL_EXPIRE is not set (write ${env:VIGIL_EXPIRE:-DEFAULT} to give a default)"
    );
}

#[test]
fn the_default_form_applies_when_unset_or_empty() {
    let text = "store:\n  expire_after: ${env:VIGIL_EXPIRE:-1h 30m}\n";
    let want = Duration::from_secs(5400);
    assert_eq!(parse_with(text, &[]).unwrap().store.expire_after, want);
    assert_eq!(
        parse_with(text, &[("VIGIL_EXPIRE", "")])
            .unwrap()
            .store
            .expire_after,
        want
    );
    assert_eq!(
        parse_with(text, &[("VIGIL_EXPIRE", "10s")])
            .unwrap()
            .store
            .expire_after,
        Duration::from_secs(10)
    );
}

#[test]
fn a_doubled_dollar_escapes_a_literal_reference() {
    // The escaped text reaches validation unexpanded, which is how we can see it was kept.
    let text = "exporters:\n  prometheus:\n    endpoint: \"$${env:LISTEN}\"\n";
    let err = parse_with(text, &[("LISTEN", "127.0.0.1:1")]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidAddress { key: PROMETHEUS_ENDPOINT, value, .. } if value == "${env:LISTEN}"),
        "{err:?}"
    );
}

#[test]
fn references_in_comments_are_ignored() {
    let text = "# endpoint: ${env:NOT_SET}\nstore:\n  expire_after: 5m # or ${env:ALSO_NOT_SET}\n";
    assert_eq!(parse(text).unwrap(), Config::default());
}

#[test]
fn a_substituted_value_cannot_inject_keys() {
    let text = "store:\n  expire_after: ${env:EVIL}\n";
    let err = parse_with(
        text,
        &[(
            "EVIL",
            "5m\nexporters:\n  prometheus: {endpoint: 0.0.0.0:1}",
        )],
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::MultilineEnvVar { name, .. } if name == "EVIL"),
        "{err:?}"
    );
}

#[test]
fn from_yaml_str_reads_the_process_environment() {
    // Setting variables is `unsafe` in edition 2024 and this crate forbids unsafe code, so use
    // names nobody sets.
    let err = Config::from_yaml_str(
        "store:\n  expire_after: ${env:VIGIL_TEST_UNSET_7F3A}\n",
        "t.yaml",
    )
    .unwrap_err();
    assert!(matches!(&err, Error::MissingEnvVar { name, .. } if name == "VIGIL_TEST_UNSET_7F3A"));
    let config = Config::from_yaml_str(
        "store:\n  expire_after: ${env:VIGIL_TEST_UNSET_7F3A:-42s}\n",
        "t.yaml",
    )
    .unwrap();
    assert_eq!(config.store.expire_after, Duration::from_secs(42));
}

// === command-line overrides ===

fn cli(args: &[&str]) -> Cli {
    use clap::Parser;
    Cli::try_parse_from(std::iter::once("vigil-collector").chain(args.iter().copied())).unwrap()
}

#[test]
fn flags_beat_the_file() {
    let mut config = parse(
        "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 127.0.0.1:1, max_recv_msg_size_mib: 9}\n      http: {endpoint: 127.0.0.1:2}\nstore: {expire_after: 1m}\nexporters:\n  prometheus: {endpoint: 127.0.0.1:3}\n",
    )
    .unwrap();
    config
        .apply_cli(&cli(&[
            "--otlp-grpc",
            "0.0.0.0:11",
            "--otlp-http",
            "localhost:12",
            "--listen",
            "[::1]:13",
            "--expire-after",
            "2h",
        ]))
        .unwrap();
    assert_eq!(
        config,
        Config {
            receivers: Receivers {
                // The flag replaces the address; the file's size limit stays.
                grpc: Some(GrpcReceiver {
                    endpoint: addr("0.0.0.0:11"),
                    max_recv_msg_size: 9 * 1024 * 1024
                }),
                http: Some(HttpReceiver {
                    endpoint: addr("127.0.0.1:12"),
                    max_request_body_size: 8 * 1024 * 1024
                }),
            },
            store: Store {
                expire_after: Duration::from_secs(7200)
            },
            exporters: Exporters {
                prometheus: Prometheus {
                    endpoint: addr("[::1]:13")
                }
            },
        }
    );
}

#[test]
fn no_flags_leave_the_file_alone() {
    let text = "store: {expire_after: 1m}\n";
    let mut config = parse(text).unwrap();
    config
        .apply_cli(&cli(&["--demo", "--log-level", "debug"]))
        .unwrap();
    assert_eq!(config, parse(text).unwrap());
}

#[test]
fn a_receiver_flag_enables_a_protocol_the_file_disabled() {
    let mut config =
        parse("receivers:\n  otlp:\n    protocols:\n      http: {enabled: false}\n").unwrap();
    config
        .apply_cli(&cli(&["--otlp-http", "127.0.0.1:5000"]))
        .unwrap();
    assert_eq!(
        config.receivers.http,
        Some(HttpReceiver {
            endpoint: addr("127.0.0.1:5000"),
            max_request_body_size: 8 * 1024 * 1024
        })
    );
}

#[test]
fn a_bad_flag_value_names_the_flag() {
    let cases = [
        (
            &["--otlp-grpc", "abc"][..],
            r#"--otlp-grpc: invalid socket address "abc": expected HOST:PORT, like 127.0.0.1:4317, but there is no port"#,
        ),
        (
            &["--otlp-http", "example.com:80"][..],
            r#"--otlp-http: invalid socket address "example.com:80": host "example.com" is not an IP address or "localhost"; host names are not resolved, so that the collector binds exactly what the configuration says"#,
        ),
        (
            &["--listen", "127.0.0.1"][..],
            r#"--listen: invalid socket address "127.0.0.1": expected HOST:PORT, like 127.0.0.1:4317, but there is no port"#,
        ),
        (
            &["--expire-after", "0s"][..],
            r#"--expire-after: duration "0s" must be greater than zero"#,
        ),
        (
            &["--expire-after=-1m"][..],
            r#"--expire-after: invalid duration "-1m" (expected a positive duration like "30s", "5m" or "1h 30m"): expected number at 0"#,
        ),
    ];
    for (args, want) in cases {
        let mut config = Config::default();
        let err = config.apply_cli(&cli(args)).unwrap_err();
        assert_eq!(chain(&err), want, "args {args:?}");
    }
}

#[test]
fn flags_are_checked_for_conflicts_with_the_file() {
    let mut config = Config::default();
    let err = config
        .apply_cli(&cli(&["--listen", "127.0.0.1:4317"]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::EndpointConflict {
                first: GRPC_ENDPOINT,
                second: PROMETHEUS_ENDPOINT,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn resolve_without_a_file_is_the_defaults_plus_flags() {
    let config = Config::resolve(&cli(&["--listen", "0.0.0.0:9999"])).unwrap();
    let mut want = Config::default();
    want.exporters.prometheus.endpoint = addr("0.0.0.0:9999");
    assert_eq!(config, want);
}

/// A file under the system temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("vigil-config-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn resolve_loads_the_file_then_applies_flags() {
    let file = TempFile::new(
        "resolve.yaml",
        "store:\n  expire_after: 1m\nexporters:\n  prometheus:\n    endpoint: 127.0.0.1:7000\n",
    );
    let path = file.0.to_str().unwrap();
    let config = Config::resolve(&cli(&["--config", path, "--expire-after", "10m"])).unwrap();
    assert_eq!(
        config.store.expire_after,
        Duration::from_secs(600),
        "the flag wins"
    );
    assert_eq!(
        config.exporters.prometheus.endpoint,
        addr("127.0.0.1:7000"),
        "the file wins over defaults"
    );
}

#[test]
fn errors_from_a_file_name_the_file() {
    let file = TempFile::new("unknown-key.yaml", "store:\n  ttl: 1m\n");
    let err = Config::load(&file.0).unwrap_err();
    assert!(
        chain(&err).starts_with(&format!(
            "{}: invalid configuration: store: unknown field `ttl`",
            file.0.display()
        )),
        "{}",
        chain(&err)
    );
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let path = std::env::temp_dir().join("vigil-config-does-not-exist.yaml");
    let err = Config::load(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Read { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("vigil-config-does-not-exist.yaml"),
        "{err}"
    );
}

// === sample files ===

/// Every `*.yaml`/`*.yml` in `otel-config/`, sorted.
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
        files.len() >= 2,
        "expected sample configs in otel-config/, found {files:?}"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        // An empty environment: samples that use `${env:...}` must give defaults, so they load
        // on any machine.
        let result = Config::from_yaml_str_with_env(&text, &path.display().to_string(), &|_| None);
        if let Err(err) = result {
            panic!("{}", chain(&err));
        }
    }
}

#[test]
fn the_documented_default_file_is_the_defaults() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../otel-config/collector.yaml");
    assert_eq!(
        Config::load(&path).map_err(|e| chain(&e)),
        Ok(Config::default())
    );
}

// === error rendering ===

#[test]
fn display_is_the_message_and_alternate_display_adds_the_causes() {
    let err = parse("store:\n  ttl: 1m\n").unwrap_err();
    assert_eq!(err.to_string(), "test.yaml: invalid configuration");
    assert_eq!(
        format!("{err:#}"),
        "test.yaml: invalid configuration: store: unknown field `ttl`, expected `expire_after` at line 2 column 3"
    );
    // The cause stays reachable for callers that walk the chain themselves (anyhow, tracing).
    let source = err.source().map(|cause| cause.to_string());
    assert_eq!(
        source.as_deref(),
        Some("store: unknown field `ttl`, expected `expire_after` at line 2 column 3")
    );
}
