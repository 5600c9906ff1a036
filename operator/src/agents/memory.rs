//! An in-process [`AgentPool`]: records what the controller asked of each node and answers
//! with results (and streamed events) the caller sets. Every stream carries the node's
//! result as a [`StreamItem::Summary`] when it connects and each time the result changes,
//! as an agent does. The controller's tests drive it; the operator binary uses it when no
//! `--agent-address` is given (it traces nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::watch;
use tracejob_api::TraceJobSpec;
use tracejob_api::event::{Event, EventLine, ExecRecord, Origin};

use super::{
    AgentError, AgentPool, ContainerTarget, JobId, NodeResult, ResultStream, Sequenced, StreamItem,
};

/// A call the controller made, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentCall {
    Start {
        node: String,
        job: String,
        containers: Vec<String>,
    },
    UpdateTargets {
        node: String,
        job: String,
        containers: Vec<String>,
    },
    Stop {
        node: String,
        job: String,
    },
    Forget {
        node: String,
        job: String,
    },
}

/// A job as one simulated agent runs (or ran) it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningJob {
    pub spec: TraceJobSpec,
    pub targets: Vec<ContainerTarget>,
    pub stopped: bool,
}

#[derive(Debug, Default)]
struct State {
    /// `None`: every node has an agent.
    nodes: Option<BTreeSet<String>>,
    unavailable: BTreeSet<String>,
    /// Nodes whose agent refuses every job, with its reason.
    rejecting: BTreeMap<String, String>,
    running: BTreeMap<(String, String), RunningJob>,
    results: BTreeMap<String, NodeResult>,
    /// Bumped each time a node's result is set, so streams send it once per change.
    result_versions: BTreeMap<String, u64>,
    /// How often [`AgentPool::results`] was asked.
    results_calls: u64,
    /// How often [`AgentPool::stream_results`] was asked.
    streams_opened: u64,
    /// Events every job on the node streams, in order (sequence = index + 1).
    events: BTreeMap<String, Vec<EventLine>>,
    calls: Vec<AgentCall>,
}

#[derive(Debug)]
pub struct InMemoryAgents {
    state: Arc<Mutex<State>>,
    /// Bumped on every change a stream may wait for.
    changed: watch::Sender<u64>,
    /// When set, every stop waits here first (a test of stops made at the same time).
    stop_barrier: Mutex<Option<Arc<tokio::sync::Barrier>>>,
}

impl Default for InMemoryAgents {
    fn default() -> Self {
        InMemoryAgents {
            state: Arc::default(),
            changed: watch::channel(0).0,
            stop_barrier: Mutex::default(),
        }
    }
}

impl InMemoryAgents {
    /// An agent on every node.
    pub fn on_every_node() -> Self {
        Self::default()
    }

