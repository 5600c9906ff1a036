//! Both builds of the tools that keep a thread's syscall in flight (open, syscalls with
//! latency), each forced on the real kernel: task-local storage and the hash by thread
//! id count exactly the same, and a job that forces nothing starts the task storage
//! build where the kernel has it, else the hash one with the reason kept.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use support::{TestCgroup, Work, kernel_tests_can_run, run, unique_path};
use tracejob_api::{Tool, ToolArgs};
use tracejob_engine::records::Event;
use tracejob_engine::summary::{Summary, ToolSummary};
use tracejob_engine::{EngineError, Job, JobConfig, ProbeKind, ThreadMap};

/// 6.1 and newer let tracing programs use task storage (the matrix runs 6.1 and 6.12);
/// 5.10 has no task storage map. In between, either outcome is accepted here.
fn task_storage_required() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().unwrap().parse().unwrap();
    let minor: u32 = parts.next().unwrap().parse().unwrap();
    (major, minor) >= (6, 1)
}

/// Starts `config` with `map` forced, or None when this kernel refuses task storage and
/// may (the refusal must name the build).
fn start_with(
    mut config: JobConfig,
    map: ThreadMap,
    probe: Option<ProbeKind>,
    cgroup: &TestCgroup,
) -> Option<Job> {
    config.thread_map = Some(map);
    config.probe = probe;
    match Job::start(&config, std::slice::from_ref(&cgroup.target)) {
        Ok(job) => {
            let flavour = probe.map_or("tp_btf", ProbeKind::name);
            assert_eq!(job.probe(), format!("{flavour}+{map}"));
            Some(job)
        }
        Err(error @ EngineError::NoAttachPoint { .. })
            if map == ThreadMap::TaskStorage && !task_storage_required() =>
        {
            assert!(error.to_string().contains("task_storage"), "{error}");
            eprintln!("this kernel refuses task storage: {error}");
            None
        }
        Err(error) => panic!("{map} with {probe:?}: {error}"),
    }
}

fn getppid_count(summary: &Summary) -> (u64, u64) {
    let ToolSummary::Syscalls { syscalls } = &summary.details else {
        panic!("not a syscalls summary")
    };
    syscalls
        .iter()
        .find(|row| row.name == "getppid")
        .map_or((0, 0), |row| {
            let timed = row.latency.histogram.iter().map(|b| b.count).sum();
            (row.latency.count, timed)
        })
}

#[test]
fn syscalls_times_every_call_exactly_with_either_thread_map_and_every_flavour() {
    if !kernel_tests_can_run("syscalls per thread map") {
        return;
    }
    for map in ThreadMap::PREFERENCE {
        for probe in ProbeKind::PREFERENCE {
            let cgroup = TestCgroup::new();
            let config = JobConfig::new(Tool::Syscalls, ToolArgs::default());
            let Some(job) = start_with(config, map, Some(probe), &cgroup) else {
                continue;
            };
            run(Some(&cgroup), &Work::Getppid(1000));
            run(None, &Work::Getppid(777));
            let summary = job.stop().expect("stop");
            assert_eq!(
                getppid_count(&summary),
                (1000, 1000),
                "{map} {probe}: every call counted and timed"
            );
        }
    }
}

#[test]
fn open_reports_every_open_exactly_with_either_thread_map() {
    if !kernel_tests_can_run("open per thread map") {
        return;
    }
    let present = unique_path("present");
    std::fs::write(&present, b"x").expect("create the file");
    let missing = unique_path("missing");
    for map in ThreadMap::PREFERENCE {
        let cgroup = TestCgroup::new();
        let config = JobConfig::new(Tool::Open, ToolArgs::default());
        let Some(mut job) = start_with(config, map, None, &cgroup) else {
            continue;
        };
        let events = job.take_events().expect("event queue");
        run(Some(&cgroup), &Work::open(&present, 30));
        run(Some(&cgroup), &Work::open(&missing, 7));
        run(None, &Work::open(&present, 11));
        let summary = job.stop().expect("stop");
        let opens: Vec<_> = events
            .try_iter()
            .filter_map(|e| match e {
                Event::Open(open) => Some(open),
                _ => None,
            })
            .collect();
        let count = |path: &str| opens.iter().filter(|o| o.path == path).count();
        assert_eq!((count(&present), count(&missing)), (30, 7), "{map}");
        assert!(
            opens
                .iter()
                .filter(|o| o.path == missing)
                .all(|o| o.ret == -libc::ENOENT && o.flags == "O_RDONLY"),
            "{map}"
        );
        assert_eq!(summary.lost, 0);
    }
    std::fs::remove_file(&present).ok();
}

#[test]
fn the_task_storage_build_starts_where_the_kernel_has_it_else_the_hash_with_the_reason() {
    if !kernel_tests_can_run("thread map choice") {
        return;
    }
    for tool in [Tool::Open, Tool::Syscalls] {
        let cgroup = TestCgroup::new();
        let config = JobConfig::new(tool, ToolArgs::default());
        let job = Job::start(&config, std::slice::from_ref(&cgroup.target)).expect("start");
        if job.probe().ends_with("+task_storage") {
            assert!(job.passed_over().is_empty(), "{:?}", job.passed_over());
        } else {
            assert!(!task_storage_required(), "{tool:?}: {}", job.probe());
            assert!(job.probe().ends_with("+hash"), "{}", job.probe());
            let names: Vec<&str> = job.passed_over().iter().map(|(n, _)| n.as_str()).collect();
            assert!(
                !names.is_empty() && names.iter().all(|n| n.contains("task_storage")),
                "the reasons the faster build did not start: {names:?}"
            );
        }
    }
}

#[test]
fn counting_alone_keeps_no_entry_times_and_has_one_build() {
    if !kernel_tests_can_run("countOnly build") {
        return;
    }
    let cgroup = TestCgroup::new();
    let args = ToolArgs {
        count_only: true,
        ..ToolArgs::default()
    };
    let job = Job::start(
        &JobConfig::new(Tool::Syscalls, args.clone()),
        std::slice::from_ref(&cgroup.target),
    )
    .expect("start");
    assert_eq!(job.probe(), "tp_btf");
    drop(job);
    let mut config = JobConfig::new(Tool::Syscalls, args);
    config.thread_map = Some(ThreadMap::Hash);
    let error = Job::start(&config, std::slice::from_ref(&cgroup.target))
        .expect_err("no thread map to force");
    assert!(
        error.to_string().contains("keeps no per-thread state"),
        "{error}"
    );
}
