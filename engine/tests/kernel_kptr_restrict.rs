//! The profile tool with `kernel.kptr_restrict=2` on the real kernel: kernel frames are
//! sampled but reach the summary, the folded stacks and the flame graph without their
//! addresses. A test binary of its own: it changes a machine-wide setting for its duration.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use support::{TestCgroup, Work, kernel_tests_can_run, run};
use tracejob_api::{Tool, ToolArgs};
use tracejob_engine::summary::ToolSummary;
use tracejob_engine::{Job, JobConfig};

const SETTING: &str = "/proc/sys/kernel/kptr_restrict";

/// Sets kptr_restrict and puts the old value back when dropped.
struct KptrRestrict {
    old: String,
}

impl KptrRestrict {
    fn set(value: &str) -> Self {
        let old = std::fs::read_to_string(SETTING).unwrap();
        std::fs::write(SETTING, value).unwrap();
        KptrRestrict { old }
    }
}

impl Drop for KptrRestrict {
    fn drop(&mut self) {
        let _ = std::fs::write(SETTING, self.old.trim());
    }
}

#[test]
fn with_kptr_restrict_2_no_kernel_address_reaches_a_profile() {
    if !kernel_tests_can_run("profile under kptr_restrict=2") {
        return;
    }
    let _restricted = KptrRestrict::set("2");
    let cgroup = TestCgroup::new();
    let job = Job::start(
        &JobConfig::new(Tool::Profile, ToolArgs::default()),
        std::slice::from_ref(&cgroup.target),
    )
    .unwrap();
    // Syscalls all along: most samples land in the kernel.
    run(Some(&cgroup), &Work::Getppid(3_000_000));
    let summary = job.stop().unwrap();

    let ToolSummary::Profile {
        functions, stacks, ..
    } = &summary.details
    else {
        panic!("not a profile summary")
    };
    let kernel: Vec<&str> = functions
        .iter()
        .filter(|f| f.kernel)
        .map(|f| f.function.as_str())
        .collect();
    assert!(
        !kernel.is_empty(),
        "kernel frames were sampled: {functions:#?}"
    );
    assert!(kernel.iter().all(|f| *f == "[kernel]"), "{kernel:?}");
    let folded: String = stacks.iter().map(|s| format!("{}\n", s.stack)).collect();
    assert!(!folded.contains("0xffff"), "{folded}");
    for artifact in tracejob_engine::artifacts::of(&summary) {
        let text = String::from_utf8_lossy(&artifact.bytes);
        assert!(!text.contains("0xffff"), "{}", artifact.name);
    }
}
