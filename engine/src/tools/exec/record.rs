//! How one `exec` ring-buffer record decodes into the API's `ExecRecord`.

use tracejob_ebpf::layout::{ExecEvent, c_string};

use crate::records::{Clock, ExecRecord};

pub fn decode(raw: &ExecEvent, clock: Clock) -> ExecRecord {
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
