//! The kernel's own list of loaded BPF programs (`bpftool prog show`), narrowed to those
//! held by a `tracejob-agent` process, so programs of other tools on the machine never count.

use std::process::Command;

use serde_json::Value;

/// Names of the BPF programs `tracejob-agent` processes hold open on this machine. Only
/// meaningful where the test runs on the node itself (the one-node cluster).
pub fn agent_programs() -> Vec<String> {
    let out = Command::new("bpftool")
        .args(["--json", "prog", "show"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run bpftool (apt-get install bpftool): {e}"));
    assert!(
        out.status.success(),
        "bpftool prog show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let programs: Vec<Value> = serde_json::from_slice(&out.stdout).expect("bpftool prints JSON");
    programs
        .iter()
        .filter(|p| {
            p["pids"]
                .as_array()
                .is_some_and(|pids| pids.iter().any(|pid| pid["comm"] == "tracejob-agent"))
        })
        .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Whether this bpftool can say which process holds a program (it needs its BPF skeleton).
pub fn can_name_holders() -> bool {
    Command::new("bpftool")
        .args(["--json", "prog", "show"])
        .output()
        .ok()
        .and_then(|out| serde_json::from_slice::<Vec<Value>>(&out.stdout).ok())
        .is_some_and(|programs| programs.iter().any(|p| p.get("pids").is_some()))
}
