//! `runqlat`: how long the targets' runnable threads wait for a CPU.

use aya::Ebpf;
use aya::maps::PerCpuArray;
use tracejob_ebpf::layout::LatencyStats;

use super::ToolDriver;
use crate::aggregate::KeyedCounts;
use crate::error::EngineError;
use crate::latency::{self, Latency};
use crate::maps::map_ref;
use crate::probe::{self, Hook, ProbeKind};
use crate::summary::ToolSummary;

const HOOKS: [Hook; 3] = [
    Hook {
        program: "wakeup",
        category: "sched",
        name: "sched_wakeup",
    },
    Hook {
        program: "wakeup_new",
        category: "sched",
        name: "sched_wakeup_new",
    },
    Hook {
        program: "switch",
        category: "sched",
        name: "sched_switch",
    },
];

#[derive(Debug)]
pub struct Runqlat;

impl ToolDriver for Runqlat {
    fn object(&self) -> &'static [u8] {
        tracejob_ebpf::objects::RUNQLAT
    }

    fn attach(
        &mut self,
        ebpf: &mut Ebpf,
        forced: Option<ProbeKind>,
    ) -> Result<String, EngineError> {
        // The classic sched tracepoints carry pids, not task pointers: not offered.
        let flavours = [ProbeKind::TpBtf, ProbeKind::RawTracepoint];
        Ok(
            probe::attach_hooks(ebpf, "runqlat", &HOOKS, &flavours, forced)?
                .name()
                .to_owned(),
        )
    }

    fn summarise(
        &self,
        ebpf: &Ebpf,
        _: &KeyedCounts,
        _: u64,
    ) -> Result<(u64, ToolSummary), EngineError> {
        let map: PerCpuArray<_, LatencyStats> = map_ref(ebpf, "runq_latency")?;
        let per_cpu = map.get(&0, 0).map_err(|source| EngineError::Map {
            action: "read run-queue latency",
            source,
        })?;
        let runqueue = Latency::from_stats(&latency::sum(per_cpu.iter()));
        Ok((runqueue.count, ToolSummary::Runqlat { runqueue }))
    }
}
