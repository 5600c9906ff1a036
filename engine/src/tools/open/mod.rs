//! `open`: every open/openat/openat2 of the targets.

pub(crate) mod record;
pub(crate) mod rows;

use std::sync::Arc;

use aya::Ebpf;
use tracejob_ebpf::layout::OpenEvent;

use super::{Decoded, Decoder, ToolDriver};
use crate::aggregate::KeyedCounts;
use crate::error::EngineError;
use crate::probe::{self, ProbeKind};
use crate::records::{Clock, Event};
use crate::summary::ToolSummary;
use crate::thread_map::{Build, ThreadMap};

#[derive(Debug)]
pub struct Open {
    pub failed_only: bool,
}

impl ToolDriver for Open {
    fn object(&self) -> &'static [u8] {
        tracejob_ebpf::objects::OPEN
    }

    fn builds(&self) -> Vec<Build> {
        vec![
            Build {
                object: tracejob_ebpf::objects::OPEN_TASK_STORAGE,
                thread_map: Some(ThreadMap::TaskStorage),
            },
            Build {
                object: self.object(),
                thread_map: Some(ThreadMap::Hash),
            },
        ]
    }

    fn globals(&self) -> Vec<(&'static str, u32)> {
        vec![("failed_only", u32::from(self.failed_only))]
    }

    fn attach(
        &mut self,
        ebpf: &mut Ebpf,
        forced: Option<ProbeKind>,
    ) -> Result<String, EngineError> {
        Ok(probe::attach_syscall_hooks(ebpf, "open", forced)?
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
            ToolSummary::Open {
                opens: counts.sorted().into_iter().map(rows::from_counts).collect(),
            },
        ))
    }
}

fn decode(bytes: &[u8], clock: Clock) -> Option<Decoded> {
    let record = record::decode(&OpenEvent::from_bytes(bytes)?, clock);
    Some(Decoded {
        bytes: (0, 0),
        key: record.path.clone(),
        failed: record.ret < 0,
        event: Event::Open(record),
    })
}
