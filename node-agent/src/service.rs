//! `tracejob.agent.v1.Agent` over [`Jobs`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;
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
use crate::convert::{self, JobRequest};
use crate::jobs::Jobs;
use crate::ring::{Ring, Tail};
use crate::state::JobId;
use crate::validate;

/// Messages a stream takes from the buffer per read.
const BATCH: usize = 512;

/// One StreamResults call: messages are taken from the ring as the transport asks for them.
struct Reader {
    ring: Arc<Ring>,
    tail: watch::Receiver<Tail>,
    next: u64,
    summaries: u64,
    pending: VecDeque<ResultMessage>,
    ended: bool,
}

impl Reader {
    async fn next(&mut self) -> Option<ResultMessage> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(message) = self.pending.pop_front() {
                self.ended = matches!(message.body, Some(Body::Final(_)));
                return Some(message);
            }
            self.tail.borrow_and_update();
            let batch = self.ring.read(self.next, BATCH);
            self.next = batch.next;
            self.pending.extend(batch.messages);
            if batch.finished && self.pending.is_empty() {
                return None;
            }
            // The latest summary, once per change, numbered as the message before it so a
            // consumer resuming from its sequence + 1 misses no event.
            if let Some((seen, summary)) = self.ring.summary_after(self.summaries) {
                self.summaries = seen;
                self.pending.push_back(ResultMessage {
                    sequence: self.next - 1,
                    body: Some(Body::Summary(summary)),
                });
            }
            if self.pending.is_empty() && self.tail.changed().await.is_err() {
                return None;
            }
        }
    }
}

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
        let id = request.job.as_ref().map(JobId::from).unwrap_or_default();
        let targets = convert::containers(&request.targets);
        let state = self.jobs.start(id, job, &targets).await?;
        Ok(Response::new(JobState::from(&state)))
    }

    async fn update_targets(
        &self,
        request: Request<UpdateTargetsRequest>,
    ) -> Result<Response<JobState>, Status> {
        let request = request.into_inner();
        let uid = uid(request.job.as_ref())?;
        validate::targets(&request.targets)?;
        let targets = convert::containers(&request.targets);
        let state = self.jobs.update_targets(uid, &targets).await?;
        Ok(Response::new(JobState::from(&state)))
    }

    async fn stop_job(&self, request: Request<JobRef>) -> Result<Response<JobState>, Status> {
        let job = request.into_inner();
        let state = self.jobs.stop(uid(Some(&job))?).await?;
        Ok(Response::new(JobState::from(&state)))
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
        Ok(Response::new(ListJobsResponse {
            jobs: jobs.iter().map(JobState::from).collect(),
        }))
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
        // Asking for what follows the final message says it was read: the job's buffered
        // events can go (else they go after --stopped-buffer-ttl-seconds).
        if ring.read_past_end(request.from_sequence) {
            ring.free();
        }
        let reader = Reader {
            tail: ring.subscribe(),
            ring,
            next: request.from_sequence.max(1),
            summaries: 0,
            pending: VecDeque::new(),
            ended: false,
        };
        Ok(Response::new(Box::pin(futures::stream::unfold(
            reader,
            |mut reader| async move { reader.next().await.map(|m| (Ok(m), reader)) },
        ))))
    }
}
