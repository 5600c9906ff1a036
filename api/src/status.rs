//! The `TraceJob` status: a bounded summary the operator writes.
//!
//! Everything here has a fixed upper size whatever the workload traced (etcd caps an object
//! near 1.5 MiB): per-node rows and summary rows are cut to the top entries, latency
//! histograms have a fixed number of buckets, and what was cut is counted.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// At most this many per-node rows are kept in the status; the rest are counted in
/// [`TraceJobStatus::omitted_nodes`].
pub const MAX_NODE_ROWS: usize = 50;
/// At most this many summary rows are kept; the rest are folded into
/// [`Summary::other_count`].
pub const MAX_SUMMARY_ROWS: usize = 20;
/// Latency histograms have exactly this many power-of-two buckets: bucket 0 counts
/// latencies under 1 µs, bucket `i` those in `[2^(i-1), 2^i)` µs (a µs being 1024 ns here,
/// as the agent shifts the kernel's nanosecond buckets by 10), the last bucket everything
/// from 2^22 µs (about 4.3 s) up.
pub const HISTOGRAM_BUCKETS: usize = 24;
/// Messages are cut to this many bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Observed state of a TraceJob. It holds a size-bounded summary; full results live in
/// object storage.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceJobStatus {
    /// Pending, Running, Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// A human-readable reason for the phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `Targeted`, `AgentsReady`, `Complete`, `Degraded`, `Gap`, `ArtifactsWritten`,
    /// `NodeLost`, and `Ready` (kstatus: True while tracing and once succeeded with every
    /// node's results).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pods currently matched by the selector (Running, with at least one traced container).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_pods: Option<u32>,
    /// Nodes currently running the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_nodes: Option<u32>,
    /// One row per node the job ran on, busiest first, at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeStatus>,
    /// Node rows left out of `nodes` to keep the status bounded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted_nodes: u32,
    /// The operator's control record: every node the job was started on (or tried), with
    /// its counts at last contact, so that each is stopped, counted and forgotten whatever
    /// `nodes` shows. About 60 bytes a node; read `nodes` instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_record: Vec<NodeRecord>,
    /// Events captured across all nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// Events lost anywhere between the kernel and the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// Events captured but not kept in object storage because `spec.output.maxEvents` was
    /// reached (they are not lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_not_kept: Option<u64>,
    /// Results merged across nodes, size-bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// Files written to object storage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
    /// When the trace first ran on a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the job reached Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// When writing the artifacts began to fail, while it keeps failing: the operator's
    /// storage deadline counts from here, across operator restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_failing_since: Option<Time>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The lifecycle of a TraceJob.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Accepted, not yet tracing anywhere (no pod matched, or no agent started it yet).
    Pending,
    /// Tracing on at least one node, or waiting for pods after having started.
    Running,
    /// The duration elapsed and the final results are in.
    Succeeded,
    /// The job cannot run as written; the `Complete` condition says why.
    Failed,
}

impl Phase {
    pub fn is_finished(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The job on one node.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// The node's name.
    pub node: String,
    /// Target pods on this node.
    pub pods: u32,
    /// Running, Stopped, NoAgent, Unavailable, Rejected or Lost.
    pub phase: NodePhase,
    /// The attach point the agent chose on this kernel, e.g. `tp_btf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// Events captured on this node.
    #[serde(default)]
    pub events: u64,
    /// Events lost on this node.
    #[serde(default)]
    pub lost: u64,
    /// Why the node is not running, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its agent first failed to answer a stop, while it keeps failing: the node
    /// counts as lost the operator's grace period after this, across operator restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<Time>,
}

/// One node of the control record (`nodeRecord`): what the operator must remember of it to
/// stop it, forget it and count it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecord {
    /// The node's name.
    pub node: String,
    /// The job's state on the node.
    pub phase: NodePhase,
    /// The attach point the agent chose, once it ran the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// Events captured on the node, at last contact.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub events: u64,
    /// Events lost on the node, at last contact.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub lost: u64,
    /// When its agent first failed to answer a stop, while it keeps failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<Time>,
}

impl From<&NodeStatus> for NodeRecord {
    fn from(row: &NodeStatus) -> Self {
        NodeRecord {
            node: row.node.clone(),
            phase: row.phase,
            probe: row.probe.clone(),
            events: row.events,
            lost: row.lost,
            unreachable_since: row.unreachable_since.clone(),
        }
    }
}

impl From<&NodeRecord> for NodeStatus {
    fn from(record: &NodeRecord) -> Self {
        NodeStatus {
            node: record.node.clone(),
            pods: 0,
            phase: record.phase,
            probe: record.probe.clone(),
            events: record.events,
            lost: record.lost,
            message: None,
            unreachable_since: record.unreachable_since.clone(),
        }
    }
}

/// The job's state on one node.
#[derive(
    Deserialize,
    Serialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    JsonSchema,
)]
pub enum NodePhase {
    /// The agent is tracing the node's target containers.
    #[default]
    Running,
    /// Stopped: the job ended, or the node has no target pod any more. Counts are final.
    Stopped,
    /// No agent runs on the node.
    NoAgent,
    /// The node's agent did not answer.
    Unavailable,
    /// The node's agent refused the job (kernel lacks the probe, verifier rejection, ...).
    Rejected,
    /// The node went away (deleted, NotReady, or its agent unreachable past the operator's
    /// grace period) before the job was stopped there; its counts are those at last contact.
    Lost,
}

impl NodePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            NodePhase::Running => "Running",
            NodePhase::Stopped => "Stopped",
            NodePhase::NoAgent => "NoAgent",
            NodePhase::Unavailable => "Unavailable",
            NodePhase::Rejected => "Rejected",
            NodePhase::Lost => "Lost",
        }
    }
}

/// Results merged across nodes: the top rows by count and what was left out.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The busiest keys (syscall names, executables, paths), at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<SummaryRow>,
    /// How many keys were left out of `top`.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub other_keys: u64,
    /// The summed count of the keys left out of `top`.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub other_count: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// One key of the summary.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryRow {
    /// What was counted: a syscall name, an executable, a path.
    pub key: String,
    /// How many times.
    pub count: u64,
    /// How many of those failed.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub errors: u64,
    /// Latency histogram in power-of-two microsecond buckets (24 of them), when measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 24))]
    pub latency_us_log2: Vec<u64>,
}

/// A file the job wrote to object storage.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// File name, e.g. `events.jsonl.gz`.
    pub name: String,
    /// Where it is.
    pub url: String,
    /// Its size.
    pub bytes: u64,
}
