//! The simulated agents' state, in domain terms (no protobuf here: `service.rs` is the only
//! file that speaks `tracejob.agent.v1`).
//!
//! Each (node, job) produces events at a fixed rate up to a fixed budget, so the totals are
//! known exactly: `produced = min(budget, rate × seconds since the job started there)`,
//! frozen when the job stops. Event `n` of a stream is computed from `n`, never buffered, so
//! any resume point can be served again and memory does not grow with the events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc};

/// How every simulated agent produces.
#[derive(Clone, Copy, Debug)]
pub struct Production {
    /// Events per second of one job on one node.
    pub rate: f64,
    /// Events one job produces on one node, at most.
    pub budget: u64,
    /// How often a stream looks for new events while its job produces.
    pub tick: Duration,
}

impl Default for Production {
    fn default() -> Self {
        Production {
            rate: 100.0,
            budget: 500,
            tick: Duration::from_millis(50),
        }
    }
}

/// One container a job traces on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimTarget {
    pub pod: String,
    pub container_id: String,
}

#[derive(Debug)]
struct JobState {
    targets: Vec<SimTarget>,
    started: Instant,
    /// Events produced when the job stopped.
    stopped_at: Option<u64>,
    forgotten: bool,
}

/// One job on one simulated node.
#[derive(Debug)]
pub struct SimJob {
    pub uid: String,
    pub name: String,
    /// Whether events are streamed (spec.output.events).
    pub events: bool,
    production: Production,
    state: Mutex<JobState>,
    changed: Notify,
    /// The fleet's count of events sent on every stream.
    streamed: Arc<AtomicU64>,
}

/// A snapshot of a job on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub events: u64,
    pub stopped: bool,
}

impl SimJob {
    fn lock(&self) -> MutexGuard<'_, JobState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn counts(&self) -> Counts {
        let state = self.lock();
        let events = state.stopped_at.unwrap_or_else(|| self.produced(&state));
        Counts {
            events,
            stopped: state.stopped_at.is_some(),
        }
    }

    fn produced(&self, state: &JobState) -> u64 {
        let due = state.started.elapsed().as_secs_f64() * self.production.rate;
        // Truncation is the point: whole events only.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a non-negative count of whole events"
        )]
        let due = due as u64;
        due.min(self.production.budget)
    }

    /// The last stream sequence that carries an event (0 when events are off).
    fn last_event(&self, counts: Counts) -> u64 {
        if self.events { counts.events } else { 0 }
    }

    pub fn targets(&self) -> Vec<SimTarget> {
        self.lock().targets.clone()
    }

    /// The pod event `sequence` is attributed to (round robin over the current targets).
    pub fn pod_of(&self, sequence: u64) -> SimTarget {
        let state = self.lock();
        let len = state.targets.len().max(1) as u64;
        let index = usize::try_from(sequence % len).unwrap_or(0);
        state.targets.get(index).cloned().unwrap_or(SimTarget {
            pod: String::new(),
            container_id: String::new(),
        })
    }
}

/// Why a call on a simulated agent failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// The node was deleted: its agent answers nothing.
    Dead,
    /// The agent does not know the job.
    UnknownJob,
}

/// One message of a result stream, in domain terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamMsg {
    Event {
        sequence: u64,
        target: SimTarget,
        job: String,
    },
    Summary {
        sequence: u64,
        events: u64,
    },
    Final {
        sequence: u64,
        events: u64,
    },
    /// The node died under the stream.
    Dead,
}

/// One simulated node's agent.
#[derive(Debug)]
pub struct SimNode {
    pub name: String,
    dead: AtomicBool,
    killed: Notify,
    jobs: Mutex<HashMap<String, Arc<SimJob>>>,
}

impl SimNode {
    fn jobs(&self) -> MutexGuard<'_, HashMap<String, Arc<SimJob>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    fn alive(&self) -> Result<(), SimError> {
        if self.is_dead() {
            Err(SimError::Dead)
        } else {
            Ok(())
        }
    }

    /// Resolves once the node is killed.
    pub async fn killed(&self) {
        loop {
            let notified = self.killed.notified();
            if self.is_dead() {
                return;
            }
            notified.await;
        }
    }

    pub fn job(&self, uid: &str) -> Result<Arc<SimJob>, SimError> {
        self.alive()?;
        self.jobs().get(uid).cloned().ok_or(SimError::UnknownJob)
    }

    /// Every job the node knows (stopped ones until forgotten).
    pub fn job_uids(&self) -> Vec<String> {
        self.jobs().keys().cloned().collect()
    }
}

