//! TLS for the OTLP exporters: which files to trust and present, read from
//! the builder or the [OTLP exporter variables](https://opentelemetry.io/docs/specs/otel/protocol/exporter/#configuration-options),
//! checked at start-up, and turned into a tonic (gRPC) or rustls (HTTP)
//! client configuration.
//!
//! - "Certificate File" (`OTEL_EXPORTER_OTLP[_<SIGNAL>]_CERTIFICATE`,
//!   [`Builder::with_certificate`](super::Builder::with_certificate)): the
//!   CA certificate(s) trusted for the server, *instead of* the system's
//!   roots, as the Go and Java SDKs do ("the trusted certificate to use when
//!   verifying a server's TLS credentials"). Without it, the system's roots.
//! - "Client certificate file" and "Client key file" (`…_CLIENT_CERTIFICATE`,
//!   `…_CLIENT_KEY`, `with_client_certificate`, `with_client_key`): the
//!   identity presented for mutual TLS; one without the other is an error.
//!
//! Each option is resolved on its own: code, then the per-signal variable,
//! then the generic one. The files are read and parsed when `build()` runs,
//! so a wrong path or a PEM file of the wrong kind fails start-up, naming the
//! setting and the path, instead of failing every export. Files set for a
//! plaintext (`http://`) endpoint are ignored with a warning.
//!
//! Crypto provider: rustls needs one. The HTTP configuration names `ring`
//! explicitly; tonic uses the process-wide default when an application
//! installed one and `ring` otherwise. So Vigil installs no process-wide
//! provider and cannot conflict with one the application installs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::InitError;
use super::env::{self, Endpoint, Lookup, Signal, TlsOption};

/// TLS files set in code, for both signals.
#[derive(Clone, Debug, Default)]
pub(crate) struct CodeTls {
    /// `with_certificate`.
    pub(crate) certificate: Option<PathBuf>,
    /// `with_client_certificate`.
    pub(crate) client_certificate: Option<PathBuf>,
    /// `with_client_key`.
    pub(crate) client_key: Option<PathBuf>,
}

/// One signal's TLS settings, read and checked.
#[derive(Default)]
pub(crate) struct Tls {
    /// Trusted CA certificates (PEM, and parsed); `None` for the system's roots.
    ca: Option<(Vec<u8>, Vec<CertificateDer<'static>>)>,
    /// Client identity for mTLS.
    identity: Option<ClientIdentity>,
}

struct ClientIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Tls {
    // Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("custom_ca", &self.ca.as_ref().map(|(_, certs)| certs.len()))
            .field("client_identity", &self.identity.is_some())
            .finish()
    }
}

/// A file setting: where it was set and the path.
struct FileSetting {
    setting: &'static str,
    path: String,
}

fn pick(
    signal: Signal,
    option: TlsOption,
    code: Option<&Path>,
    code_setting: &'static str,
    lookup: Lookup<'_>,
) -> Option<FileSetting> {
    match code {
        Some(path) => Some(FileSetting {
            setting: code_setting,
            path: path.display().to_string(),
        }),
        None => env::tls_file(signal, option, lookup)
            .map(|(setting, path)| FileSetting { setting, path }),
    }
}

/// The TLS settings of one signal exporting to `endpoint`: `None` for a
/// plaintext endpoint (with a warning if files were set anyway).
pub(crate) fn resolve(
    signal: Signal,
    endpoint: &Endpoint,
    code: &CodeTls,
    lookup: Lookup<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<Tls>, InitError> {
    let ca = pick(
        signal,
        TlsOption::Certificate,
        code.certificate.as_deref(),
        "with_certificate",
        lookup,
    );
    let cert = pick(
        signal,
        TlsOption::ClientCertificate,
        code.client_certificate.as_deref(),
        "with_client_certificate",
        lookup,
    );
    let key = pick(
        signal,
        TlsOption::ClientKey,
        code.client_key.as_deref(),
        "with_client_key",
        lookup,
    );

    if !endpoint.is_https() {
        for file in [&ca, &cert, &key].into_iter().flatten() {
            warnings.push(format!(
                "{}={} is ignored: the {} endpoint {} is plaintext; use https:// for TLS",
                file.setting,
                file.path,
                signal.name(),
                endpoint.url
            ));
        }
        return Ok(None);
    }

    let ca = match ca {
        Some(file) => {
            let pem = read(&file)?;
            Some((pem.clone(), certificates(&file, &pem)?))
        }
        None => None,
    };
    let identity = match (cert, key) {
        (None, None) => None,
        (Some(file), None) => {
            return Err(InitError::tls_file(
                file.setting,
                &file.path,
                "is a client certificate without a client key; mutual TLS needs both \
                 (OTEL_EXPORTER_OTLP_CLIENT_KEY or with_client_key)",
                None,
            ));
        }
        (None, Some(file)) => {
            return Err(InitError::tls_file(
                file.setting,
                &file.path,
                "is a client key without a client certificate; mutual TLS needs both \
                 (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE or with_client_certificate)",
                None,
            ));
        }
        (Some(cert), Some(key)) => {
            let cert_pem = read(&cert)?;
            let key_pem = read(&key)?;
            let chain = certificates(&cert, &cert_pem)?;
            let parsed = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
                InitError::tls_file(
                    key.setting,
                    &key.path,
                    "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                    None,
                )
            })?;
            Some(ClientIdentity {
                cert_pem,
                key_pem,
                chain,
                key: parsed,
            })
        }
    };
    Ok(Some(Tls { ca, identity }))
}

fn read(file: &FileSetting) -> Result<Vec<u8>, InitError> {
    std::fs::read(&file.path).map_err(|error| {
        InitError::tls_file(file.setting, &file.path, "cannot be read", Some(error))
    })
}

fn certificates(file: &FileSetting, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, InitError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(InitError::tls_file(
            file.setting,
            &file.path,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            None,
        )),
        Err(error) => Err(InitError::tls_file(
            file.setting,
            &file.path,
            format!("is not valid PEM: {error}"),
            None,
        )),
    }
}

// === impl Tls ===

impl Tls {
    /// The gRPC exporter's TLS configuration.
    pub(crate) fn tonic(&self) -> ClientTlsConfig {
        let config = match &self.ca {
            Some((pem, _)) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
            None => ClientTlsConfig::new().with_native_roots(),
        };
        match &self.identity {
            Some(identity) => {
                config.identity(Identity::from_pem(&identity.cert_pem, &identity.key_pem))
            }
            None => config,
        }
    }

    /// The OTLP/HTTP client's TLS configuration, with the `ring` provider.
    pub(crate) fn rustls(&self) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca {
            Some((_, certs)) => {
                for cert in certs {
                    roots.add(cert.clone()).map_err(|e| {
                        format!("the trusted certificate is not a usable CA certificate: {e}")
                    })?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
                if roots.is_empty() {
                    return Err("no trusted root certificates found in the system's store; \
                                set OTEL_EXPORTER_OTLP_CERTIFICATE (or with_certificate) to a CA file"
                        .to_string());
                }
            }
        }
        let builder = builder.with_root_certificates(roots);
        match &self.identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|e| format!("the client certificate and key do not fit: {e}")),
            None => Ok(builder.with_no_client_auth()),
        }
    }
}

#[cfg(test)]
mod tests;
