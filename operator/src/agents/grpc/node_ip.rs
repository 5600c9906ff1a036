//! `{node_ip}` in the agent address pattern: the Node's InternalIP, read from the controller's
//! Node cache; before that cache holds the node, looked up through the API once and kept until
//! a connection to it fails (the node may have a new address).
//!
//! In a cluster the agents listen on the host network, where node names rarely resolve through
//! the cluster's DNS; the Node object's addresses always say where the host is.

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Node;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};

pub const NODE: &str = "{node}";
pub const NODE_IP: &str = "{node_ip}";

/// The node's InternalIP, as the kubelet reported it.
pub fn internal_ip(node: &Node) -> Option<String> {
    node.status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .find(|a| a.type_ == "InternalIP" && !a.address.is_empty())
        .map(|a| a.address.clone())
}

/// The pattern with `{node}` and `{node_ip}` filled in; an IPv6 address gets the brackets a
/// URL needs.
pub fn fill(pattern: &str, node: &str, ip: Option<&str>) -> String {
    let mut address = pattern.replace(NODE, node);
    if let Some(ip) = ip {
        let host = if ip.contains(':') && !ip.starts_with('[') {
            format!("[{ip}]")
        } else {
            ip.to_owned()
        };
        address = address.replace(NODE_IP, &host);
    }
    address
}

/// Node name → InternalIP, from the API.
pub struct NodeIps {
    client: Client,
    /// The controller's Node cache: always current, and no request per lookup (at 500 nodes
    /// a lookup after every failed call cost 2.8 GETs a second).
    nodes: Option<Store<Node>>,
    cache: Mutex<BTreeMap<String, String>>,
}

impl std::fmt::Debug for NodeIps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIps")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl NodeIps {
    pub fn new(client: Client, nodes: Option<Store<Node>>) -> Self {
        NodeIps {
            client,
            nodes,
            cache: Mutex::new(BTreeMap::new()),
        }
    }

    /// The node's InternalIP, or why there is none.
    pub async fn get(&self, node: &str) -> Result<String, String> {
        if let Some(cached) = self
            .nodes
            .as_ref()
            .and_then(|n| n.get(&ObjectRef::new(node)))
        {
            return internal_ip(&cached)
                .ok_or_else(|| format!("node {node} reports no InternalIP address"));
        }
        if let Some(ip) = self.lock().get(node) {
            return Ok(ip.clone());
        }
        let object = Api::<Node>::all(self.client.clone())
            .get(node)
            .await
            .map_err(|e| format!("cannot read node {node} for its InternalIP: {e}"))?;
        let ip = internal_ip(&object)
            .ok_or_else(|| format!("node {node} reports no InternalIP address"))?;
        self.lock().insert(node.to_owned(), ip.clone());
        Ok(ip)
    }

    /// Looks the node up again on the next [`NodeIps::get`].
    pub fn forget(&self, node: &str) {
        self.lock().remove(node);
    }

    /// Keeps only the nodes `exists` accepts (the others were deleted).
    pub fn retain(&self, exists: &dyn Fn(&str) -> bool) {
        self.lock().retain(|node, _| exists(node));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeAddress, NodeStatus};

    fn node_with(addresses: &[(&str, &str)]) -> Node {
        Node {
            status: Some(NodeStatus {
                addresses: Some(
                    addresses
                        .iter()
                        .map(|(kind, address)| NodeAddress {
                            type_: (*kind).to_owned(),
                            address: (*address).to_owned(),
                        })
                        .collect(),
                ),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }

    #[test]
    fn the_internal_ip_is_chosen_over_the_hostname_and_external_ip() {
        let node = node_with(&[
            ("Hostname", "n1"),
            ("ExternalIP", "203.0.113.7"),
            ("InternalIP", "10.0.0.5"),
        ]);
        assert_eq!(internal_ip(&node).as_deref(), Some("10.0.0.5"));
    }

    #[test]
    fn a_node_without_an_internal_ip_has_none() {
        assert_eq!(internal_ip(&node_with(&[("Hostname", "n1")])), None);
        assert_eq!(internal_ip(&Node::default()), None);
    }

    #[tokio::test]
    async fn a_node_in_the_controllers_cache_is_looked_up_without_a_request() {
        use kube::runtime::{reflector, watcher};
        let (service, mut api_server) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        let client = Client::new(service, "default");
        let (store, mut writer) = reflector::store();
        let mut node = node_with(&[("InternalIP", "10.0.0.5")]);
        node.metadata.name = Some("n1".into());
        writer.apply_watcher_event(&watcher::Event::Apply(node));
        let ips = NodeIps::new(client, Some(store));
        for _ in 0..3 {
            let ip = tokio::time::timeout(std::time::Duration::from_secs(2), ips.get("n1"))
                .await
                .expect("answered without the API server");
            assert_eq!(ip.as_deref(), Ok("10.0.0.5"));
            ips.forget("n1");
        }
        assert!(
            tokio::time::timeout(
                std::time::Duration::from_millis(50),
                api_server.next_request()
            )
            .await
            .is_err(),
            "no request reached the API server"
        );
    }

    #[test]
    fn both_placeholders_are_filled_and_ipv6_gets_brackets() {
        assert_eq!(
            fill("https://{node_ip}:7443", "n1", Some("10.0.0.5")),
            "https://10.0.0.5:7443"
        );
        assert_eq!(
            fill("https://{node_ip}:7443", "n1", Some("fd00::5")),
            "https://[fd00::5]:7443"
        );
        assert_eq!(fill("https://{node}:7443", "n1", None), "https://n1:7443");
    }
}
