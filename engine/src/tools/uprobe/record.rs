//! What one `uprobe` event (a returned call) decodes into.

use serde::Serialize;

/// One call of a probed user-space function.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallRecord {
    /// When it returned.
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub function: String,
    /// The first arguments, as `argTypes` says to record them.
    pub args: Vec<Value>,
    /// The return value as `returnType` says (absent for `none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ret: Option<Value>,
    pub latency_ns: u64,
}

/// A recorded argument or return value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Text(String),
    Null,
}
