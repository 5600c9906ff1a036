//! What one `exec` event decodes into.

use serde::Serialize;
use tracejob_ebpf::layout::{ExecEvent, c_string};

use crate::records::Clock;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecRecord {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub comm: String,
    pub filename: String,
    pub argv: Vec<String>,
    /// The command had more arguments than the first ones recorded.
    pub argv_truncated: bool,
    /// 0, or -errno when the exec failed.
    pub ret: i32,
}

impl ExecRecord {
    pub fn decode(raw: &ExecEvent, clock: Clock) -> Self {
        let argc = (raw.argc as usize).min(raw.args.len());
        ExecRecord {
            timestamp_ns: clock.wall_ns(raw.timestamp_ns),
            cgroup_id: raw.cgroup_id,
            pid: raw.pid,
            ppid: raw.ppid,
            uid: raw.uid,
            comm: c_string(&raw.comm),
            filename: c_string(&raw.filename),
            argv: raw.args[..argc].iter().map(|arg| c_string(arg)).collect(),
            argv_truncated: raw.args_truncated != 0,
            ret: raw.ret,
        }
    }
}
