//! `--probe` forces one attach flavour: a flavour the tool has is the only one tried, a
//! flavour it lacks is refused by name, and nothing falls back silently.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::process::Output;

use support::*;

fn run_forced(manifest_name: &str, probe: &str) -> Output {
    tracejob()
        .args(["run", manifest(manifest_name).to_str().unwrap()])
        .args(["--duration", "5s", "--format", "json", "--probe", probe])
        .args(["--", "true"])
        .output()
        .expect("run tracejob")
}

#[test]
fn a_flavour_the_tool_does_not_have_is_refused_by_name() {
    if !can_trace("run --probe fentry on syscalls") {
        return;
    }
    let output = run_forced("syscalls", "fentry");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let error = stderr(&output);
    assert!(error.contains("no fentry programs"), "{error}");
}

#[test]
fn funccount_forced_to_kprobe_uses_kprobes_or_says_why_not_without_trying_fentry() {
    if !can_trace("run funccount --probe kprobe") {
        return;
    }
    let output = run_forced("funccount", "kprobe");
    if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        assert!(output.status.success(), "{}", stderr(&output));
        let (_, summary) = json_lines(&output);
        assert_eq!(summary["probe"], "kprobe", "{summary:#}");
    } else {
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let error = stderr(&output);
        assert!(
            error.contains("kprobe") && !error.contains("fentry"),
            "only the forced flavour is tried and named: {error}"
        );
    }
}

#[test]
fn an_unknown_flavour_is_a_usage_error_listing_the_flavours() {
    let output = tracejob()
        .args(["run", manifest("syscalls").to_str().unwrap()])
        .args(["--probe", "kretprobe", "--", "true"])
        .output()
        .expect("run tracejob");
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains("fentry") && error.contains("kprobe"),
        "{error}"
    );
}
