//! What every reconciliation shares: the client, the event recorder, the metrics, the agents.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::agents::AgentPool;
use crate::metrics::Metrics;
use crate::nodes::NodeCache;
use crate::pace::{DEFAULT_STATUS_INTERVAL, Pace};
use crate::pods::PodCache;
use crate::storage::{Storage, StorageSettings};
use crate::streams::Streams;

/// The default of [`Settings::node_lost_grace`] (`--node-lost-grace`).
pub const DEFAULT_NODE_LOST_GRACE: Duration = Duration::from_secs(120);

/// Tunables of the controller.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How often a running job is looked at without a reason (its counts arrive on the
    /// agents' streams and ask for a reconcile themselves).
    pub poll_interval: Duration,
    /// The least time between two writes of one job's status (`--status-interval-ms`).
    pub status_interval: Duration,
    /// The name events are reported under.
    pub reporter: String,
    /// Object storage: the default location, flush interval and local spool.
    pub storage: StorageSettings,
    /// How long a node's agent may fail to answer a stop before the node counts as lost
    /// (a deleted or NotReady node counts as lost at once).
    pub node_lost_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            poll_interval: Duration::from_secs(10),
            status_interval: DEFAULT_STATUS_INTERVAL,
            reporter: "tracejob-operator".to_owned(),
            storage: StorageSettings::default(),
            node_lost_grace: DEFAULT_NODE_LOST_GRACE,
        }
    }
}

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub agents: Arc<dyn AgentPool>,
    pub settings: Settings,
    /// Spools streamed events and writes artifacts.
    pub storage: Storage,
    /// The cluster's Nodes, from one watch ([`crate::controller::run`] runs it).
    pub nodes: NodeCache,
    /// The watched namespaces' Pods, from the controller's Pod watch.
    pub pods: PodCache,
    /// Each (job, node)'s result stream and what it said last.
    pub streams: Streams,
    /// When each job's status may be written next, and the reconciles its counts ask for.
    pub pace: Arc<Pace>,
    /// The targets last handed to each (job uid, node), so unchanged targets are not resent.
    applied: Mutex<HashMap<(String, String), u64>>,
    /// When each (job uid, node)'s agent first failed to answer a stop, for the grace period.
    unreachable: Mutex<HashMap<(String, String), k8s_openapi::jiff::Timestamp>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(
        client: Client,
        agents: Arc<dyn AgentPool>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        let reporter = Reporter {
            controller: settings.reporter.clone(),
            instance: None,
        };
        let pace = Arc::new(Pace::new(settings.status_interval));
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            streams: Streams::new(pace.clone()),
            pace,
            storage: Storage::new(settings.storage.clone()),
            nodes: NodeCache::default(),
            pods: PodCache::default(),
            client,
            metrics,
            agents,
            settings,
            applied: Mutex::default(),
            unreachable: Mutex::default(),
        }
    }

    /// Uses `nodes` (made before the context, so the agent pool could read it) as the Node
    /// cache.
    pub fn with_node_cache(mut self, nodes: NodeCache) -> Self {
        self.nodes = nodes;
        self
    }

    pub(crate) fn applied_digest(&self, uid: &str, node: &str) -> Option<u64> {
        self.applied_map()
            .get(&(uid.to_owned(), node.to_owned()))
            .copied()
    }

    pub(crate) fn remember_applied(&self, uid: &str, node: &str, digest: u64) {
        self.applied_map()
            .insert((uid.to_owned(), node.to_owned()), digest);
    }

    pub(crate) fn forget_applied(&self, uid: &str, node: &str) {
        self.applied_map()
            .remove(&(uid.to_owned(), node.to_owned()));
    }

    pub(crate) fn forget_job(&self, uid: &str) {
        self.applied_map().retain(|(job, _), _| job != uid);
    }

    /// When the node's agent first failed to answer for this job (now, if it just did).
    pub(crate) fn unreachable_since(
        &self,
        uid: &str,
        node: &str,
        now: k8s_openapi::jiff::Timestamp,
    ) -> k8s_openapi::jiff::Timestamp {
        *self
            .unreachable_map()
            .entry((uid.to_owned(), node.to_owned()))
            .or_insert(now)
    }

    pub(crate) fn forget_unreachable(&self, uid: &str) {
        self.unreachable_map().retain(|(job, _), _| job != uid);
    }

    pub(crate) fn reached(&self, uid: &str, node: &str) {
        self.unreachable_map()
            .remove(&(uid.to_owned(), node.to_owned()));
    }

    fn unreachable_map(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), k8s_openapi::jiff::Timestamp>> {
        self.unreachable
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn applied_map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), u64>> {
        self.applied
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
