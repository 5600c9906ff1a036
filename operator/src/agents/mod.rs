//! The operator's view of the node agents: start, update, read and stop a job per node.
//!
//! The controller only knows this trait. [`grpc::GrpcAgents`] talks to the real
//! `tracejob-agent`s over mutual TLS; [`memory::InMemoryAgents`] is the test double (and
//! the binary's stand-in when no `--agent-address` is given).

pub mod grpc;
pub mod memory;

use async_trait::async_trait;
use futures::stream::BoxStream;
use tracejob_api::{SummaryRow, TraceJobSpec};

/// Which job: the agent keys jobs by uid, the rest is for logs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// One container to trace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerTarget {
    pub pod: String,
    pub pod_uid: String,
    pub container: String,
    /// The runtime's id, as in `status.containerStatuses[].containerID`
    /// (`containerd://<64 hex>`); it names the container's cgroup on the node.
    pub container_id: String,
}

/// What one node has captured for a job so far (cumulative since its start there).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeResult {
    /// The attach point the agent chose on this kernel, e.g. `tp_btf`.
    pub probe: Option<String>,
    pub events: u64,
    pub lost: u64,
    /// Per-key counts; the agent may send many, the operator keeps the top ones.
    pub rows: Vec<SummaryRow>,
    /// What the agent wants a person to know, e.g. containers it could not find.
    pub message: Option<String>,
    /// Event tools: events per pod and container, most first (empty for tools that
    /// aggregate in the kernel).
    pub pods: Vec<tracejob_api::event::PodEvents>,
    /// The engine's full summary (profile stacks, per-device latency...), for
    /// `summary.json` in object storage; too big for the status. `rows_omitted` in it
    /// counts rows the agent cut to stay within its message limit.
    pub summary: Option<tracejob_api::summary::Summary>,
}

/// One message of a job's result stream on a node.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamItem {
    /// One event, typed, naming node, namespace, pod and container.
    Event(Box<tracejob_api::event::EventLine>),
    /// The job's latest cumulative result on the node, sent when it changed.
    Summary(NodeResult),
    /// Events this consumer missed just before this one (the agent's buffer overflowed;
    /// summaries are kept aside and never counted here).
    Lost(u64),
    /// The job stopped on the node: nothing follows.
    Final(NodeResult),
}

/// A stream message with its sequence number; resuming asks for the last seen + 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequenced {
    pub sequence: u64,
    pub item: StreamItem,
}

pub type ResultStream = BoxStream<'static, Result<Sequenced, AgentError>>;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("no tracejob agent runs on node {node}")]
    NoAgent { node: String },
    #[error("the agent on node {node} did not answer: {message}")]
    Unavailable { node: String, message: String },
    #[error("the agent on node {node} refused the job: {message}")]
    Rejected { node: String, message: String },
    #[error("the job is not running on node {node}")]
    NotRunning { node: String },
}

/// The agents of a cluster, one per node at most.
#[async_trait]
pub trait AgentPool: Send + Sync + 'static {
    /// Starts the job on the node's agent, tracing these containers. Idempotent: if the job
    /// already runs there (or was stopped there and not yet forgotten), it continues with this
    /// spec and these targets, and its counts keep adding up.
    async fn start(
        &self,
        node: &str,
        job: &JobId,
        spec: &TraceJobSpec,
        targets: &[ContainerTarget],
    ) -> Result<(), AgentError>;

    /// Replaces the containers a running job traces on the node.
    /// [`AgentError::NotRunning`] if the agent does not know the job (it restarted).
    async fn update_targets(
        &self,
        node: &str,
        job: &JobId,
        targets: &[ContainerTarget],
    ) -> Result<(), AgentError>;

    /// The results so far; for a stopped job, its final results (until it is forgotten).
    /// [`AgentError::NotRunning`] if the agent does not know the job.
    async fn results(&self, node: &str, job: &JobId) -> Result<NodeResult, AgentError>;

    /// Stops the job on the node and returns its final results, which the agent keeps until
    /// [`AgentPool::forget`]. Stopping a stopped job returns the same results; stopping a job
    /// the agent does not know returns an empty result.
    async fn stop(&self, node: &str, job: &JobId) -> Result<NodeResult, AgentError>;

    /// Drops everything the agent keeps of a stopped job (its TraceJob is being deleted).
    async fn forget(&self, node: &str, job: &JobId) -> Result<(), AgentError>;

    /// Drops what the pool keeps for nodes that left the cluster (`exists` says which nodes
    /// still do): over a long life with node churn, a pool that never forgets grows with
    /// every node the cluster ever had.
    fn forget_gone_nodes(&self, _exists: &dyn Fn(&str) -> bool) {}

    /// The job's messages from sequence `from` on (1 is the first): events as they happen,
    /// ending with [`StreamItem::Final`] once the job stops there.
    /// [`AgentError::NotRunning`] if the agent does not know the job.
    async fn stream_results(
        &self,
        node: &str,
        job: &JobId,
        from: u64,
    ) -> Result<ResultStream, AgentError>;
}
