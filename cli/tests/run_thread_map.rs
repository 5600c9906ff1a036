//! `--thread-map` forces where open and syscalls keep a thread's syscall in flight: the
//! summary names the map after the flavour, the count stays exact, and a tool with no
//! such state refuses it by name.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use support::*;

#[test]
fn syscalls_forced_to_the_hash_says_so_and_counts_exactly() {
    if !can_trace("run --thread-map hash") {
        return;
    }
    let output = tracejob()
        .args(["run", manifest("syscalls").to_str().unwrap()])
        .args(["--format", "json", "--thread-map", "hash", "--"])
        .arg(workload())
        .args(["getppid", "777"])
        .output()
        .expect("run tracejob");
    assert!(output.status.success(), "{}", stderr(&output));
    let (_, summary) = json_lines(&output);
    assert!(
        summary["probe"].as_str().unwrap().ends_with("+hash"),
        "{summary:#}"
    );
    let getppid = summary["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == "getppid")
        .unwrap();
    assert_eq!(getppid["count"], 777);
    assert!(
        !stderr(&output).contains("not using"),
        "nothing was passed over: {}",
        stderr(&output)
    );
}

#[test]
fn a_tool_without_per_thread_state_refuses_a_thread_map_by_name() {
    if !can_trace("run exec --thread-map") {
        return;
    }
    let output = tracejob()
        .args(["run", manifest("exec").to_str().unwrap()])
        .args([
            "--duration",
            "5s",
            "--thread-map",
            "task_storage",
            "--",
            "true",
        ])
        .output()
        .expect("run tracejob");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let error = stderr(&output);
    assert!(
        error.contains("task_storage: the exec tool keeps no per-thread state"),
        "{error}"
    );
}
