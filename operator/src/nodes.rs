//! The cluster's Nodes, read from one watch the controller keeps (a reflector store) instead
//! of listed on every poll: `spec.nodeSelector` and the lost-node check read this cache.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

/// How long a poll that needs the Nodes waits for the watch's first full list.
pub const SYNC_WAIT: Duration = Duration::from_secs(10);

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
    /// [`NodeCache::replace`]). It runs until dropped, retrying with backoff.
    pub fn watch(&self, client: Client) -> Option<BoxFuture<'static, ()>> {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        let nodes: Api<Node> = Api::all(client);
        let stream = reflector::reflector(
            writer,
            watcher(nodes, watcher::Config::default().any_semantic()),
        )
        .default_backoff();
        Some(Box::pin(stream.for_each(|event| async move {
            if let Err(error) = event {
                tracing::info!(%error, "the Node watch failed; retrying");
            }
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

    /// The cached Node, if the cluster has it.
    pub fn get(&self, name: &str) -> Option<Arc<Node>> {
        self.store.get(&ObjectRef::new(name))
    }
}
