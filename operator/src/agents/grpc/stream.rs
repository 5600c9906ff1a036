//! StreamResults: the agent's live messages for one job, as domain [`Sequenced`] items.

use futures::StreamExt;
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
        let answer = self.client(node).await?.stream_results(request).await;
        let messages = self.outcome(node, answer)?.into_inner();
        let node = node.to_owned();
        Ok(messages
            .map(move |message| match message {
                Ok(message) => Ok(sequenced(message)),
                Err(status) => Err(convert::agent_error(&node, &status)),
            })
            .boxed())
    }
}

fn sequenced(message: ResultMessage) -> Sequenced {
    let item = match message.body {
        Some(Body::EventJson(json)) => StreamItem::Event(json),
        Some(Body::Lost(lost)) => StreamItem::Lost(lost.messages),
        Some(Body::Final(result)) => StreamItem::Final(NodeResult::from(result)),
        Some(Body::Summary(_)) | None => StreamItem::Summary,
    };
    Sequenced {
        sequence: message.sequence,
        item,
    }
}
