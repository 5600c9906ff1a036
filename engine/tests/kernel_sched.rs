//! The runqlat tool on the real kernel: a process made to wait behind a busy one on
//! the same CPU shows run-queue latency; a process outside the cgroup is not counted.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use support::{Hog, TestCgroup, Work, kernel_tests_can_run, run};
use tracejob_api::{Tool, ToolArgs};
use tracejob_engine::summary::ToolSummary;
use tracejob_engine::{Job, JobConfig};

#[test]
fn a_sleeper_behind_a_busy_process_shows_run_queue_latency_and_outsiders_are_not_counted() {
    if !kernel_tests_can_run("runqlat") {
        return;
    }
    const SLEEPS: u64 = 100;
    let cgroup = TestCgroup::new();
    let job = Job::start(
        &JobConfig::new(Tool::Runqlat, ToolArgs::default()),
        std::slice::from_ref(&cgroup.target),
    )
    .unwrap();
    let hog = Hog::on_cpu(0);
    run(
        Some(&cgroup),
        &Work::Sleeps {
            times: SLEEPS as u32,
            micros: 200,
            cpu: 0,
        },
    );
    run(
        None,
        &Work::Sleeps {
            times: 3 * SLEEPS as u32,
            micros: 200,
            cpu: 0,
        },
    );
    drop(hog);
    let summary = job.stop().unwrap();
    let ToolSummary::Runqlat { runqueue } = &summary.details else {
        panic!("not a runqlat summary")
    };
    // A sleep whose timer fires before the task has switched out never blocks, so a few
    // of the wake-ups may not be run-queue waits; nearly all are.
    assert!(
        runqueue.count >= SLEEPS * 9 / 10,
        "(nearly) every wake-up waits once: {runqueue:?}"
    );
    assert!(
        runqueue.count < 2 * SLEEPS,
        "the outside sleeper's 300 wake-ups are not counted: {runqueue:?}"
    );
    assert!(
        runqueue.max_ns >= 100_000,
        "behind a busy process some waits are long: {runqueue:?}"
    );
    assert_eq!(
        runqueue.histogram.iter().map(|b| b.count).sum::<u64>(),
        runqueue.count
    );
    assert_eq!(summary.events, runqueue.count);
}
