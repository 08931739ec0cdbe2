//! Optional TLS on a service's listener (rustls on ring), configured by file paths.
//!
//! Off by default: locally and behind a TLS-terminating proxy or mesh the services speak plain
//! HTTP. With `[http.tls] cert_file` and `key_file` set, the listener speaks only TLS 1.2/1.3.
//! The files are read at start; rotate a certificate by restarting (one instance at a time).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// The `[http.tls]` section.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM file with the server's certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

impl TlsSettings {
    /// The server configuration, or `None` when TLS is off; an error names the file at fault.
    pub fn server_config(&self) -> std::io::Result<Option<rustls::ServerConfig>> {
        let (cert_file, key_file) = match (&self.cert_file, &self.key_file) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => {
                return Err(invalid("http.tls.cert_file is set but key_file is not"));
            }
            (None, Some(_)) => {
                return Err(invalid("http.tls.key_file is set but cert_file is not"));
            }
        };
        let chain = CertificateDer::pem_file_iter(cert_file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|error| invalid(format!("reading {}: {error}", cert_file.display())))?;
        if chain.is_empty() {
            return Err(invalid(format!(
                "{} holds no PEM certificate",
                cert_file.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(key_file)
            .map_err(|error| invalid(format!("reading {}: {error}", key_file.display())))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| {
            invalid(format!(
                "{} and {} do not make a usable certificate: {error}",
                cert_file.display(),
                key_file.display()
            ))
        })?;
        Ok(Some(config))
    }
}

fn invalid(message: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message.into())
}
