use std::collections::HashMap;

use super::*;

/// Environment variables of one table row.
type Vars<'a> = &'a [(&'a str, &'a str)];

/// Parsed headers.
type Headers = Vec<(String, String)>;

/// A lookup over a table, as the builder's `with_env_lookup` gets in tests.
fn table(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn empty_and_blank_values_count_as_unset() {
    let env = table(&[("A", ""), ("B", "  "), ("C", " x ")]);
    assert_eq!(var(&env, "A"), None);
    assert_eq!(var(&env, "B"), None);
    assert_eq!(var(&env, "C").as_deref(), Some("x"));
    assert_eq!(var(&env, "D"), None);
}

#[test]
fn sdk_disabled_is_true_only_for_case_insensitive_true() {
    let cases = [
        (None, false, 0),
        (Some("true"), true, 0),
        (Some("TRUE"), true, 0),
        (Some("True"), true, 0),
        (Some("false"), false, 0),
        (Some("FALSE"), false, 0),
        (Some(""), false, 0),
        (Some("1"), false, 1),
        (Some("yes"), false, 1),
    ];
    for (value, expected, warning_count) in cases {
        let env = table(&value.map(|v| vec![(SDK_DISABLED, v)]).unwrap_or_default());
        let mut warnings = Vec::new();
        assert_eq!(sdk_disabled(&env, &mut warnings), expected, "{value:?}");
        assert_eq!(warnings.len(), warning_count, "{value:?}: {warnings:?}");
    }
}

#[test]
fn protocol_follows_code_then_signal_then_generic_then_grpc() {
    use Protocol::*;
    let cases: &[(Vars<'_>, Option<Protocol>, Protocol, Protocol, usize)] = &[
        // (env, code, metrics, traces, warnings)
        (&[], None, Grpc, Grpc, 0),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
            None,
            HttpProtobuf,
            HttpProtobuf,
            0,
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/PROTOBUF")],
            None,
            HttpProtobuf,
            HttpProtobuf,
            0,
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
            None,
            Grpc,
            Grpc,
            0,
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ],
            None,
            HttpProtobuf,
            Grpc,
            0,
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
            Some(Grpc),
            Grpc,
            Grpc,
            0,
        ),
        // http/json is not built: http/protobuf with a warning (per signal resolution).
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
            None,
            HttpProtobuf,
            HttpProtobuf,
            2,
        ),
        // Unknown: ignored with a warning, as if unset.
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")],
            None,
            Grpc,
            Grpc,
            2,
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "bogus"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ],
            None,
            HttpProtobuf,
            HttpProtobuf,
            1,
        ),
    ];
    for (vars, code, metrics, traces, warning_count) in cases {
        let env = table(vars);
        let mut warnings = Vec::new();
        assert_eq!(
            protocol(Signal::Metrics, &env, *code, &mut warnings),
            *metrics,
            "{vars:?}"
        );
        assert_eq!(
            protocol(Signal::Traces, &env, *code, &mut warnings),
            *traces,
            "{vars:?}"
        );
        assert_eq!(warnings.len(), *warning_count, "{vars:?}: {warnings:?}");
    }
}

