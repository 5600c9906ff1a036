//! The cluster's Nodes, read from one watch the controller keeps (a reflector store) instead
//! of listed on every poll: `spec.nodeSelector` and the lost-node check read this cache.
//! The watch also tells the agent pool which nodes are gone, so per-node state (a gRPC
//! channel, a cached address) does not outlive its Node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeStatus};
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

/// How long a poll that needs the Nodes waits for the watch's first full list.
pub const SYNC_WAIT: Duration = Duration::from_secs(10);

/// Drops from a watched Node what neither `spec.nodeSelector` nor the lost-node check reads:
/// a real Node's bytes are mostly its image list, managed fields and node info, and the cache
/// holds every Node of the cluster.
pub fn trim(node: &mut Node) {
    node.managed_fields_mut().clear();
    node.annotations_mut().clear();
    node.spec = None;
    if let Some(status) = node.status.as_mut() {
        let ready: Option<Vec<NodeCondition>> = status.conditions.take().map(|conditions| {
            conditions
                .into_iter()
                .filter(|c| c.type_ == "Ready")
                .map(|c| NodeCondition {
                    type_: c.type_,
                    status: c.status,
                    ..NodeCondition::default()
                })
                .collect()
        });
        *status = NodeStatus {
            addresses: status.addresses.take(),
            conditions: ready,
            ..NodeStatus::default()
        };
    }
}

/// Called after each change that can remove Nodes (a deletion, a full re-list) with a test
/// of whether a node still exists.
pub type ForgetGone = Box<dyn Fn(&dyn Fn(&str) -> bool) + Send + Sync>;

/// The Node cache: filled by [`NodeCache::watch`] (run by the controller), or by
/// [`NodeCache::replace`] where no watch runs.
pub struct NodeCache {
    store: Store<Node>,
    writer: Mutex<Option<Writer<Node>>>,
}

impl Default for NodeCache {
    fn default() -> Self {
        let (store, writer) = reflector::store();
        NodeCache {
            store,
            writer: Mutex::new(Some(writer)),
        }
    }
}

impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache")
            .field("nodes", &self.store.len())
            .finish_non_exhaustive()
    }
}

