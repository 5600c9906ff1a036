//! The rest of the toolbox through the `tracejob` binary: every tool's manifest in
//! examples/ runs with --format json and --output DIR, with a workload whose truth is
//! known, and writes the same summary to both.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::process::Output;

use support::*;

/// Runs `tracejob run examples/<manifest>.yaml --format json --output DIR -- command`;
/// returns the output, the events and the summary, checking summary.json matches.
fn run_json(
    manifest_name: &str,
    command: &[&str],
) -> (Output, Vec<serde_json::Value>, serde_json::Value) {
    let dir = unique_path(manifest_name);
    let output = tracejob()
        .args([
            "run",
            manifest(manifest_name).to_str().unwrap(),
            "--duration",
            "20s",
        ])
        .args(["--format", "json", "--output", &dir, "--"])
        .args(command)
        .output()
        .expect("run tracejob");
    assert!(
        output.status.success(),
        "{manifest_name}: {}",
        stderr(&output)
    );
    let (events, summary) = json_lines(&output);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/summary.json")).unwrap())
            .unwrap();
    let events_file = output_events(std::path::Path::new(&dir));
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        written["events"], summary["events"],
        "summary.json is the printed summary"
    );
    assert_eq!(
        events_file.lines().count(),
        events.len(),
        "events.jsonl.gz holds every event"
    );
    (output, events, summary)
}

#[test]
fn runqlat_reports_a_histogram_of_the_commands_waits() {
    if !can_trace("run runqlat") {
        return;
    }
    let (_, _, summary) = run_json(
        "runqlat",
        &["sh", "-c", "for i in 1 2 3 4 5; do sleep 0.01; done"],
    );
    assert_eq!(summary["tool"], "runqlat");
    let count = summary["runqueue"]["count"].as_u64().unwrap();
    assert!(count >= 5, "every sleep ends in a wake-up: {summary:#}");
    let buckets: u64 = summary["runqueue"]["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(buckets, count);
}

#[test]
fn uprobe_reports_each_getaddrinfo_call_with_its_host_name() {
    if !can_trace("run uprobe") {
        return;
    }
    let (_, events, summary) = run_json(
        "uprobe-getaddrinfo",
        &[
            "sh",
            "-c",
            "getent ahosts localhost; getent ahosts localhost",
        ],
    );
    assert_eq!(summary["functions"][0]["function"], "getaddrinfo");
    assert_eq!(summary["functions"][0]["count"], 2);
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e["args"][0] == "localhost" && e["ret"] == 0 && e["tool"] == "uprobe")
    );
}

#[test]
fn tcp_reports_a_failed_connection_to_a_closed_port() {
    if !can_trace("run tcp") {
        return;
    }
    // A port nobody listens on: the handshake is refused (RST) right away.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port} || true");
    let (_, events, summary) = run_json("tcp", &["bash", "-c", &script]);
    assert_eq!(summary["connections"], 1, "{summary:#}");
    assert_eq!(summary["peers"][0]["peer"], format!("127.0.0.1:{port}"));
    assert_eq!(summary["peers"][0]["failed"], 1);
    assert_eq!(events[0]["established"], false);
    assert_eq!(events[0]["direction"], "connect");
}

#[test]
fn blockio_reports_the_device_of_a_synced_write() {
    if !can_trace("run blockio") {
        return;
    }
    let file = unique_path("blockio").replace("/tmp/", "/var/tmp/");
    let script =
        format!("dd if=/dev/zero of={file} bs=4096 count=8 oflag=direct status=none && rm {file}");
    let (_, events, summary) = run_json("blockio", &["sh", "-c", &script]);
    let devices = summary["devices"].as_array().unwrap();
    assert!(!devices.is_empty(), "{summary:#}");
    let writes = events
        .iter()
        .filter(|e| e["op"] == "write" && e["bytes"] == 4096)
        .count();
    assert!(writes >= 8, "eight direct 4 KiB writes: {events:#?}");
}

#[test]
fn funclatency_on_a_kernel_without_fentry_or_kprobes_fails_with_the_alternatives() {
    if !can_trace("run funclatency") {
        return;
    }
    if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        eprintln!("this kernel has kprobes: the failure path is not reachable here");
        return;
    }
    let output = tracejob()
        .args([
            "run",
            manifest("funclatency").to_str().unwrap(),
            "--all",
            "--duration",
            "1s",
        ])
        .output()
        .expect("run tracejob");
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains("neither fentry/fexit") && error.contains("use the syscalls tool"),
        "{error}"
    );
}
