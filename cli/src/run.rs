//! `tracejob run`: one TraceJob, traced on this host until the command exits, the
//! duration ends or the user interrupts.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Child;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tracejob_api::{TraceJob, parse_duration, parse_manifest};
use tracejob_engine::cgroup::{CgroupTarget, Hierarchy};
use tracejob_engine::records::{Event, EventLine, Origin};
use tracejob_engine::{Job, JobConfig, ProbeKind, ThreadMap};

use crate::args::{Format, RunArgs};
use crate::command::{self, CommandCgroup};
use crate::output::{FilesOutput, FinalSummary, JsonOutput, Output, TableOutput};
use crate::{signals, targets};

/// How long a command gets to exit after SIGTERM when the duration ends.
const TERMINATE_GRACE: Duration = Duration::from_secs(5);

/// Runs the trace and returns the process exit code.
pub fn run(args: RunArgs) -> anyhow::Result<i32> {
    let job_spec = read_manifest(&args)?;
    let spec = &job_spec.spec;
    let duration = match args.duration.as_deref().or(spec.duration.as_deref()) {
        Some(text) => Some(parse_duration(text).context("--duration")?).filter(|d| !d.is_zero()),
        None => None,
    };
    if args
        .duration
        .as_deref()
        .is_some_and(|d| parse_duration(d).is_ok_and(|d| d.is_zero()))
    {
        bail!("--duration must be longer than zero");
    }
    if spec.selector.is_some() || !spec.containers.is_empty() || !spec.node_selector.is_empty() {
        eprintln!(
            "tracejob: note: the manifest's pod selector is ignored by `tracejob run`; tracing the targets given here"
        );
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("tracejob run loads eBPF programs and needs root: run it with sudo");
    }
    // The kernel BTF is parsed while the targets are resolved (Job::start waits for it).
    std::thread::spawn(tracejob_engine::btf::prepare);
    let hierarchy = if args.all {
        None
    } else {
        Some(Hierarchy::discover()?)
    };
    let local = targets::resolve(&args, hierarchy.as_ref())?;
    let command_cgroup = match (&hierarchy, args.command.is_empty()) {
        (Some(hierarchy), false) => Some(CommandCgroup::create(hierarchy)?),
        _ => None,
    };

    let mut config = JobConfig::new(spec.tool, spec.args.clone());
    config.trace_all = local.trace_all;
    // The user's own machine: a uprobe binary may be named before the command runs.
    config.host_files = true;
    config.probe = args.probe.as_deref().and_then(ProbeKind::parse);
    config.thread_map = args.thread_map.as_deref().and_then(ThreadMap::parse);
    if !spec.output.events {
        config.event_queue = 0;
    }
    let mut cgroups = local.cgroups.clone();
    cgroups.extend(command_cgroup.as_ref().map(|c| c.target.clone()));
    let mut job = Job::start(&config, &cgroups)?;
    // One job per run: the kernel BTF it was loaded with (~20 MiB) is not needed again.
    tracejob_engine::btf::release();
    let events = job.take_events();
    let scope = if local.trace_all {
        "every process".to_owned()
    } else {
        format!("{} cgroup(s)", cgroups.len())
    };
    // Why a faster build did not start here (task storage on an older kernel).
    for (build, reason) in job.passed_over() {
        eprintln!("tracejob: not using {build}: {reason}");
    }
    eprintln!(
        "tracejob: tracing {scope} with {} via {} (Ctrl-C to stop)",
        spec.tool,
        job.probe()
    );

    let tool = spec.tool.name();
    let mut outputs: Vec<Box<dyn Output>> = vec![match args.format {
        Format::Table => Box::new(TableOutput::new()),
        Format::Json => Box::new(JsonOutput::new()),
    }];
    if let Some(dir) = &args.output {
        outputs.push(Box::new(FilesOutput::create(dir, tool)?));
    }

    signals::install();
    let mut child = match &command_cgroup {
        Some(cgroup) => Some(command::spawn(
            &args.command,
            cgroup,
            args.format == Format::Json,
        )?),
        None => None,
    };
    let mut writer = EventWriter {
        origins: origins(
            hierarchy.as_ref(),
            &local.cgroups,
            &args.command,
            command_cgroup.as_ref(),
        ),
        outputs,
        max_events: spec.output.max_events,
        written: 0,
        not_kept: 0,
    };
    let deadline = duration.map(|d| Instant::now() + d);
    let exit_code = trace_until_done(&mut writer, events.as_ref(), child.as_mut(), deadline)?;

    let summary = job.stop()?;
    if let Some(events) = &events {
        for event in events.try_iter() {
            writer.write(event)?;
        }
    }
    let final_summary = FinalSummary {
        summary: &summary,
        events_not_kept: writer.not_kept,
    };
    for output in &mut writer.outputs {
        output
            .summary(&final_summary)
            .context("failed to write the summary")?;
    }
    drop(command_cgroup);
    Ok(exit_code)
}

