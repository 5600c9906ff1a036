//! The Rust mirrors must match the C layouts byte for byte. This writes C static
//! assertions from Rust's view of each struct and has clang check them with the same
//! target and header the programs are built with.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

use std::mem::{offset_of, size_of};
use std::process::Command;

use tracejob_ebpf::layout::{
    BlockEvent, CallEvent, ExecEvent, LatencyStats, OpenEvent, ProfileKey, ProfileProcess,
    TcpEvent, TracejobConfig,
};

macro_rules! layout_asserts {
    ($c_name:literal, $rust:ty, [$($field:ident),* $(,)?]) => {{
        let mut lines = vec![format!(
            "_Static_assert(sizeof(struct {}) == {}, \"size of {}\");",
            $c_name, size_of::<$rust>(), $c_name
        )];
        $(lines.push(format!(
            "_Static_assert(__builtin_offsetof(struct {}, {}) == {}, \"{}.{}\");",
            $c_name, stringify!($field), offset_of!($rust, $field), $c_name, stringify!($field)
        ));)*
        lines
    }};
}

#[test]
fn rust_mirrors_match_the_c_layouts_of_the_shared_header() {
    let mut source = String::from("typedef unsigned int __u32; typedef int __s32;\n");
    source.push_str("typedef unsigned long long __u64; typedef unsigned char __u8; typedef unsigned short __u16; typedef long long __s64;\n");
    source.push_str("#include \"tracejob.h\"\n");
    let asserts = [
        layout_asserts!(
            "tracejob_config",
            TracejobConfig,
            [trace_all, level_mask, wakeup_bytes]
        ),
        layout_asserts!(
            "exec_event",
            ExecEvent,
            [
                cgroup_id,
                timestamp_ns,
                pid,
                ppid,
                uid,
                ret,
                argc,
                args_truncated,
                comm,
                filename,
                args
            ]
        ),
        layout_asserts!(
            "open_event",
            OpenEvent,
            [
                cgroup_id,
                timestamp_ns,
                pid,
                tid,
                uid,
                ret,
                flags,
                mode,
                comm,
                path
            ]
        ),
        layout_asserts!(
            "block_event",
            BlockEvent,
            [
                cgroup_id,
                timestamp_ns,
                latency_ns,
                sector,
                dev,
                bytes,
                pid,
                op,
                error,
                pad,
                comm
            ]
        ),
        layout_asserts!(
            "tcp_event",
            TcpEvent,
            [
                cgroup_id,
                timestamp_ns,
                duration_ns,
                rx_bytes,
                tx_bytes,
                pid,
                family,
                local_port,
                remote_port,
                direction,
                established,
                pad,
                local_addr,
                remote_addr,
                comm
            ]
        ),
        layout_asserts!(
            "call_event",
            CallEvent,
            [
                cgroup_id,
                timestamp_ns,
                latency_ns,
                args,
                ret,
                pid,
                tid,
                comm,
                arg_strings,
                ret_string
            ]
        ),
        layout_asserts!(
            "latency_stats",
            LatencyStats,
            [count, errors, total_ns, max_ns, hist]
        ),
        layout_asserts!(
            "profile_key",
            ProfileKey,
            [pid, tgid, user_stack_id, kernel_stack_id, comm]
        ),
        layout_asserts!("profile_process", ProfileProcess, [tgid, reserved]),
    ];
    for line in asserts.iter().flatten() {
        source.push_str(line);
        source.push('\n');
    }
    let dir = std::env::temp_dir().join(format!("tracejob-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    let file = dir.join("layout.c");
    std::fs::write(&file, source).expect("write the assertion file");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang-19".to_owned());
    let output = Command::new(&clang)
        .args(["-target", "bpf", "-fsyntax-only", "-I"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/include"))
        .arg(&file)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {clang} (run `make deps`): {error}"));
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        output.status.success(),
        "Rust and C layouts differ:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_tool_object_is_embedded_as_an_elf_file() {
    for object in [
        tracejob_ebpf::objects::EXEC,
        tracejob_ebpf::objects::OPEN,
        tracejob_ebpf::objects::SYSCALLS,
    ] {
        assert_eq!(&object[..4], b"\x7fELF");
        assert_eq!(
            object.as_ptr() as usize % 8,
            0,
            "objects must be 8-byte aligned for aya"
        );
    }
}
