//! What one `blockio` event (with `perRequest`) decodes into.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockRecord {
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    /// The disk's name (`vda`), or `major:minor` when /sys does not know it.
    pub device: String,
    pub op: &'static str,
    pub sector: u64,
    pub bytes: u32,
    /// From issue to the device until completion.
    pub latency_ns: u64,
    /// The process that submitted the request.
    pub pid: u32,
    pub comm: String,
    /// The block layer's status: 0 on success.
    pub error: i32,
}
