//! Rust mirrors of `include/tracejob.h`. `tests/layout.rs` has clang check each one's size
//! and field offsets against the header (static assertions), so a change on one side only
//! fails the build's tests.

pub const TASK_COMM_LEN: usize = 16;
pub const PATH_LEN: usize = 256;
pub const EXEC_MAX_ARGS: usize = 16;
pub const EXEC_ARG_LEN: usize = 64;
pub const HIST_BUCKETS: usize = 32;
pub const MAX_SYSCALLS: u32 = 512;
pub const MAX_CGROUP_LEVELS: u32 = 16;
pub const PROFILE_STACK_DEPTH: usize = 127;
pub const UPROBE_ARGS: usize = 4;
pub const UPROBE_STRING_LEN: usize = 128;

/// Value types of uprobe arguments and return values.
pub const VALUE_NONE: u32 = 0;
pub const VALUE_INT: u32 = 1;
pub const VALUE_POINTER: u32 = 2;
pub const VALUE_STRING: u32 = 3;
pub const VALUE_LONG: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TracejobConfig {
    pub trace_all: u32,
    pub level_mask: u32,
    pub wakeup_bytes: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecEvent {
    pub cgroup_id: u64,
    pub timestamp_ns: u64,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub ret: i32,
    pub argc: u32,
    pub args_truncated: u32,
    pub comm: [u8; TASK_COMM_LEN],
    pub filename: [u8; PATH_LEN],
    pub args: [[u8; EXEC_ARG_LEN]; EXEC_MAX_ARGS],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OpenEvent {
    pub cgroup_id: u64,
    pub timestamp_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub ret: i32,
    pub flags: i32,
    pub mode: u32,
    pub comm: [u8; TASK_COMM_LEN],
    pub path: [u8; PATH_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockEvent {
    pub cgroup_id: u64,
    pub timestamp_ns: u64,
    pub latency_ns: u64,
    pub sector: u64,
    pub dev: u32,
    pub bytes: u32,
    pub pid: u32,
    pub op: u32,
    pub error: i32,
    pub pad: u32,
    pub comm: [u8; TASK_COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TcpEvent {
    pub cgroup_id: u64,
    pub timestamp_ns: u64,
    pub duration_ns: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub pid: u32,
    pub family: u16,
    pub local_port: u16,
    pub remote_port: u16,
    pub direction: u8,
    pub established: u8,
    pub pad: u32,
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
    pub comm: [u8; TASK_COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CallEvent {
    pub cgroup_id: u64,
    pub timestamp_ns: u64,
    pub latency_ns: u64,
    pub args: [u64; UPROBE_ARGS],
    pub ret: i64,
    pub pid: u32,
    pub tid: u32,
    pub comm: [u8; TASK_COMM_LEN],
    pub arg_strings: [[u8; UPROBE_STRING_LEN]; UPROBE_ARGS],
    pub ret_string: [u8; UPROBE_STRING_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LatencyStats {
    pub count: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    pub hist: [u64; HIST_BUCKETS],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileKey {
    pub pid: u32,
    pub tgid: u32,
    pub user_stack_id: i32,
    pub kernel_stack_id: i32,
    pub comm: [u8; TASK_COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ProfileProcess {
    pub tgid: u32,
    pub reserved: u32,
}

// SAFETY: plain integer and byte-array structs with no padding holes that matter:
// every bit pattern is a valid value, as aya's map and ring-buffer reads require.
unsafe impl aya::Pod for TracejobConfig {}
// SAFETY: as above.
unsafe impl aya::Pod for LatencyStats {}
// SAFETY: as above.
unsafe impl aya::Pod for ProfileKey {}

impl ExecEvent {
    /// Decodes a ring-buffer record, or None when it is too short to be one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        read_record(bytes)
    }
}

impl CallEvent {
    /// Decodes a ring-buffer record, or None when it is too short to be one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        read_record(bytes)
    }
}

impl TcpEvent {
    /// Decodes a ring-buffer record, or None when it is too short to be one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        read_record(bytes)
    }
}

impl BlockEvent {
    /// Decodes a ring-buffer record, or None when it is too short to be one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        read_record(bytes)
    }
}

impl OpenEvent {
    /// Decodes a ring-buffer record, or None when it is too short to be one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        read_record(bytes)
    }
}

impl ProfileProcess {
    /// Decodes a ring-buffer record, or None when it is too short to be one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        read_record(bytes)
    }
}

fn read_record<T: Copy>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: the length is checked above, read_unaligned tolerates any alignment,
    // and T is only instantiated with the integer/byte-array records of this module.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// The text of a NUL-terminated C string field, lossily decoded.
pub fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}
