//! `tracejob run` with the profile tool through the binary: the function the command
//! spins in tops the profile in every format, and --output DIR holds the folded stacks
//! and the flame graph.

#![allow(
    clippy::unwrap_used,
    reason = "a test that panics names the failing line"
)]

mod support;

use support::*;

#[test]
fn output_dir_holds_folded_stacks_and_a_flame_graph_of_the_spinning_function() {
    if !can_trace("run profile output") {
        return;
    }
    let dir = unique_path("profile");
    let output = tracejob()
        .args(["run", manifest("profile").to_str().unwrap()])
        .args(["--format", "json", "--output", &dir, "--"])
        .arg(workload())
        .args(["spin", "spin_alpha", "1.5"])
        .output()
        .expect("run tracejob");
    assert!(output.status.success(), "{}", stderr(&output));
    let (events, summary) = json_lines(&output);
    assert!(events.is_empty(), "profile aggregates in the kernel");
    assert_eq!(summary["tool"], "profile");
    assert_eq!(summary["probe"], "perf_event");
    assert_eq!(summary["frequency_hz"], 99);
    assert_eq!(summary["lost"], 0);
    let top = &summary["functions"][0];
    assert!(
        top["function"].as_str().unwrap().ends_with("spin_alpha"),
        "{summary:#}"
    );
    assert!(top["self_samples"].as_u64().unwrap() >= 20, "{summary:#}");

    let folded = std::fs::read_to_string(format!("{dir}/profile.folded")).unwrap();
    let spinning = folded
        .lines()
        .find(|line| line.contains("spin_alpha"))
        .unwrap_or_else(|| panic!("no spin_alpha stack in:\n{folded}"));
    let (stack, count) = spinning.rsplit_once(' ').unwrap();
    // Callers above it depend on frame pointers, which debug builds do not promise.
    assert!(stack.starts_with("workload;"), "{stack}");
    assert!(stack.ends_with("::spin_alpha"), "{stack}");
    assert!(count.parse::<u64>().unwrap() > 0);
    assert!(!folded.contains("spin_beta"));

    let svg = std::fs::read_to_string(format!("{dir}/profile.svg")).unwrap();
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("spin_alpha"));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/summary.json")).unwrap())
            .unwrap();
    assert_eq!(saved["functions"][0], *top);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_table_lists_the_spinning_function_first() {
    if !can_trace("run profile table") {
        return;
    }
    let output = tracejob()
        .args(["run", manifest("profile").to_str().unwrap(), "--"])
        .arg(workload())
        .args(["spin", "spin_beta", "1"])
        .output()
        .expect("run tracejob");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let header = text
        .lines()
        .position(|line| line.ends_with("FUNCTION"))
        .unwrap_or_else(|| panic!("no function table in:\n{text}"));
    let first = text.lines().nth(header + 1).unwrap();
    assert!(first.ends_with("spin_beta"), "{text}");
    assert!(text.contains("on-CPU samples at 99 Hz"), "{text}");
}
