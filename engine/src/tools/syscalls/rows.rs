//! The `syscalls` summary's rows: one per syscall.

use serde::Serialize;

use crate::latency::Latency;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SyscallRow {
    pub name: String,
    pub nr: u32,
    pub errors: u64,
    /// Calls, and the latency of those that returned.
    #[serde(flatten)]
    pub latency: Latency,
}
