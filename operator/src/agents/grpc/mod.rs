//! The real [`AgentPool`]: one gRPC channel per node's `tracejob-agent`, mutual TLS, and a
//! backoff after a node fails so a dead agent is not dialled on every reconcile.

mod backoff;
pub mod convert;
pub mod node_ip;
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
use self::node_ip::NodeIps;
use super::{AgentError, AgentPool, ContainerTarget, JobId, NodeResult, ResultStream};

/// Where each node's agent listens.
#[derive(Clone, Debug)]
pub enum Addresses {
    /// `{node}` is replaced by the node's name, e.g. `https://{node}:7443`, and `{node_ip}`
    /// by its InternalIP (needs [`GrpcAgents::with_node_ips`]).
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
    node_ips: Option<NodeIps>,
    /// Per node: the address dialled, its channel, and the node's backoff.
    channels: Mutex<BTreeMap<String, (String, Channel, Backoff)>>,
}

impl GrpcAgents {
    /// `tls: None` is plaintext, for agents started with `--insecure`.
    pub fn new(addresses: Addresses, tls: Option<ClientTls>) -> Self {
        GrpcAgents {
            addresses,
            tls,
            timeout: Duration::from_secs(10),
            node_ips: None,
            channels: Mutex::new(BTreeMap::new()),
        }
    }

    /// Resolves `{node_ip}` from `nodes` (the controller's Node cache), or through the API
    /// with this client for a node the cache does not hold (yet).
    pub fn with_node_ips(
        mut self,
        client: kube::Client,
        nodes: Option<kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Node>>,
    ) -> Self {
        self.node_ips = Some(NodeIps::new(client, nodes));
        self
    }

    fn uses_node_ip(&self) -> bool {
        matches!(&self.addresses, Addresses::Pattern(p) if p.contains(node_ip::NODE_IP))
    }

    async fn address(&self, node: &str) -> Result<String, AgentError> {
        let pattern = match &self.addresses {
            Addresses::Pattern(pattern) => pattern,
            Addresses::Fixed(nodes) => {
                return nodes.get(node).cloned().ok_or_else(|| AgentError::NoAgent {
                    node: node.to_owned(),
                });
            }
        };
        if !self.uses_node_ip() {
            return Ok(node_ip::fill(pattern, node, None));
        }
        let Some(ips) = &self.node_ips else {
            return Err(AgentError::Unavailable {
                node: node.to_owned(),
                message: format!("the agent address {pattern} needs node addresses from the API"),
            });
        };
        let ip = ips
            .get(node)
            .await
            .map_err(|message| AgentError::Unavailable {
                node: node.to_owned(),
                message,
            })?;
        Ok(node_ip::fill(pattern, node, Some(&ip)))
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

    /// How long calls to `node` still fail fast after a failure (None: they go through).
    pub fn retry_after(&self, node: &str) -> Option<Duration> {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .get(node)
            .and_then(|(_, _, backoff)| backoff.waiting())
    }

    /// The node's client, unless the node is backing off after a failure. The channel
    /// connects lazily and reconnects by itself on the next call after a failure; with
    /// `{node_ip}`, a failure also makes the next call look the address up again.
    async fn client(&self, node: &str) -> Result<AgentClient<Channel>, AgentError> {
        let known = {
            let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            match channels.get(node) {
                Some((_, _, backoff)) if backoff.waiting().is_some() => {
                    let wait = backoff.waiting().unwrap_or_default();
                    return Err(AgentError::Unavailable {
                        node: node.to_owned(),
                        message: format!(
                            "{}; retrying in {} ms",
                            backoff.last_error(),
                            wait.as_millis()
                        ),
                    });
                }
                Some((address, channel, _)) => Some((address.clone(), channel.clone())),
                None => None,
            }
        };
        let address = self.address(node).await?;
        if let Some((known_address, channel)) = known
            && known_address == address
        {
            return Ok(limited(channel));
        }
        let channel = self
            .endpoint(&address)
            .map_err(|e| AgentError::Unavailable {
                node: node.to_owned(),
                message: e.to_string(),
            })?
            .connect_lazy();
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let backoff = channels
            .remove(node)
            .map(|(_, _, backoff)| backoff)
            .unwrap_or_default();
        channels.insert(node.to_owned(), (address, channel.clone(), backoff));
        Ok(limited(channel))
    }

    /// Records the outcome of a call for the node's backoff.
    fn outcome<T>(&self, node: &str, result: Result<T, tonic::Status>) -> Result<T, AgentError> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let backoff = channels.get_mut(node).map(|(_, _, b)| b);
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
                    // The node may have come back with another address.
                    if let Some(ips) = &self.node_ips {
                        ips.forget(node);
                    }
                }
                Err(error)
            }
        }
    }
}

