//! `runqlat`: how long the targets' runnable threads wait for a CPU.

use aya::Ebpf;

use super::ToolDriver;
use crate::aggregate::KeyedCounts;
use crate::error::EngineError;
use crate::latency::{self};
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
        let runqueue = latency::read_single(ebpf, "runq_latency")?;
        Ok((runqueue.count, ToolSummary::Runqlat { runqueue }))
    }
}
