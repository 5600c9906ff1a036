//! A running trace: one tool's programs loaded, scoped to a set of cgroups, with a
//! reader draining its events. Start it, change its targets while it runs, stop it
//! for the final summary. Dropping a job detaches everything too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use aya::maps::{Array, HashMap, PerCpuArray, RingBuf};
use aya::{Ebpf, EbpfLoader};
use tracejob_api::{Tool, ToolArgs};
use tracejob_ebpf::layout::{MAX_CGROUP_LEVELS, MAX_SYSCALLS, SyscallStats, TracejobConfig};

use crate::cgroup::CgroupTarget;
use crate::error::EngineError;
use crate::histogram;
use crate::probe::{self, ProbeKind};
use crate::reader::{self, ReaderState};
use crate::records::Event;
use crate::summary::{ExecRow, OpenRow, Summary, SyscallRow, ToolSummary};
use crate::syscall_names;

/// Everything needed to start a job.
#[derive(Clone, Debug)]
pub struct JobConfig {
    pub tool: Tool,
    pub args: ToolArgs,
    /// Trace every process of the host instead of the target cgroups.
    pub trace_all: bool,
    /// Use only this attach flavour instead of the first that works.
    pub probe: Option<ProbeKind>,
    /// Size of the kernel ring buffer: a power of two, at least one page.
    pub ring_buffer_bytes: u32,
    /// Capacity of the queue of decoded events; 0 keeps only the per-key counts.
    pub event_queue: usize,
    /// Distinct keys (paths, filenames) counted individually before folding.
    pub max_keys: usize,
}

impl JobConfig {
    pub fn new(tool: Tool, args: ToolArgs) -> Self {
        JobConfig {
            tool,
            args,
            trace_all: false,
            probe: None,
            ring_buffer_bytes: 8 << 20,
            event_queue: 65536,
            max_keys: 10_000,
        }
    }
}

#[derive(Debug)]
pub struct Job {
    ebpf: Ebpf,
    tool: Tool,
    probe: ProbeKind,
    targets: BTreeMap<u64, CgroupTarget>,
    state: Arc<ReaderState>,
    reader: Option<JoinHandle<()>>,
    events: Option<Receiver<Event>>,
    started: Instant,
}

