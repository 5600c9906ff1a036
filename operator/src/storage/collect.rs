//! One task per (job, node): reads the agent's StreamResults into the spool, resuming after
//! the last sequence seen when the stream breaks, until the job's final message. An agent
//! that no longer knows the job restarted: its next stream starts from 1 again.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::spool::JobSpool;
use crate::agents::{AgentError, AgentPool, JobId, StreamItem};

const FIRST_WAIT: Duration = Duration::from_millis(200);
const LONGEST_WAIT: Duration = Duration::from_secs(5);

pub async fn consume(agents: Arc<dyn AgentPool>, node: String, job: JobId, spool: Arc<JobSpool>) {
    // After an operator restart, after what the last flush wrote (see Storage::recover).
    let mut next = spool.start_sequence(&node);
    let mut wait = FIRST_WAIT;
    loop {
        if spool.take_restart(&node) {
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
                    match message.item {
                        StreamItem::Event(line) => spool.append(&node, message.sequence, &line),
                        StreamItem::Lost(messages) => {
                            spool.stream_lost(&node, message.sequence, messages)
                        }
                        StreamItem::Summary => spool.handled(&node, message.sequence),
                        StreamItem::Final(result) => {
                            spool.handled(&node, message.sequence);
                            spool.finish(&node, result.summary_json);
                            return;
                        }
                    }
                }
            }
            Err(AgentError::NotRunning { .. }) => {
                // The agent does not know the job (it restarted): when the job is started
                // there again, its stream numbers from 1.
                next = 1;
                spool.handled(&node, 0);
            }
            Err(error) => tracing::debug!(%node, %error, "cannot open the result stream"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}
