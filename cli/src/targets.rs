//! Turning --cgroup, --pid and --all into what the engine traces.

use anyhow::{Context, bail};
use tracejob_engine::cgroup::{CgroupTarget, Hierarchy};

use crate::args::RunArgs;

pub const NO_TARGET: &str = "no target given: trace a command with `tracejob run FILE -- COMMAND ARGS...`, \
an existing cgroup v2 directory with --cgroup PATH, a process's cgroup with --pid PID, or the whole host with --all";

/// What a local run traces, apart from a command it starts itself.
#[derive(Debug)]
pub struct LocalTargets {
    pub trace_all: bool,
    pub cgroups: Vec<CgroupTarget>,
}

pub fn resolve(args: &RunArgs, hierarchy: Option<&Hierarchy>) -> anyhow::Result<LocalTargets> {
    let named = !args.cgroups.is_empty() || !args.pids.is_empty() || !args.command.is_empty();
    if args.all && named {
        bail!(
            "--all traces every process already: drop --cgroup, --pid and the command, or drop --all"
        );
    }
    if !args.all && !named {
        bail!(NO_TARGET);
    }
    let mut cgroups = Vec::new();
    if let Some(hierarchy) = hierarchy {
        for path in &args.cgroups {
            cgroups.push(
                hierarchy
                    .target(path)
                    .with_context(|| format!("--cgroup {}", path.display()))?,
            );
        }
        for pid in &args.pids {
            let path = hierarchy
                .cgroup_of_pid(*pid)
                .with_context(|| format!("--pid {pid}"))?;
            cgroups.push(
                hierarchy
                    .target(&path)
                    .with_context(|| format!("--pid {pid}"))?,
            );
        }
    }
    cgroups.dedup_by_key(|target| target.id);
    Ok(LocalTargets {
        trace_all: args.all,
        cgroups,
    })
}