impl NodeCache {
    /// The watch that keeps the cache current (one per process; `None` once taken or after
    /// [`NodeCache::replace`]). It runs until dropped, retrying with backoff; `forget_gone`
    /// hears of every Node that leaves the cluster.
    pub fn watch(&self, client: Client, forget_gone: ForgetGone) -> Option<BoxFuture<'static, ()>> {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        let nodes: Api<Node> = Api::all(client);
        let trimmed = watcher(nodes, watcher::Config::default().any_semantic()).modify(trim);
        let stream = reflector::reflector(writer, trimmed).default_backoff();
        let store = self.store.clone();
        Some(Box::pin(stream.for_each(move |event| {
            after_event(&event, &store, &forget_gone);
            async {}
        })))
    }

    /// Sets the cache to exactly `nodes`, synced, for a caller that runs no watch (tests,
    /// embedders). Does nothing once the watch was taken.
    pub fn replace(&self, nodes: Vec<Node>) {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(writer) = writer.as_mut() else {
            return;
        };
        writer.apply_watcher_event(&watcher::Event::Init);
        for node in nodes {
            writer.apply_watcher_event(&watcher::Event::InitApply(node));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
    }

    /// Whether the cache holds a full list, waiting at most `limit` for the first one.
    pub async fn synced(&self, limit: Duration) -> bool {
        matches!(
            tokio::time::timeout(limit, self.store.wait_until_ready()).await,
            Ok(Ok(()))
        )
    }

    /// The names of the Nodes whose labels include every one of `selector`.
    pub fn matching(&self, selector: &BTreeMap<String, String>) -> BTreeSet<String> {
        self.store
            .state()
            .iter()
            .filter(|node| {
                let labels = node.labels();
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .map(|node| node.name_any())
            .collect()
    }

    /// A reader of the cache for another part of the operator (the agent pool's addresses).
    pub fn reader(&self) -> Store<Node> {
        self.store.clone()
    }

    /// The cached Node, if the cluster has it.
    pub fn get(&self, name: &str) -> Option<Arc<Node>> {
        self.store.get(&ObjectRef::new(name))
    }
}

/// What the watch does with each event once the cache has applied it.
fn after_event(
    event: &Result<watcher::Event<Node>, watcher::Error>,
    store: &Store<Node>,
    forget_gone: &ForgetGone,
) {
    match event {
        // A deletion, or a re-list that may have dropped Nodes deleted while the watch was down.
        Ok(watcher::Event::Delete(_) | watcher::Event::InitDone) => {
            forget_gone(&|name| store.get(&ObjectRef::new(name)).is_some());
        }
        Ok(_) => {}
        Err(error) => tracing::info!(%error, "the Node watch failed; retrying"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn node(name: &str) -> Node {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("a node")
    }

    #[tokio::test]
    async fn a_trimmed_node_is_smaller_and_reads_the_same_labels_ready_and_address() {
        let images: Vec<_> = (0..40)
            .map(|i| serde_json::json!({"names": [format!("registry.example/team/app-{i}@sha256:{}", "a".repeat(64))], "sizeBytes": 1000}))
            .collect();
        let full: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "labels": {"pool": "gpu"},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
                "managedFields": [{"manager": "kubelet", "operation": "Update",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:images": {}}}}]},
            "spec": {"podCIDR": "10.244.1.0/24", "providerID": "aws:///eu-west-1a/i-0abc"},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "Hostname", "address": "n1"}],
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
                    {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "container runtime network not ready"}],
                "images": images,
                "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1.0",
                    "osImage": "Debian GNU/Linux 12", "containerRuntimeVersion": "containerd://1.6",
                    "kubeletVersion": "v1.33.0", "kubeProxyVersion": "v1.33.0", "operatingSystem": "linux", "architecture": "amd64"}}
        }))
        .expect("a node");
        let mut trimmed = full.clone();
        trim(&mut trimmed);
        let size = |node: &Node| serde_json::to_vec(node).expect("json").len();
        assert!(
            size(&trimmed) * 10 < size(&full),
            "{} of {} bytes kept",
            size(&trimmed),
            size(&full)
        );
        assert_eq!(
            trimmed.labels(),
            full.labels(),
            "nodeSelector still matches"
        );
        assert_eq!(
            crate::agents::grpc::node_ip::internal_ip(&trimmed).as_deref(),
            Some("10.0.0.5")
        );
        let cache = NodeCache::default();
        cache.replace(vec![trimmed]);
        let state = crate::lost::observe(&cache, "n1").await;
        assert_eq!(
            state,
            crate::lost::NodeState::NotReady,
            "Ready=False is kept"
        );
    }

    #[test]
    fn a_deleted_node_and_a_relist_tell_the_pool_which_nodes_are_gone() {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Init);
        for name in ["n1", "n2", "n3"] {
            writer.apply_watcher_event(&watcher::Event::InitApply(node(name)));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let heard: Arc<Mutex<Vec<BTreeSet<String>>>> = Arc::default();
        let recorded = heard.clone();
        let forget_gone: ForgetGone = Box::new(move |exists| {
            let alive = ["n1", "n2", "n3"].into_iter().filter(|n| exists(n));
            recorded
                .lock()
                .expect("the record")
                .push(alive.map(str::to_owned).collect());
        });

        let applied = watcher::Event::Apply(node("n1"));
        after_event(&Ok(applied), &store, &forget_gone);
        assert!(
            heard.lock().expect("the record").is_empty(),
            "an update removes nothing"
        );

        let deleted = watcher::Event::Delete(node("n2"));
        writer.apply_watcher_event(&deleted);
        after_event(&Ok(deleted), &store, &forget_gone);
        // n3 was deleted while the watch was down: the re-list is the only news of it.
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(node("n1")),
            watcher::Event::InitDone,
        ] {
            writer.apply_watcher_event(&event);
            after_event(&Ok(event), &store, &forget_gone);
        }
        let heard = heard.lock().expect("the record").clone();
        let names = |names: &[&str]| {
            names
                .iter()
                .map(|n| (*n).to_owned())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(heard, vec![names(&["n1", "n3"]), names(&["n1"])]);
    }
}
