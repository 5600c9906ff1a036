//! The result of a job: what every output format (table, JSON, the status) is made from.
//! The types live in `tracejob_api::summary` (the node agent sends them typed, the
//! operator writes them); the engine fills them.

pub use tracejob_api::summary::{
    CallRow, CgroupEvents, DeviceRow, ExecRow, FoldedStack, FunctionRow, OpenRow, PeerRow, Summary,
    SyscallRow, ToolSummary,
};
