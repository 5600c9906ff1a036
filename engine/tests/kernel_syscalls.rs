//! The syscalls tool on the real kernel: exact counts from inside the target cgroup,
//! nothing from outside, every attach flavour, targets changed while running.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use support::{TestCgroup, Work, kernel_tests_can_run, run};
use tracejob_api::{Tool, ToolArgs};
use tracejob_engine::summary::{Summary, SyscallRow, ToolSummary};
use tracejob_engine::{EngineError, Job, JobConfig, ProbeKind};

fn syscalls_job(args: ToolArgs, probe: Option<ProbeKind>, targets: &[&TestCgroup]) -> Job {
    let mut config = JobConfig::new(Tool::Syscalls, args);
    config.probe = probe;
    let targets: Vec<_> = targets.iter().map(|c| c.target.clone()).collect();
    Job::start(&config, &targets).expect("start the syscalls job")
}

fn row<'a>(summary: &'a Summary, name: &str) -> Option<&'a SyscallRow> {
    let ToolSummary::Syscalls { syscalls } = &summary.details else {
        panic!("not a syscalls summary")
    };
    syscalls.iter().find(|row| row.name == name)
}

fn getppid_count(summary: &Summary) -> u64 {
    row(summary, "getppid").map_or(0, |row| row.latency.count)
}

#[test]
fn getppid_calls_in_the_target_cgroup_are_counted_exactly_and_outside_ones_not_at_all() {
    if !kernel_tests_can_run("syscalls exact count") {
        return;
    }
    let cgroup = TestCgroup::new();
    let job = syscalls_job(ToolArgs::default(), None, &[&cgroup]);
    run(Some(&cgroup), &Work::Getppid(1000));
    run(None, &Work::Getppid(777));
    let summary = job.stop().expect("stop");
    assert_eq!(getppid_count(&summary), 1000, "{summary:#?}");
    let getppid = row(&summary, "getppid").expect("getppid row");
    assert_eq!(getppid.errors, 0);
    assert_eq!(
        getppid
            .latency
            .histogram
            .iter()
            .map(|b| b.count)
            .sum::<u64>(),
        1000,
        "every call timed"
    );
    assert!(getppid.latency.max_ns > 0 && getppid.latency.p99_ns >= getppid.latency.p50_ns);
    assert_eq!(summary.lost, 0);
}

#[test]
fn every_attach_flavour_counts_the_same() {
    if !kernel_tests_can_run("syscalls per attach flavour") {
        return;
    }
    for probe in ProbeKind::PREFERENCE {
        let cgroup = TestCgroup::new();
        let job = syscalls_job(ToolArgs::default(), Some(probe), &[&cgroup]);
        // `<flavour>+<thread map>`: the map is kernel_thread_map's concern.
        assert_eq!(job.probe().split('+').next(), Some(probe.name()));
        let chosen = job.probe().to_owned();
        run(Some(&cgroup), &Work::Getppid(321));
        let summary = job.stop().expect("stop");
        assert_eq!(summary.probe, chosen);
        assert_eq!(getppid_count(&summary), 321, "{probe}");
    }
}

#[test]
fn failed_syscalls_are_counted_as_errors() {
    if !kernel_tests_can_run("syscalls errors") {
        return;
    }
    let cgroup = TestCgroup::new();
    let job = syscalls_job(ToolArgs::default(), None, &[&cgroup]);
    let missing = support::unique_path("missing");
    run(Some(&cgroup), &Work::open(&missing, 25));
    let summary = job.stop().expect("stop");
    let openat = row(&summary, "openat").expect("openat row");
    assert_eq!(
        (openat.latency.count, openat.errors),
        (25, 25),
        "{summary:#?}"
    );
}

#[test]
fn a_syscall_filter_counts_only_the_named_syscalls() {
    if !kernel_tests_can_run("syscalls filter") {
        return;
    }
    let cgroup = TestCgroup::new();
    let args = ToolArgs {
        syscalls: vec!["getppid".into()],
        ..ToolArgs::default()
    };
    let job = syscalls_job(args, None, &[&cgroup]);
    run(Some(&cgroup), &Work::Getppid(50));
    let summary = job.stop().expect("stop");
    let ToolSummary::Syscalls { syscalls } = &summary.details else {
        panic!()
    };
    let names: Vec<&str> = syscalls.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["getppid"]);
    assert_eq!(summary.events, 50);
}

