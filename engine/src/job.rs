//! A running trace: one tool's programs loaded, scoped to a set of cgroups, with a
//! reader draining its events. Start it, change its targets while it runs, stop it
//! for the final summary. Dropping a job detaches everything too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use aya::Ebpf;
use aya::maps::{Array, HashMap, PerCpuArray, RingBuf};
use tracejob_api::{Tool, ToolArgs};
use tracejob_ebpf::layout::{MAX_CGROUP_LEVELS, TracejobConfig};

use crate::cgroup::CgroupTarget;
use crate::error::EngineError;
use crate::maps::{map_mut, map_ref};
use crate::probe::{self, ProbeKind};
use crate::reader::{self, ReaderState};
use crate::records::Event;
use crate::summary::{CgroupEvents, Summary};
use crate::thread_map::{self, Build, ThreadMap};
use crate::tools::{self, ToolDriver};

/// Everything needed to start a job.
#[derive(Clone, Debug)]
pub struct JobConfig {
    pub tool: Tool,
    pub args: ToolArgs,
    /// Trace every process of the host instead of the target cgroups.
    pub trace_all: bool,
    /// Use only this tracepoint flavour instead of the first that works.
    pub probe: Option<ProbeKind>,
    /// Use only the build with this thread map (open, syscalls with latency) instead of
    /// the first that works.
    pub thread_map: Option<ThreadMap>,
    /// Size of the kernel ring buffer: a power of two, at least one page.
    pub ring_buffer_bytes: u32,
    /// Capacity of the queue of decoded events; 0 keeps only the per-key counts.
    pub event_queue: usize,
    /// Distinct keys (paths, filenames) counted individually before folding.
    pub max_keys: usize,
    /// With no process in the targets, resolve files a tool names (uprobe binaries) in
    /// this host's filesystem: for `tracejob run` on one's own machine. False (the node
    /// agent): such a job is refused, never pointed at the host's files.
    pub host_files: bool,
}

impl JobConfig {
    pub fn new(tool: Tool, args: ToolArgs) -> Self {
        JobConfig {
            tool,
            args,
            trace_all: false,
            probe: None,
            thread_map: None,
            ring_buffer_bytes: 8 << 20,
            event_queue: 65536,
            max_keys: 10_000,
            host_files: false,
        }
    }
}

/// One running trace. The node agent keeps one per TraceJob in its registry
/// (`tracejob_node_agent::Jobs`); `tracejob run` drives one directly.
#[derive(Debug)]
pub struct Job {
    ebpf: Ebpf,
    driver: Box<dyn ToolDriver>,
    tool: Tool,
    probe: String,
    /// Builds and flavours tried before the one in use, and why each did not start.
    passed_over: Vec<(String, String)>,
    targets: BTreeMap<u64, CgroupTarget>,
    state: Arc<ReaderState>,
    reader: Option<JoinHandle<()>>,
    events: Option<Receiver<Event>>,
    started: Instant,
}

