//! Raw `tracejob.agent.v1` clients of an agent process over TLS, for tests that speak the
//! protocol directly rather than through the operator's pool.

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tracejob_proto::v1::agent_client::AgentClient;

use super::certs::{AGENT_NAME, Ca, Pem};
use super::process::AgentProcess;

/// TLS that trusts `server_ca` for the agents' name and presents `client`, if any.
pub fn tls(server_ca: &Ca, client: Option<&Pem>) -> ClientTlsConfig {
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(server_ca.pem()))
        .domain_name(AGENT_NAME);
    match client {
        Some(pem) => config.identity(Identity::from_pem(&pem.cert, &pem.key)),
        None => config,
    }
}

/// A connection to `agent` over `tls` (none: plaintext), or why there is none.
pub async fn connect(
    agent: &AgentProcess,
    tls: Option<ClientTlsConfig>,
) -> Result<AgentClient<Channel>, tonic::transport::Error> {
    let mut endpoint = Endpoint::from_shared(format!("https://127.0.0.1:{}", agent.port()))?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls)?;
    }
    Ok(AgentClient::new(endpoint.connect().await?))
}

/// What the operator is: a client with a client certificate from `ca`, connected.
pub async fn operator(ca: &Ca, agent: &AgentProcess) -> AgentClient<Channel> {
    connect(agent, Some(tls(ca, Some(&ca.client()))))
        .await
        .expect("connect as the operator")
}
