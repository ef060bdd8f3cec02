//! A throwaway certificate authority for the TLS tests: a CA, a server certificate for
//! `127.0.0.1` and `localhost`, and a client certificate for mutual TLS, written as PEM files
//! into a temporary directory that goes with the value.
//!
//! Shared by the test binaries that need it (`e2e`, `sdk_tls`) through `#[path] mod pki;` (a
//! subdirectory, so Cargo does not take it for a test target of its own).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The PEM files' paths, and the directory that holds them.
pub(crate) struct Pki {
    pub(crate) dir: vigil_tests::peers::TempDir,
    /// The CA certificate.
    pub(crate) ca: String,
    /// The server's certificate and key.
    pub(crate) cert: String,
    pub(crate) key: String,
    /// A client certificate and key signed by the same CA, for mutual TLS (`e2e` uses only
    /// the server's half).
    #[allow(dead_code)]
    pub(crate) client_cert: String,
    #[allow(dead_code)]
    pub(crate) client_key: String,
}

impl Pki {
    /// A new CA and its certificates, in a temporary directory named after `prefix`.
    pub(crate) fn new(prefix: &str) -> Pki {
        let dir = vigil_tests::peers::TempDir::new(prefix);
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: a leaf whose issuer name equals its own reads as self-signed.
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Vigil test CA");
        // Python's default TLS context (strict X.509 since 3.13) wants these on a CA.
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, common: &str, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("a key");
            let mut params = CertificateParams::new(names).expect("leaf params");
            params.distinguished_name.push(DnType::CommonName, common);
            params.use_authority_key_identifier_extension = true;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &issuer).expect("a certificate");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            "vigil test server",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(
            vec!["client.vigil.test".to_owned()],
            "vigil test client",
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write a PEM file");
            path.display().to_string()
        };
        Pki {
            ca: write("ca.pem", ca_cert.pem()),
            cert: write("server.pem", server_cert),
            key: write("server.key", server_key),
            client_cert: write("client.pem", client_cert),
            client_key: write("client.key", client_key),
            dir,
        }
    }
}
