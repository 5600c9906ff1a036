//! One task per (job, node): reads the agent's StreamResults, resuming after the last
//! sequence seen when the stream breaks, until the job's final message. Events go to the
//! job's spool (when it has storage); each summary and the final result become the node's
//! latest result, and a change asks for a reconcile of the job (paced). An agent that no
//! longer knows the job restarted: its next stream starts from 1 again.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::Feed;
use crate::agents::{AgentError, AgentPool, JobId, StreamItem};
use crate::live::LiveHub;
use crate::pace::Pace;
use crate::storage::{JobSpool, event_json};

const FIRST_WAIT: Duration = Duration::from_millis(200);
const LONGEST_WAIT: Duration = Duration::from_secs(5);
/// How often a node's counts are asked for while its stream cannot be read.
const COUNTS_EVERY: Duration = Duration::from_secs(1);

/// Where a reader puts what it reads.
pub(super) struct Sinks {
    pub feed: Arc<Feed>,
    pub spool: Option<Arc<JobSpool>>,
    pub pace: Arc<Pace>,
    pub live: Arc<LiveHub>,
    /// False for a node where the job already stopped: an agent that does not know the job
    /// has nothing more to send, and the reader ends.
    pub expect_running: bool,
}

pub(super) async fn consume(agents: Arc<dyn AgentPool>, node: String, job: JobId, sinks: Sinks) {
    let Sinks {
        feed,
        spool,
        pace,
        live,
        expect_running,
    } = sinks;
    // After an operator restart, after what the last flush wrote (see Storage::recover).
    let mut next = spool.as_ref().map_or(1, |s| s.start_sequence(&node));
    let mut wait = FIRST_WAIT;
    loop {
        let spool_restarted = spool.as_ref().is_some_and(|s| s.take_restart(&node));
        if feed.take_restart() | spool_restarted {
            next = 1;
        }
        match agents.stream_results(&node, &job, next).await {
            Ok(mut stream) => {
                while let Some(message) = stream.next().await {
                    let message = match message {
                        Ok(message) => message,
                        Err(error) => {
                            tracing::debug!(%node, %error, "result stream broke; resuming");
                            break;
                        }
                    };
                    next = message.sequence + 1;
                    wait = FIRST_WAIT;
                    match (message.item, &spool) {
                        (StreamItem::Event(event), spool) => {
                            let json = match spool {
                                Some(spool) => spool.append(&node, message.sequence, &event),
                                None => event_json(&node, &event).ok(),
                            };
                            if let Some(json) = json {
                                live.event(&job.uid, json);
                            }
                        }
                        (StreamItem::Lost(messages), spool) => {
                            if let Some(spool) = spool {
                                spool.stream_lost(&node, message.sequence, messages);
                            }
                            live.lost(&job.uid, &node, messages);
                        }
                        (StreamItem::Summary(mut result), spool) => {
                            if let Some(spool) = spool {
                                spool.handled(&node, message.sequence);
                            }
                            // The engine's full summary (every folded stack of a profile)
                            // goes to storage with the final message only: not kept per node.
                            result.summary = None;
                            if feed.update(result) {
                                pace.request(&job);
                            }
                        }
                        (StreamItem::Final(mut result), spool) => {
                            let summary = result.summary.take();
                            if let Some(spool) = spool {
                                spool.handled(&node, message.sequence);
                                spool.finish(&node, summary);
                            }
                            feed.finish(Some(result));
                            pace.request(&job);
                            return;
                        }
                    }
                }
            }
            Err(AgentError::NotRunning { .. }) => {
                // The agent does not know the job (it restarted): when the job is started
                // there again, its stream numbers from 1.
                next = 1;
                if let Some(spool) = &spool {
                    spool.handled(&node, 0);
                }
                if !expect_running {
                    if let Some(spool) = &spool {
                        spool.finish(&node, None);
                    }
                    feed.finish(None);
                    return;
                }
                if feed.unknown_to_agent() {
                    pace.request(&job);
                }
            }
            Err(error) => tracing::debug!(%node, %error, "cannot open the result stream"),
        }
        // A (re)start of the job on the node cuts the wait short.
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = feed.kick.notified() => {}
        }
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}

/// Asks the node's agent for the job's counts until the task is aborted (the stream is
/// read from now on, or the job is over); a change asks for a reconcile like a summary.
pub(super) async fn count(
    agents: Arc<dyn AgentPool>,
    node: String,
    job: JobId,
    feed: Arc<Feed>,
    pace: Arc<Pace>,
) {
    let mut wait = COUNTS_EVERY;
    loop {
        match agents.results(&node, &job).await {
            Ok(mut result) => {
                wait = COUNTS_EVERY;
                result.summary = None;
                if feed.update(result) {
                    pace.request(&job);
                }
            }
            Err(AgentError::NotRunning { .. }) => {
                wait = (wait * 2).min(LONGEST_WAIT);
                if feed.unknown_to_agent() {
                    pace.request(&job);
                }
            }
            Err(error) => {
                wait = (wait * 2).min(LONGEST_WAIT);
                tracing::debug!(%node, %error, "cannot ask for the counts");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = feed.kick.notified() => {}
        }
    }
}
