//! Client TLS for the forwarding exporters: the OpenTelemetry Collector's `tls` keys
//! (`configtls.ClientConfig`), validated into a rustls [`ClientConfig`].
//!
//! By default the upstream's certificate is verified against the system's roots (read with
//! `rustls-native-certs`; the bundled Mozilla roots of `webpki-roots` when the system has none).
//! `ca_file`/`ca_pem` replaces them (or adds to them with `include_system_ca_certs_pool`),
//! `cert_file`+`key_file` present a client certificate (mTLS), and `insecure_skip_verify` stops
//! checking the chain and the name, though the handshake's signatures are still verified
//! against the presented certificate. Crypto is rustls' `ring` provider; TLS 1.0 and 1.1 are not
//! available. See
//! <https://github.com/open-telemetry/opentelemetry-collector/blob/main/config/configtls/README.md>.
//!
//! Deliberately not here: reloading certificates (`reload_interval`), cipher suite and curve
//! choices, TPM keys: those keys are refused as unknown.

use std::fs;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

/// The `tls` keys as written. Empty strings mean unset, as in the Collector.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// No TLS at all (plaintext). For gRPC it applies to an endpoint without scheme (an
    /// `https://` endpoint always uses TLS) and, as in the Collector, is ignored when a CA is
    /// set; for HTTP the URL's scheme decides and this key is not used.
    #[serde(default)]
    pub insecure: bool,
    /// Use TLS but do not verify the upstream's certificate chain or name.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// PEM file of the CA certificates that verify the upstream (instead of the system's).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The same as `ca_file`, inline.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// Also trust the system's roots when `ca_file`/`ca_pem` is set.
    #[serde(default)]
    pub include_system_ca_certs_pool: bool,
    /// PEM file of the client certificate chain, for mTLS; needs `key_file`.
    #[serde(default)]
    pub cert_file: Option<String>,
    /// The same as `cert_file`, inline.
    #[serde(default)]
    pub cert_pem: Option<String>,
    /// PEM file of the client certificate's private key; needs `cert_file`.
    #[serde(default)]
    pub key_file: Option<String>,
    /// The same as `key_file`, inline.
    #[serde(default)]
    pub key_pem: Option<String>,
    /// The name the upstream's certificate must carry (and, for gRPC, the SNI and `:authority`),
    /// instead of the endpoint's host.
    #[serde(default)]
    pub server_name_override: Option<String>,
    /// The oldest TLS version accepted: `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: Option<String>,
    /// The newest TLS version offered: `"1.2"` or `"1.3"` (default).
    #[serde(default)]
    pub max_version: Option<String>,
}

/// Which application protocol the connection is for (TLS ALPN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alpn {
    /// `h2`, for gRPC.
    H2,
    /// `http/1.1`, for OTLP/HTTP.
    Http11,
}

/// Validated `tls`: a ready rustls configuration plus the choices made outside it.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// Plaintext was asked for (`insecure: true` and no CA, the Collector's reading).
    pub insecure: bool,
    /// `server_name_override`, checked as a DNS name or IP address. The client configuration
    /// already verifies certificates against it; a gRPC connection also sends it as SNI.
    pub server_name_override: Option<ServerName<'static>>,
    /// The client configuration, with ALPN set for the protocol asked for.
    pub client_config: Arc<ClientConfig>,
}

