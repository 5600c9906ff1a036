//! Who may drive this agent: the client certificate must chain to the client CA (checked
//! by rustls in the handshake) AND name the operator (checked here, per request). The
//! chart signs the agents' certificates with the same CA, and an agent's certificate sits
//! on every node: without the name check, one node's key would drive every agent.

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, DnsName, ServerName};
use tonic::{Request, Status};

/// A tonic interceptor that refuses (PermissionDenied) any request whose client
/// certificate does not carry `name` as a SAN DNS name.
#[derive(Clone, Debug)]
pub struct ClientIdentity {
    name: Option<Arc<DnsName<'static>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("--client-identity {0:?} is not a DNS name")]
pub struct InvalidIdentity(String);

impl ClientIdentity {
    /// Only clients whose certificate names `name`.
    pub fn require(name: &str) -> Result<Self, InvalidIdentity> {
        let dns = DnsName::try_from(name.to_owned()).map_err(|_| InvalidIdentity(name.into()))?;
        Ok(ClientIdentity {
            name: Some(Arc::new(dns)),
        })
    }

    /// Plaintext (`--insecure`): there is no certificate to check.
    pub fn anyone() -> Self {
        ClientIdentity { name: None }
    }

    /// Ok when `leaf` (DER) names the required identity.
    pub fn check_leaf(&self, leaf: Option<&CertificateDer<'_>>) -> Result<(), Status> {
        let Some(name) = &self.name else {
            return Ok(());
        };
        let expected = name.as_ref().as_ref();
        let refused = || {
            Status::permission_denied(format!(
                "the client certificate does not name {expected}: only the tracejob operator may drive this agent"
            ))
        };
        let leaf = leaf.ok_or_else(refused)?;
        let cert = webpki::EndEntityCert::try_from(leaf).map_err(|_| refused())?;
        cert.verify_is_valid_for_subject_name(&ServerName::DnsName(name.as_ref().clone()))
            .map_err(|_| refused())
    }
}

impl tonic::service::Interceptor for ClientIdentity {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        if self.name.is_some() {
            let certs = request.peer_certs();
            self.check_leaf(certs.as_ref().and_then(|c| c.first()))?;
        }
        Ok(request)
    }
}
