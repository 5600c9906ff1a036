//! The `TraceJob` status: a bounded summary the operator writes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a TraceJob. It holds a size-bounded summary; full results live in
/// object storage.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceJobStatus {
    /// Pending, Running, Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// A human-readable reason for the phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Pods currently matched by the selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_pods: Option<u32>,
    /// Events captured across all nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// Events lost anywhere between the kernel and the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
}