impl TlsConfig {
    /// Reads the files and builds the client configuration. Errors start with `tls.<key>` and
    /// name the file involved.
    pub fn validate(&self, alpn: Alpn) -> Result<TlsSettings, String> {
        let versions = self.versions()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = pem_source("ca", self.ca_file.as_deref(), self.ca_pem.as_deref())?;
        let cert = pem_source("cert", self.cert_file.as_deref(), self.cert_pem.as_deref())?;
        let key = pem_source("key", self.key_file.as_deref(), self.key_pem.as_deref())?;
        let server_name_override = match set(self.server_name_override.as_deref()) {
            None => None,
            Some(name) => Some(ServerName::try_from(name.to_owned()).map_err(|_| {
                format!("tls.server_name_override: {name:?} is not a host name or IP address")
            })?),
        };

        let verifier: Arc<dyn ServerCertVerifier> = if self.insecure_skip_verify {
            Arc::new(NoChainVerification(
                provider.signature_verification_algorithms,
            ))
        } else {
            let roots = self.roots(ca.as_ref())?;
            // `server_name_override` needs nothing here: the connector hands it to rustls as
            // the server name, which is both the SNI and the name the certificate is checked
            // against.
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("tls.ca_file: cannot use the CA certificates: {e}"))?
        };

        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| format!("tls.min_version: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match (cert, key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_slice_iter(&cert.bytes)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{}: {} is not PEM: {e}", cert.key, cert.origin))?;
                if chain.is_empty() {
                    return Err(format!(
                        "{}: {} holds no certificate",
                        cert.key, cert.origin
                    ));
                }
                let private = PrivateKeyDer::from_pem_slice(&key.bytes).map_err(|e| {
                    format!(
                        "{}: {} holds no usable private key: {e}",
                        key.key, key.origin
                    )
                })?;
                builder.with_client_auth_cert(chain, private).map_err(|e| {
                    format!(
                        "{}: {} does not go with {}: {e}",
                        key.key, key.origin, cert.origin
                    )
                })?
            }
            (Some(cert), None) => {
                return Err(format!("{}: set without tls.key_file", cert.key));
            }
            (None, Some(key)) => {
                return Err(format!("{}: set without tls.cert_file", key.key));
            }
        };
        config.alpn_protocols = vec![match alpn {
            Alpn::H2 => b"h2".to_vec(),
            Alpn::Http11 => b"http/1.1".to_vec(),
        }];
        Ok(TlsSettings {
            insecure: self.insecure && ca.is_none(),
            server_name_override,
            client_config: Arc::new(config),
        })
    }

    fn versions(&self) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
        let min = version("min_version", self.min_version.as_deref())?.unwrap_or(12);
        let max = version("max_version", self.max_version.as_deref())?.unwrap_or(13);
        if min > max {
            return Err(format!(
                "tls.min_version: 1.{} is newer than tls.max_version 1.{}",
                min - 10,
                max - 10
            ));
        }
        let mut versions = Vec::new();
        if max >= 13 {
            versions.push(&rustls::version::TLS13);
        }
        if min <= 12 {
            versions.push(&rustls::version::TLS12);
        }
        Ok(versions)
    }

    fn roots(&self, ca: Option<&Pem>) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        if let Some(ca) = ca {
            let certs = CertificateDer::pem_slice_iter(&ca.bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: {} is not PEM: {e}", ca.key, ca.origin))?;
            if certs.is_empty() {
                return Err(format!("{}: {} holds no certificate", ca.key, ca.origin));
            }
            for c in certs {
                roots.add(c).map_err(|e| {
                    format!(
                        "{}: {} holds a certificate that cannot be a root: {e}",
                        ca.key, ca.origin
                    )
                })?;
            }
            if !self.include_system_ca_certs_pool {
                return Ok(roots);
            }
        }
        add_system_roots(&mut roots);
        Ok(roots)
    }
}

/// The system's roots, or the bundled Mozilla roots where the system has none (a scratch
/// container without `ca-certificates`). Unreadable system certificates are skipped.
fn add_system_roots(roots: &mut RootCertStore) {
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
}