/// When the fleet saw what, for the figures.
#[derive(Debug, Default)]
pub struct Observed {
    /// (node, job uid) → the first StartJob.
    pub started: HashMap<(String, String), SystemTime>,
    /// container id → when a job on its node first targeted it.
    pub targeted: HashMap<String, SystemTime>,
}

/// Every simulated agent of the fleet.
#[derive(Debug)]
pub struct Fleet {
    /// How jobs started from now on produce.
    production: Mutex<Production>,
    streamed: Arc<AtomicU64>,
    nodes: Mutex<HashMap<String, Arc<SimNode>>>,
    observed: Mutex<Observed>,
}

impl Fleet {
    pub fn new(production: Production) -> Arc<Self> {
        Arc::new(Fleet {
            production: Mutex::new(production),
            streamed: Arc::default(),
            nodes: Mutex::default(),
            observed: Mutex::default(),
        })
    }

    fn nodes(&self) -> MutexGuard<'_, HashMap<String, Arc<SimNode>>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How jobs started from now on produce (those running keep theirs).
    pub fn set_production(&self, production: Production) {
        *self.production.lock().unwrap_or_else(|p| p.into_inner()) = production;
    }

    /// Events sent on every stream so far (resent ones included).
    pub fn streamed(&self) -> u64 {
        self.streamed.load(Ordering::Relaxed)
    }

    pub fn observed(&self) -> MutexGuard<'_, Observed> {
        self.observed.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_node(&self, name: &str) -> Arc<SimNode> {
        self.nodes()
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(SimNode {
                    name: name.to_owned(),
                    dead: AtomicBool::new(false),
                    killed: Notify::new(),
                    jobs: Mutex::default(),
                })
            })
            .clone()
    }

    pub fn node(&self, name: &str) -> Option<Arc<SimNode>> {
        self.nodes().get(name).cloned()
    }

    /// The node's agent stops answering, its streams break and its listener closes.
    pub fn kill(&self, name: &str) {
        if let Some(node) = self.node(name) {
            node.dead.store(true, Ordering::Release);
            node.killed.notify_waiters();
            for job in node.jobs().values() {
                job.changed.notify_waiters();
            }
        }
    }

    /// The events the job produced on the node (final once it stopped there).
    pub fn count(&self, node: &str, uid: &str) -> Option<Counts> {
        let node = self.node(node)?;
        let job = node.jobs().get(uid).cloned()?;
        Some(job.counts())
    }

    /// Starts the job, or replaces the targets of a job the node already has.
    pub fn start(
        &self,
        node: &SimNode,
        uid: &str,
        name: &str,
        events: bool,
        targets: Vec<SimTarget>,
    ) -> Result<Arc<SimJob>, SimError> {
        node.alive()?;
        let now = SystemTime::now();
        self.observe_targets(&targets, now);
        let mut jobs = node.jobs();
        if let Some(job) = jobs.get(uid) {
            job.lock().targets = targets;
            return Ok(job.clone());
        }
        self.observed()
            .started
            .entry((node.name.clone(), uid.to_owned()))
            .or_insert(now);
        let job = Arc::new(SimJob {
            uid: uid.to_owned(),
            name: name.to_owned(),
            events,
            production: *self.production.lock().unwrap_or_else(|p| p.into_inner()),
            streamed: self.streamed.clone(),
            state: Mutex::new(JobState {
                targets,
                started: Instant::now(),
                stopped_at: None,
                forgotten: false,
            }),
            changed: Notify::new(),
        });
        jobs.insert(uid.to_owned(), job.clone());
        Ok(job)
    }

    pub fn update_targets(
        &self,
        node: &SimNode,
        uid: &str,
        targets: Vec<SimTarget>,
    ) -> Result<Arc<SimJob>, SimError> {
        let job = node.job(uid)?;
        self.observe_targets(&targets, SystemTime::now());
        job.lock().targets = targets;
        Ok(job)
    }

    fn observe_targets(&self, targets: &[SimTarget], now: SystemTime) {
        let mut observed = self.observed();
        for target in targets {
            observed
                .targeted
                .entry(target.container_id.clone())
                .or_insert(now);
        }
    }

    /// Stops the job: its count freezes; stopping again changes nothing.
    pub fn stop(&self, node: &SimNode, uid: &str) -> Result<Arc<SimJob>, SimError> {
        let job = node.job(uid)?;
        {
            let mut state = job.lock();
            if state.stopped_at.is_none() {
                state.stopped_at = Some(job.produced(&state));
            }
        }
        job.changed.notify_waiters();
        Ok(job)
    }

    pub fn forget(&self, node: &SimNode, uid: &str) -> Result<(), SimError> {
        node.alive()?;
        if let Some(job) = node.jobs().remove(uid) {
            job.lock().forgotten = true;
            job.changed.notify_waiters();
        }
        Ok(())
    }
}

