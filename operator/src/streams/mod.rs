//! The jobs' result streams: one reader task per (job, node), whether or not the job has
//! storage, keeping each node's latest result (from the stream's summaries and final
//! message) for reconcile to read instead of asking every agent on every poll.
//!
//! While a job's storage cannot be read, its events have nowhere to go and stay in the
//! agents' buffers; its counts still reach the status: [`Streams::count`] asks each node
//! for them instead, until [`Streams::track`] takes the node over.
//!
//! Bounded: one reader and one latest result per node a job ran on; readers end with the
//! job's final message, and everything of a job goes with [`Streams::forget`] (the job
//! finished or was deleted). Nothing grows per event.

mod consume;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::agents::{AgentPool, JobId, NodeResult};
use crate::live::LiveHub;
use crate::pace::Pace;
use crate::storage::JobSpool;

/// What a node's stream has said so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The latest result: the last summary, or the final result once the job stopped.
    pub result: Option<NodeResult>,
    /// The final message arrived (or the agent no longer knows the stopped job).
    pub finished: bool,
    /// The agent does not know the running job: it restarted, and must be given it again.
    pub unknown_to_agent: bool,
}

/// A node's stream as its reader fills it and reconcile reads it.
#[derive(Debug, Default)]
pub struct Feed {
    observed: Mutex<Observed>,
    /// Read the stream from 1 again (the agent runs the job afresh).
    restart: AtomicBool,
    /// Wakes a reader waiting to retry.
    kick: Notify,
}

impl Feed {
    fn lock(&self) -> MutexGuard<'_, Observed> {
        self.observed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A summary arrived; true if it changed the latest result.
    fn update(&self, result: NodeResult) -> bool {
        let mut observed = self.lock();
        observed.unknown_to_agent = false;
        if observed.result.as_ref() == Some(&result) {
            return false;
        }
        observed.result = Some(result);
        true
    }

    fn finish(&self, result: Option<NodeResult>) {
        let mut observed = self.lock();
        observed.finished = true;
        if result.is_some() {
            observed.result = result;
        }
    }

    /// The agent said it does not know the job; true the first time.
    fn unknown_to_agent(&self) -> bool {
        !std::mem::replace(&mut self.lock().unknown_to_agent, true)
    }

    fn take_restart(&self) -> bool {
        self.restart.swap(false, Ordering::AcqRel)
    }
}

#[derive(Debug)]
struct Reader {
    feed: Arc<Feed>,
    task: JoinHandle<()>,
    /// Asks for the counts only, leaving the events in the agent's buffer.
    counts_only: bool,
}

#[derive(Debug)]
pub struct Streams {
    pace: Arc<Pace>,
    /// Every event read, for `tracejob logs`.
    pub live: Arc<LiveHub>,
    /// By job uid, then node.
    jobs: Mutex<HashMap<String, BTreeMap<String, Reader>>>,
}

impl Streams {
    pub fn new(pace: Arc<Pace>) -> Self {
        Streams {
            pace,
            live: Arc::default(),
            jobs: Mutex::default(),
        }
    }

    fn jobs(&self) -> MutexGuard<'_, HashMap<String, BTreeMap<String, Reader>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes sure the job's stream on each of `nodes` is being read, its events into
    /// `spool` if the job has storage. A node whose reader ended (the job stopped there) is
    /// read again only if `expect_running`: while a job runs, an ended stream means the
    /// agent started the job afresh (a spec change, targets back on the node).
    pub fn track<'a>(
        &self,
        agents: &Arc<dyn AgentPool>,
        job: &JobId,
        nodes: impl IntoIterator<Item = &'a str>,
        spool: Option<&Arc<JobSpool>>,
        expect_running: bool,
    ) {
        let mut jobs = self.jobs();
        let readers = jobs.entry(job.uid.clone()).or_default();
        for node in nodes {
            let feed = match readers.get(node) {
                Some(reader) if reader.counts_only => {
                    reader.task.abort();
                    reader.feed.clone()
                }
                Some(reader) if !reader.task.is_finished() => continue,
                Some(_) if !expect_running => continue,
                Some(reader) => {
                    reader.feed.lock().finished = false;
                    reader.feed.clone()
                }
                None => Arc::default(),
            };
            if let Some(spool) = spool {
                spool.add_node(node);
            }
            let sinks = consume::Sinks {
                feed: feed.clone(),
                spool: spool.cloned(),
                pace: self.pace.clone(),
                live: self.live.clone(),
                expect_running,
            };
            let task = tokio::spawn(consume::consume(
                agents.clone(),
                node.to_owned(),
                job.clone(),
                sinks,
            ));
            readers.insert(
                node.to_owned(),
                Reader {
                    feed,
                    task,
                    counts_only: false,
                },
            );
        }
    }

    /// The job's storage cannot be read yet, so its streams are not read (their events
    /// would have nowhere to go): the counts of each of `nodes` not read already are asked
    /// for instead, so that the status does not wait for storage to show them.
    pub fn count<'a>(
        &self,
        agents: &Arc<dyn AgentPool>,
        job: &JobId,
        nodes: impl IntoIterator<Item = &'a str>,
    ) {
        let mut jobs = self.jobs();
        let readers = jobs.entry(job.uid.clone()).or_default();
        for node in nodes {
            if readers.contains_key(node) {
                continue;
            }
            let feed = Arc::<Feed>::default();
            let task = tokio::spawn(consume::count(
                agents.clone(),
                node.to_owned(),
                job.clone(),
                feed.clone(),
                self.pace.clone(),
            ));
            readers.insert(
                node.to_owned(),
                Reader {
                    feed,
                    task,
                    counts_only: true,
                },
            );
        }
    }

    /// What each node's stream of the job has said so far.
    pub fn observe(&self, uid: &str) -> BTreeMap<String, Observed> {
        self.jobs().get(uid).map_or_else(BTreeMap::new, |readers| {
            readers
                .iter()
                .map(|(node, reader)| (node.clone(), reader.feed.lock().clone()))
                .collect()
        })
    }

    /// The job was just given to the node's agent: its reader stops waiting to retry. With
    /// `afresh` the agent had lost the job and counts from zero: the old result is dropped
    /// and the stream is read from 1.
    pub fn started(&self, uid: &str, node: &str, afresh: bool) {
        let jobs = self.jobs();
        let Some(reader) = jobs.get(uid).and_then(|readers| readers.get(node)) else {
            return;
        };
        {
            let mut observed = reader.feed.lock();
            observed.unknown_to_agent = false;
            if afresh {
                observed.result = None;
                reader.feed.restart.store(true, Ordering::Release);
            }
        }
        reader.feed.kick.notify_one();
    }

    /// Stops reading the job's streams and drops what they said (the job is over).
    pub fn forget(&self, uid: &str) {
        if let Some(readers) = self.jobs().remove(uid) {
            for reader in readers.values() {
                reader.task.abort();
            }
        }
        self.pace.forget(uid);
        self.live.forget(uid);
    }
}

/// Readers end with the process's view of the jobs (an operator restarting, a test).
impl Drop for Streams {
    fn drop(&mut self) {
        for readers in self.jobs().values() {
            for reader in readers.values() {
                reader.task.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests;
