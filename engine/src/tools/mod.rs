//! One folder per tool. Its `mod.rs` is the driver: which object it loads, how it
//! attaches, how its ring-buffer records decode and how its summary is read (`record.rs`
//! where decoding is more than a struct literal), `rows.rs` where its summary's rows are
//! built from counts, and anything else only that tool uses sits beside them. What one
//! event decodes into and what a summary holds are the API's (`tracejob_api::event` and
//! `tracejob_api::summary`, re-exported by `records.rs` and `summary.rs`), so every output
//! writes the same event line and summary.
//! Adding a tool: its folder, its C program in `ebpf/programs/`, its `Tool` variant in
//! the API, and one arm below (plus a variant in `Event` or `ToolSummary`, and their
//! messages in `tracejob.agent.v1`, if it has events or rows of its own). The job lifecycle around the drivers (targets, the reader, lost-event
//! accounting) is the same for all, in `job.rs`.

pub(crate) mod blockio;
pub(crate) mod exec;
mod funclatency;
pub(crate) mod open;
pub(crate) mod profile;
mod runqlat;
pub(crate) mod syscalls;
pub(crate) mod tcp;
pub(crate) mod uprobe;

use std::sync::Arc;

use aya::Ebpf;
use tracejob_api::{Tool, ToolArgs};

use crate::aggregate::KeyedCounts;
use crate::cgroup::CgroupTarget;
use crate::error::EngineError;
use crate::probe::ProbeKind;
use crate::records::{Clock, Event};
use crate::summary::ToolSummary;
use crate::thread_map::Build;

/// A ring-buffer record decoded, with the key it is counted under in the summary.
#[derive(Debug)]
pub struct Decoded {
    pub event: Event,
    pub key: String,
    pub failed: bool,
    /// Bytes in and out the event stands for, summed per key (tcp), else (0, 0).
    pub bytes: (u64, u64),
}

/// Decodes one ring-buffer record; shared with the reader thread.
pub type Decoder = Arc<dyn Fn(&[u8], Clock) -> Option<Decoded> + Send + Sync>;

pub trait ToolDriver: Send + std::fmt::Debug {
    /// The compiled object.
    fn object(&self) -> &'static [u8];
    /// The builds to try, fastest first: a tool that keeps a thread's syscall in flight
    /// has one with task storage before its plain object (crate::thread_map).
    fn builds(&self) -> Vec<Build> {
        vec![Build::single(self.object())]
    }
    /// Read-only globals (`const volatile` in C) set before loading.
    fn globals(&self) -> Vec<(&'static str, u32)> {
        Vec::new()
    }
    /// Fills the tool's own maps once loaded, before attaching.
    fn prepare(&self, _ebpf: &mut Ebpf) -> Result<(), EngineError> {
        Ok(())
    }
    /// Attaches the programs; returns the attach type used, reported as `probe`.
    fn attach(&mut self, ebpf: &mut Ebpf, forced: Option<ProbeKind>)
    -> Result<String, EngineError>;
    /// Whether the tool's programs write to the `events` ring buffer.
    fn uses_ring_buffer(&self) -> bool {
        self.decoder().is_some()
    }
    /// How ring-buffer records decode; None for tools that only aggregate in the kernel.
    fn decoder(&self) -> Option<Decoder> {
        None
    }
    /// The number of events the summary stands for, and the tool's rows.
    fn summarise(
        &self,
        ebpf: &Ebpf,
        counts: &KeyedCounts,
        events_read: u64,
    ) -> Result<(u64, ToolSummary), EngineError>;
}

/// The driver for `tool`, with its arguments checked against the targets it starts with.
pub fn driver(
    tool: Tool,
    args: &ToolArgs,
    targets: &[CgroupTarget],
    host_files: bool,
) -> Result<Box<dyn ToolDriver>, EngineError> {
    Ok(match tool {
        Tool::Exec => Box::new(exec::Exec),
        Tool::Open => Box::new(open::Open {
            failed_only: args.failed_only,
        }),
        Tool::Syscalls => Box::new(syscalls::Syscalls::new(args)?),
        Tool::Runqlat => Box::new(runqlat::Runqlat),
        Tool::Tcp => Box::new(tcp::Tcp),
        Tool::Blockio => Box::new(blockio::Blockio {
            per_request: args.per_request,
        }),
        Tool::Profile => Box::new(profile::Profile::new(args)),
        Tool::Uprobe => Box::new(uprobe::Uprobe::new(args, targets, host_files)?),
        Tool::Funclatency => Box::new(funclatency::Funclatency::new(
            "funclatency",
            args.function.as_deref(),
            false,
        )?),
        Tool::Funccount => Box::new(funclatency::Funclatency::new(
            "funccount",
            args.function.as_deref(),
            true,
        )?),
    })
}