impl Job {
    /// Loads and attaches the tool's programs, scoped to `targets`.
    pub fn start(config: &JobConfig, targets: &[CgroupTarget]) -> Result<Self, EngineError> {
        if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
            return Err(EngineError::NoBtf);
        }
        let syscall_filter = resolve_syscalls(config)?;
        let mut ebpf = load(config, !syscall_filter.is_empty())?;
        write_syscall_filter(&mut ebpf, &syscall_filter)?;
        let mut job = Job {
            ebpf,
            tool: config.tool,
            probe: ProbeKind::TpBtf,
            targets: BTreeMap::new(),
            state: ReaderState::new(config.max_keys),
            reader: None,
            events: None,
            started: Instant::now(),
        };
        job.write_config(config.trace_all, config.ring_buffer_bytes)?;
        for target in targets {
            job.add_target(target.clone())?;
        }
        job.probe = probe::attach_syscall_hooks(&mut job.ebpf, config.tool.name(), config.probe)?;
        job.started = Instant::now();
        if config.tool != Tool::Syscalls {
            job.start_reader(config.event_queue)?;
        }
        Ok(job)
    }

    /// The attach flavour in use.
    pub fn probe(&self) -> ProbeKind {
        self.probe
    }

    /// The decoded events, once; None for aggregating tools or a queue of size 0.
    pub fn take_events(&mut self) -> Option<Receiver<Event>> {
        self.events.take()
    }

    pub fn targets(&self) -> impl Iterator<Item = &CgroupTarget> {
        self.targets.values()
    }

    /// Starts tracing one more cgroup (and every cgroup below it).
    pub fn add_target(&mut self, target: CgroupTarget) -> Result<(), EngineError> {
        let mut map: HashMap<_, u64, u8> = map_mut(&mut self.ebpf, "target_cgroups")?;
        map.insert(target.id, 1, 0)
            .map_err(|source| EngineError::Map {
                action: "add a target cgroup",
                source,
            })?;
        self.targets.insert(target.id, target);
        self.write_level_mask()
    }

    /// Stops tracing a cgroup; unknown ids are ignored.
    pub fn remove_target(&mut self, cgroup_id: u64) -> Result<(), EngineError> {
        if self.targets.remove(&cgroup_id).is_none() {
            return Ok(());
        }
        self.write_level_mask()?;
        let mut map: HashMap<_, u64, u8> = map_mut(&mut self.ebpf, "target_cgroups")?;
        map.remove(&cgroup_id).map_err(|source| EngineError::Map {
            action: "remove a target cgroup",
            source,
        })
    }

    /// The result so far, while the job keeps running.
    pub fn snapshot(&self) -> Result<Summary, EngineError> {
        self.summarise()
    }

    /// Detaches the programs, drains what the kernel still holds and returns the result.
    pub fn stop(mut self) -> Result<Summary, EngineError> {
        probe::detach_all(&mut self.ebpf);
        self.state.request_stop();
        if let Some(reader) = self.reader.take() {
            reader
                .join()
                .map_err(|_| EngineError::Reader("it panicked".to_owned()))?;
        }
        self.summarise()
    }

    fn start_reader(&mut self, queue: usize) -> Result<(), EngineError> {
        let map = self
            .ebpf
            .take_map("events")
            .ok_or(EngineError::Reader("the events map is missing".into()))?;
        let ring = RingBuf::try_from(map).map_err(|source| EngineError::Map {
            action: "open the ring buffer",
            source,
        })?;
        let sink = if queue > 0 {
            let (sender, receiver) = sync_channel(queue);
            self.events = Some(receiver);
            Some(sender)
        } else {
            None
        };
        let handle = reader::spawn(ring, self.tool, sink, Arc::clone(&self.state))
            .map_err(|error| EngineError::Reader(error.to_string()))?;
        self.reader = Some(handle);
        Ok(())
    }

    fn write_config(&mut self, trace_all: bool, ring_buffer_bytes: u32) -> Result<(), EngineError> {
        let config = TracejobConfig {
            trace_all: u32::from(trace_all),
            level_mask: level_mask(self.targets.values()),
            // Wake the reader when an eighth of the buffer is waiting; the timer does the rest.
            wakeup_bytes: u64::from(ring_buffer_bytes / 8),
        };
        let mut map: Array<_, TracejobConfig> = map_mut(&mut self.ebpf, "job_config")?;
        map.set(0, config, 0).map_err(|source| EngineError::Map {
            action: "write the job configuration",
            source,
        })
    }

    fn write_level_mask(&mut self) -> Result<(), EngineError> {
        let mask = level_mask(self.targets.values());
        let mut map: Array<_, TracejobConfig> = map_mut(&mut self.ebpf, "job_config")?;
        let mut config = map.get(&0, 0).map_err(|source| EngineError::Map {
            action: "read the job configuration",
            source,
        })?;
        config.level_mask = mask;
        map.set(0, config, 0).map_err(|source| EngineError::Map {
            action: "write the job configuration",
            source,
        })
    }

    fn lost_kernel(&self) -> Result<u64, EngineError> {
        let map: PerCpuArray<_, u64> = map_ref(&self.ebpf, "lost_events")?;
        let values = map.get(&0, 0).map_err(|source| EngineError::Map {
            action: "read the lost-event counter",
            source,
        })?;
        Ok(values.iter().sum())
    }

    fn summarise(&self) -> Result<Summary, EngineError> {
        let lost_kernel = self.lost_kernel()?;
        let lost_user = self.state.lost_user.load(Ordering::Relaxed);
        let (events, details) = match self.tool {
            Tool::Syscalls => {
                let rows = read_syscall_stats(&self.ebpf)?;
                (
                    rows.iter().map(|row| row.count).sum(),
                    ToolSummary::Syscalls { syscalls: rows },
                )
            }
            Tool::Exec | Tool::Open => {
                let counts = self
                    .state
                    .counts
                    .lock()
                    .map_err(|_| EngineError::Reader("it panicked".into()))?;
                let rows = counts.sorted();
                let details = if self.tool == Tool::Exec {
                    ToolSummary::Exec {
                        execs: rows.into_iter().map(ExecRow::from_counts).collect(),
                    }
                } else {
                    ToolSummary::Open {
                        opens: rows.into_iter().map(OpenRow::from_counts).collect(),
                    }
                };
                (self.state.events.load(Ordering::Relaxed), details)
            }
        };
        Ok(Summary {
            tool: self.tool.name().to_owned(),
            probe: self.probe.name().to_owned(),
            events,
            lost: lost_kernel + lost_user,
            lost_kernel,
            lost_user,
            duration_ms: self.started.elapsed().as_millis() as u64,
            details,
        })
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        probe::detach_all(&mut self.ebpf);
        self.state.request_stop();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn load(config: &JobConfig, filter_syscalls: bool) -> Result<Ebpf, EngineError> {
    let object = match config.tool {
        Tool::Exec => tracejob_ebpf::objects::EXEC,
        Tool::Open => tracejob_ebpf::objects::OPEN,
        Tool::Syscalls => tracejob_ebpf::objects::SYSCALLS,
    };
    let failed_only = u32::from(config.args.failed_only);
    let filter = u32::from(filter_syscalls);
    let mut loader = EbpfLoader::new();
    loader.map_max_entries("events", config.ring_buffer_bytes);
    match config.tool {
        Tool::Open => loader.override_global("failed_only", &failed_only, true),
        Tool::Syscalls => loader.override_global("filter_syscalls", &filter, true),
        Tool::Exec => &mut loader,
    };
    loader.load(object).map_err(|source| {
        let denied = matches!(&source, aya::EbpfError::MapError(aya::maps::MapError::CreateError { io_error, .. })
            if io_error.raw_os_error() == Some(libc::EPERM));
        if denied {
            EngineError::NotPermitted { during: "creating BPF maps".into() }
        } else {
            EngineError::Load { tool: config.tool.name(), source }
        }
    })
}

fn resolve_syscalls(config: &JobConfig) -> Result<Vec<u32>, EngineError> {
    config
        .args
        .syscalls
        .iter()
        .map(|name| {
            syscall_names::number(name).ok_or_else(|| EngineError::UnknownSyscall {
                name: name.clone(),
                suggestions: syscall_names::suggestions(name),
            })
        })
        .collect()
}

fn write_syscall_filter(ebpf: &mut Ebpf, numbers: &[u32]) -> Result<(), EngineError> {
    if numbers.is_empty() {
        return Ok(());
    }
    let mut map: Array<_, u8> = map_mut(ebpf, "syscall_filter")?;
    for nr in numbers {
        map.set(*nr, 1, 0).map_err(|source| EngineError::Map {
            action: "write the syscall filter",
            source,
        })?;
    }
    Ok(())
}

fn read_syscall_stats(ebpf: &Ebpf) -> Result<Vec<SyscallRow>, EngineError> {
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

fn level_mask<'a>(targets: impl Iterator<Item = &'a CgroupTarget>) -> u32 {
    targets
        .filter(|t| t.level < MAX_CGROUP_LEVELS)
        .fold(0, |mask, t| mask | (1 << t.level))
}

fn map_mut<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<T, EngineError>
where
    T: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.map_mut(name).ok_or(EngineError::Map {
        action: "find a map",
        source: missing(name),
    })?;
    T::try_from(map).map_err(|source| EngineError::Map {
        action: "open a map",
        source,
    })
}

fn map_ref<'a, T>(ebpf: &'a Ebpf, name: &'static str) -> Result<T, EngineError>
where
    T: TryFrom<&'a aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.map(name).ok_or(EngineError::Map {
        action: "find a map",
        source: missing(name),
    })?;
    T::try_from(map).map_err(|source| EngineError::Map {
        action: "open a map",
        source,
    })
}

fn missing(name: &str) -> aya::maps::MapError {
    aya::maps::MapError::InvalidName {
        name: name.to_owned(),
    }
}