    /// Agents only on these nodes.
    pub fn on_nodes(nodes: &[&str]) -> Self {
        let agents = Self::default();
        agents.lock().nodes = Some(nodes.iter().map(|n| n.to_string()).collect());
        agents
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// From now on every stop waits until `stops` stops are under way at once: stops made
    /// one after another never get past it.
    pub fn stop_together(&self, stops: usize) {
        *self
            .stop_barrier
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(Arc::new(tokio::sync::Barrier::new(stops)));
    }

    /// What every job on `node` reports from now on; every open stream of the node carries
    /// it as a summary.
    pub fn set_result(&self, node: &str, result: NodeResult) {
        {
            let mut state = self.lock();
            state.results.insert(node.to_owned(), result);
            *state.result_versions.entry(node.to_owned()).or_default() += 1;
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// How many times [`AgentPool::results`] was called on any node.
    pub fn results_calls(&self) -> u64 {
        self.lock().results_calls
    }

    /// How many times [`AgentPool::stream_results`] was called on any node.
    pub fn streams_opened(&self) -> u64 {
        self.lock().streams_opened
    }

    /// Appends events that every job on `node` streams (named with the node, as the
    /// gRPC client does).
    pub fn push_events(&self, node: &str, events: impl IntoIterator<Item = EventLine>) {
        self.lock()
            .events
            .entry(node.to_owned())
            .or_default()
            .extend(events.into_iter().map(|mut line| {
                line.origin.node = Some(node.to_owned());
                line
            }));
        self.changed.send_modify(|n| *n += 1);
    }

    /// Makes the node's agent stop answering (or answer again).
    pub fn set_unavailable(&self, node: &str, unavailable: bool) {
        let mut state = self.lock();
        if unavailable {
            state.unavailable.insert(node.to_owned());
        } else {
            state.unavailable.remove(node);
        }
    }

    /// Makes the node's agent refuse every job it is asked to start, as a kernel without the
    /// probe would.
    pub fn set_rejecting(&self, node: &str, reason: &str) {
        self.lock()
            .rejecting
            .insert(node.to_owned(), reason.to_owned());
    }

    /// Forgets every running job, as an agent restart would.
    pub fn restart_agents(&self) {
        self.lock().running.clear();
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn calls(&self) -> Vec<AgentCall> {
        self.lock().calls.clone()
    }

    /// The job named `job` (any namespace) on `node`, if it runs there.
    pub fn running(&self, node: &str, job: &str) -> Option<RunningJob> {
        self.lock()
            .running
            .iter()
            .find(|((n, j), r)| n == node && j.ends_with(&format!("/{job}")) && !r.stopped)
            .map(|(_, running)| running.clone())
    }

    /// `(node, namespace/name)` of every running job.
    pub fn running_jobs(&self) -> Vec<(String, String)> {
        let state = self.lock();
        state
            .running
            .iter()
            .filter(|(_, r)| !r.stopped)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// `(node, namespace/name)` of every job an agent still knows, running or stopped.
    pub fn known_jobs(&self) -> Vec<(String, String)> {
        self.lock().running.keys().cloned().collect()
    }

    fn check(state: &State, node: &str) -> Result<(), AgentError> {
        if state
            .nodes
            .as_ref()
            .is_some_and(|nodes| !nodes.contains(node))
        {
            return Err(AgentError::NoAgent {
                node: node.to_owned(),
            });
        }
        if state.unavailable.contains(node) {
            return Err(AgentError::Unavailable {
                node: node.to_owned(),
                message: "connection refused".to_owned(),
            });
        }
        Ok(())
    }
}

fn key(node: &str, job: &JobId) -> (String, String) {
    (node.to_owned(), format!("{}/{}", job.namespace, job.name))
}

fn ids(targets: &[ContainerTarget]) -> Vec<String> {
    targets.iter().map(|t| t.container_id.clone()).collect()
}

#[async_trait]
impl AgentPool for InMemoryAgents {
    async fn start(
        &self,
        node: &str,
        job: &JobId,
        spec: &TraceJobSpec,
        targets: &[ContainerTarget],
    ) -> Result<(), AgentError> {
        let mut state = self.lock();
        Self::check(&state, node)?;
        state.calls.push(AgentCall::Start {
            node: node.to_owned(),
            job: job.name.clone(),
            containers: ids(targets),
        });
        if let Some(reason) = state.rejecting.get(node) {
            return Err(AgentError::Rejected {
                node: node.to_owned(),
                message: reason.clone(),
            });
        }
        let running = RunningJob {
            spec: spec.clone(),
            targets: targets.to_vec(),
            stopped: false,
        };
        state.running.insert(key(node, job), running);
        Ok(())
    }

    async fn update_targets(
        &self,
        node: &str,
        job: &JobId,
        targets: &[ContainerTarget],
    ) -> Result<(), AgentError> {
        let mut state = self.lock();
        Self::check(&state, node)?;
        state.calls.push(AgentCall::UpdateTargets {
            node: node.to_owned(),
            job: job.name.clone(),
            containers: ids(targets),
        });
        match state.running.get_mut(&key(node, job)) {
            Some(running) => {
                running.targets = targets.to_vec();
                Ok(())
            }
            None => Err(AgentError::NotRunning {
                node: node.to_owned(),
            }),
        }
    }

    async fn results(&self, node: &str, job: &JobId) -> Result<NodeResult, AgentError> {
        let mut state = self.lock();
        state.results_calls += 1;
        Self::check(&state, node)?;
        if !state.running.contains_key(&key(node, job)) {
            return Err(AgentError::NotRunning {
                node: node.to_owned(),
            });
        }
        Ok(state.results.get(node).cloned().unwrap_or_default())
    }

    async fn stop(&self, node: &str, job: &JobId) -> Result<NodeResult, AgentError> {
        let barrier = self
            .stop_barrier
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(barrier) = barrier {
            barrier.wait().await;
        }
        let mut state = self.lock();
        Self::check(&state, node)?;
        state.calls.push(AgentCall::Stop {
            node: node.to_owned(),
            job: job.name.clone(),
        });
        match state.running.get_mut(&key(node, job)) {
            Some(running) => {
                running.stopped = true;
                let result = state.results.get(node).cloned().unwrap_or_default();
                drop(state);
                self.changed.send_modify(|n| *n += 1);
                Ok(result)
            }
            None => Ok(NodeResult::default()),
        }
    }

    async fn forget(&self, node: &str, job: &JobId) -> Result<(), AgentError> {
        let mut state = self.lock();
        Self::check(&state, node)?;
        state.calls.push(AgentCall::Forget {
            node: node.to_owned(),
            job: job.name.clone(),
        });
        state.running.remove(&key(node, job));
        drop(state);
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn stream_results(
        &self,
        node: &str,
        job: &JobId,
        from: u64,
    ) -> Result<ResultStream, AgentError> {
        {
            let mut state = self.lock();
            state.streams_opened += 1;
            Self::check(&state, node)?;
            if !state.running.contains_key(&key(node, job)) {
                return Err(AgentError::NotRunning {
                    node: node.to_owned(),
                });
            }
        }
        let reader = StreamReader {
            state: self.state.clone(),
            node: node.to_owned(),
            key: key(node, job),
            next: from.max(1),
            summary_sent: None,
            changes: self.changed.subscribe(),
        };
        Ok(futures::stream::unfold(Some(reader), next_message).boxed())
    }
}

/// A stream's position in the simulated agent's messages.
struct StreamReader {
    state: Arc<Mutex<State>>,
    node: String,
    key: (String, String),
    next: u64,
    /// The version of the node's result this stream last sent.
    summary_sent: Option<u64>,
    changes: watch::Receiver<u64>,
}

enum Step {
    Yield(Sequenced),
    Summary(u64, Sequenced),
    Last(Sequenced),
    End,
    Wait,
}

/// The next message: a pending event, else the node's result if it changed since this
/// stream last sent it, else the final result once the job stopped, else wait for a change.
async fn next_message(
    reader: Option<StreamReader>,
) -> Option<(Result<Sequenced, AgentError>, Option<StreamReader>)> {
    let mut reader = reader?;
    loop {
        reader.changes.borrow_and_update();
        let step = {
            let state = reader
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let events = state
                .events
                .get(&reader.node)
                .map_or(&[][..], Vec::as_slice);
            let index = usize::try_from(reader.next - 1).unwrap_or(usize::MAX);
            let version = state.result_versions.get(&reader.node).copied();
            match state.running.get(&reader.key) {
                None => Step::End,
                Some(_) if index < events.len() => Step::Yield(Sequenced {
                    sequence: reader.next,
                    item: StreamItem::Event(Box::new(events[index].clone())),
                }),
                // A summary takes no sequence number of its own: it follows the last event.
                Some(running) if !running.stopped && version > reader.summary_sent => {
                    Step::Summary(
                        version.unwrap_or(0),
                        Sequenced {
                            sequence: reader.next - 1,
                            item: StreamItem::Summary(
                                state.results.get(&reader.node).cloned().unwrap_or_default(),
                            ),
                        },
                    )
                }
                Some(running) if running.stopped => Step::Last(Sequenced {
                    sequence: reader.next,
                    item: StreamItem::Final(
                        state.results.get(&reader.node).cloned().unwrap_or_default(),
                    ),
                }),
                Some(_) => Step::Wait,
            }
        };
        match step {
            Step::Yield(message) => {
                reader.next += 1;
                return Some((Ok(message), Some(reader)));
            }
            Step::Summary(version, message) => {
                reader.summary_sent = Some(version);
                return Some((Ok(message), Some(reader)));
            }
            Step::Last(message) => return Some((Ok(message), None)),
            Step::End => return None,
            Step::Wait => {
                if reader.changes.changed().await.is_err() {
                    return None;
                }
            }
        }
    }
}

/// An `exec` of `/bin/true` by process `pid` in pod `p`, container `c`: a stand-in event
/// for tests.
pub fn exec_event(pid: u64) -> EventLine {
    EventLine::new(
        Origin {
            namespace: Some("default".into()),
            pod: Some("p".into()),
            container: Some("c".into()),
            ..Origin::default()
        },
        Event::Exec(ExecRecord {
            timestamp_ns: 0,
            cgroup_id: 0,
            pid: u32::try_from(pid).unwrap_or(u32::MAX),
            ppid: 1,
            uid: 0,
            comm: "true".into(),
            filename: "/bin/true".into(),
            argv: vec!["/bin/true".into()],
            argv_truncated: false,
            ret: 0,
        }),
    )
}
