//! TLS for a gateway that faces a network rather than a proxy: `[server] tls_cert` and `tls_key`
//! name PEM files (the certificate chain, leaf first, and its private key). The files are read at
//! start and again on SIGHUP, so a renewed certificate (certbot, an internal CA) is taken without
//! a restart; connections open at the time keep the certificate they were made with, and a
//! reload that fails (a half-written file, a key that does not match) keeps the one in use and
//! says why in the log.
//!
//! HTTP/1.1 only (ALPN `http/1.1`), as served in the clear. The handshake must finish within
//! `header_read_timeout_secs`, like a request's head, so a client that opens a connection and
//! says nothing holds it no longer over TLS than without.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::state::StartError;

/// The certificate in use and where it came from.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    acceptor: RwLock<TlsAcceptor>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads `cert` and `key`; a clear error naming the file when either is wrong.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, StartError> {
        let acceptor = acceptor(cert, key).map_err(StartError::Config)?;
        Ok(Tls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            acceptor: RwLock::new(acceptor),
        })
    }

    /// For a new connection: the certificate loaded last.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the files again; on failure the certificate in use stays, and the reason is
    /// returned.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = acceptor(&self.cert, &self.key)?;
        *self
            .acceptor
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }
}

fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| format!("tls_cert {}: {error}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "tls_cert {}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)",
            cert.display()
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| format!("tls_key {}: {error}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS: {error}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|error| {
            format!(
                "tls_cert {} and tls_key {} do not make a certificate: {error}",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
