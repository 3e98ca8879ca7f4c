//! TLS for HTTP/2 through tokio-rustls, with ALPN "h2" required (RFC 9113 §3.2).

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::error::Error;

/// The ALPN protocol id of HTTP/2 over TLS.
pub const ALPN_H2: &[u8] = b"h2";

/// Runs the client TLS handshake, offering only "h2", and fails unless the server chose it.
pub async fn connect(
    tcp: TcpStream,
    server_name: rustls_pki_types::ServerName<'static>,
    config: Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let config = if config.alpn_protocols == [ALPN_H2.to_vec()] {
        config
    } else {
        let mut config = (*config).clone();
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Arc::new(config)
    };
    let stream = TlsConnector::from(config)
        .connect(server_name, tcp)
        .await
        .map_err(|e| Error::Tls(e.to_string()))?;
    if stream.get_ref().1.alpn_protocol() != Some(ALPN_H2) {
        return Err(Error::Tls("server did not negotiate ALPN h2".into()));
    }
    Ok(stream)
}

/// Runs the server TLS handshake and fails unless the client negotiated "h2". The
/// acceptor's config should list "h2" in its ALPN protocols (see [`server_config`]).
pub async fn accept(
    tcp: TcpStream,
    acceptor: &TlsAcceptor,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, Error> {
    let stream = acceptor
        .accept(tcp)
        .await
        .map_err(|e| Error::Tls(e.to_string()))?;
    if stream.get_ref().1.alpn_protocol() != Some(ALPN_H2) {
        return Err(Error::Tls("client did not negotiate ALPN h2".into()));
    }
    Ok(stream)
}

/// A server TLS configuration for a certificate chain and key in PEM, offering ALPN "h2".
pub fn server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, Error> {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("certificate PEM: {e}")))?;
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| Error::Tls(format!("private key PEM: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// A client TLS configuration trusting the CA certificates in `ca_pem`, offering ALPN "h2".
pub fn client_config(ca_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, Error> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| Error::Tls(format!("CA PEM: {e}")))?;
        roots.add(cert).map_err(|e| Error::Tls(e.to_string()))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}
