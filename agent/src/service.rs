//! `tracejob.agent.v1.Agent` over [`Jobs`].

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracejob_proto::v1::agent_server::Agent;
use tracejob_proto::v1::result_message::Body;
use tracejob_proto::v1::{
    CapabilitiesRequest, CapabilitiesResponse, ForgetJobResponse, JobRef, JobState,
    ListJobsRequest, ListJobsResponse, ResultMessage, StartJobRequest, StreamResultsRequest,
    UpdateTargetsRequest,
};

use crate::capabilities;
use crate::convert::JobRequest;
use crate::jobs::Jobs;
use crate::validate;

/// Messages a stream sends per read of the buffer, and how many wait in the socket's queue.
const BATCH: usize = 512;
const QUEUE: usize = 64;

#[derive(Debug, Clone)]
pub struct AgentService {
    node: String,
    jobs: Arc<Jobs>,
}

impl AgentService {
    pub fn new(node: String, jobs: Arc<Jobs>) -> Self {
        AgentService { node, jobs }
    }
}

fn uid(job: Option<&JobRef>) -> Result<&str, Status> {
    let uid = job.map_or("", |j| j.uid.as_str());
    validate::job_uid("job.uid", uid)?;
    Ok(uid)
}

type ResultStream = Pin<Box<dyn Stream<Item = Result<ResultMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Agent for AgentService {
    async fn start_job(
        &self,
        request: Request<StartJobRequest>,
    ) -> Result<Response<JobState>, Status> {
        let request = request.into_inner();
        let job = JobRequest::try_from(&request)?;
        let job_ref = request.job.clone().unwrap_or_default();
        let state = self.jobs.start(job_ref, job, &request.targets).await?;
        Ok(Response::new(state))
    }

    async fn update_targets(
        &self,
        request: Request<UpdateTargetsRequest>,
    ) -> Result<Response<JobState>, Status> {
        let request = request.into_inner();
        let uid = uid(request.job.as_ref())?;
        validate::targets(&request.targets)?;
        Ok(Response::new(
            self.jobs.update_targets(uid, &request.targets).await?,
        ))
    }

    async fn stop_job(&self, request: Request<JobRef>) -> Result<Response<JobState>, Status> {
        let job = request.into_inner();
        Ok(Response::new(self.jobs.stop(uid(Some(&job))?).await?))
    }

    async fn forget_job(
        &self,
        request: Request<JobRef>,
    ) -> Result<Response<ForgetJobResponse>, Status> {
        let job = request.into_inner();
        self.jobs.forget(uid(Some(&job))?).await;
        Ok(Response::new(ForgetJobResponse {}))
    }

    async fn list_jobs(
        &self,
        request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        let request = request.into_inner();
        // One job per call: no caller lists every tenant's results at once.
        validate::job_uid("job_uid", &request.job_uid)?;
        let jobs = self.jobs.list(&request.job_uid).await;
        Ok(Response::new(ListJobsResponse { jobs }))
    }

    async fn capabilities(
        &self,
        _: Request<CapabilitiesRequest>,
    ) -> Result<Response<CapabilitiesResponse>, Status> {
        let mount = self.jobs.cgroup_mount();
        Ok(Response::new(capabilities::describe(
            &self.node,
            mount.as_deref(),
        )))
    }

    type StreamResultsStream = ResultStream;

    async fn stream_results(
        &self,
        request: Request<StreamResultsRequest>,
    ) -> Result<Response<ResultStream>, Status> {
        let request = request.into_inner();
        validate::job_uid("job_uid", &request.job_uid)?;
        let ring = self.jobs.ring(&request.job_uid).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        tokio::spawn(async move {
            let mut tail = ring.subscribe();
            let mut next = request.from_sequence.max(1);
            loop {
                tail.borrow_and_update();
                let batch = ring.read(next, BATCH);
                next = batch.next;
                for message in batch.messages {
                    let last = matches!(message.body, Some(Body::Final(_)));
                    if tx.send(Ok(message)).await.is_err() || last {
                        return;
                    }
                }
                if batch.finished {
                    return;
                }
                if ring.read(next, 1).messages.is_empty() && tail.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
