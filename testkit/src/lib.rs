//! The gate every test that needs something beyond `cargo test` passes through: it
//! skips with a printed reason on a laptop, and fails when CI sets
//! `TRACEJOB_REQUIRE_ALL=1`, so a green CI always means the real thing ran.

use std::path::Path;

pub mod garage;

/// The switch CI sets to turn every skip into a failure.
pub const REQUIRE_ALL: &str = "TRACEJOB_REQUIRE_ALL";

/// True when `missing` is None. Otherwise prints why `test` is skipped and returns
/// false, or panics when [`REQUIRE_ALL`] is set to 1.
pub fn can_run(test: &str, missing: Option<&str>) -> bool {
    let Some(reason) = missing else { return true };
    if std::env::var(REQUIRE_ALL).as_deref() == Ok("1") {
        panic!("{test}: {reason}, and {REQUIRE_ALL}=1 forbids skipping");
    }
    eprintln!("skipped {test}: {reason} (set {REQUIRE_ALL}=1 to make this a failure)");
    false
}

/// What this machine lacks for loading BPF programs, if anything.
pub fn missing_for_bpf() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        Some("needs root to load BPF programs")
    } else if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        Some("needs a kernel with BTF (/sys/kernel/btf/vmlinux)")
    } else if !std::fs::read_to_string("/proc/self/mountinfo")
        .is_ok_and(|m| m.contains(" - cgroup2 "))
    {
        Some("needs a cgroup v2 hierarchy (run `make deps`)")
    } else {
        None
    }
}

/// The gate for real-kernel tests.
pub fn can_trace(test: &str) -> bool {
    can_run(test, missing_for_bpf())
}
