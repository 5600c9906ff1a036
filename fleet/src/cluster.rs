//! The fleet's Node and Pod objects on the real API server, written as kwok writes them:
//! no kubelet behind them, the status (Ready, InternalIP, Running, container ids) patched
//! through the API.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// The label every fleet pod carries; jobs select `app=<APP>`.
pub const APP: &str = "fleet";
/// How many API requests the fleet keeps in flight while it builds the cluster.
const IN_FLIGHT: usize = 16;

/// Node `index`'s InternalIP: 127.x.y.z, never 127.0.0.1, each node its own loopback address.
pub fn node_ip(index: usize) -> Ipv4Addr {
    let mid = u8::try_from(index / 250).unwrap_or(u8::MAX);
    let lo = u8::try_from(index % 250 + 1).unwrap_or(1);
    Ipv4Addr::new(127, 100, mid, lo)
}

/// One simulated node.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub ip: Ipv4Addr,
}

/// One fleet pod.
#[derive(Clone, Debug)]
pub struct PodSpec {
    pub node: String,
    pub container_id: String,
    /// When its Running status was written.
    pub running_at: SystemTime,
}

pub struct SimCluster {
    pub client: Client,
    pub namespace: String,
    pub nodes: Vec<NodeSpec>,
    nonce: u64,
    containers: AtomicU64,
    pods: Mutex<BTreeMap<String, PodSpec>>,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("namespace", &self.namespace)
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl SimCluster {
    /// Creates the namespace, `nodes` Ready nodes and `pods_per_node` Running pods on each.
    pub async fn create(
        client: Client,
        nodes: usize,
        pods_per_node: usize,
    ) -> anyhow::Result<Self> {
        let nonce = nonce();
        let namespace = format!("fleet-{:06x}", nonce & 0xff_ffff);
        let cluster = SimCluster {
            client,
            nodes: (0..nodes)
                .map(|i| NodeSpec {
                    name: format!("{namespace}-n{i:03}"),
                    ip: node_ip(i),
                })
                .collect(),
            namespace,
            nonce,
            containers: AtomicU64::new(0),
            pods: Mutex::default(),
        };
        let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": cluster.namespace}}))?,
            )
            .await
            .context("cannot create the fleet's namespace")?;
        futures::stream::iter(cluster.nodes.iter())
            .map(|node| cluster.create_node(node))
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        let pods: Vec<(String, usize)> = cluster
            .nodes
            .iter()
            .flat_map(|n| (0..pods_per_node).map(|i| (n.name.clone(), i)))
            .collect();
        futures::stream::iter(pods)
            .map(|(node, i)| {
                let name = format!("{node}-p{i:02}");
                let cluster = &cluster;
                async move { cluster.add_pod(&node, &name).await.map(|_| ()) }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(cluster)
    }

    async fn create_node(&self, node: &NodeSpec) -> anyhow::Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let object = serde_json::from_value(json!({
            "metadata": {"name": node.name, "labels": {
                "kubernetes.io/hostname": node.name, "type": "kwok", "tracejob.io/fleet": self.namespace},
                "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "spec": {}
        }))?;
        api.create(&PostParams::default(), &object)
            .await
            .with_context(|| format!("cannot create node {}", node.name))?;
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let status = json!({"status": {
            "addresses": [{"type": "InternalIP", "address": node.ip.to_string()},
                          {"type": "Hostname", "address": node.name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "simulated by tracejob-fleet",
                            "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"}
        }});
        api.patch_status(&node.name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .with_context(|| format!("cannot write node {}'s status", node.name))?;
        Ok(())
    }

    /// Creates a pod on `node` and writes its Running status; returns its container id.
    pub async fn add_pod(&self, node: &str, name: &str) -> anyhow::Result<String> {
        let ip = self
            .nodes
            .iter()
            .find(|n| n.name == node)
            .map_or(Ipv4Addr::LOCALHOST, |n| n.ip);
        let serial = self.containers.fetch_add(1, Ordering::Relaxed);
        let container_id = format!("containerd://{:016x}{serial:048x}", self.nonce);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": APP}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "app", "image": "simulated"}]}
        }))?;
        api.create(&PostParams::default(), &pod)
            .await
            .with_context(|| format!("cannot create pod {name}"))?;
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let status = json!({"status": {
            "phase": "Running", "hostIP": ip.to_string(), "podIP": ip.to_string(), "startTime": now,
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                "image": "simulated", "imageID": "", "containerID": container_id,
                "started": true, "state": {"running": {"startedAt": now}}}]
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .with_context(|| format!("cannot write pod {name}'s status"))?;
        self.lock().insert(
            name.to_owned(),
            PodSpec {
                node: node.to_owned(),
                container_id: container_id.clone(),
                running_at: SystemTime::now(),
            },
        );
        Ok(container_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PodSpec>> {
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every fleet pod now, by name.
    pub fn pods(&self) -> BTreeMap<String, PodSpec> {
        self.lock().clone()
    }

    /// Deletes the pod at once (no kubelet will confirm a graceful deletion).
    pub async fn delete_pod(&self, name: &str) -> anyhow::Result<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        api.delete(name, &DeleteParams::default().grace_period(0))
            .await
            .with_context(|| format!("cannot delete pod {name}"))?;
        self.lock().remove(name);
        Ok(())
    }

    /// Deletes the Node object, then its pods, as the pod garbage collector would.
    pub async fn delete_node(&self, node: &str) -> anyhow::Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        api.delete(node, &DeleteParams::default())
            .await
            .with_context(|| format!("cannot delete node {node}"))?;
        let pods: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, p)| p.node == node)
            .map(|(name, _)| name.clone())
            .collect();
        for pod in pods {
            self.delete_pod(&pod).await?;
        }
        Ok(())
    }

    /// Removes the fleet's Node objects (the namespace stays: without a controller-manager
    /// it would never finish terminating).
    pub async fn delete_nodes(&self) {
        let api: Api<Node> = Api::all(self.client.clone());
        let deletions = self.nodes.iter().map(|n| {
            let api = api.clone();
            async move { drop(api.delete(&n.name, &DeleteParams::default()).await) }
        });
        futures::stream::iter(deletions)
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
    }
}

fn nonce() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(mut urandom) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = urandom.read_exact(&mut bytes);
    }
    u64::from_ne_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_has_its_own_loopback_address_and_none_is_localhost() {
        let ips: std::collections::BTreeSet<Ipv4Addr> = (0..2000).map(node_ip).collect();
        assert_eq!(ips.len(), 2000);
        assert!(
            ips.iter()
                .all(|ip| ip.is_loopback() && *ip != Ipv4Addr::LOCALHOST)
        );
    }
}
