//! What the node agent's memory will be made of, measured before the agent exists:
//! this process links the engine library (`tracejob_node_agent`) as the agent will,
//! then starts JOBS engine jobs (syscalls, open and exec in turn) on one cgroup, with a
//! thread per event tool draining its events as the agent's streamer would. It has no
//! gRPC server and no async runtime, so the agent will be somewhat larger.
//!
//!   engine-rss CGROUP_DIR [JOBS]
//!
//! Prints one JSON line per phase on stdout: "idle" (engine linked, no job), "jobs
//! started", then, after a line on stdin (the harness runs a workload in CGROUP_DIR
//! meanwhile), "jobs under load", then "jobs stopped". Each line has the resident set
//! (VmRSS, VmHWM, and how much of it is BPF map memory mapped into the process)
//! and the kernel memory of the BPF maps the process holds (memlock of
//! its map fds), which is not part of the resident set.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use serde_json::json;
use tracejob_api::{Tool, ToolArgs};
use tracejob_node_agent::cgroup::Hierarchy;
use tracejob_node_agent::{Job, JobConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cgroup = args
        .first()
        .context("usage: engine-rss CGROUP_DIR [JOBS]")?;
    let jobs: usize = args.get(1).map_or(Ok(10), |n| n.parse())?;
    let hierarchy = Hierarchy::discover()?;
    let target = hierarchy.target(Path::new(cgroup))?;
    phase("idle", 0, 0)?;

    let tools = [Tool::Syscalls, Tool::Open, Tool::Exec];
    let delivered = Arc::new(AtomicU64::new(0));
    let mut running = Vec::new();
    let mut drains = Vec::new();
    for index in 0..jobs {
        let config = JobConfig::new(tools[index % tools.len()], ToolArgs::default());
        let mut job = Job::start(&config, std::slice::from_ref(&target))
            .with_context(|| format!("failed to start job {index}"))?;
        if let Some(events) = job.take_events() {
            let delivered = Arc::clone(&delivered);
            drains.push(std::thread::spawn(move || {
                for _event in events {
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        running.push(job);
    }
    phase("jobs started", jobs, 0)?;

    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    phase("jobs under load", jobs, delivered.load(Ordering::Relaxed))?;

    let mut counted = 0;
    for job in running {
        counted += job.stop()?.events;
    }
    for drain in drains {
        drain
            .join()
            .map_err(|_| anyhow::anyhow!("a drain thread panicked"))?;
    }
    println!(
        "{}",
        json!({"phase": "jobs stopped", "events_counted": counted,
               "events_delivered": delivered.load(Ordering::Relaxed), "memory": memory()?})
    );
    Ok(())
}

fn phase(name: &str, jobs: usize, delivered: u64) -> anyhow::Result<()> {
    println!(
        "{}",
        json!({"phase": name, "jobs": jobs, "events_delivered": delivered, "memory": memory()?})
    );
    Ok(())
}

/// Resident set and peak from /proc/self/status, and the memlock of every BPF map fd.
fn memory() -> anyhow::Result<serde_json::Value> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    let mut map_bytes = 0_u64;
    let mut maps = 0_u64;
    for entry in std::fs::read_dir("/proc/self/fdinfo")? {
        let Ok(info) = std::fs::read_to_string(entry?.path()) else {
            continue;
        };
        if !info.lines().any(|line| line.starts_with("map_type:")) {
            continue;
        }
        maps += 1;
        map_bytes += info
            .lines()
            .find_map(|line| line.strip_prefix("memlock:"))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    // The ring buffers' pages are mapped into the process (the data area twice) and so
    // count in its resident set although they are the maps' kernel memory.
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut in_map = false;
    let mut mapped_map_kib = 0_u64;
    for line in smaps.lines() {
        if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            in_map = line.ends_with("anon_inode:bpf-map");
        } else if in_map && let Some(rest) = line.strip_prefix("Rss:") {
            mapped_map_kib += rest
                .split_whitespace()
                .next()
                .and_then(|kib| kib.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(json!({
        "rss_kib": field("VmRSS:"),
        "rss_of_mapped_bpf_maps_kib": mapped_map_kib,
        "peak_rss_kib": field("VmHWM:"),
        "bpf_maps": maps,
        "bpf_map_kib": map_bytes / 1024,
    }))
}
