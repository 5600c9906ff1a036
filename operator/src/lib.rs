//! The TraceJob operator: watches `TraceJob`s, resolves their selectors to running
//! containers on nodes, drives the node agents and writes a bounded status.

pub mod agents;
mod apply;
mod artifacts;
pub mod conditions;
pub mod context;
pub mod controller;
pub mod crd;
mod decide;
pub mod error;
mod fanout;
mod finish;
pub mod job_metrics;
pub mod leader;
pub mod live;
pub mod lost;
pub mod metrics;
pub mod nodes;
pub mod pace;
pub mod pods;
mod ready;
pub mod renewer;
pub mod selector;
pub mod server;
pub mod storage;
pub mod streams;
pub mod summary;
pub mod targets;
mod write;

pub use context::{Context, Settings};
pub use controller::{FINALIZER, error_policy, reconcile};
pub use error::Error;

use kube::ResourceExt;
use tracejob_api::TraceJob;

/// The agents' key for a job.
pub(crate) fn job_id(job: &TraceJob) -> Result<agents::JobId, Error> {
    Ok(agents::JobId {
        namespace: job.namespace().ok_or(Error::MissingField("namespace"))?,
        name: job.name_any(),
        uid: job.uid().ok_or(Error::MissingField("uid"))?,
    })
}
