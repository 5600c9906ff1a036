//! The jobs this agent runs (or ran and still keeps): the engine job, its targets, its
//! result stream. One lock orders every start, update and stop. In the agent's own types
//! (`state`); the gRPC service converts at its edge.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Mutex as AsyncMutex;
use tracejob_api::Tool;
use tracejob_api::summary::Summary;
use tracejob_engine::cgroup::{CgroupTarget, Hierarchy};
use tracejob_engine::{Job, JobConfig, btf, heap};

use crate::convert::JobRequest;
use crate::origins::{Located, Origins};
use crate::resolve;
use crate::ring::{Bounds, Ring};
use crate::state::{Container, JobError, JobId, JobState, Placement, TargetState};

#[derive(Clone, Debug)]
pub struct Settings {
    /// Events each job's stream buffer holds for slow or reconnecting consumers.
    pub stream_buffer: usize,
    /// Encoded bytes each job's stream buffer holds at most.
    pub stream_buffer_bytes: usize,
    /// Jobs running at once; one more start is ResourceExhausted.
    pub max_jobs: usize,
    /// How long a stopped job's stream buffer is kept when nobody reads its final message.
    pub stopped_buffer_ttl: Duration,
    /// Decoded events queued between the kernel reader and the stream.
    pub event_queue: usize,
    /// How often a running job's result is read; it goes on the stream when it changed.
    pub summary_interval: Duration,
    /// How long the parsed kernel BTF (about 20 MiB) is kept once no job is left, so a
    /// burst of job starts parses it once.
    pub keep_warm: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            stream_buffer: 65536,
            stream_buffer_bytes: 8 << 20,
            max_jobs: 32,
            stopped_buffer_ttl: Duration::from_secs(300),
            event_queue: 65536,
            summary_interval: Duration::from_millis(100),
            keep_warm: Duration::from_secs(60),
        }
    }
}

type Engine = Arc<Mutex<Option<Job>>>;

#[derive(Debug)]
struct Entry {
    job: JobId,
    request: JobRequest,
    engine: Engine,
    /// Moves decoded events onto the ring; ends once the engine's reader has stopped.
    pump: Option<std::thread::JoinHandle<()>>,
    /// Set once stopped: the final result, its pods named.
    result: Option<Summary>,
    targets: Vec<TargetState>,
    /// Cgroup id → pod and container, for the events.
    origins: Arc<Origins>,
    ring: Arc<Ring>,
}

/// The agent's registry of jobs by uid. Each entry holds one engine job
/// (`tracejob_engine::Job`, a running trace) plus its request, targets and result buffer.
#[derive(Debug)]
pub struct Jobs {
    hierarchy: Result<Hierarchy, String>,
    settings: Settings,
    entries: Arc<AsyncMutex<BTreeMap<String, Entry>>>,
    /// Counts job starts: an idle release goes ahead only if none happened meanwhile.
    starts: Arc<AtomicU64>,
}

fn lock(engine: &Engine) -> std::sync::MutexGuard<'_, Option<Job>> {
    engine.lock().unwrap_or_else(|p| p.into_inner())
}

impl Jobs {
    pub fn new(hierarchy: Result<Hierarchy, String>, settings: Settings) -> Self {
        Jobs {
            hierarchy,
            settings,
            entries: Arc::default(),
            starts: Arc::default(),
        }
    }

    pub fn cgroup_mount(&self) -> Option<PathBuf> {
        self.hierarchy.as_ref().ok().map(|h| h.mount_point.clone())
    }

    fn hierarchy(&self) -> Result<&Hierarchy, JobError> {
        self.hierarchy
            .as_ref()
            .map_err(|reason| JobError::NoHierarchy(reason.clone()))
    }

