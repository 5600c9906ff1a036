//! Bad input: a one-line error that says what is wrong and what to do, a non-zero exit
//! status, and nothing left behind.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use std::os::unix::process::CommandExt;

use support::*;

fn manifest_file(body: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(unique_path("manifest") + ".yaml");
    std::fs::write(&path, format!("apiVersion: tracejob.io/v1alpha1\nkind: TraceJob\nmetadata: {{name: t}}\nspec: {body}\n")).unwrap();
    path
}

/// Runs tracejob expecting failure; returns its single stderr line.
fn fails(args: &[&str]) -> String {
    let output = tracejob().args(args).output().expect("run tracejob");
    assert!(!output.status.success(), "expected failure for {args:?}");
    let text = stderr(&output);
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("tracejob: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {text}");
    assert!(
        stdout(&output).is_empty(),
        "nothing on stdout: {}",
        stdout(&output)
    );
    errors[0].to_owned()
}

#[test]
fn an_unknown_tool_is_named() {
    let file = manifest_file("{tool: dtrace}");
    let error = fails(&["run", file.to_str().unwrap(), "--all"]);
    std::fs::remove_file(&file).ok();
    assert!(
        error.contains("dtrace") && error.contains("syscalls"),
        "{error}"
    );
}

#[test]
fn a_duration_whose_terms_add_up_past_the_largest_is_refused_not_a_crash() {
    let file = manifest_file("{tool: exec, duration: 10000000000000000000s10000000000000000000s}");
    let output = tracejob()
        .args(["run", file.to_str().unwrap(), "--all"])
        .output()
        .expect("run tracejob");
    std::fs::remove_file(&file).ok();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("spec.duration") && text.contains("too large"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn a_negative_duration_is_refused_with_the_expected_form() {
    let error = fails(&[
        "run",
        manifest("syscalls").to_str().unwrap(),
        "--all",
        "--duration",
        "-5s",
    ]);
    assert!(
        error.contains("negative") && error.contains("1m30s"),
        "{error}"
    );
    let file = manifest_file("{tool: exec, duration: 10 minutes}");
    let error = fails(&["run", file.to_str().unwrap(), "--all"]);
    std::fs::remove_file(&file).ok();
    assert!(error.contains("spec.duration"), "{error}");
}

#[test]
fn no_target_lists_the_choices() {
    let error = fails(&["run", manifest("syscalls").to_str().unwrap()]);
    for choice in ["-- COMMAND", "--cgroup", "--pid", "--all"] {
        assert!(error.contains(choice), "{error}");
    }
}

#[test]
fn a_missing_manifest_file_is_named() {
    let error = fails(&["run", "/nonexistent/job.yaml", "--all"]);
    assert!(error.contains("/nonexistent/job.yaml"), "{error}");
}

#[test]
fn an_argument_of_another_tool_is_named_with_what_the_tool_takes() {
    let file = manifest_file("{tool: exec, args: {failedOnly: true}}");
    let error = fails(&["run", file.to_str().unwrap(), "--all"]);
    std::fs::remove_file(&file).ok();
    assert!(
        error.contains("spec.args.failedOnly") && error.contains("exec"),
        "{error}"
    );
}

#[test]
fn an_unknown_syscall_is_named() {
    if !can_trace("bad syscall name") {
        return;
    }
    let file = manifest_file("{tool: syscalls, args: {syscalls: [opennat]}}");
    let error = fails(&["run", file.to_str().unwrap(), "--all"]);
    std::fs::remove_file(&file).ok();
    assert!(error.contains("\"opennat\""), "{error}");
}

#[test]
fn a_command_that_does_not_exist_leaves_no_cgroup_behind() {
    if !can_trace("missing command") {
        return;
    }
    let child = tracejob()
        .args([
            "run",
            manifest("syscalls").to_str().unwrap(),
            "--",
            "/nonexistent/command",
        ])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("command not found: /nonexistent/command"),
        "{}",
        stderr(&output)
    );
    assert!(
        !cgroup_root().join(format!("tracejob-run-{pid}")).exists(),
        "the scratch cgroup was removed"
    );
}

#[test]
fn a_cgroup_that_is_not_a_v2_directory_is_named() {
    if !can_trace("bad cgroup") {
        return;
    }
    let error = fails(&[
        "run",
        manifest("syscalls").to_str().unwrap(),
        "--cgroup",
        "/tmp",
    ]);
    assert!(
        error.contains("/tmp") && error.contains("cgroup v2"),
        "{error}"
    );
}

#[test]
fn without_root_the_error_says_to_use_sudo() {
    if unsafe { libc::geteuid() } != 0 {
        // Already unprivileged: the plain run shows the message.
        let error = fails(&["run", manifest("syscalls").to_str().unwrap(), "--all"]);
        assert!(error.contains("sudo"), "{error}");
        return;
    }
    let mut command = tracejob();
    command.args(["run", manifest("syscalls").to_str().unwrap(), "--all"]);
    // SAFETY: setgid/setuid between fork and exec; no allocation.
    unsafe {
        command.pre_exec(|| {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("run tracejob as nobody");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("needs root: run it with sudo"),
        "{}",
        stderr(&output)
    );
}
