//! TLS for the listeners: `tls: {cert_file, key_file, client_ca_file, min_version,
//! max_version, reload_interval}` under a receiver protocol, as the OpenTelemetry Collector's
//! server TLS settings spell them.
//!
//! The files are read when the configuration is validated (so `vigil-collector validate` catches
//! a missing or malformed one) and again when the collector starts. While it runs, the files'
//! modification times are checked at most every `reload_interval` (default 1m) as connections
//! arrive; when one changed the certificate is loaded anew, and a file that does not load keeps
//! the previous certificate in use, with a warning. With `client_ca_file`, clients must present
//! a certificate signed by one of those CAs (mutual TLS).

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::config::{GoDuration, parse_duration};
use crate::exporters::common::tls::version;

/// The `tls` keys of a listener, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// The server's certificate chain, PEM (required).
    #[serde(default)]
    pub cert_file: Option<String>,
    /// Its private key, PEM (required).
    #[serde(default)]
    pub key_file: Option<String>,
    /// CAs whose client certificates are required (mutual TLS).
    #[serde(default)]
    pub client_ca_file: Option<String>,
    /// `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: Option<String>,
    /// `"1.3"` (default) or `"1.2"`.
    #[serde(default)]
    pub max_version: Option<String>,
    /// How often the files are checked for a change (default `1m`).
    #[serde(default)]
    pub reload_interval: Option<GoDuration>,
}

/// Validated `tls` of a listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTlsSettings {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    min: u8,
    max: u8,
    reload_interval: Duration,
}

const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

impl ServerTlsConfig {
    /// Checks the keys and loads the files once. Errors start with `tls.<key>`.
    pub fn validate(&self) -> Result<ServerTlsSettings, String> {
        let path = |key: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .ok_or_else(|| format!("tls.{key}: required for a TLS listener"))
        };
        let min = version("min_version", self.min_version.as_deref())?.unwrap_or(12);
        let max = version("max_version", self.max_version.as_deref())?.unwrap_or(13);
        if min > max {
            return Err(format!(
                "tls.min_version: 1.{} is newer than tls.max_version 1.{}",
                min - 10,
                max - 10
            ));
        }
        let reload_interval = match &self.reload_interval {
            None => DEFAULT_RELOAD_INTERVAL,
            Some(d) => parse_duration(&d.0).map_err(|e| format!("tls.reload_interval: {e}"))?,
        };
        let settings = ServerTlsSettings {
            cert: path("cert_file", &self.cert_file)?,
            key: path("key_file", &self.key_file)?,
            client_ca: self
                .client_ca_file
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            min,
            max,
            reload_interval,
        };
        settings.load(&[])?;
        Ok(settings)
    }
}

impl ServerTlsSettings {
    /// A rustls server configuration from the files, offering `alpn`.
    fn load(&self, alpn: &[&[u8]]) -> Result<ServerConfig, String> {
        let read = |key: &str, path: &PathBuf| {
            fs::read(path).map_err(|e| format!("tls.{key}: cannot read {}: {e}", path.display()))
        };
        let cert_pem = read("cert_file", &self.cert)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("tls.cert_file: {} is not PEM: {e}", self.cert.display()))?;
        if chain.is_empty() {
            return Err(format!(
                "tls.cert_file: {} holds no certificate",
                self.cert.display()
            ));
        }
        let key_pem = read("key_file", &self.key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            format!(
                "tls.key_file: {} holds no private key: {e}",
                self.key.display()
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut versions = Vec::new();
        if self.max >= 13 {
            versions.push(&rustls::version::TLS13);
        }
        if self.min <= 12 {
            versions.push(&rustls::version::TLS12);
        }
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("tls.min_version: {e}"))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let pem = read("client_ca_file", path)?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| {
                        format!("tls.client_ca_file: {} is not PEM: {e}", path.display())
                    })?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("tls.client_ca_file: {}: {e}", path.display()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| format!("tls.client_ca_file: {}: {e}", path.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            format!(
                "tls.key_file: {} does not match the certificate: {e}",
                self.key.display()
            )
        })?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    fn modified(&self) -> Vec<Option<SystemTime>> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }
}

/// A listener's TLS, reloaded when its files change.
pub struct ServerTls {
    settings: ServerTlsSettings,
    alpn: Vec<&'static [u8]>,
    state: Mutex<State>,
}

struct State {
    config: Arc<ServerConfig>,
    modified: Vec<Option<SystemTime>>,
    checked: Instant,
}

impl ServerTls {
    /// Loads the files, offering `alpn` (`h2` for gRPC; `h2` and `http/1.1` for HTTP).
    pub fn new(settings: &ServerTlsSettings, alpn: &[&'static [u8]]) -> Result<ServerTls, String> {
        let config = settings.load(alpn)?;
        Ok(ServerTls {
            settings: settings.clone(),
            alpn: alpn.to_vec(),
            state: Mutex::new(State {
                config: Arc::new(config),
                modified: settings.modified(),
                checked: Instant::now(),
            }),
        })
    }

    /// The configuration for a new connection, reloaded first if a file changed.
    pub fn current(&self) -> Arc<ServerConfig> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.checked.elapsed() >= self.settings.reload_interval {
            state.checked = Instant::now();
            let modified = self.settings.modified();
            if modified != state.modified {
                state.modified = modified;
                match self.settings.load(&self.alpn) {
                    Ok(config) => {
                        tracing::info!(cert = %self.settings.cert.display(), "TLS certificate reloaded");
                        state.config = Arc::new(config);
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        "TLS files changed but do not load; the previous certificate stays in use"
                    ),
                }
            }
        }
        state.config.clone()
    }
}
