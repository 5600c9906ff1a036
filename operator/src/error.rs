//! The operator library's error type.

use crate::agents::AgentError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes api request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer failed: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("failed to stop the job on node {node}: {source}")]
    Stop {
        node: String,
        #[source]
        source: AgentError,
    },
    #[error("failed to serialize the status: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("the TraceJob has no {0}")]
    MissingField(&'static str),
    #[error("the Node cache has no full list yet (is `watch` on nodes granted?)")]
    NodesNotSynced,
    #[error("the Pod cache has no full list yet (is `watch` on pods granted?)")]
    PodsNotSynced,
    #[error("reconciling the job panicked: {0}")]
    Panicked(String),
}

impl Error {
    /// A short, bounded label for the failures metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.metric_label(),
                _ => "finalizer",
            },
            Error::Stop { .. } => "agent",
            Error::Serialize(_) => "serialize",
            Error::MissingField(_) => "invalid_object",
            Error::NodesNotSynced => "nodes",
            Error::PodsNotSynced => "pods",
            Error::Panicked(_) => "panic",
        }
    }
}
