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
    let mut next = 1;
    let mut wait = FIRST_WAIT;
    loop {
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
                        StreamItem::Event(json) => spool.append(&node, &json),
                        StreamItem::Lost(messages) => spool.stream_lost(&node, messages),
                        StreamItem::Summary => {}
                        StreamItem::Final(result) => {
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
            }
            Err(error) => tracing::debug!(%node, %error, "cannot open the result stream"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}