    /// Each container's cgroup, or why it has none.
    fn resolve(
        &self,
        targets: &[Container],
    ) -> Result<Vec<(TargetState, Option<CgroupTarget>)>, JobError> {
        let hierarchy = self.hierarchy()?;
        Ok(targets
            .iter()
            .map(|t| {
                let found = resolve::container_dir(
                    &hierarchy.mount_point,
                    &t.pod_uid,
                    &t.container_id,
                    t.cgroup_path.as_deref().unwrap_or_default(),
                )
                .and_then(|path| hierarchy.target(&path).map_err(|e| e.to_string()));
                let (placement, cgroup) = match found {
                    Ok(cgroup) => (
                        Placement::Found {
                            cgroup_path: cgroup.path.display().to_string(),
                            cgroup_id: cgroup.id,
                        },
                        Some(cgroup),
                    ),
                    Err(reason) => {
                        tracing::warn!(container = %t.container_id, pod = %t.pod_uid, %reason, "target not found");
                        (Placement::Missing { reason }, None)
                    }
                };
                let state = TargetState {
                    container_id: t.container_id.clone(),
                    placement,
                };
                (state, cgroup)
            })
            .collect())
    }

    pub async fn start(
        &self,
        job: JobId,
        request: JobRequest,
        targets: &[Container],
    ) -> Result<JobState, JobError> {
        let resolved = self.resolve(targets)?;
        let mut entries = self.entries.lock().await;
        self.starts.fetch_add(1, Ordering::Relaxed);
        if let Some(entry) = entries.get_mut(&request.uid) {
            if request.generation != 0 && request.generation < entry.request.generation {
                return Err(JobError::StaleGeneration {
                    uid: request.uid.clone(),
                    running: entry.request.generation,
                    asked: request.generation,
                });
            }
            let same_tool =
                entry.request.tool == request.tool && entry.request.args == request.args;
            if entry.result.is_none() && same_tool {
                entry.request.generation = entry.request.generation.max(request.generation);
                apply_targets(entry, targets, resolved).await?;
                return Ok(state(entry));
            }
            let old = entries.remove(&request.uid);
            if let Some(old) = old {
                stop_engine(&old.engine).await.ok();
                old.ring.finish_with(None);
            }
        }
        let running = entries.values().filter(|e| e.result.is_none()).count();
        if running >= self.settings.max_jobs {
            return Err(JobError::Full(self.settings.max_jobs));
        }
        let origins = Arc::new(Origins::new(&job.namespace));
        origins.set(located(targets, &resolved));
        let (states, cgroups): (Vec<_>, Vec<_>) = resolved.into_iter().unzip();
        let cgroups: Vec<CgroupTarget> = cgroups.into_iter().flatten().collect();
        let mut config = JobConfig::new(request.tool, request.args.clone());
        config.event_queue = if request.events {
            self.settings.event_queue
        } else {
            0
        };
        let started = tokio::task::spawn_blocking(move || Job::start(&config, &cgroups))
            .await
            .map_err(|e| JobError::Task(e.to_string()))?;
        let mut engine_job = started?;
        tracing::info!(job = %request.name, uid = %request.uid, probe = engine_job.probe(), "job started");
        let ring = Arc::new(Ring::new(Bounds {
            messages: self.settings.stream_buffer,
            bytes: self.settings.stream_buffer_bytes,
        }));
        let pump = engine_job.take_events().map(|events| {
            let (ring, origins) = (ring.clone(), origins.clone());
            std::thread::spawn(move || {
                for event in events {
                    ring.push_line(origins.line(event));
                }
            })
        });
        let engine: Engine = Arc::new(Mutex::new(Some(engine_job)));
        spawn_summaries(
            engine.clone(),
            ring.clone(),
            origins.clone(),
            summary_interval(request.tool, self.settings.summary_interval),
        );
        let entry = Entry {
            job,
            request,
            engine,
            pump,
            result: None,
            targets: states,
            origins,
            ring,
        };
        let answer = state(&entry);
        entries.insert(entry.request.uid.clone(), entry);
        Ok(answer)
    }

