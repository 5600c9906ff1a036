//! The result of a job: what every output format (table, JSON, the status) is made from.

use serde::Serialize;

use crate::latency::Latency;
pub use crate::tools::blockio::rows::DeviceRow;
pub use crate::tools::exec::rows::ExecRow;
pub use crate::tools::open::rows::OpenRow;
pub use crate::tools::profile::rows::{FoldedStack, FunctionRow};
pub use crate::tools::syscalls::rows::SyscallRow;
pub use crate::tools::tcp::rows::PeerRow;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub tool: String,
    /// The attach type the programs used: tp_btf, raw_tracepoint or tracepoint.
    pub probe: String,
    /// Events the kernel handed to user space (for `syscalls`: syscalls counted).
    pub events: u64,
    /// Events lost anywhere: `lost_kernel + lost_user`. Never silently zero.
    pub lost: u64,
    /// Events the kernel dropped because the ring buffer was full.
    pub lost_kernel: u64,
    /// Events read but not delivered individually because the consumer fell behind
    /// (they are still counted in the per-key rows).
    pub lost_user: u64,
    pub duration_ms: u64,
    /// Event tools: events per cgroup id read from the ring buffer, most first (the node
    /// agent names each cgroup's pod). Empty for tools that aggregate in the kernel.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cgroups: Vec<CgroupEvents>,
    #[serde(flatten)]
    pub details: ToolSummary,
}

/// How many events one cgroup produced (id 0: cgroups beyond the job's key bound).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CgroupEvents {
    pub cgroup_id: u64,
    pub events: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ToolSummary {
    Syscalls {
        syscalls: Vec<SyscallRow>,
    },
    Exec {
        execs: Vec<ExecRow>,
    },
    Open {
        opens: Vec<OpenRow>,
    },
    /// Waits from runnable to running.
    Runqlat {
        runqueue: Latency,
    },
    /// Requests from issue to completion, per device.
    Blockio {
        devices: Vec<DeviceRow>,
    },
    /// Closed connections, by peer.
    Tcp {
        connections: u64,
        peers: Vec<PeerRow>,
    },
    Profile {
        samples: u64,
        frequency_hz: u32,
        /// The most sampled functions, by self samples.
        functions: Vec<FunctionRow>,
        /// Every distinct stack, most sampled first (also the `profile.folded` artifact).
        stacks: Vec<FoldedStack>,
    },
    /// Calls of a probed function (uprobe; funclatency and funccount where the kernel allows).
    Calls {
        functions: Vec<CallRow>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallRow {
    pub function: String,
    /// The binary or library (uprobe), or `kernel`.
    pub binary: String,
    #[serde(flatten)]
    pub latency: Latency,
}

impl ToolSummary {
    /// The summary of a one-function tool (uprobe, funclatency, funccount), with the
    /// number of calls it stands for.
    pub fn single_function(function: &str, binary: &str, latency: Latency) -> (u64, ToolSummary) {
        let calls = latency.count;
        let row = CallRow {
            function: function.to_owned(),
            binary: binary.to_owned(),
            latency,
        };
        (
            calls,
            ToolSummary::Calls {
                functions: vec![row],
            },
        )
    }
}
