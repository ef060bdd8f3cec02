//! A CA, a server certificate for `127.0.0.1` and a client certificate it
//! signed, made at test time and written as PEM files to a fresh directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) ca_pem: String,
    pub(crate) server_pem: String,
    pub(crate) server_key_pem: String,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vigil-sdk-e2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("test PKI");

        let ca_key = KeyPair::generate().expect("test PKI");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("test PKI");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Vigil SDK test CA");
        let ca = ca_params.self_signed(&ca_key).expect("test PKI");
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("test PKI");
        let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("test PKI")
            .signed_by(&server_key, &issuer)
            .expect("test PKI");
        let client_key = KeyPair::generate().expect("test PKI");
        let client = CertificateParams::new(vec!["client.vigil.test".to_string()])
            .expect("test PKI")
            .signed_by(&client_key, &issuer)
            .expect("test PKI");

        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("test PKI");
        std::fs::write(dir.join("client.pem"), client.pem()).expect("test PKI");
        std::fs::write(dir.join("client.key"), client_key.serialize_pem()).expect("test PKI");
        Pki {
            dir,
            ca_pem: ca.pem(),
            server_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }

    pub(crate) fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub(crate) fn client_cert_file(&self) -> PathBuf {
        self.dir.join("client.pem")
    }

    pub(crate) fn client_key_file(&self) -> PathBuf {
        self.dir.join("client.key")
    }

    /// A rustls server configuration (ring) offering `alpn`, demanding a
    /// client certificate signed by the CA when `mtls`.
    pub(crate) fn rustls_server(&self, mtls: bool, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("test PKI");
        let builder = if mtls {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
                roots.add(cert.expect("test PKI")).expect("test PKI");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("test PKI");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let chain = CertificateDer::pem_slice_iter(self.server_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("test PKI");
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).expect("test PKI");
        let mut config = builder.with_single_cert(chain, key).expect("test PKI");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
