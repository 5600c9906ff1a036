//! The event tools (open, exec) on the real kernel: exact events from inside the
//! target cgroup, none from outside, and lost events accounted for when the ring
//! buffer is too small.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use support::{TestCgroup, Work, kernel_tests_can_run, run, unique_path};
use tracejob_api::{Tool, ToolArgs};
use tracejob_engine::records::Event;
use tracejob_engine::summary::ToolSummary;
use tracejob_engine::{Job, JobConfig};

fn start(config: JobConfig, cgroup: &TestCgroup) -> Job {
    Job::start(&config, std::slice::from_ref(&cgroup.target)).expect("start the job")
}

fn collect(job: &mut Job) -> Vec<Event> {
    job.take_events().expect("event queue").try_iter().collect()
}

#[test]
fn opens_of_a_unique_path_are_seen_exactly_with_errno_for_a_missing_one() {
    if !kernel_tests_can_run("open exact events") {
        return;
    }
    let cgroup = TestCgroup::new();
    let present = unique_path("present");
    std::fs::write(&present, b"x").expect("create the file");
    let missing = unique_path("missing");
    let mut job = start(JobConfig::new(Tool::Open, ToolArgs::default()), &cgroup);
    let events = job.take_events().expect("event queue");
    run(Some(&cgroup), &Work::open(&present, 30));
    run(Some(&cgroup), &Work::open(&missing, 7));
    run(None, &Work::open(&present, 11));
    let summary = job.stop().expect("stop");
    std::fs::remove_file(&present).ok();

    let opens: Vec<_> = events
        .try_iter()
        .filter_map(|e| match e {
            Event::Open(open) => Some(open),
            _ => None,
        })
        .collect();
    let of_present: Vec<_> = opens.iter().filter(|o| o.path == present).collect();
    let of_missing: Vec<_> = opens.iter().filter(|o| o.path == missing).collect();
    assert_eq!(of_present.len(), 30);
    assert!(
        of_present
            .iter()
            .all(|o| o.ret >= 0 && o.flags == "O_RDONLY")
    );
    assert_eq!(of_missing.len(), 7);
    assert!(of_missing.iter().all(|o| o.ret == -libc::ENOENT));
    let ToolSummary::Open { opens: rows } = &summary.details else {
        panic!("not an open summary")
    };
    let row = rows
        .iter()
        .find(|r| r.path == present)
        .expect("row for the present path");
    assert_eq!((row.count, row.errors), (30, 0));
    let row = rows
        .iter()
        .find(|r| r.path == missing)
        .expect("row for the missing path");
    assert_eq!((row.count, row.errors), (7, 7));
    assert_eq!(summary.lost, 0);
}

#[test]
fn failed_only_reports_just_the_failed_opens() {
    if !kernel_tests_can_run("open failedOnly") {
        return;
    }
    let cgroup = TestCgroup::new();
    let present = unique_path("present");
    std::fs::write(&present, b"x").expect("create the file");
    let missing = unique_path("missing");
    let mut job = start(
        JobConfig::new(
            Tool::Open,
            ToolArgs {
                failed_only: true,
                ..ToolArgs::default()
            },
        ),
        &cgroup,
    );
    run(Some(&cgroup), &Work::open(&present, 5));
    run(Some(&cgroup), &Work::open(&missing, 3));
    let events = collect(&mut job);
    let summary = job.stop().expect("stop");
    std::fs::remove_file(&present).ok();
    let ToolSummary::Open { opens } = &summary.details else {
        panic!()
    };
    assert!(opens.iter().all(|r| r.path != present), "{opens:?}");
    assert_eq!(
        opens.iter().find(|r| r.path == missing).map(|r| r.count),
        Some(3)
    );
    drop(events);
}

#[test]
fn execs_of_a_binary_are_seen_exactly_with_filename_and_parent() {
    if !kernel_tests_can_run("exec exact events") {
        return;
    }
    let cgroup = TestCgroup::new();
    let mut job = start(JobConfig::new(Tool::Exec, ToolArgs::default()), &cgroup);
    let events = job.take_events().expect("event queue");
    run(Some(&cgroup), &Work::exec("/bin/true", 12));
    run(Some(&cgroup), &Work::exec("/nonexistent/tracejob", 2));
    run(None, &Work::exec("/bin/true", 9));
    let summary = job.stop().expect("stop");
    let execs: Vec<_> = events
        .try_iter()
        .filter_map(|e| match e {
            Event::Exec(exec) => Some(exec),
            _ => None,
        })
        .collect();
    let of_true: Vec<_> = execs.iter().filter(|e| e.filename == "/bin/true").collect();
    assert_eq!(of_true.len(), 12, "{execs:#?}");
    assert!(
        of_true
            .iter()
            .all(|e| e.ret == 0 && e.comm == "true" && e.argv == ["/bin/true"] && e.ppid != 0)
    );
    let failed: Vec<_> = execs
        .iter()
        .filter(|e| e.filename == "/nonexistent/tracejob")
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|e| e.ret == -libc::ENOENT));
    let ToolSummary::Exec { execs: rows } = &summary.details else {
        panic!("not an exec summary")
    };
    assert_eq!(
        rows.iter()
            .find(|r| r.filename == "/bin/true")
            .map(|r| r.count),
        Some(12)
    );
}

#[test]
fn with_a_tiny_ring_buffer_reported_plus_lost_equals_what_the_workload_did() {
    if !kernel_tests_can_run("lost-event accounting") {
        return;
    }
    let cgroup = TestCgroup::new();
    let path = unique_path("flood");
    std::fs::write(&path, b"x").expect("create the file");
    let mut config = JobConfig::new(Tool::Open, ToolArgs::default());
    config.ring_buffer_bytes = 4096;
    config.event_queue = 0;
    let job = start(config, &cgroup);
    const OPENS: u64 = 20_000;
    run(Some(&cgroup), &Work::open(&path, OPENS as u32));
    let summary = job.stop().expect("stop");
    std::fs::remove_file(&path).ok();
    let ToolSummary::Open { opens } = &summary.details else {
        panic!()
    };
    let seen = opens.iter().find(|r| r.path == path).map_or(0, |r| r.count);
    assert!(
        summary.lost_kernel > 0,
        "a 4 KiB ring buffer cannot hold 20,000 events: {summary:?}"
    );
    assert_eq!(seen + summary.lost_kernel, OPENS, "{summary:?}");
    assert_eq!(summary.lost, summary.lost_kernel + summary.lost_user);
}

#[test]
fn a_consumer_that_falls_behind_is_counted_as_user_space_loss() {
    if !kernel_tests_can_run("user-space loss accounting") {
        return;
    }
    let cgroup = TestCgroup::new();
    let path = unique_path("slow-consumer");
    std::fs::write(&path, b"x").expect("create the file");
    let mut config = JobConfig::new(Tool::Open, ToolArgs::default());
    config.event_queue = 10;
    let mut job = start(config, &cgroup);
    let events = job.take_events().expect("event queue");
    run(Some(&cgroup), &Work::open(&path, 500));
    let summary = job.stop().expect("stop");
    std::fs::remove_file(&path).ok();
    let delivered = events
        .try_iter()
        .filter(|e| matches!(e, Event::Open(o) if o.path == path))
        .count() as u64;
    assert_eq!(delivered, 10, "the queue holds 10");
    assert_eq!(summary.lost_user, 490, "{summary:?}");
    let ToolSummary::Open { opens } = &summary.details else {
        panic!()
    };
    assert_eq!(
        opens.iter().find(|r| r.path == path).map(|r| r.count),
        Some(500),
        "rows count every event read"
    );
}
