//! The real [`AgentPool`]: one gRPC channel per node's `tracejob-agent`, mutual TLS, and a
//! backoff after a node fails so a dead agent is not dialled on every reconcile.

mod backoff;
pub mod convert;
mod stream;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tracejob_api::TraceJobSpec;
use tracejob_proto::v1::agent_client::AgentClient;
use tracejob_proto::v1::{JobRef, ListJobsRequest, UpdateTargetsRequest};

use self::backoff::Backoff;
use super::{AgentError, AgentPool, ContainerTarget, JobId, NodeResult, ResultStream};

/// Where each node's agent listens.
#[derive(Clone, Debug)]
pub enum Addresses {
    /// `{node}` is replaced by the node's name, e.g. `https://{node}:7443`.
    Pattern(String),
    /// Exactly these nodes (tests; static setups).
    Fixed(BTreeMap<String, String>),
}

/// The operator's side of mutual TLS.
#[derive(Clone, Debug)]
pub struct ClientTls {
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// The name the agents' certificate carries, when it is not the address's host
    /// (one certificate shared by every agent, e.g. `tracejob-agent`).
    pub domain: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid agent address {address}: {source}")]
pub struct AddressError {
    address: String,
    source: tonic::transport::Error,
}

#[derive(Debug)]
pub struct GrpcAgents {
    addresses: Addresses,
    tls: Option<ClientTls>,
    timeout: Duration,
    channels: Mutex<BTreeMap<String, (Channel, Backoff)>>,
}

impl GrpcAgents {
    /// `tls: None` is plaintext, for agents started with `--insecure`.
    pub fn new(addresses: Addresses, tls: Option<ClientTls>) -> Self {
        GrpcAgents {
            addresses,
            tls,
            timeout: Duration::from_secs(10),
            channels: Mutex::new(BTreeMap::new()),
        }
    }

    fn address(&self, node: &str) -> Option<String> {
        match &self.addresses {
            Addresses::Pattern(pattern) => Some(pattern.replace("{node}", node)),
            Addresses::Fixed(nodes) => nodes.get(node).cloned(),
        }
    }

    fn endpoint(&self, address: &str) -> Result<Endpoint, AddressError> {
        let error = |source| AddressError {
            address: address.to_owned(),
            source,
        };
        let mut endpoint = Endpoint::from_shared(address.to_owned())
            .map_err(error)?
            .connect_timeout(Duration::from_secs(3))
            .timeout(self.timeout)
            .tcp_nodelay(true);
        if let Some(tls) = &self.tls {
            let mut config = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&tls.ca_pem))
                .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem));
            if let Some(domain) = &tls.domain {
                config = config.domain_name(domain.clone());
            }
            endpoint = endpoint.tls_config(config).map_err(error)?;
        }
        Ok(endpoint)
    }

    /// The node's client, unless the node is backing off after a failure. The channel
    /// connects lazily and reconnects by itself on the next call after a failure.
    fn client(&self, node: &str) -> Result<AgentClient<Channel>, AgentError> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((channel, backoff)) = channels.get(node) {
            if let Some(wait) = backoff.waiting() {
                return Err(AgentError::Unavailable {
                    node: node.to_owned(),
                    message: format!(
                        "{}; retrying in {} ms",
                        backoff.last_error(),
                        wait.as_millis()
                    ),
                });
            }
            return Ok(AgentClient::new(channel.clone()));
        }
        let address = self.address(node).ok_or_else(|| AgentError::NoAgent {
            node: node.to_owned(),
        })?;
        let channel = self
            .endpoint(&address)
            .map_err(|e| AgentError::Unavailable {
                node: node.to_owned(),
                message: e.to_string(),
            })?
            .connect_lazy();
        channels.insert(node.to_owned(), (channel.clone(), Backoff::default()));
        Ok(AgentClient::new(channel))
    }

    /// Records the outcome of a call for the node's backoff.
    fn outcome<T>(&self, node: &str, result: Result<T, tonic::Status>) -> Result<T, AgentError> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let backoff = channels.get_mut(node).map(|(_, b)| b);
        match result {
            Ok(value) => {
                if let Some(backoff) = backoff {
                    backoff.succeeded();
                }
                Ok(value)
            }
            Err(status) => {
                let error = convert::agent_error(node, &status);
                if let (AgentError::Unavailable { message, .. }, Some(backoff)) = (&error, backoff)
                {
                    backoff.failed(message);
                }
                Err(error)
            }
        }
    }
}

#[async_trait]
impl AgentPool for GrpcAgents {
    async fn start(
        &self,
        node: &str,
        job: &JobId,
        spec: &TraceJobSpec,
        targets: &[ContainerTarget],
    ) -> Result<(), AgentError> {
        let request =
            convert::start_request(job, spec, targets).map_err(|e| AgentError::Rejected {
                node: node.to_owned(),
                message: format!("spec.args cannot be encoded: {e}"),
            })?;
        let answer = self.client(node)?.start_job(request).await;
        let state = self.outcome(node, answer)?.into_inner();
        for target in state.targets.iter().filter(|t| !t.found) {
            tracing::warn!(%node, job = %job.name, container = %target.container_id, message = %target.message, "container not traced");
        }
        Ok(())
    }

    async fn update_targets(
        &self,
        node: &str,
        job: &JobId,
        targets: &[ContainerTarget],
    ) -> Result<(), AgentError> {
        let request = UpdateTargetsRequest {
            job: Some(job.into()),
            targets: convert::targets(targets),
        };
        let answer = self.client(node)?.update_targets(request).await;
        self.outcome(node, answer).map(|_| ())
    }

    async fn results(&self, node: &str, job: &JobId) -> Result<NodeResult, AgentError> {
        let request = ListJobsRequest {
            job_uid: job.uid.clone(),
        };
        let answer = self.client(node)?.list_jobs(request).await;
        let jobs = self.outcome(node, answer)?.into_inner().jobs;
        let state = jobs
            .into_iter()
            .next()
            .ok_or_else(|| AgentError::NotRunning {
                node: node.to_owned(),
            })?;
        Ok(convert::node_result(state))
    }

    async fn stop(&self, node: &str, job: &JobId) -> Result<NodeResult, AgentError> {
        let answer = self.client(node)?.stop_job(JobRef::from(job)).await;
        match self.outcome(node, answer) {
            Ok(state) => Ok(convert::node_result(state.into_inner())),
            Err(AgentError::NotRunning { .. }) => Ok(NodeResult::default()),
            Err(error) => Err(error),
        }
    }

    async fn forget(&self, node: &str, job: &JobId) -> Result<(), AgentError> {
        let answer = self.client(node)?.forget_job(JobRef::from(job)).await;
        self.outcome(node, answer).map(|_| ())
    }

    async fn stream_results(
        &self,
        node: &str,
        job: &JobId,
        from: u64,
    ) -> Result<ResultStream, AgentError> {
        self.stream(node, job, from).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_pattern_names_each_node_and_fixed_addresses_know_only_theirs() {
        let pattern = GrpcAgents::new(Addresses::Pattern("https://{node}:7443".into()), None);
        assert_eq!(pattern.address("n1").as_deref(), Some("https://n1:7443"));
        let fixed = GrpcAgents::new(
            Addresses::Fixed(BTreeMap::from([("n1".into(), "http://127.0.0.1:1".into())])),
            None,
        );
        assert_eq!(fixed.address("n2"), None);
        assert!(matches!(
            fixed.client("n2"),
            Err(AgentError::NoAgent { .. })
        ));
    }
}
