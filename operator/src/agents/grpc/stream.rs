//! StreamResults: the agent's live messages for one job, as domain [`Sequenced`] items.

use futures::StreamExt;
use tonic::transport::Channel;
use tracejob_api::event::EventLine;
use tracejob_proto::v1::agent_client::AgentClient;
use tracejob_proto::v1::result_message::Body;
use tracejob_proto::v1::{ResultMessage, StreamResultsRequest};

use super::{GrpcAgents, convert};
use crate::agents::{AgentError, JobId, NodeResult, ResultStream, Sequenced, StreamItem};

impl GrpcAgents {
    pub(super) async fn stream(
        &self,
        node: &str,
        job: &JobId,
        from: u64,
    ) -> Result<ResultStream, AgentError> {
        let request = StreamResultsRequest {
            job_uid: job.uid.clone(),
            from_sequence: from,
        };
        let client = self.client(node).await?;
        let answer = client.clone().stream_results(request).await;
        let messages = self.outcome(node, answer)?.into_inner();
        let node = node.to_owned();
        let uid = job.uid.clone();
        Ok(messages
            .map(move |message| match message {
                Ok(message) => {
                    if matches!(message.body, Some(Body::Final(_))) {
                        acknowledge(client.clone(), uid.clone(), message.sequence);
                    }
                    Ok(sequenced(&node, message))
                }
                Err(status) => Err(convert::agent_error(&node, &status)),
            })
            .boxed())
    }
}

/// Tells the agent the final message was read by asking for what follows it: the agent then
/// frees the job's buffered events at once instead of after its TTL. Best effort.
fn acknowledge(mut client: AgentClient<Channel>, job_uid: String, last: u64) {
    tokio::spawn(async move {
        let request = StreamResultsRequest {
            job_uid,
            from_sequence: last + 1,
        };
        if let Err(status) = client.stream_results(request).await {
            tracing::debug!(%status, "could not acknowledge a final result");
        }
    });
}

fn sequenced(node: &str, message: ResultMessage) -> Sequenced {
    let item = match message.body {
        Some(Body::Event(event)) => match EventLine::try_from(event) {
            Ok(mut line) => {
                line.origin.node = Some(node.to_owned());
                StreamItem::Event(Box::new(line))
            }
            // A record of a newer agent: the event is counted as lost, not guessed at.
            Err(_) => StreamItem::Lost(1),
        },
        Some(Body::Lost(lost)) => StreamItem::Lost(lost.messages),
        Some(Body::Final(result)) => StreamItem::Final(NodeResult::from(result)),
        Some(Body::Summary(result)) => StreamItem::Summary(NodeResult::from(result)),
        // A message without a body (a newer agent's kind): nothing lost, nothing to show.
        None => StreamItem::Lost(0),
    };
    Sequenced {
        sequence: message.sequence,
        item,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracejob_proto::v1;

    fn event_message(record: Option<v1::event::Record>) -> ResultMessage {
        ResultMessage {
            sequence: 7,
            body: Some(Body::Event(v1::Event {
                origin: Some(v1::Origin {
                    namespace: "shop".into(),
                    pod: "web-0".into(),
                    container: String::new(),
                }),
                record,
            })),
        }
    }

    #[test]
    fn an_event_becomes_a_line_naming_the_node_and_the_agents_origin() {
        let record = v1::event::Record::Exec(v1::ExecEvent {
            filename: "/bin/sh".into(),
            ..v1::ExecEvent::default()
        });
        let message = sequenced("n1", event_message(Some(record)));
        assert_eq!(message.sequence, 7);
        let StreamItem::Event(line) = message.item else {
            panic!("an event: {:?}", message.item);
        };
        assert_eq!(line.origin.node.as_deref(), Some("n1"));
        assert_eq!(line.origin.pod.as_deref(), Some("web-0"));
        assert_eq!(line.origin.container, None, "empty is unknown");
    }

    #[test]
    fn a_record_this_operator_does_not_know_counts_as_one_lost_event() {
        let message = sequenced("n1", event_message(None));
        assert_eq!(message.item, StreamItem::Lost(1));
    }
}
