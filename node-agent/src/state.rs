//! What the job registry knows of a job and its containers, in the agent's own types: the
//! gRPC service converts requests into these and these into answers (`convert`), so the
//! registry never touches a prost message.

use tracejob_api::summary::Summary;

/// Which job: the agent keys jobs by uid; the namespace names the events' origin, the
/// name is for logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobId {
    pub uid: String,
    pub namespace: String,
    pub name: String,
}

/// One container to trace, as the operator names it (already validated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    pub pod: String,
    pub pod_uid: String,
    pub container: String,
    /// `containerd://<64 hex>`, as in status.containerStatuses[].containerID.
    pub container_id: String,
    /// The cgroup v2 directory relative to the v2 mount, when the caller knows it.
    pub cgroup_path: Option<String>,
}

/// Where one requested container was found, or why it was not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetState {
    pub container_id: String,
    pub placement: Placement,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    Found { cgroup_path: String, cgroup_id: u64 },
    Missing { reason: String },
}

/// A job as the registry answers for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState {
    pub job: JobId,
    pub generation: i64,
    pub stopped: bool,
    pub targets: Vec<TargetState>,
    /// The result so far (the final one once stopped), events per pod in place of cgroup
    /// ids; none when the engine could not be read.
    pub result: Option<Summary>,
}

/// Why the registry refused or failed a call; the gRPC service maps each to its code
/// (`convert::job_status`).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The node has no usable cgroup v2 hierarchy.
    #[error("{0}")]
    NoHierarchy(String),
    #[error("job {uid} runs generation {running}; generation {asked} is stale")]
    StaleGeneration {
        uid: String,
        running: i64,
        asked: i64,
    },
    #[error("job {0} is stopped")]
    Stopped(String),
    #[error("the job was already stopped")]
    AlreadyStopped,
    #[error(
        "this agent already runs its maximum of {0} jobs (tracejob-agent --max-jobs); \
         the job starts here once another one ends"
    )]
    Full(usize),
    #[error("no job {0} on this agent")]
    NotFound(String),
    /// The blocking task that drives the engine panicked or was cancelled.
    #[error("the engine task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Engine(#[from] tracejob_engine::EngineError),
}
