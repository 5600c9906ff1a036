//! `syscalls`: per-syscall counts, errors and latency histograms aggregated in the kernel.

use aya::Ebpf;
use aya::maps::{Array, PerCpuArray};
use tracejob_api::ToolArgs;
use tracejob_ebpf::layout::{MAX_SYSCALLS, SyscallStats};

use super::ToolDriver;
use crate::aggregate::KeyedCounts;
use crate::error::EngineError;
use crate::histogram;
use crate::maps::{map_mut, map_ref};
use crate::probe::{self, ProbeKind};
use crate::summary::{SyscallRow, ToolSummary};
use crate::syscall_names;

#[derive(Debug)]
pub struct Syscalls {
    /// Numbers of the syscalls to count; empty: all.
    only: Vec<u32>,
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
        Ok(Syscalls { only })
    }
}

impl ToolDriver for Syscalls {
    fn object(&self) -> &'static [u8] {
        tracejob_ebpf::objects::SYSCALLS
    }

    fn globals(&self) -> Vec<(&'static str, u32)> {
        vec![("filter_syscalls", u32::from(!self.only.is_empty()))]
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
        Ok(probe::attach_syscall_hooks(ebpf, "syscalls", forced)?
            .name()
            .to_owned())
    }

    fn summarise(
        &self,
        ebpf: &Ebpf,
        _: &KeyedCounts,
        _: u64,
    ) -> Result<(u64, ToolSummary), EngineError> {
        let rows = read_stats(ebpf)?;
        Ok((
            rows.iter().map(|row| row.count).sum(),
            ToolSummary::Syscalls { syscalls: rows },
        ))
    }
}

fn read_stats(ebpf: &Ebpf) -> Result<Vec<SyscallRow>, EngineError> {
    let map: PerCpuArray<_, SyscallStats> = map_ref(ebpf, "syscall_stats")?;
    let mut rows = Vec::new();
    for nr in 0..MAX_SYSCALLS {
        let per_cpu = map.get(&nr, 0).map_err(|source| EngineError::Map {
            action: "read syscall statistics",
            source,
        })?;
        let mut total = SyscallStats::default();
        for stats in per_cpu.iter() {
            total.count += stats.count;
            total.errors += stats.errors;
            total.total_ns += stats.total_ns;
            total.max_ns = total.max_ns.max(stats.max_ns);
            for (sum, bucket) in total.hist.iter_mut().zip(stats.hist) {
                *sum += bucket;
            }
        }
        if total.count == 0 {
            continue;
        }
        let timed: u64 = total.hist.iter().sum();
        rows.push(SyscallRow {
            name: syscall_names::name(nr),
            nr,
            count: total.count,
            errors: total.errors,
            total_ns: total.total_ns,
            avg_ns: total.total_ns.checked_div(timed).unwrap_or(0),
            max_ns: total.max_ns,
            p50_ns: histogram::quantile_bound(&total.hist, 0.5),
            p99_ns: histogram::quantile_bound(&total.hist, 0.99),
            histogram: histogram::non_empty(&total.hist),
        });
    }
    rows.sort_by(|a, b| b.total_ns.cmp(&a.total_ns).then(b.count.cmp(&a.count)));
    Ok(rows)
}
