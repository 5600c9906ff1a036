//! `tracejob run` end to end through the binary: a command it starts, both formats,
//! files written with --output, the command's exit status passed through.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::collections::HashMap;

use support::*;

#[test]
fn json_output_counts_the_commands_getppid_calls_exactly() {
    if !can_trace("run syscalls json") {
        return;
    }
    let output = tracejob()
        .args([
            "run",
            manifest("syscalls").to_str().unwrap(),
            "--format",
            "json",
            "--",
        ])
        .arg(workload())
        .args(["getppid", "4321"])
        .output()
        .expect("run tracejob");
    assert!(output.status.success(), "{}", stderr(&output));
    let (events, summary) = json_lines(&output);
    assert!(
        events.is_empty(),
        "syscalls aggregates in the kernel: no events"
    );
    assert_eq!(summary["tool"], "syscalls");
    // `<flavour>+<thread map>`: the syscalls tool times calls with one of two maps.
    let (flavour, map) = summary["probe"].as_str().unwrap().split_once('+').unwrap();
    assert!(["tp_btf", "raw_tracepoint", "tracepoint"].contains(&flavour));
    assert!(["task_storage", "hash"].contains(&map));
    assert_eq!(summary["lost"], 0);
    assert!(summary["duration_ms"].is_u64());
    let getppid = summary["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == "getppid")
        .unwrap();
    assert_eq!(getppid["count"], 4321);
    assert_eq!(getppid["errors"], 0);
    assert!(
        stderr(&output).contains("pod selector is ignored"),
        "the selector note is printed once"
    );
}

#[test]
fn table_output_shows_each_open_then_a_summary_row() {
    if !can_trace("run open table") {
        return;
    }
    let path = unique_path("table");
    std::fs::write(&path, "x").unwrap();
    let output = tracejob()
        .args(["run", manifest("open").to_str().unwrap(), "--"])
        .arg(workload())
        .args(["open", &path, "9"])
        .output()
        .expect("run tracejob");
    std::fs::remove_file(&path).ok();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let event_lines = text
        .lines()
        .filter(|l| l.ends_with(&path) && l.contains("O_RDONLY"))
        .count();
    assert_eq!(event_lines, 9, "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["9", "0", path.as_str()]),
        "{text}"
    );
    assert!(text.contains("open via "), "{text}");
}

#[test]
fn output_dir_holds_every_event_and_the_summary_and_each_event_names_its_command_and_cgroup() {
    if !can_trace("run exec --output") {
        return;
    }
    let dir = std::env::temp_dir().join(unique_path("out").trim_start_matches("/tmp/"));
    let output = tracejob()
        .args([
            "run",
            manifest("exec").to_str().unwrap(),
            "--format",
            "json",
            "--output",
        ])
        .arg(&dir)
        .arg("--")
        .arg(workload())
        .args(["exec", "/bin/true", "6"])
        .output()
        .expect("run tracejob");
    assert!(output.status.success(), "{}", stderr(&output));
    let events = output_events(&dir);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("summary.json")).expect("summary.json"),
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let execs: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of_true: Vec<_> = execs
        .iter()
        .filter(|e| e["filename"] == "/bin/true")
        .collect();
    assert_eq!(of_true.len(), 6);
    assert!(
        of_true
            .iter()
            .all(|e| e["ret"] == 0 && e["argv"][0] == "/bin/true" && e["tool"] == "exec")
    );
    let command = format!("{} exec /bin/true 6", workload().display());
    assert!(
        execs.iter().all(|e| e["command"] == command.as_str()
            && e["cgroup"]
                .as_str()
                .is_some_and(|c| c.starts_with('/') && c.contains("tracejob-run-"))),
        "every event names the command and its cgroup: {execs:?}"
    );
    let rows: HashMap<&str, u64> = summary["execs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["filename"].as_str().unwrap(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows["/bin/true"], 6);
    assert_eq!(
        summary["events"].as_u64().unwrap() as usize,
        execs.len(),
        "every event is in the file"
    );
    let (stdout_events, _) = json_lines(&output);
    assert_eq!(stdout_events.len(), execs.len());
    // Standard output says "type": "event"; otherwise the line is the file's.
    let mut first = stdout_events[0].clone();
    first.as_object_mut().expect("an object").remove("type");
    assert_eq!(first, execs[0]);
}

#[test]
fn the_exit_status_is_the_traced_commands() {
    if !can_trace("run exit status") {
        return;
    }
    let output = tracejob()
        .args([
            "run",
            manifest("syscalls").to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "exit 7",
        ])
        .output()
        .expect("run tracejob");
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
}

#[test]
fn the_manifest_can_come_from_standard_input() {
    if !can_trace("run manifest from stdin") {
        return;
    }
    use std::io::Write;
    let mut child = tracejob()
        .args(["run", "-", "--format", "json", "--"])
        .arg(workload())
        .args(["getppid", "77"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tracejob");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"apiVersion: tracejob.io/v1alpha1\nkind: TraceJob\nmetadata: {name: t}\nspec: {tool: syscalls, args: {syscalls: [getppid]}}\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let (_, summary) = json_lines(&output);
    assert_eq!(
        summary["syscalls"].as_array().unwrap().len(),
        1,
        "only the filtered syscall"
    );
    assert_eq!(summary["syscalls"][0]["count"], 77);
    assert!(
        !stderr(&output).contains("selector is ignored"),
        "no selector, no note"
    );
}

#[test]
fn a_command_running_past_the_duration_is_stopped_and_the_summary_still_written() {
    if !can_trace("run duration") {
        return;
    }
    let output = tracejob()
        .args([
            "run",
            manifest("syscalls").to_str().unwrap(),
            "--duration",
            "300ms",
            "--format",
            "json",
            "--",
        ])
        .args([
            "sh",
            "-c",
            "trap 'exit 3' TERM; while :; do sleep 0.05; done",
        ])
        .output()
        .expect("run tracejob");
    assert_eq!(
        output.status.code(),
        Some(3),
        "the command's own exit status after SIGTERM: {}",
        stderr(&output)
    );
    let (_, summary) = json_lines(&output);
    assert!(summary["duration_ms"].as_u64().unwrap() >= 300);
    let names: Vec<&str> = summary["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"wait4"),
        "the shell's waits were traced: {names:?}"
    );
}
