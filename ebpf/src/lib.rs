//! The compiled eBPF objects, embedded 8-byte aligned as aya requires, and the
//! `#[repr(C)]` mirrors of the records they emit.

pub mod layout;

/// The compiled object of one tool.
pub mod objects {
    use aya::include_bytes_aligned;

    pub static EXEC: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/exec.bpf.o"));
    pub static OPEN: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/open.bpf.o"));
    pub static SYSCALLS: &[u8] =
        include_bytes_aligned!(concat!(env!("OUT_DIR"), "/syscalls.bpf.o"));

    /// The same tools built with task-local storage for a thread's syscall in flight
    /// (`programs/*.task_storage.bpf.c`): faster, and loadable only where the kernel
    /// has task storage for tracing programs.
    pub static OPEN_TASK_STORAGE: &[u8] =
        include_bytes_aligned!(concat!(env!("OUT_DIR"), "/open.task_storage.bpf.o"));
    pub static SYSCALLS_TASK_STORAGE: &[u8] =
        include_bytes_aligned!(concat!(env!("OUT_DIR"), "/syscalls.task_storage.bpf.o"));
    pub static PROFILE: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/profile.bpf.o"));

    pub static RUNQLAT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/runqlat.bpf.o"));

    pub static BLOCKIO: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/blockio.bpf.o"));

    pub static TCP: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcp.bpf.o"));

    pub static UPROBE: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/uprobe.bpf.o"));

    pub static FUNCLATENCY: &[u8] =
        include_bytes_aligned!(concat!(env!("OUT_DIR"), "/funclatency.bpf.o"));

    /// A program the verifier refuses, for testing how refusals are reported.
    pub static REJECTED_FOR_TESTS: &[u8] =
        include_bytes_aligned!(concat!(env!("OUT_DIR"), "/testing_rejected.bpf.o"));
}