/// The job's stream on the node from sequence `from` (0 or 1: the start): every event, a
/// summary whenever the count changed, then the final result once the job stopped. Ends
/// at once when `from` is past the final message (the reader acknowledging it).
pub fn stream(node: Arc<SimNode>, job: Arc<SimJob>, from: u64) -> mpsc::Receiver<StreamMsg> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut next = from.max(1);
        let mut summarized = None;
        loop {
            let changed = job.changed.notified();
            if node.is_dead() {
                let _ = tx.send(StreamMsg::Dead).await;
                return;
            }
            if job.lock().forgotten {
                return;
            }
            let counts = job.counts();
            let last = job.last_event(counts);
            while next <= last {
                let target = job.pod_of(next);
                let event = StreamMsg::Event {
                    sequence: next,
                    target,
                    job: job.name.clone(),
                };
                if tx.send(event).await.is_err() {
                    return;
                }
                job.streamed.fetch_add(1, Ordering::Relaxed);
                next += 1;
            }
            if counts.stopped {
                if next <= last + 1 {
                    let _ = tx
                        .send(StreamMsg::Final {
                            sequence: last + 1,
                            events: counts.events,
                        })
                        .await;
                }
                return;
            }
            if summarized != Some(counts.events) {
                summarized = Some(counts.events);
                let summary = StreamMsg::Summary {
                    sequence: next - 1,
                    events: counts.events,
                };
                if tx.send(summary).await.is_err() {
                    return;
                }
            }
            let done = counts.events >= job.production.budget;
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(job.production.tick), if !done => {}
                () = tx.closed() => return,
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(i: u32) -> SimTarget {
        SimTarget {
            pod: format!("p{i}"),
            container_id: format!("containerd://{i:064x}"),
        }
    }

    #[tokio::test]
    async fn a_stopped_job_streams_each_event_once_then_its_final_count() {
        let fleet = Fleet::new(Production {
            rate: 10_000.0,
            budget: 30,
            tick: Duration::from_millis(5),
        });
        let node = fleet.add_node("n1");
        let job = fleet
            .start(&node, "u1", "j", true, vec![target(1), target(2)])
            .expect("started");
        while job.counts().events < 30 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        fleet.stop(&node, "u1").expect("stopped");
        let mut rx = stream(node.clone(), job, 11);
        let mut events = Vec::new();
        let mut last = None;
        while let Some(msg) = rx.recv().await {
            match msg {
                StreamMsg::Event { sequence, .. } => events.push(sequence),
                StreamMsg::Final { sequence, events } => last = Some((sequence, events)),
                StreamMsg::Summary { .. } | StreamMsg::Dead => {}
            }
        }
        assert_eq!(events, (11..=30).collect::<Vec<_>>());
        assert_eq!(last, Some((31, 30)));
        assert_eq!(fleet.count("n1", "u1").map(|c| c.events), Some(30));
    }

    #[tokio::test]
    async fn a_killed_node_answers_nothing_and_breaks_its_streams() {
        let fleet = Fleet::new(Production::default());
        let node = fleet.add_node("n1");
        let job = fleet
            .start(&node, "u1", "j", true, vec![target(1)])
            .expect("started");
        let mut rx = stream(node.clone(), job, 1);
        fleet.kill("n1");
        let mut saw_dead = false;
        while let Some(msg) = rx.recv().await {
            saw_dead |= msg == StreamMsg::Dead;
        }
        assert!(saw_dead);
        assert_eq!(node.job("u1").err(), Some(SimError::Dead));
    }
}
