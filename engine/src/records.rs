//! Events decoded from the ring buffer into owned, serialisable records.

use serde::Serialize;

pub use crate::tools::blockio::record::BlockRecord;
pub use crate::tools::exec::record::ExecRecord;
pub use crate::tools::open::record::{OpenRecord, open_flags};
pub use crate::tools::tcp::record::TcpRecord;
pub use crate::tools::uprobe::record::{CallRecord, Value};

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