fn read_manifest(args: &RunArgs) -> anyhow::Result<TraceJob> {
    let text = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the manifest from standard input")?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
    };
    parse_manifest(&text).with_context(|| format!("{}", args.file.display()))
}

/// Where each target cgroup's events come from: the cgroup (relative to the v2 mount,
/// as `/sys/fs/cgroup` shows it) and, for the command's own cgroup, the command.
fn origins(
    hierarchy: Option<&Hierarchy>,
    cgroups: &[CgroupTarget],
    command: &[String],
    command_cgroup: Option<&CommandCgroup>,
) -> BTreeMap<u64, Origin> {
    let relative = |target: &CgroupTarget| {
        let path = hierarchy
            .and_then(|h| target.path.strip_prefix(&h.mount_point).ok())
            .unwrap_or(&target.path);
        format!("/{}", path.display()).replace("//", "/")
    };
    let mut origins: BTreeMap<u64, Origin> = cgroups
        .iter()
        .map(|target| {
            let origin = Origin {
                cgroup: Some(relative(target)),
                ..Origin::default()
            };
            (target.id, origin)
        })
        .collect();
    if let Some(cgroup) = command_cgroup {
        let origin = Origin {
            cgroup: Some(relative(&cgroup.target)),
            command: Some(command.join(" ")),
            ..Origin::default()
        };
        origins.insert(cgroup.target.id, origin);
    }
    origins
}

struct EventWriter {
    /// By cgroup id; events from other cgroups (--all, or a child cgroup) name none.
    origins: BTreeMap<u64, Origin>,
    outputs: Vec<Box<dyn Output>>,
    max_events: Option<u64>,
    written: u64,
    not_kept: u64,
}

impl EventWriter {
    fn write(&mut self, event: Event) -> anyhow::Result<()> {
        if self.max_events.is_some_and(|max| self.written >= max) {
            self.not_kept += 1;
            return Ok(());
        }
        self.written += 1;
        let origin = self
            .origins
            .get(&event.cgroup_id())
            .cloned()
            .unwrap_or_default();
        let line = EventLine::new(origin, event);
        for output in &mut self.outputs {
            output.event(&line).context("failed to write an event")?;
        }
        Ok(())
    }
}

/// Prints events until the command exits, the deadline passes or a signal arrives;
/// returns the command's exit code (0 without a command).
fn trace_until_done(
    writer: &mut EventWriter,
    events: Option<&Receiver<Event>>,
    mut child: Option<&mut Child>,
    deadline: Option<Instant>,
) -> anyhow::Result<i32> {
    const TICK: Duration = Duration::from_millis(50);
    loop {
        if let Some(child) = child.as_deref_mut()
            && let Some(status) = child.try_wait()?
        {
            return Ok(command::exit_code(status));
        }
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        if timed_out || (child.is_none() && signals::interrupted()) {
            return match child {
                // The trace is over: the command is stopped like `timeout` would.
                Some(child) if timed_out => Ok(command::exit_code(command::terminate(
                    child,
                    TERMINATE_GRACE,
                )?)),
                // Ctrl-C reached the command too (same process group); wait for it.
                Some(child) => Ok(command::exit_code(child.wait()?)),
                None => Ok(0),
            };
        }
        match events {
            Some(events) => match events.recv_timeout(TICK) {
                Ok(event) => {
                    writer.write(event)?;
                    for event in events.try_iter().take(4096) {
                        writer.write(event)?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
            },
            None => std::thread::sleep(TICK),
        }
    }
}