    pub async fn update_targets(
        &self,
        uid: &str,
        targets: &[Container],
    ) -> Result<JobState, JobError> {
        let resolved = self.resolve(targets)?;
        let mut entries = self.entries.lock().await;
        let entry = entries.get_mut(uid).ok_or_else(|| not_found(uid))?;
        if entry.result.is_some() {
            return Err(JobError::Stopped(uid.to_owned()));
        }
        apply_targets(entry, targets, resolved).await?;
        Ok(state(entry))
    }

    pub async fn stop(&self, uid: &str) -> Result<JobState, JobError> {
        let mut entries = self.entries.lock().await;
        let entry = entries.get_mut(uid).ok_or_else(|| not_found(uid))?;
        if entry.result.is_none() {
            let summary = stop_engine(&entry.engine).await?;
            // Every event the engine decoded goes on the stream before the final result.
            if let Some(pump) = entry.pump.take() {
                let _ = tokio::task::spawn_blocking(move || pump.join()).await;
            }
            tracing::info!(job = %entry.request.name, events = summary.events, lost = summary.lost, "job stopped");
            let result = entry.origins.name_pods(summary);
            entry.ring.finish_with(Some(&result));
            entry.result = Some(result);
            free_after(&entry.ring, self.settings.stopped_buffer_ttl);
        }
        Ok(state(entry))
    }

    pub async fn forget(&self, uid: &str) {
        let (removed, none_left) = {
            let mut entries = self.entries.lock().await;
            (entries.remove(uid), entries.is_empty())
        };
        if let Some(entry) = removed {
            stop_engine(&entry.engine).await.ok();
            entry.ring.finish_with(None);
            drop(entry);
            heap::give_back();
            if none_left {
                self.release_when_still_idle();
            }
        }
    }

    /// After `keep_warm` with no job and no start, gives the kernel BTF back.
    fn release_when_still_idle(&self) {
        let (entries, starts) = (self.entries.clone(), self.starts.clone());
        let seen = starts.load(Ordering::Relaxed);
        let delay = self.settings.keep_warm;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let idle = entries.lock().await.is_empty() && starts.load(Ordering::Relaxed) == seen;
            if idle {
                // A start that races with this simply parses again.
                tokio::task::spawn_blocking(btf::release).await.ok();
                tracing::debug!("idle: kernel BTF released");
            }
        });
    }

    /// The job with `uid` (none or one) with its result so far.
    pub async fn list(&self, uid: &str) -> Vec<JobState> {
        let entries = self.entries.lock().await;
        entries.get(uid).map(state).into_iter().collect()
    }

    pub async fn ring(&self, uid: &str) -> Result<Arc<Ring>, JobError> {
        let entries = self.entries.lock().await;
        entries
            .get(uid)
            .map(|e| e.ring.clone())
            .ok_or_else(|| not_found(uid))
    }
}

fn not_found(uid: &str) -> JobError {
    JobError::NotFound(uid.to_owned())
}

/// The found targets with their pod and container (`resolved` is in `targets`' order).
fn located<'a>(
    targets: &'a [Container],
    resolved: &[(TargetState, Option<CgroupTarget>)],
) -> Vec<Located<'a>> {
    targets
        .iter()
        .zip(resolved)
        .filter_map(|(target, (_, cgroup))| {
            cgroup.as_ref().map(|cgroup| Located {
                cgroup_id: cgroup.id,
                pod: &target.pod,
                container: &target.container,
            })
        })
        .collect()
}

