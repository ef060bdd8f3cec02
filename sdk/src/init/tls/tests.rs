use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use super::*;
use crate::init::env::Protocol;

/// Environment variables of one table row.
type Vars<'a> = &'a [(&'a str, &'a str)];

fn table(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn endpoint(url: &str) -> Endpoint {
    let env = table(&[("OTEL_EXPORTER_OTLP_ENDPOINT", url)]);
    env::endpoint(Signal::Metrics, Protocol::Grpc, &env, None, &mut Vec::new()).unwrap()
}

/// A CA, a client certificate it signed and its key, as PEM files in a
/// fresh directory (removed on drop).
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new() -> Files {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vigil-sdk-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["client.test".to_string()])
            .unwrap()
            .signed_by(&client_key, &issuer)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("client.pem"), client.pem()).unwrap();
        std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn files_for_a_plaintext_endpoint_are_ignored_with_a_warning() {
    let env = table(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nowhere/ca.pem")]);
    let mut warnings = Vec::new();
    let tls = resolve(
        Signal::Metrics,
        &endpoint("http://collector:4317"),
        &CodeTls::default(),
        &env,
        &mut warnings,
    )
    .unwrap();
    assert!(tls.is_none());
    assert_eq!(
        warnings,
        [
            "OTEL_EXPORTER_OTLP_CERTIFICATE=/nowhere/ca.pem is ignored: the metrics endpoint \
          http://collector:4317 is plaintext; use https:// for TLS"
        ]
    );
}

#[test]
fn an_https_endpoint_without_files_trusts_the_system_roots() {
    let tls = resolve(
        Signal::Traces,
        &endpoint("https://collector:4317"),
        &CodeTls::default(),
        &table(&[]),
        &mut Vec::new(),
    )
    .unwrap()
    .unwrap();
    assert!(tls.ca.is_none() && tls.identity.is_none(), "{tls:?}");
}

#[test]
fn each_option_is_code_then_per_signal_then_generic() {
    // Missing files make the error name the setting that was chosen.
    let generic = ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nowhere/generic.pem");
    let metrics = (
        "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
        "/nowhere/metrics.pem",
    );
    let code = CodeTls {
        certificate: Some("/nowhere/code.pem".into()),
        ..CodeTls::default()
    };
    let https = endpoint("https://collector:4317");
    let cases: &[(Vars<'_>, &CodeTls, Signal, &str)] = &[
        (
            &[generic, metrics],
            &code,
            Signal::Metrics,
            "with_certificate",
        ),
        (
            &[generic, metrics],
            &CodeTls::default(),
            Signal::Metrics,
            "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
        ),
        (
            &[generic, metrics],
            &CodeTls::default(),
            Signal::Traces,
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        ),
    ];
    for (vars, code, signal, setting) in cases {
        let error = resolve(*signal, &https, code, &table(vars), &mut Vec::new()).unwrap_err();
        assert_eq!(error.setting(), Some(*setting), "{vars:?}");
        assert!(error.to_string().contains("cannot be read"), "{error}");
    }
}

#[test]
fn unusable_files_fail_build_naming_the_setting_and_the_path() {
    let files = Files::new();
    let https = endpoint("https://collector:4317");
    let ca = files.path("ca.pem");
    let cert = files.path("client.pem");
    let key = files.path("client.key");
    let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
        (
            vec![("OTEL_EXPORTER_OTLP_CERTIFICATE", key.as_str())],
            format!(
                "OTEL_EXPORTER_OTLP_CERTIFICATE={key} holds no PEM certificate \
                 (-----BEGIN CERTIFICATE-----)"
            ),
        ),
        (
            vec![("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert.as_str())],
            format!(
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE={cert} is a client certificate without \
                 a client key; mutual TLS needs both (OTEL_EXPORTER_OTLP_CLIENT_KEY or \
                 with_client_key)"
            ),
        ),
        (
            vec![("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", key.as_str())],
            format!(
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY={key} is a client key without a client \
                 certificate; mutual TLS needs both (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE or \
                 with_client_certificate)"
            ),
        ),
        (
            vec![
                ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert.as_str()),
                ("OTEL_EXPORTER_OTLP_CLIENT_KEY", ca.as_str()),
            ],
            format!(
                "OTEL_EXPORTER_OTLP_CLIENT_KEY={ca} holds no PEM private key \
                 (PKCS#8, PKCS#1 or SEC1)"
            ),
        ),
    ];
    for (vars, message) in cases {
        let error = resolve(
            Signal::Traces,
            &https,
            &CodeTls::default(),
            &table(&vars),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn a_custom_ca_and_a_client_identity_make_both_client_configurations() {
    let files = Files::new();
    let code = CodeTls {
        certificate: Some(files.dir.join("ca.pem")),
        client_certificate: Some(files.dir.join("client.pem")),
        client_key: Some(files.dir.join("client.key")),
    };
    let tls = resolve(
        Signal::Metrics,
        &endpoint("https://collector:4317"),
        &code,
        &table(&[]),
        &mut Vec::new(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        format!("{tls:?}"),
        "Tls { custom_ca: Some(1), client_identity: true }"
    );
    let config = tls.rustls().unwrap();
    assert!(config.client_auth_cert_resolver.has_certs());
    let _ = tls.tonic();
}
