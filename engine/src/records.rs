//! Events decoded from the ring buffer into owned, serialisable records.

use serde::Serialize;
use tracejob_ebpf::layout::{OpenEvent, c_string};

pub use crate::tools::exec::record::ExecRecord;

/// One event of an event tool.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Event {
    Exec(ExecRecord),
    Open(OpenRecord),
    Block(BlockRecord),
    Tcp(TcpRecord),
    Call(CallRecord),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpenRecord {
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub comm: String,
    pub path: String,
    pub flags: String,
    /// The new file descriptor, or -errno.
    pub ret: i32,
}

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

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TcpRecord {
    /// When the connection closed.
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
    /// `connect` (this side opened it) or `accept`.
    pub direction: &'static str,
    /// False when the handshake never completed (refused, timed out, reset).
    pub established: bool,
    pub local: String,
    pub remote: String,
    pub duration_ns: u64,
    /// Payload bytes received, and sent and acknowledged.
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// connect: the connecting process; accept: the process that closed the socket.
    pub pid: u32,
    pub comm: String,
}

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

/// Converts the kernel's monotonic timestamps to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    realtime_minus_monotonic_ns: i128,
}

impl Clock {
    pub fn now() -> Self {
        let read = |clock| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: ts is a valid, writable timespec.
            unsafe { libc::clock_gettime(clock, &mut ts) };
            i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
        };
        Clock {
            realtime_minus_monotonic_ns: read(libc::CLOCK_REALTIME) - read(libc::CLOCK_MONOTONIC),
        }
    }

    pub fn wall_ns(self, monotonic_ns: u64) -> u64 {
        u64::try_from(i128::from(monotonic_ns) + self.realtime_minus_monotonic_ns).unwrap_or(0)
    }
}

impl OpenRecord {
    pub fn decode(raw: &OpenEvent, clock: Clock) -> Self {
        OpenRecord {
            timestamp_ns: clock.wall_ns(raw.timestamp_ns),
            cgroup_id: raw.cgroup_id,
            pid: raw.pid,
            tid: raw.tid,
            uid: raw.uid,
            comm: c_string(&raw.comm),
            path: c_string(&raw.path),
            flags: open_flags(raw.flags),
            ret: raw.ret,
        }
    }
}

/// `O_WRONLY|O_CREAT|O_CLOEXEC` style names for open(2) flags.
pub fn open_flags(flags: i32) -> String {
    let access = match flags & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    };
    const NAMED: [(i32, &str); 12] = [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_DSYNC, "O_DSYNC"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_PATH, "O_PATH"),
        (libc::O_TMPFILE & !libc::O_DIRECTORY, "O_TMPFILE"),
    ];
    let mut names = vec![access.to_owned()];
    let mut rest = flags & !libc::O_ACCMODE;
    for (bit, name) in NAMED {
        if rest & bit == bit && bit != 0 {
            names.push(name.to_owned());
            rest &= !bit;
        }
    }
    // O_LARGEFILE is implied on 64-bit; other bits are shown raw.
    rest &= !0o100000;
    if rest != 0 {
        names.push(format!("{rest:#o}"));
    }
    names.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_are_named_like_strace_does() {
        assert_eq!(open_flags(libc::O_RDONLY), "O_RDONLY");
        assert_eq!(
            open_flags(libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC),
            "O_WRONLY|O_CREAT|O_CLOEXEC"
        );
        assert_eq!(open_flags(libc::O_RDWR | libc::O_TRUNC), "O_RDWR|O_TRUNC");
    }
}