fn set(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// PEM text from `<what>_file` or `<what>_pem`.
struct Pem {
    /// The key it came from, `tls.ca_file`.
    key: String,
    /// The path, or "the inline PEM".
    origin: String,
    bytes: Vec<u8>,
}

fn pem_source(what: &str, file: Option<&str>, pem: Option<&str>) -> Result<Option<Pem>, String> {
    match (set(file), set(pem)) {
        (Some(_), Some(_)) => Err(format!(
            "tls.{what}_file: set together with tls.{what}_pem; use one"
        )),
        (Some(path), None) => {
            let key = format!("tls.{what}_file");
            let bytes = fs::read(path).map_err(|e| format!("{key}: cannot read {path}: {e}"))?;
            Ok(Some(Pem {
                key,
                origin: path.to_owned(),
                bytes,
            }))
        }
        (None, Some(text)) => Ok(Some(Pem {
            key: format!("tls.{what}_pem"),
            origin: "the inline PEM".to_owned(),
            bytes: text.as_bytes().to_vec(),
        })),
        (None, None) => Ok(None),
    }
}

/// `"1.2"` → 12, `"1.3"` → 13; unset → `None`.
pub(crate) fn version(key: &str, value: Option<&str>) -> Result<Option<u8>, String> {
    match set(value).map(str::trim) {
        None => Ok(None),
        Some("1.2") => Ok(Some(12)),
        Some("1.3") => Ok(Some(13)),
        Some(v @ ("1.0" | "1.1")) => Err(format!(
            "tls.{key}: TLS {v} is not supported (only 1.2 and 1.3; older versions are insecure)"
        )),
        Some(v) => Err(format!(
            "tls.{key}: {v:?} is not a TLS version (expected \"1.2\" or \"1.3\")"
        )),
    }
}

// === impl NoChainVerification ===

/// `insecure_skip_verify`: any certificate is accepted (no chain, name or expiry check), but
/// the handshake signature must still be a valid signature by that certificate's key, so the
/// certificate must at least parse and the peer must hold its key.
#[derive(Debug)]
struct NoChainVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoChainVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporters::common::testing::TestPki;

    fn tls(yaml: &str) -> Result<TlsSettings, String> {
        serde_yaml::from_str::<TlsConfig>(yaml)
            .map_err(|e| e.to_string())?
            .validate(Alpn::H2)
    }

    #[test]
    fn defaults_to_verified_tls_with_system_roots() {
        let s = tls("{}").unwrap();
        assert!(!s.insecure);
        assert_eq!(s.server_name_override, None);
        assert_eq!(s.client_config.alpn_protocols, vec![b"h2".to_vec()]);
        let http = TlsConfig::default().validate(Alpn::Http11).unwrap();
        assert_eq!(
            http.client_config.alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn parses_every_key() {
        let pki = TestPki::new();
        let s = tls(&format!(
            "insecure: false\ninsecure_skip_verify: false\nca_file: {}\ninclude_system_ca_certs_pool: true\ncert_file: {}\nkey_file: {}\nserver_name_override: vigil.test\nmin_version: \"1.3\"\nmax_version: \"1.3\"",
            pki.ca_file, pki.client_cert_file, pki.client_key_file
        ))
        .unwrap();
        assert!(s.client_config.client_auth_cert_resolver.has_certs());
        assert_eq!(
            s.server_name_override,
            Some(ServerName::try_from("vigil.test").unwrap())
        );
        let ca = std::fs::read_to_string(&pki.ca_file).unwrap();
        let inline = TlsConfig {
            ca_pem: Some(ca),
            ..TlsConfig::default()
        };
        assert!(inline.validate(Alpn::H2).is_ok());
    }

    #[test]
    fn insecure_means_plaintext_unless_a_ca_is_set() {
        assert!(tls("insecure: true").unwrap().insecure);
        let pki = TestPki::new();
        let with_ca = tls(&format!("insecure: true\nca_file: {}", pki.ca_file)).unwrap();
        assert!(!with_ca.insecure);
    }

    #[test]
    fn names_the_key_and_the_path_of_an_unreadable_file() {
        let err = tls("ca_file: /nonexistent/ca.pem").unwrap_err();
        assert!(
            err.starts_with("tls.ca_file: cannot read /nonexistent/ca.pem: "),
            "{err}"
        );
        let pki = TestPki::new();
        let err = tls(&format!("ca_file: {}", pki.client_key_file)).unwrap_err();
        assert!(err.starts_with("tls.ca_file: "), "{err}");
    }

    #[test]
    fn refuses_bad_values_naming_the_key() {
        let pki = TestPki::new();
        for (yaml, key) in [
            (
                format!("cert_file: {}", pki.client_cert_file),
                "tls.cert_file",
            ),
            (format!("key_file: {}", pki.client_key_file), "tls.key_file"),
            (
                format!(
                    "cert_file: {}\nkey_file: {}",
                    pki.client_cert_file, pki.ca_file
                ),
                "tls.key_file",
            ),
            ("min_version: \"1.1\"".to_owned(), "tls.min_version"),
            ("min_version: \"2.0\"".to_owned(), "tls.min_version"),
            ("max_version: \"1.0\"".to_owned(), "tls.max_version"),
            (
                "min_version: \"1.3\"\nmax_version: \"1.2\"".to_owned(),
                "tls.min_version",
            ),
            (
                "server_name_override: \"not a name\"".to_owned(),
                "tls.server_name_override",
            ),
            ("ca_file: a\nca_pem: b".to_owned(), "tls.ca_file"),
        ] {
            let err = tls(&yaml).unwrap_err();
            assert!(err.starts_with(key), "{yaml}: {err}");
        }
    }

    #[test]
    fn refuses_unknown_keys() {
        let err = tls("reload_interval: 1h").unwrap_err();
        assert!(err.contains("unknown field `reload_interval`"), "{err}");
    }
}
