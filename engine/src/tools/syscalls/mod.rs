//! `syscalls`: per-syscall counts, errors and latency histograms aggregated in the kernel.

use aya::Ebpf;
use aya::maps::{Array, PerCpuArray};
use tracejob_api::ToolArgs;
use tracejob_ebpf::layout::{LatencyStats, MAX_SYSCALLS};

use super::ToolDriver;
use crate::aggregate::KeyedCounts;
use crate::error::EngineError;
use crate::latency;
use crate::maps::{map_mut, map_ref};
use crate::probe::{self, ProbeKind, SYSCALL_HOOKS};
use crate::summary::SyscallRow;
use crate::summary::ToolSummary;
use crate::syscall_names;
use crate::thread_map::{Build, ThreadMap};

#[derive(Debug)]
pub struct Syscalls {
    /// Numbers of the syscalls to count; empty: all.
    only: Vec<u32>,
    count_only: bool,
}

impl Syscalls {
    pub fn new(args: &ToolArgs) -> Result<Self, EngineError> {
        let only = args
            .syscalls
            .iter()
            .map(|name| {
                syscall_names::number(name).ok_or_else(|| EngineError::UnknownSyscall {
                    name: name.clone(),
                    suggestions: syscall_names::suggestions(name),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Syscalls {
            only,
            count_only: args.count_only,
        })
    }
}

impl ToolDriver for Syscalls {
    fn object(&self) -> &'static [u8] {
        tracejob_ebpf::objects::SYSCALLS
    }

    /// Counting alone keeps no entry times: the plain object, whatever the kernel.
    fn builds(&self) -> Vec<Build> {
        if self.count_only {
            return vec![Build::single(self.object())];
        }
        vec![
            Build {
                object: tracejob_ebpf::objects::SYSCALLS_TASK_STORAGE,
                thread_map: Some(ThreadMap::TaskStorage),
            },
            Build {
                object: self.object(),
                thread_map: Some(ThreadMap::Hash),
            },
        ]
    }

    fn globals(&self) -> Vec<(&'static str, u32)> {
        vec![
            ("filter_syscalls", u32::from(!self.only.is_empty())),
            ("count_only", u32::from(self.count_only)),
        ]
    }

    fn prepare(&self, ebpf: &mut Ebpf) -> Result<(), EngineError> {
        if self.only.is_empty() {
            return Ok(());
        }
        let mut map: Array<_, u8> = map_mut(ebpf, "syscall_filter")?;
        for nr in &self.only {
            map.set(*nr, 1, 0).map_err(|source| EngineError::Map {
                action: "write the syscall filter",
                source,
            })?;
        }
        Ok(())
    }

    fn attach(
        &mut self,
        ebpf: &mut Ebpf,
        forced: Option<ProbeKind>,
    ) -> Result<String, EngineError> {
        // Counting alone needs only the exit hook (the syscall number and result are there).
        let hooks = if self.count_only {
            &SYSCALL_HOOKS[1..]
        } else {
            &SYSCALL_HOOKS[..]
        };
        let kind = probe::attach_hooks(ebpf, "syscalls", hooks, &ProbeKind::PREFERENCE, forced)?;
        Ok(kind.name().to_owned())
    }

    fn summarise(
        &self,
        ebpf: &Ebpf,
        _: &KeyedCounts,
        _: u64,
    ) -> Result<(u64, ToolSummary), EngineError> {
        let rows = read_stats(ebpf)?;
        Ok((
            rows.iter().map(|row| row.latency.count).sum(),
            ToolSummary::Syscalls { syscalls: rows },
        ))
    }
}

fn read_stats(ebpf: &Ebpf) -> Result<Vec<SyscallRow>, EngineError> {
    let map: PerCpuArray<_, LatencyStats> = map_ref(ebpf, "syscall_stats")?;
    let mut rows = Vec::new();
    for nr in 0..MAX_SYSCALLS {
        let per_cpu = map.get(&nr, 0).map_err(|source| EngineError::Map {
            action: "read syscall statistics",
            source,
        })?;
        let total = latency::sum(per_cpu.iter());
        if total.count > 0 {
            let latency = latency::from_stats(&total);
            rows.push(SyscallRow {
                name: syscall_names::name(nr),
                nr,
                errors: total.errors,
                latency,
            });
        }
    }
    rows.sort_by(|a, b| {
        b.latency
            .total_ns
            .cmp(&a.latency.total_ns)
            .then(b.latency.count.cmp(&a.latency.count))
    });
    Ok(rows)
}