async fn apply_targets(
    entry: &mut Entry,
    targets: &[Container],
    resolved: Vec<(TargetState, Option<CgroupTarget>)>,
) -> Result<(), JobError> {
    let located = located(targets, &resolved);
    let (states, cgroups): (Vec<_>, Vec<_>) = resolved.into_iter().unzip();
    let wanted: Vec<CgroupTarget> = cgroups.into_iter().flatten().collect();
    let engine = entry.engine.clone();
    tokio::task::spawn_blocking(move || -> Result<(), JobError> {
        let mut guard = lock(&engine);
        let Some(job) = guard.as_mut() else {
            return Ok(());
        };
        let current: Vec<u64> = job.targets().map(|t| t.id).collect();
        for id in current {
            if !wanted.iter().any(|w| w.id == id) {
                job.remove_target(id)?;
            }
        }
        for target in wanted {
            job.add_target(target)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| JobError::Task(e.to_string()))??;
    entry.origins.set(located);
    entry.targets = states;
    Ok(())
}

async fn stop_engine(engine: &Engine) -> Result<Summary, JobError> {
    let engine = engine.clone();
    let job = lock(&engine).take();
    let Some(job) = job else {
        return Err(JobError::AlreadyStopped);
    };
    tokio::task::spawn_blocking(move || job.stop())
        .await
        .map_err(|e| JobError::Task(e.to_string()))?
        .map_err(JobError::from)
}

/// Frees a stopped job's buffered events after `ttl` if no stream has read its final
/// message (which frees them at once). A weak handle: a forgotten job is not kept alive.
fn free_after(ring: &Arc<Ring>, ttl: Duration) {
    let ring = Arc::downgrade(ring);
    tokio::spawn(async move {
        tokio::time::sleep(ttl).await;
        if let Some(ring) = ring.upgrade() {
            ring.free();
            heap::give_back();
        }
    });
}

/// A profile's summary symbolises every sampled stack: read at most once a second.
fn summary_interval(tool: Tool, every: Duration) -> Duration {
    if tool == Tool::Profile {
        every.max(Duration::from_secs(1))
    } else {
        every
    }
}

/// Whether `new` says more than `last`: the running time alone is no change.
fn changed(last: Option<&Summary>, new: &Summary) -> bool {
    last.is_none_or(|last| {
        Summary {
            duration_ms: new.duration_ms,
            ..last.clone()
        } != *new
    })
}

fn spawn_summaries(engine: Engine, ring: Arc<Ring>, origins: Arc<Origins>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut last: Option<Summary> = None;
        loop {
            tick.tick().await;
            let engine = engine.clone();
            let snapshot =
                tokio::task::spawn_blocking(move || lock(&engine).as_ref().map(Job::snapshot))
                    .await;
            match snapshot {
                Ok(Some(Ok(summary))) => {
                    let result = origins.name_pods(summary);
                    if changed(last.as_ref(), &result) {
                        ring.set_result(&result);
                        last = Some(result);
                    }
                }
                Ok(Some(Err(error))) => tracing::warn!(%error, "cannot read a summary"),
                _ => return,
            }
        }
    });
}

fn state(entry: &Entry) -> JobState {
    let result = entry.result.clone().or_else(|| {
        lock(&entry.engine)
            .as_ref()
            .and_then(|job| job.snapshot().ok())
            .map(|summary| entry.origins.name_pods(summary))
    });
    JobState {
        job: entry.job.clone(),
        generation: entry.request.generation,
        stopped: entry.result.is_some(),
        targets: entry.targets.clone(),
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(events: u64, duration_ms: u64) -> Summary {
        Summary {
            tool: "exec".into(),
            probe: "tp_btf".into(),
            events,
            lost: 0,
            lost_kernel: 0,
            lost_user: 0,
            duration_ms,
            cgroups: Vec::new(),
            pods: Vec::new(),
            rows_omitted: 0,
            details: tracejob_api::summary::ToolSummary::Exec { execs: Vec::new() },
        }
    }

    #[test]
    fn a_result_that_only_ran_longer_is_no_change_and_a_new_count_is() {
        let first = summary(3, 250);
        assert!(changed(None, &first), "the first result is news");
        let later = summary(3, 500);
        assert!(!changed(Some(&first), &later));
        let more = summary(4, 500);
        assert!(changed(Some(&later), &more));
    }

    #[test]
    fn a_profile_is_summarised_at_most_once_a_second_other_tools_at_the_interval() {
        let every = Duration::from_millis(250);
        assert_eq!(summary_interval(Tool::Exec, every), every);
        assert_eq!(
            summary_interval(Tool::Profile, every),
            Duration::from_secs(1)
        );
    }
}
