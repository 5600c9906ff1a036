//! Whether the programs may ask the kernel for the current task's ancestor cgroups
//! (`bpf_get_current_ancestor_cgroup_id`) or must read the ancestry themselves: tracing
//! programs may call that helper only on newer kernels (5.10 refuses it as "unknown func").
//! One tiny program load per process finds out; every object gets the answer as its
//! `cgroup_walk` global, and the verifier drops the path not taken.

use std::sync::OnceLock;

/// The `cgroup_walk` global every object declares (ebpf/include/common.bpf.h).
pub const GLOBAL: &str = "cgroup_walk";

/// 1 when the running kernel refuses the helper to tracing programs, else 0.
pub fn value() -> u32 {
    static VALUE: OnceLock<u32> = OnceLock::new();
    *VALUE.get_or_init(|| u32::from(helper_refused()))
}

/// Loads `r1 = 0; call bpf_get_current_ancestor_cgroup_id; r0 = 0; exit` as a raw
/// tracepoint program (tracing programs of every type share that helper list).
/// EINVAL is the verifier's refusal; any other failure (no privilege) leaves the helper
/// path in place, whose own load then reports the real reason.
fn helper_refused() -> bool {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
    const BPF_FUNC_GET_CURRENT_ANCESTOR_CGROUP_ID: i32 = 123;
    // code, dst/src registers, offset, immediate: struct bpf_insn.
    let insn = |code: u8, dst: u8, imm: i32| -> u64 {
        u64::from(code) | u64::from(dst) << 8 | u64::from(imm as u32) << 32
    };
    let program = [
        insn(0xb7, 1, 0),                                       // mov64 r1, 0
        insn(0x85, 0, BPF_FUNC_GET_CURRENT_ANCESTOR_CGROUP_ID), // call
        insn(0xb7, 0, 0),                                       // mov64 r0, 0
        insn(0x95, 0, 0),                                       // exit
    ];
    let license = c"GPL";
    // The leading fields of union bpf_attr for BPF_PROG_LOAD; the rest stays zero.
    #[repr(C)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        rest: [u64; 13],
    }
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_RAW_TRACEPOINT,
        insn_cnt: program.len() as u32,
        insns: program.as_ptr() as u64,
        license: license.as_ptr() as u64,
        rest: [0; 13],
    };
    // SAFETY: attr and the buffers it points to outlive the call; the kernel reads
    // size_of::<ProgLoad>() bytes of attr and writes nothing into it for this command.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &raw const attr,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd >= 0 {
        // SAFETY: fd is the program the kernel just returned, closed once.
        unsafe { libc::close(fd as libc::c_int) };
        return false;
    }
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_a_flag_and_the_same_every_time() {
        let first = value();
        assert!(first <= 1);
        assert_eq!(value(), first);
    }
}
