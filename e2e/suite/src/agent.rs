//! Asking a node's agent directly, over the same mutual TLS the operator uses, with the
//! operator's client certificate from the release's Secret.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Secret};
use kube::Client;
use kube::api::{Api, ListParams};
use tracejob_operator::agents::grpc::node_ip::internal_ip;
use tracejob_operator::agents::grpc::{Addresses, ClientTls, GrpcAgents};
use tracejob_operator::agents::{AgentError, AgentPool, JobId, NodeResult};

/// The name every agent's certificate carries (see the chart's certificates).
const AGENT_TLS_NAME: &str = "tracejob-agent";

/// The operator's TLS material: the release's Secret for the operator component.
pub async fn operator_tls(client: &Client) -> ClientTls {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &crate::helm::namespace());
    let list = secrets
        .list(&ListParams::default().labels("app.kubernetes.io/component=operator"))
        .await
        .expect("list the release's secrets");
    let secret = list
        .items
        .into_iter()
        .find(|s| s.type_.as_deref() == Some("kubernetes.io/tls"))
        .expect("the release has a kubernetes.io/tls Secret for the operator");
    let data = secret.data.unwrap_or_default();
    let key = |k: &str| {
        data.get(k)
            .unwrap_or_else(|| panic!("the operator's Secret has no {k}"))
            .0
            .clone()
    };
    ClientTls {
        ca_pem: key("ca.crt"),
        cert_pem: key("tls.crt"),
        key_pem: key("tls.key"),
        domain: Some(AGENT_TLS_NAME.to_owned()),
    }
}

/// Every node's agent, at the node's InternalIP.
pub async fn agents(client: &Client) -> (GrpcAgents, Vec<String>) {
    let port = std::env::var("TRACEJOB_E2E_AGENT_PORT").unwrap_or_else(|_| "7443".into());
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("list nodes");
    let mut addresses = BTreeMap::new();
    for node in &nodes.items {
        let name = node.metadata.name.clone().unwrap_or_default();
        let ip = internal_ip(node).unwrap_or_else(|| panic!("node {name} has no InternalIP"));
        addresses.insert(name, format!("https://{ip}:{port}"));
    }
    let names = addresses.keys().cloned().collect();
    let tls = operator_tls(client).await;
    (
        GrpcAgents::new(Addresses::Fixed(addresses), Some(tls)),
        names,
    )
}

/// What the node's agent holds for the job: Ok(results) while it knows it, Err(NotRunning)
/// once it has forgotten it.
pub async fn job_on(
    agents: &GrpcAgents,
    node: &str,
    job: &JobId,
) -> Result<NodeResult, AgentError> {
    agents.results(node, job).await
}
