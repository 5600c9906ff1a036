//! `tracejob run` on targets it did not start: --cgroup and --pid, with a duration,
//! and --all.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::*;

/// Starts tracejob with `args`, waits until it says it is tracing, runs `during`, and
/// returns its output once the duration has ended it.
fn trace_while(args: &[&str], during: impl FnOnce()) -> std::process::Output {
    let mut child = tracejob()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tracejob");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("tracejob ended before tracing: {seen}");
        }
        seen.push_str(&line);
        if line.starts_with("tracejob: tracing") {
            break;
        }
    }
    during();
    let mut output = child.wait_with_output().unwrap();
    std::io::Read::read_to_end(&mut stderr, &mut output.stderr).ok();
    output
}

fn in_new_cgroup(name: &str) -> std::path::PathBuf {
    let path = cgroup_root().join(format!("tracejob-cli-{name}-{}", std::process::id()));
    std::fs::create_dir(&path).expect("create a cgroup");
    path
}

fn run_workload_in(cgroup: &std::path::Path, args: &[&str]) {
    let procs = cgroup.join("cgroup.procs");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {} && exec \"$0\" \"$@\"",
            procs.display()
        ))
        .arg(workload())
        .args(args)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn an_existing_cgroup_is_traced_for_the_duration() {
    if !can_trace("run --cgroup") {
        return;
    }
    let cgroup = in_new_cgroup("cgroup");
    let output = trace_while(
        &[
            "run",
            manifest("syscalls").to_str().unwrap(),
            "--cgroup",
            cgroup.to_str().unwrap(),
            "--duration",
            "1s",
            "--format",
            "json",
        ],
        || {
            run_workload_in(&cgroup, &["getppid", "555"]);
            Command::new(workload())
                .args(["getppid", "1000"])
                .status()
                .unwrap();
        },
    );
    std::fs::remove_dir(&cgroup).ok();
    assert!(output.status.success(), "{}", stderr(&output));
    let (_, summary) = json_lines(&output);
    let getppid = summary["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "getppid")
        .unwrap();
    assert_eq!(getppid["count"], 555, "only the cgroup's calls");
}

#[test]
fn a_pid_is_traced_through_its_cgroup() {
    if !can_trace("run --pid") {
        return;
    }
    let cgroup = in_new_cgroup("pid");
    let mut sleeper = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec sleep 30",
            cgroup.display()
        ))
        .spawn()
        .unwrap();
    // wait until the sleeper is in its cgroup
    let pid = sleeper.id().to_string();
    while !std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap()
        .lines()
        .any(|l| l == pid)
    {
        std::thread::yield_now();
    }
    let output = trace_while(
        &[
            "run",
            manifest("open").to_str().unwrap(),
            "--pid",
            &pid,
            "--duration",
            "1s",
            "--format",
            "json",
        ],
        || run_workload_in(&cgroup, &["open", "/etc/hostname", "4"]),
    );
    sleeper.kill().ok();
    sleeper.wait().ok();
    std::fs::remove_dir(&cgroup).ok();
    assert!(output.status.success(), "{}", stderr(&output));
    let (events, _) = json_lines(&output);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["path"] == "/etc/hostname")
            .count(),
        4
    );
}

#[test]
fn all_traces_processes_in_any_cgroup() {
    if !can_trace("run --all") {
        return;
    }
    let path = unique_path("all");
    std::fs::write(&path, "x").unwrap();
    let output = trace_while(
        &[
            "run",
            manifest("open").to_str().unwrap(),
            "--all",
            "--duration",
            "1s",
            "--format",
            "json",
        ],
        || {
            Command::new(workload())
                .args(["open", &path, "3"])
                .status()
                .unwrap();
        },
    );
    std::fs::remove_file(&path).ok();
    assert!(output.status.success(), "{}", stderr(&output));
    let (events, _) = json_lines(&output);
    assert_eq!(
        events.iter().filter(|e| e["path"] == path.as_str()).count(),
        3
    );
}