/// A client with the agreed message limits both ways: a large summary (a profile's stacks)
/// passes 4 MiB, tonic's default for decoding.
fn limited(channel: Channel) -> AgentClient<Channel> {
    AgentClient::new(channel)
        .max_decoding_message_size(tracejob_proto::MAX_RESPONSE_BYTES)
        .max_encoding_message_size(tracejob_proto::MAX_REQUEST_BYTES)
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
        let request = convert::start_request(job, spec, targets);
        let answer = self.client(node).await?.start_job(request).await;
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
        let answer = self.client(node).await?.update_targets(request).await;
        self.outcome(node, answer).map(|_| ())
    }

    async fn results(&self, node: &str, job: &JobId) -> Result<NodeResult, AgentError> {
        let request = ListJobsRequest {
            job_uid: job.uid.clone(),
        };
        let answer = self.client(node).await?.list_jobs(request).await;
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
        let answer = self.client(node).await?.stop_job(JobRef::from(job)).await;
        match self.outcome(node, answer) {
            Ok(state) => Ok(convert::node_result(state.into_inner())),
            Err(AgentError::NotRunning { .. }) => Ok(NodeResult::default()),
            Err(error) => Err(error),
        }
    }

    async fn forget(&self, node: &str, job: &JobId) -> Result<(), AgentError> {
        let answer = self.client(node).await?.forget_job(JobRef::from(job)).await;
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

    fn forget_gone_nodes(&self, exists: &dyn Fn(&str) -> bool) {
        let dropped = {
            let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            let before = channels.len();
            channels.retain(|node, _| exists(node));
            before - channels.len()
        };
        if let Some(ips) = &self.node_ips {
            ips.retain(exists);
        }
        if dropped > 0 {
            tracing::info!(dropped, "dropped the agent channels of deleted nodes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_pattern_names_each_node_and_fixed_addresses_know_only_theirs() {
        let pattern = GrpcAgents::new(Addresses::Pattern("https://{node}:7443".into()), None);
        assert_eq!(
            block_on(pattern.address("n1")).as_deref(),
            Ok("https://n1:7443")
        );
        let fixed = GrpcAgents::new(
            Addresses::Fixed(BTreeMap::from([("n1".into(), "http://127.0.0.1:1".into())])),
            None,
        );
        assert!(matches!(
            block_on(fixed.address("n2")),
            Err(AgentError::NoAgent { .. })
        ));
        assert!(matches!(
            block_on(fixed.client("n2")),
            Err(AgentError::NoAgent { .. })
        ));
    }

    #[test]
    fn a_node_ip_pattern_without_an_api_client_says_what_it_lacks() {
        let agents = GrpcAgents::new(Addresses::Pattern("https://{node_ip}:7443".into()), None);
        let error = block_on(agents.address("n1")).expect_err("no client to look up node IPs");
        assert!(
            error.to_string().contains("{node_ip}:7443") && error.to_string().contains("n1"),
            "{error}"
        );
    }

    #[test]
    fn the_channels_of_deleted_nodes_are_dropped() {
        let agents = GrpcAgents::new(Addresses::Pattern("https://{node}:7443".into()), None);
        for node in ["n1", "n2", "n3"] {
            block_on(agents.client(node)).expect("a lazy channel");
        }
        agents.forget_gone_nodes(&|node| node == "n2");
        let kept: Vec<String> = agents
            .channels
            .lock()
            .expect("the channels")
            .keys()
            .cloned()
            .collect();
        assert_eq!(kept, ["n2"]);
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(future)
    }
}
