//! The server side of mutual TLS: the agent's certificate and key, and the CA whose
//! signature a client certificate must carry (clients without one fail the handshake).

use std::path::Path;

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

#[derive(Debug, thiserror::Error)]
#[error("cannot read {what} {path}: {source}")]
pub struct TlsError {
    what: &'static str,
    path: String,
    source: std::io::Error,
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError {
        what,
        path: path.display().to_string(),
        source,
    })
}

pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
) -> Result<ServerTlsConfig, TlsError> {
    let identity = Identity::from_pem(read("certificate", cert)?, read("key", key)?);
    Ok(ServerTlsConfig::new()
        .identity(identity)
        .client_ca_root(Certificate::from_pem(read("client CA", client_ca)?))
        .client_auth_optional(false))
}
