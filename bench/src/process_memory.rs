//! A process's memory as a tracer's user would count it: its resident set, how much of
//! that is BPF maps mapped into it (ring buffers), and the kernel memory of the BPF maps it
//! holds (fdinfo `memlock`), which is not part of the resident set.

use serde_json::{Value, json};

/// Memory of process `pid` (`"self"` works too) as a JSON object, sizes in KiB.
pub fn of(pid: &str) -> anyhow::Result<Value> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    let (maps, map_bytes) = bpf_maps(pid)?;
    Ok(json!({
        "rss_kib": field("VmRSS:"),
        "rss_of_mapped_bpf_maps_kib": mapped_bpf_maps_kib(pid)?,
        "peak_rss_kib": field("VmHWM:"),
        "bpf_maps": maps,
        "bpf_map_kib": map_bytes / 1024,
    }))
}

/// (number of BPF map fds, their memlock bytes).
fn bpf_maps(pid: &str) -> anyhow::Result<(u64, u64)> {
    let (mut maps, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))? {
        let Ok(info) = std::fs::read_to_string(entry?.path()) else {
            continue;
        };
        if !info.lines().any(|line| line.starts_with("map_type:")) {
            continue;
        }
        maps += 1;
        bytes += info
            .lines()
            .find_map(|line| line.strip_prefix("memlock:"))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok((maps, bytes))
}

/// Resident KiB of the BPF maps mapped into the process: a ring buffer's pages count in
/// the resident set (the data area twice) although they are the map's kernel memory.
fn mapped_bpf_maps_kib(pid: &str) -> anyhow::Result<u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))?;
    let mut in_map = false;
    let mut kib = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            in_map = line.ends_with("anon_inode:bpf-map");
        } else if in_map && let Some(rest) = line.strip_prefix("Rss:") {
            kib += rest
                .split_whitespace()
                .next()
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(kib)
}
