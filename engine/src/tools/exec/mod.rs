//! `exec`: every execve/execveat of the targets.

pub(crate) mod record;
pub(crate) mod rows;

use std::sync::Arc;

use aya::Ebpf;
use tracejob_ebpf::layout::ExecEvent;

use super::{Decoded, Decoder, ToolDriver};
use crate::aggregate::KeyedCounts;
use crate::error::EngineError;
use crate::probe::{self, ProbeKind};
use crate::records::{Clock, Event};
use crate::summary::ToolSummary;

#[derive(Debug)]
pub struct Exec;

impl ToolDriver for Exec {
    fn object(&self) -> &'static [u8] {
        tracejob_ebpf::objects::EXEC
    }

    fn attach(
        &mut self,
        ebpf: &mut Ebpf,
        forced: Option<ProbeKind>,
    ) -> Result<String, EngineError> {
        Ok(probe::attach_syscall_hooks(ebpf, "exec", forced)?
            .name()
            .to_owned())
    }

    fn decoder(&self) -> Option<Decoder> {
        Some(Arc::new(decode))
    }

    fn summarise(
        &self,
        _: &Ebpf,
        counts: &KeyedCounts,
        events: u64,
    ) -> Result<(u64, ToolSummary), EngineError> {
        Ok((
            events,
            ToolSummary::Exec {
                execs: counts.sorted().into_iter().map(rows::from_counts).collect(),
            },
        ))
    }
}

fn decode(bytes: &[u8], clock: Clock) -> Option<Decoded> {
    let record = record::decode(&ExecEvent::from_bytes(bytes)?, clock);
    Some(Decoded {
        bytes: (0, 0),
        key: record.filename.clone(),
        failed: record.ret < 0,
        event: Event::Exec(record),
    })
}