impl Job {
    /// Loads and attaches the tool's programs, scoped to `targets`: the first of the
    /// tool's builds that starts on this kernel (crate::thread_map).
    pub fn start(config: &JobConfig, targets: &[CgroupTarget]) -> Result<Self, EngineError> {
        let mut driver = tools::driver(config.tool, &config.args, targets, config.host_files)?;
        if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
            return Err(EngineError::NoBtf);
        }
        let builds = driver.builds();
        let ((ebpf, probe), passed_over) =
            thread_map::start_first(config.tool.name(), &builds, config.thread_map, |build| {
                start_build(config, driver.as_mut(), build, targets)
            })?;
        let mut job = Job {
            ebpf,
            driver,
            tool: config.tool,
            probe,
            passed_over,
            targets: targets.iter().map(|t| (t.id, t.clone())).collect(),
            state: ReaderState::new(config.max_keys),
            reader: None,
            events: None,
            started: Instant::now(),
        };
        if job.driver.decoder().is_some() {
            job.start_reader(config.event_queue)?;
        }
        Ok(job)
    }

    /// The attach type in use (tp_btf, raw_tracepoint, tracepoint, perf_event, uprobe, ...),
    /// followed for tools with a choice of thread map by the one in use (`tp_btf+hash`).
    pub fn probe(&self) -> &str {
        &self.probe
    }

    /// The faster builds this kernel did not start (`task_storage`, `tp_btf+task_storage`),
    /// each with the reason; empty when the first choice started.
    pub fn passed_over(&self) -> &[(String, String)] {
        &self.passed_over
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
        insert_target(&mut self.ebpf, target.id)?;
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
        probe::unload_all(&mut self.ebpf);
        self.state.request_stop();
        if let Some(reader) = self.reader.take() {
            reader
                .join()
                .map_err(|_| EngineError::Reader("it panicked".to_owned()))?;
        }
        self.summarise()
    }

    fn start_reader(&mut self, queue: usize) -> Result<(), EngineError> {
        let decoder = self
            .driver
            .decoder()
            .ok_or(EngineError::Reader("the tool has no events".into()))?;
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
        let handle = reader::spawn(
            ring,
            self.tool.name(),
            decoder,
            sink,
            Arc::clone(&self.state),
        )
        .map_err(|error| EngineError::Reader(error.to_string()))?;
        self.reader = Some(handle);
        Ok(())
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
        let events_read = self.state.events.load(Ordering::Relaxed);
        let counts = self
            .state
            .counts
            .lock()
            .map_err(|_| EngineError::Reader("it panicked".into()))?;
        let (events, details) = self.driver.summarise(&self.ebpf, &counts, events_read)?;
        let mut cgroups: Vec<CgroupEvents> = self
            .state
            .by_cgroup
            .lock()
            .map_err(|_| EngineError::Reader("it panicked".into()))?
            .iter()
            .map(|(&cgroup_id, &events)| CgroupEvents { cgroup_id, events })
            .collect();
        cgroups.sort_by_key(|c| std::cmp::Reverse(c.events));
        Ok(Summary {
            tool: self.tool.name().to_owned(),
            probe: self.probe.clone(),
            events,
            lost: lost_kernel + lost_user,
            lost_kernel,
            lost_user,
            duration_ms: self.started.elapsed().as_millis() as u64,
            cgroups,
            pods: Vec::new(),
            rows_omitted: 0,
            details,
        })
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        probe::unload_all(&mut self.ebpf);
        self.state.request_stop();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Loads one build of the tool, fills its maps for `targets` and attaches it; returns it
/// with what the summary reports as `probe`. Dropped on failure, which unloads it.
fn start_build(
    config: &JobConfig,
    driver: &mut dyn ToolDriver,
    build: Build,
    targets: &[CgroupTarget],
) -> Result<(Ebpf, String), EngineError> {
    let mut ebpf = load(config, driver, build.object)?;
    driver.prepare(&mut ebpf)?;
    write_config(&mut ebpf, config, level_mask(targets.iter()))?;
    for target in targets {
        insert_target(&mut ebpf, target.id)?;
    }
    let flavour = driver.attach(&mut ebpf, config.probe)?;
    Ok((ebpf, build.probe_name(&flavour)))
}

fn write_config(ebpf: &mut Ebpf, config: &JobConfig, level_mask: u32) -> Result<(), EngineError> {
    let config = TracejobConfig {
        trace_all: u32::from(config.trace_all),
        level_mask,
        // Wake the reader when an eighth of the buffer is waiting; the timer does the rest.
        wakeup_bytes: u64::from(config.ring_buffer_bytes / 8),
    };
    let mut map: Array<_, TracejobConfig> = map_mut(ebpf, "job_config")?;
    map.set(0, config, 0).map_err(|source| EngineError::Map {
        action: "write the job configuration",
        source,
    })
}

fn insert_target(ebpf: &mut Ebpf, cgroup_id: u64) -> Result<(), EngineError> {
    let mut map: HashMap<_, u64, u8> = map_mut(ebpf, "target_cgroups")?;
    map.insert(cgroup_id, 1, 0)
        .map_err(|source| EngineError::Map {
            action: "add a target cgroup",
            source,
        })
}

fn load(
    config: &JobConfig,
    driver: &dyn ToolDriver,
    object: &'static [u8],
) -> Result<Ebpf, EngineError> {
    // Tools that never use the ring buffer keep a one-page one instead of megabytes.
    let ring = if driver.uses_ring_buffer() {
        config.ring_buffer_bytes
    } else {
        4096
    };
    crate::btf::load(object, &driver.globals(), ring).map_err(|source| {
        let denied = matches!(&source, aya::EbpfError::MapError(aya::maps::MapError::CreateError { io_error, .. })
            if io_error.raw_os_error() == Some(libc::EPERM));
        if denied {
            EngineError::NotPermitted { during: "creating BPF maps".into() }
        } else {
            EngineError::Load { tool: config.tool.name(), source }
        }
    })
}

fn level_mask<'a>(targets: impl Iterator<Item = &'a CgroupTarget>) -> u32 {
    targets
        .filter(|t| t.level < MAX_CGROUP_LEVELS)
        .fold(0, |mask, t| mask | (1 << t.level))
}
