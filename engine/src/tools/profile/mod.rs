//! `profile`: on-CPU stacks of the targets sampled at a fixed frequency on every CPU
//! (perf record -g, BCC profile), counted in the kernel, symbolised at the end: kernel
//! frames through /proc/kallsyms, user frames through the ELF symbols of the files each
//! process maps (captured while it runs, see `watcher`).

mod stacks;
mod watcher;

use std::collections::HashMap as StdHashMap;

use aya::Ebpf;
use aya::maps::{HashMap, RingBuf, StackTraceMap};
use aya::programs::PerfEvent;
use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use blazesym::symbolize::Symbolizer;
use tracejob_api::ToolArgs;
use tracejob_ebpf::layout::{ProfileKey, c_string};

use super::ToolDriver;
use crate::aggregate::KeyedCounts;
use crate::error::EngineError;
use crate::maps::map_ref;
use crate::probe::{self, ProbeKind};
use crate::summary::ToolSummary;
use crate::symbolize::{KernelSymbols, ProcessTable};
use stacks::{Frame, StackSample};
use watcher::Watcher;

/// BCC's and bpftrace's habit: 99 Hz does not beat in step with 100 Hz timers.
pub const DEFAULT_FREQUENCY_HZ: u32 = 99;
/// Functions listed in the summary; every stack is in `stacks` and the artifacts.
const TOP_FUNCTIONS: usize = 50;
const PROBE: &str = "perf_event";

#[derive(Debug)]
pub struct Profile {
    frequency: u32,
    watcher: Option<Watcher>,
}

impl Profile {
    pub fn new(args: &ToolArgs) -> Self {
        Profile {
            frequency: args.frequency.unwrap_or(DEFAULT_FREQUENCY_HZ),
            watcher: None,
        }
    }
}

impl ToolDriver for Profile {
    fn uses_ring_buffer(&self) -> bool {
        // processes announce themselves through it, read by the watcher thread
        true
    }

    fn object(&self) -> &'static [u8] {
        tracejob_ebpf::objects::PROFILE
    }

    fn attach(
        &mut self,
        ebpf: &mut Ebpf,
        forced: Option<ProbeKind>,
    ) -> Result<String, EngineError> {
        if let Some(kind) = forced {
            return Err(EngineError::NoAttachPoint {
                tool: "profile",
                failures: vec![(
                    kind.name().to_owned(),
                    "the profile tool samples through perf events only".to_owned(),
                )],
            });
        }
        let ring = ebpf
            .take_map("events")
            .ok_or(EngineError::Reader("the events map is missing".into()))?;
        let ring = RingBuf::try_from(ring).map_err(|source| EngineError::Map {
            action: "open the ring buffer",
            source,
        })?;
        self.watcher =
            Some(Watcher::spawn(ring).map_err(|error| EngineError::Reader(error.to_string()))?);
        attach_every_cpu(ebpf, self.frequency).map_err(|error| {
            if probe::is_permission_error(&error) {
                EngineError::NotPermitted {
                    during: "opening cpu-clock perf events".into(),
                }
            } else {
                EngineError::NoAttachPoint {
                    tool: "profile",
                    failures: vec![(PROBE.to_owned(), probe::describe(&error))],
                }
            }
        })?;
        Ok(PROBE.to_owned())
    }

    fn summarise(
        &self,
        ebpf: &Ebpf,
        _: &KeyedCounts,
        _: u64,
    ) -> Result<(u64, ToolSummary), EngineError> {
        let samples = self.symbolised_samples(ebpf)?;
        let total = samples.iter().map(|s| s.count).sum();
        Ok((
            total,
            ToolSummary::Profile {
                samples: total,
                frequency_hz: self.frequency,
                functions: stacks::top_functions(&samples, TOP_FUNCTIONS),
                stacks: stacks::fold(&samples),
            },
        ))
    }
}

impl Profile {
    fn symbolised_samples(&self, ebpf: &Ebpf) -> Result<Vec<StackSample>, EngineError> {
        let counts: HashMap<_, ProfileKey, u64> = map_ref(ebpf, "profile_counts")?;
        let traces: StackTraceMap<_> = map_ref(ebpf, "profile_stacks")?;
        let read_error = |source| EngineError::Map {
            action: "read the sampled stacks",
            source,
        };
        let counts: Vec<(ProfileKey, u64)> = counts
            .iter()
            .collect::<Result<_, _>>()
            .map_err(read_error)?;
        // Unreadable or hidden kallsyms (kptr_restrict): kernel frames are `[kernel]`, never
        // an address (a KASLR leak to the job's owner).
        let kernel = KernelSymbols::load().unwrap_or_default();
        let symbolizer = Symbolizer::new();
        let mut processes = self.watcher.as_ref().and_then(Watcher::processes);
        let mut fallback = ProcessTable::default();
        let table = match processes.as_mut() {
            Some(locked) => locked.table(),
            None => &mut fallback,
        };
        let mut user_frames: StdHashMap<(u32, i32), Vec<Frame>> = StdHashMap::new();
        let mut samples = Vec::with_capacity(counts.len());
        for (key, count) in counts {
            let mut frames = user_frames
                .entry((key.tgid, key.user_stack_id))
                .or_insert_with(|| {
                    let addresses = stack(&traces, key.user_stack_id);
                    table
                        .resolve(&symbolizer, key.tgid, &caller_addresses(&addresses))
                        .into_iter()
                        .rev()
                        .map(|name| Frame {
                            name,
                            kernel: false,
                        })
                        .collect()
                })
                .clone();
            let kernel_addresses = caller_addresses(&stack(&traces, key.kernel_stack_id));
            frames.extend(kernel_addresses.iter().rev().map(|address| Frame {
                name: kernel.frame_name(*address),
                kernel: true,
            }));
            samples.push(StackSample {
                comm: c_string(&key.comm),
                frames,
                count,
            });
        }
        Ok(samples)
    }
}

/// The addresses of a stack, innermost first; none for a negative id or one gone.
fn stack<T: std::borrow::Borrow<aya::maps::MapData>>(
    traces: &StackTraceMap<T>,
    id: i32,
) -> Vec<u64> {
    u32::try_from(id)
        .ok()
        .and_then(|id| traces.get(&id, 0).ok())
        .map(|trace| trace.frames().iter().map(|frame| frame.ip).collect())
        .unwrap_or_default()
}

/// Every frame but the innermost holds a return address, which may be the first byte
/// of the next function: look up the byte before it, inside the call.
fn caller_addresses(addresses: &[u64]) -> Vec<u64> {
    addresses
        .iter()
        .enumerate()
        .map(|(i, address)| {
            if i == 0 {
                *address
            } else {
                address.saturating_sub(1)
            }
        })
        .collect()
}

fn attach_every_cpu(ebpf: &mut Ebpf, frequency: u32) -> Result<(), aya::programs::ProgramError> {
    let name = "profile_sample";
    let program: &mut PerfEvent = ebpf
        .program_mut(name)
        .ok_or_else(|| aya::programs::ProgramError::InvalidName { name: name.into() })?
        .try_into()?;
    program.load()?;
    let cpus = aya::util::online_cpus().map_err(|(_, io_error)| {
        aya::programs::ProgramError::SyscallError(aya::sys::SyscallError {
            call: "read the online CPUs",
            io_error,
        })
    })?;
    for cpu in cpus {
        program.attach(
            PerfEventConfig::Software(SoftwareEvent::CpuClock),
            PerfEventScope::AllProcessesOneCpu { cpu },
            SamplePolicy::Frequency(u64::from(frequency)),
            false,
        )?;
    }
    Ok(())
}
