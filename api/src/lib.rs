//! The `TraceJob` API shared by the operator, the node agent and the CLI.
//!
//! The types here are the single source of the CRD schema (see the `crdgen` binary),
//! so anything the OpenAPI schema can reject is expressed as a type or attribute;
//! what it cannot express lives in [`validate`].

mod duration;
pub mod event;
pub mod live;
mod manifest;
mod spec;
pub mod status;
pub mod summary;
pub mod validate;

pub use duration::{DurationError, parse_duration};
pub use manifest::{ManifestError, parse_manifest};
pub use spec::{
    OutputSpec, SecretRef, StorageSpec, Tool, ToolArgs, TraceJob, TraceJobSpec, ValueType,
};
pub use status::{
    Artifact, NodePhase, NodeRecord, NodeStatus, Phase, Summary, SummaryRow, TraceJobStatus,
};