#[test]
fn an_unknown_syscall_name_is_refused_before_anything_is_loaded() {
    let config = JobConfig::new(
        Tool::Syscalls,
        ToolArgs {
            syscalls: vec!["getpid2".into()],
            ..ToolArgs::default()
        },
    );
    let error = Job::start(&config, &[]).expect_err("unknown syscall");
    assert!(
        matches!(
            error,
            EngineError::UnknownSyscall { .. } | EngineError::NoBtf
        ),
        "{error}"
    );
    if let EngineError::UnknownSyscall { .. } = error {
        assert!(error.to_string().contains("\"getpid2\""), "{error}");
    }
}

#[test]
fn adding_a_cgroup_starts_counting_it_and_removing_it_stops() {
    if !kernel_tests_can_run("syscalls targets while running") {
        return;
    }
    let cgroup = TestCgroup::new();
    let mut job = syscalls_job(ToolArgs::default(), None, &[]);
    run(Some(&cgroup), &Work::Getppid(100));
    job.add_target(cgroup.target.clone()).expect("add");
    run(Some(&cgroup), &Work::Getppid(200));
    job.remove_target(cgroup.target.id).expect("remove");
    run(Some(&cgroup), &Work::Getppid(300));
    let summary = job.stop().expect("stop");
    assert_eq!(getppid_count(&summary), 200, "{summary:#?}");
}

#[test]
fn processes_in_cgroups_below_a_target_are_traced() {
    if !kernel_tests_can_run("syscalls nested cgroups") {
        return;
    }
    let parent = TestCgroup::new();
    let child = TestCgroup::under(parent.path());
    let job = syscalls_job(ToolArgs::default(), None, &[&parent]);
    run(Some(&child), &Work::Getppid(42));
    let summary = job.stop().expect("stop");
    assert_eq!(getppid_count(&summary), 42);
    drop(child);
}

#[test]
fn a_program_the_verifier_refuses_reports_the_verifiers_reason_for_each_flavour() {
    if !kernel_tests_can_run("verifier refusal") {
        return;
    }
    let mut ebpf = aya::Ebpf::load(tracejob_ebpf::objects::REJECTED_FOR_TESTS).expect("maps load");
    let error = tracejob_engine::probe::attach_syscall_hooks(&mut ebpf, "rejected", None)
        .expect_err("the verifier refuses this program");
    let EngineError::NoAttachPoint { failures, .. } = &error else {
        panic!("{error}")
    };
    assert_eq!(failures.len(), 3, "every flavour was tried: {error}");
    for (_, reason) in failures {
        assert!(
            reason.starts_with("the verifier rejected the program"),
            "{reason}"
        );
        assert!(
            reason.contains("invalid mem access"),
            "the verifier's own words: {reason}"
        );
    }
    assert!(
        error
            .to_string()
            .starts_with("no way to attach the rejected programs on this kernel: tp_btf: "),
        "{error}"
    );
}

#[test]
fn count_only_counts_calls_and_errors_exactly_without_timing_them() {
    if !kernel_tests_can_run("syscalls countOnly") {
        return;
    }
    let cgroup = TestCgroup::new();
    let args = ToolArgs {
        count_only: true,
        ..ToolArgs::default()
    };
    let job = syscalls_job(args, None, &[&cgroup]);
    run(Some(&cgroup), &Work::Getppid(600));
    run(
        Some(&cgroup),
        &Work::open(&support::unique_path("missing"), 9),
    );
    run(None, &Work::Getppid(100));
    let summary = job.stop().expect("stop");
    assert_eq!(getppid_count(&summary), 600);
    let openat = row(&summary, "openat").expect("openat row");
    assert_eq!((openat.latency.count, openat.errors), (9, 9));
    assert!(
        openat.latency.histogram.is_empty() && openat.latency.total_ns == 0,
        "no timing: {openat:?}"
    );
}
