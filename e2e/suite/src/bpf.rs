//! Which BPF programs the node's agent holds, seen from the node itself: the program ids in
//! the agent process's file descriptors (`/proc/<pid>/fdinfo`), checked against the kernel's
//! own list (`bpftool prog show`). Programs of other tools on the machine never count.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

/// Pids of `tracejob-agent` processes running in a pod (a kubepods cgroup).
pub fn agent_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let read = |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}"));
            read("comm").is_ok_and(|c| c.trim() == "tracejob-agent")
                && read("cgroup").is_ok_and(|c| c.contains("kubepods"))
        })
        .collect()
}

/// Ids of the BPF programs the process holds open.
pub fn held_programs(pid: u32) -> BTreeSet<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return BTreeSet::new();
    };
    fds.filter_map(|fd| std::fs::read_to_string(fd.ok()?.path()).ok())
        .filter_map(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("prog_id:"))
                .and_then(|id| id.trim().parse().ok())
        })
        .collect()
}

/// Every program the agents on this machine hold.
pub fn agent_programs() -> BTreeSet<u64> {
    agent_pids().into_iter().flat_map(held_programs).collect()
}

/// The ids of every BPF program loaded in the kernel, by `bpftool prog show`.
pub fn loaded_programs() -> BTreeSet<u64> {
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
    programs.iter().filter_map(|p| p["id"].as_u64()).collect()
}

/// True where the test runs on the cluster's only node (the one-node cluster), so the
/// node's processes and kernel are this machine's.
pub fn on_the_node() -> bool {
    !agent_pids().is_empty()
}
