//! The profile tool on the real kernel: a process spinning in a named function inside
//! the target cgroup tops the profile, its frames are named although it exited before
//! the job ended, and a process spinning outside the cgroup is not sampled at all.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::time::{Duration, Instant};

use support::{TestCgroup, Work, kernel_tests_can_run, run};
use tracejob_api::{Tool, ToolArgs};
use tracejob_engine::summary::{Summary, ToolSummary};
use tracejob_engine::{Job, JobConfig};

/// Burns CPU in the calling function itself: no calls in the loop but the clock read,
/// so nearly every sample lands in the function that expands it.
macro_rules! spin_for {
    ($duration:expr) => {{
        let until = Instant::now() + $duration;
        while Instant::now() < until {
            let mut i = 0u32;
            while i < 200_000 {
                i += 1;
                // SAFETY: an empty asm block; it only keeps the loop from being removed.
                unsafe { std::arch::asm!("", options(nomem, nostack)) };
            }
        }
    }};
}

const SPIN: Duration = Duration::from_millis(1500);

#[inline(never)]
fn spin_inside_the_target_cgroup() {
    spin_for!(SPIN);
}

#[inline(never)]
fn spin_outside_the_target_cgroup() {
    spin_for!(SPIN);
}

fn profile_details(summary: &Summary) -> (&[tracejob_engine::summary::FunctionRow], String) {
    let ToolSummary::Profile {
        functions, stacks, ..
    } = &summary.details
    else {
        panic!("not a profile summary: {summary:#?}")
    };
    let folded = stacks
        .iter()
        .map(|s| format!("{} {}\n", s.stack, s.count))
        .collect();
    (functions, folded)
}

#[test]
fn a_function_spinning_in_the_target_cgroup_tops_the_profile_and_one_outside_is_absent() {
    if !kernel_tests_can_run("profile top function") {
        return;
    }
    let cgroup = TestCgroup::new();
    let job = Job::start(
        &JobConfig::new(Tool::Profile, ToolArgs::default()),
        std::slice::from_ref(&cgroup.target),
    )
    .expect("start the profile job");
    assert_eq!(job.probe(), "perf_event");
    run(Some(&cgroup), &Work::Call(spin_inside_the_target_cgroup));
    run(None, &Work::Call(spin_outside_the_target_cgroup));
    let summary = job.stop().expect("stop");

    let (functions, folded) = profile_details(&summary);
    let top = &functions[0];
    assert!(
        top.function.ends_with("spin_inside_the_target_cgroup") && !top.kernel,
        "top function: {functions:#?}"
    );
    // 1.5 s at 99 Hz is about 148 samples on an idle CPU; the test machines are shared.
    assert!(top.self_samples >= 20, "{top:?}");
    assert!(top.self_samples * 2 > summary.events, "{summary:#?}");
    assert!(
        folded
            .lines()
            .any(|l| l.contains("spin_inside_the_target_cgroup")),
        "{folded}"
    );
    assert!(!folded.contains("spin_outside"), "{folded}");
    assert_eq!(summary.lost, 0);

    let artifacts = tracejob_engine::artifacts::of(&summary);
    let names: Vec<&str> = artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["profile.folded", "profile.svg"]);
    assert_eq!(String::from_utf8_lossy(&artifacts[0].bytes), folded);
    let svg = String::from_utf8_lossy(&artifacts[1].bytes);
    assert!(svg.contains("spin_inside_the_target_cgroup"));
    assert!(!svg.contains("spin_outside"));
}

#[test]
fn a_profile_with_no_target_activity_is_empty_but_valid() {
    if !kernel_tests_can_run("profile empty") {
        return;
    }
    let cgroup = TestCgroup::new();
    let job = Job::start(
        &JobConfig::new(Tool::Profile, ToolArgs::default()),
        std::slice::from_ref(&cgroup.target),
    )
    .expect("start the profile job");
    run(None, &Work::Call(spin_outside_the_target_cgroup));
    let summary = job.stop().expect("stop");
    let (functions, folded) = profile_details(&summary);
    assert_eq!(summary.events, 0);
    assert!(functions.is_empty() && folded.is_empty());
    let svg = &tracejob_engine::artifacts::of(&summary)[1].bytes;
    assert!(String::from_utf8_lossy(svg).trim_end().ends_with("</svg>"));
}
