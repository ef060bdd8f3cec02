//! Test fixtures for the forwarding exporters: a throwaway PKI (a CA and a server certificate,
//! made with rcgen at test time) and a loopback upstream that serves an axum router (a tonic
//! service's or a plain HTTP one) over plaintext or TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The DNS name in the server certificate (besides the IP `127.0.0.1`).
pub(crate) const SERVER_NAME: &str = "vigil.test";

/// A CA and a server certificate it signed, for `vigil.test` and `127.0.0.1`, with the CA
/// certificate written to a file.
pub(crate) struct TestPki {
    /// The directory holding the files; removed on drop.
    pub(crate) dir: PathBuf,
    /// The CA certificate, PEM.
    pub(crate) ca_file: String,
    /// A client certificate signed by the CA and its key, PEM files (for mTLS).
    pub(crate) client_cert_file: String,
    pub(crate) client_key_file: String,
    /// The server certificate and its key, PEM files (for a TLS listener's `cert_file`/`key_file`).
    pub(crate) server_cert_file: String,
    pub(crate) server_key_file: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_pem: String,
}

impl TestPki {
    pub(crate) fn new() -> TestPki {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vigil-pki-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Vigil test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let server_params =
            CertificateParams::new(vec![SERVER_NAME.to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let client_params = CertificateParams::new(vec!["client.vigil.test".to_owned()]).unwrap();
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        };
        TestPki {
            ca_file: write("ca.pem", &ca_cert.pem()),
            client_cert_file: write("client.pem", &client_cert.pem()),
            client_key_file: write("client.key", &client_key.serialize_pem()),
            server_cert_file: write("server.pem", &server_cert.pem()),
            server_key_file: write("server.key", &server_key.serialize_pem()),
            dir: dir.clone(),
            server_chain: vec![server_cert.der().clone()],
            server_key_pem: server_key.serialize_pem(),
        }
    }

    /// A server configuration presenting the server certificate, offering h2 and http/1.1.
    pub(crate) fn server_config(&self) -> Arc<ServerConfig> {
        self.build_server_config(false)
    }

    /// [`TestPki::server_config`] that also demands a client certificate signed by the CA.
    pub(crate) fn server_config_requiring_client_cert(&self) -> Arc<ServerConfig> {
        self.build_server_config(true)
    }

    fn build_server_config(&self, mtls: bool) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).unwrap();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if mtls {
            let mut roots = rustls::RootCertStore::empty();
            let ca = std::fs::read(&self.ca_file).unwrap();
            for cert in CertificateDer::pem_slice_iter(&ca) {
                roots.add(cert.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(self.server_chain.clone(), key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Serves `router` on a loopback port (HTTP/1.1 and HTTP/2, TLS when `tls` is given) until the
/// test's runtime ends.
pub(crate) async fn serve(router: axum::Router, tls: Option<Arc<ServerConfig>>) -> SocketAddr {
    serve_at("127.0.0.1:0".parse().unwrap(), router, tls).await
}

/// [`serve`] on a given address (to come back on a port a sender already knows).
pub(crate) async fn serve_at(
    addr: SocketAddr,
    router: axum::Router,
    tls: Option<Arc<ServerConfig>>,
) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let service = TowerToHyperService::new(router.clone());
            let tls = tls.clone();
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                match tls {
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                    }
                    Some(config) => {
                        let Ok(stream) = TlsAcceptor::from(config).accept(tcp).await else {
                            return;
                        };
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        }
    });
    addr
}

/// An address where nothing listens (bound, then released).
pub(crate) async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}