#[test]
fn endpoints_per_signal_and_protocol() {
    use Protocol::*;
    use Signal::*;
    let generic = "OTEL_EXPORTER_OTLP_ENDPOINT";
    let metrics = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
    let traces = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    let cases: &[(Vars<'_>, Option<&str>, Signal, Protocol, &str)] = &[
        // Defaults.
        (&[], None, Metrics, Grpc, "http://localhost:4317"),
        (
            &[],
            None,
            Metrics,
            HttpProtobuf,
            "http://localhost:4318/v1/metrics",
        ),
        (
            &[],
            None,
            Traces,
            HttpProtobuf,
            "http://localhost:4318/v1/traces",
        ),
        // Generic: gRPC as-is, HTTP gets the signal path (one slash).
        (
            &[(generic, "http://collector:4317")],
            None,
            Traces,
            Grpc,
            "http://collector:4317",
        ),
        (
            &[(generic, "http://collector:4318")],
            None,
            Metrics,
            HttpProtobuf,
            "http://collector:4318/v1/metrics",
        ),
        (
            &[(generic, "http://collector:4318/")],
            None,
            Metrics,
            HttpProtobuf,
            "http://collector:4318/v1/metrics",
        ),
        (
            &[(generic, "http://c:4318/mypath")],
            None,
            Traces,
            HttpProtobuf,
            "http://c:4318/mypath/v1/traces",
        ),
        (
            &[(generic, "http://c:4318/mypath/")],
            None,
            Traces,
            HttpProtobuf,
            "http://c:4318/mypath/v1/traces",
        ),
        // Per-signal: as-is, beats generic; an empty path becomes "/".
        (
            &[
                (generic, "http://a:4318"),
                (metrics, "http://b:9999/custom"),
            ],
            None,
            Metrics,
            HttpProtobuf,
            "http://b:9999/custom",
        ),
        (
            &[(generic, "http://a:4318"), (metrics, "http://b:9999")],
            None,
            Traces,
            HttpProtobuf,
            "http://a:4318/v1/traces",
        ),
        (
            &[(traces, "http://b:9999")],
            None,
            Traces,
            HttpProtobuf,
            "http://b:9999/",
        ),
        (
            &[(traces, "http://b:4317")],
            None,
            Traces,
            Grpc,
            "http://b:4317",
        ),
        // Code beats every variable and is a base URL.
        (
            &[(generic, "http://a:1"), (metrics, "http://b:2")],
            Some("http://code:4318"),
            Metrics,
            HttpProtobuf,
            "http://code:4318/v1/metrics",
        ),
        (
            &[(metrics, "http://b:2")],
            Some("http://code:4317"),
            Metrics,
            Grpc,
            "http://code:4317",
        ),
        // gRPC without a scheme: http only when INSECURE is true.
        (
            &[
                (generic, "collector:4317"),
                ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
            ],
            None,
            Metrics,
            Grpc,
            "http://collector:4317",
        ),
        (
            &[
                (generic, "collector:4317"),
                ("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "TRUE"),
            ],
            None,
            Metrics,
            Grpc,
            "http://collector:4317",
        ),
        (
            &[
                (generic, "collector:4317"),
                ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
                ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "false"),
                ("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "false"),
            ],
            None,
            Metrics,
            Grpc,
            // Per-signal false wins: TLS, said explicitly, so no warning.
            "https://collector:4317",
        ),
        // https is used as written, for both transports.
        (
            &[(generic, "https://collector.example:4317")],
            None,
            Metrics,
            Grpc,
            "https://collector.example:4317",
        ),
        (
            &[(metrics, "https://otlp.example/v1/metrics")],
            None,
            Metrics,
            HttpProtobuf,
            "https://otlp.example/v1/metrics",
        ),
    ];
    for (vars, code, signal, protocol, expected) in cases {
        let env = table(vars);
        let mut warnings = Vec::new();
        let got = endpoint(*signal, *protocol, &env, *code, &mut warnings).unwrap();
        assert_eq!(got.url, *expected, "{vars:?} {signal:?} {protocol:?}");
        assert!(!got.implicit_tls, "{vars:?}");
        assert!(warnings.is_empty(), "{vars:?}: {warnings:?}");
    }
}

/// Issue 12: `127.0.0.1:14317` failed with an error naming https, which the
/// user never wrote.
#[test]
fn a_grpc_endpoint_without_scheme_means_tls_per_the_spec_and_says_so() {
    let env = table(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:14317")]);
    let mut warnings = Vec::new();
    let got = endpoint(Signal::Metrics, Protocol::Grpc, &env, None, &mut warnings).unwrap();
    assert_eq!(got.url, "https://127.0.0.1:14317");
    assert!(got.implicit_tls);
    assert_eq!(
        got.as_written().as_deref(),
        Some("OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:14317")
    );
    assert_eq!(
        warnings,
        [
            "OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:14317 has no scheme and \
          OTEL_EXPORTER_OTLP_INSECURE is not set, so Vigil connects with TLS to \
          https://127.0.0.1:14317, as the OTLP exporter specification says; write \
          http://127.0.0.1:14317 for a plaintext collector, or https://127.0.0.1:14317 to \
          silence this warning"
        ]
    );

    let mut warnings = Vec::new();
    let got = endpoint(
        Signal::Traces,
        Protocol::Grpc,
        &table(&[]),
        Some("localhost:4317"),
        &mut warnings,
    )
    .unwrap();
    assert_eq!(got.url, "https://localhost:4317");
    assert!(warnings[0].starts_with("with_endpoint(\"localhost:4317\") has no scheme"));
}

#[test]
fn endpoint_errors_quote_what_was_written_and_the_fix() {
    use Protocol::*;
    let cases: &[(Vars<'_>, Option<&str>, Protocol, &str, &str)] = &[
        // (env, code, protocol, setting named, message fragment)
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
            None,
            HttpProtobuf,
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318 has no scheme; OTLP/HTTP needs one: \
             write http://collector:4318 for plaintext or https://collector:4318 for TLS",
        ),
        (
            &[],
            Some("127.0.0.1:4318"),
            HttpProtobuf,
            "with_endpoint",
            "with_endpoint(\"127.0.0.1:4318\") has no scheme; OTLP/HTTP needs one: \
             write http://127.0.0.1:4318 for plaintext or https://127.0.0.1:4318 for TLS",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://c:21")],
            None,
            Grpc,
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT=ftp://c:21 has scheme \"ftp\", which OTLP does not \
             use; write http://c:21 for plaintext or https://c:21 for TLS",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http:///v1")],
            None,
            HttpProtobuf,
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http:///v1 has no valid host; write it as \
             http://host:port or https://host:port",
        ),
    ];
    for (vars, code, protocol, setting, message) in cases {
        let env = table(vars);
        let error = endpoint(Signal::Metrics, *protocol, &env, *code, &mut Vec::new()).unwrap_err();
        assert_eq!(error.setting(), Some(*setting), "{vars:?}");
        assert_eq!(error.to_string(), *message, "{vars:?}");
        // Debug is what `fn main() -> Result<(), vigil::InitError>` prints.
        assert_eq!(format!("{error:?}"), *message, "{vars:?}");
    }
}

#[test]
fn headers_parse_decode_and_per_signal_replaces_generic() {
    let generic = "OTEL_EXPORTER_OTLP_HEADERS";
    let metrics = "OTEL_EXPORTER_OTLP_METRICS_HEADERS";
    let pairs = |list: &[(&str, &str)]| -> Headers {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let cases: &[(Vars<'_>, Signal, Headers)] = &[
        (&[], Signal::Metrics, vec![]),
        (
            &[(generic, "api-key=secret")],
            Signal::Traces,
            pairs(&[("api-key", "secret")]),
        ),
        (
            &[(generic, " a = 1 , b=two%20words ,")],
            Signal::Metrics,
            pairs(&[("a", "1"), ("b", "two words")]),
        ),
        (
            &[(generic, "auth=Basic%20dXNlcjpwYXNz%3D%3D")],
            Signal::Metrics,
            pairs(&[("auth", "Basic dXNlcjpwYXNz==")]),
        ),
        (
            &[(generic, "token=a=b")],
            Signal::Metrics,
            pairs(&[("token", "a=b")]),
        ),
        (
            &[(generic, "a=1"), (metrics, "b=2")],
            Signal::Metrics,
            pairs(&[("b", "2")]),
        ),
        (
            &[(generic, "a=1"), (metrics, "b=2")],
            Signal::Traces,
            pairs(&[("a", "1")]),
        ),
    ];
    for (vars, signal, expected) in cases {
        let env = table(vars);
        assert_eq!(&headers(*signal, &env).unwrap(), expected, "{vars:?}");
    }
}

#[test]
fn malformed_headers_are_errors_that_hide_the_value() {
    let generic = "OTEL_EXPORTER_OTLP_HEADERS";
    let cases: &[(&str, &str)] = &[
        ("secretvalue", "entry 1 is not key=value"),
        ("=secret", "empty key"),
        ("key=%zzsecret", "invalid percent-encoding"),
        ("key=%C3secret", "not UTF-8"),
        ("bad key=secret", "not a valid HTTP header name"),
        ("key=", "empty value"),
        ("key=caf%C3%A9secret", "not visible ASCII"),
    ];
    for (raw, fragment) in cases {
        let env = table(&[(generic, raw)]);
        let error = headers(Signal::Metrics, &env).unwrap_err();
        assert_eq!(error.setting(), Some(generic));
        let message = error.to_string();
        assert!(message.contains(fragment), "{raw}: {message}");
        assert!(!message.contains("secret"), "{raw}: {message}");
    }
}

#[test]
fn timeouts_are_milliseconds_and_bad_values_fall_through() {
    let generic = "OTEL_EXPORTER_OTLP_TIMEOUT";
    let traces = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
    let cases: &[(Vars<'_>, Signal, Duration, usize)] = &[
        (&[], Signal::Traces, Duration::from_secs(10), 0),
        (
            &[(generic, "2500")],
            Signal::Traces,
            Duration::from_millis(2500),
            0,
        ),
        (
            &[(generic, "2500"), (traces, "700")],
            Signal::Traces,
            Duration::from_millis(700),
            0,
        ),
        (
            &[(generic, "2500"), (traces, "700")],
            Signal::Metrics,
            Duration::from_millis(2500),
            0,
        ),
        (
            &[(traces, "1.5")],
            Signal::Traces,
            Duration::from_secs(10),
            1,
        ),
        (
            &[(traces, "-5"), (generic, "300")],
            Signal::Traces,
            Duration::from_millis(300),
            1,
        ),
        (
            &[(generic, "0")],
            Signal::Traces,
            Duration::from_secs(10),
            1,
        ),
        (
            &[(generic, "10s")],
            Signal::Metrics,
            Duration::from_secs(10),
            1,
        ),
    ];
    for (vars, signal, expected, warning_count) in cases {
        let env = table(vars);
        let mut warnings = Vec::new();
        assert_eq!(timeout(*signal, &env, &mut warnings), *expected, "{vars:?}");
        assert_eq!(warnings.len(), *warning_count, "{vars:?}: {warnings:?}");
    }
}

#[test]
fn export_interval_follows_code_then_variable_then_sixty_seconds() {
    let cases: &[(Option<&str>, Option<Duration>, Duration, usize)] = &[
        (None, None, Duration::from_secs(60), 0),
        (Some("15000"), None, Duration::from_secs(15), 0),
        (
            Some("15000"),
            Some(Duration::from_secs(1)),
            Duration::from_secs(1),
            0,
        ),
        (
            Some("15000"),
            Some(Duration::ZERO),
            Duration::from_secs(15),
            0,
        ),
        (Some("soon"), None, Duration::from_secs(60), 1),
        (Some("0"), None, Duration::from_secs(60), 1),
    ];
    for (value, code, expected, warning_count) in cases {
        let env = table(
            &value
                .map(|v| vec![(METRIC_EXPORT_INTERVAL, v)])
                .unwrap_or_default(),
        );
        let mut warnings = Vec::new();
        assert_eq!(
            export_interval(&env, *code, &mut warnings),
            *expected,
            "{value:?}"
        );
        assert_eq!(warnings.len(), *warning_count, "{value:?}: {warnings:?}");
    }
}

#[test]
fn key_values_tolerate_empty_members_and_reject_broken_ones() {
    assert_eq!(
        parse_key_values("a=1,,b = x%2Cy ,c=").unwrap(),
        vec![
            ("a".into(), "1".into()),
            ("b".into(), "x,y".into()),
            ("c".into(), String::new())
        ]
    );
    assert_eq!(parse_key_values("").unwrap(), vec![]);
    assert!(parse_key_values("a=1,b").is_err());
    assert!(parse_key_values("a=1,=2").is_err());
    assert!(parse_key_values("a=%4").is_err());
}

#[test]
fn percent_decoding_is_strict() {
    assert_eq!(percent_decode("a%20b+c").unwrap(), "a b+c");
    assert_eq!(percent_decode("%C3%A9").unwrap(), "é");
    assert_eq!(percent_decode("100%25").unwrap(), "100%");
    assert!(percent_decode("%").is_err());
    assert!(percent_decode("%g0").is_err());
    assert!(percent_decode("%ff").is_err());
}
