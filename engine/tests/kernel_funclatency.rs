//! funccount / funclatency on the real kernel. Where the kernel allows fentry or kprobes
//! they count a known number of calls exactly; where it allows neither (these machines:
//! fentry refused, no kprobe PMU) the job fails with a message that says so and names
//! the tools that do work, and this test checks the kernel really lacks both.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::path::Path;

use support::{TestCgroup, Work, kernel_tests_can_run, run};
use tracejob_api::{Tool, ToolArgs};
use tracejob_engine::summary::ToolSummary;
use tracejob_engine::{EngineError, Job, JobConfig};

fn function_job(tool: Tool, function: &str, cgroup: &TestCgroup) -> Result<Job, EngineError> {
    let args = ToolArgs {
        function: Some(function.into()),
        ..ToolArgs::default()
    };
    Job::start(
        &JobConfig::new(tool, args),
        std::slice::from_ref(&cgroup.target),
    )
}

#[test]
fn kernel_function_calls_are_counted_exactly_or_the_missing_kernel_support_is_explained() {
    if !kernel_tests_can_run("funccount") {
        return;
    }
    for tool in [Tool::Funccount, Tool::Funclatency] {
        let cgroup = TestCgroup::new();
        match function_job(tool, "__x64_sys_getppid", &cgroup) {
            Ok(job) => {
                run(Some(&cgroup), &Work::Getppid(250));
                run(None, &Work::Getppid(100));
                let summary = job.stop().unwrap();
                let ToolSummary::Calls { functions } = &summary.details else {
                    panic!("not a calls summary")
                };
                assert_eq!(functions[0].latency.count, 250, "{tool}: {summary:?}");
            }
            Err(error) => {
                let message = error.to_string();
                assert!(
                    matches!(error, EngineError::ToolUnavailable { .. }),
                    "{message}"
                );
                assert!(
                    error.is_environment(),
                    "reported as the kernel's limit, not the spec's"
                );
                for needle in ["fentry", "kprobe", "syscalls tool", "uprobe tool"] {
                    assert!(message.contains(needle), "{needle} in: {message}");
                }
                assert!(
                    !Path::new("/sys/bus/event_source/devices/kprobe").exists(),
                    "this kernel has kprobes, yet {tool} failed: {message}"
                );
            }
        }
    }
}

#[test]
fn a_name_that_is_not_a_kernel_function_is_refused() {
    if !kernel_tests_can_run("funclatency bad function") {
        return;
    }
    let cgroup = TestCgroup::new();
    let error = function_job(Tool::Funclatency, "no_such_kernel_function", &cgroup).unwrap_err();
    assert_eq!(
        error.to_string(),
        "spec.args.function: no_such_kernel_function is not a kernel function (not in /proc/kallsyms)"
    );
}
