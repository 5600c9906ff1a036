//! The one file that speaks `tracejob.agent.v1`: a simulated node's agent as a tonic
//! service, over the domain state of [`crate::sim`], and the server on the node's address.
//! When the proto changes, only this file changes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};
use tonic::{Request, Response, Status};
use tracejob_proto::v1::agent_server::{Agent, AgentServer};
use tracejob_proto::v1::event::Record;
use tracejob_proto::v1::result_message::Body;
use tracejob_proto::v1::{
    CapabilitiesRequest, CapabilitiesResponse, Event, ExecEvent, ForgetJobResponse, JobRef,
    JobResult, JobState, ListJobsRequest, ListJobsResponse, Origin, ResultMessage, Row,
    StartJobRequest, StreamResultsRequest, Target, TargetState, UpdateTargetsRequest,
};

use crate::sim::{Fleet, SimError, SimJob, SimNode, SimTarget, StreamMsg};

/// The probe every simulated agent reports.
pub const PROBE: &str = "simulated";

struct SimAgent {
    fleet: Arc<Fleet>,
    node: Arc<SimNode>,
}

fn status(error: SimError) -> Status {
    match error {
        SimError::Dead => Status::unavailable("the simulated node is gone"),
        SimError::UnknownJob => Status::not_found("no such job"),
    }
}

fn targets(targets: Vec<Target>) -> Vec<SimTarget> {
    targets
        .into_iter()
        .map(|t| SimTarget {
            pod: t.pod,
            container_id: t.container_id,
        })
        .collect()
}

fn uid(job: Option<&JobRef>) -> Result<&str, Status> {
    job.map(|j| j.uid.as_str())
        .filter(|uid| !uid.is_empty())
        .ok_or_else(|| Status::invalid_argument("job.uid is required"))
}

fn result(events: u64) -> JobResult {
    JobResult {
        tool: "exec".to_owned(),
        probe: PROBE.to_owned(),
        events,
        rows: vec![Row {
            key: "simulated".to_owned(),
            count: events,
            ..Row::default()
        }],
        ..JobResult::default()
    }
}

fn state(job: &SimJob) -> JobState {
    let counts = job.counts();
    JobState {
        job: Some(JobRef {
            uid: job.uid.clone(),
            namespace: String::new(),
            name: job.name.clone(),
        }),
        generation: 0,
        stopped: counts.stopped,
        targets: job
            .targets()
            .into_iter()
            .map(|t| TargetState {
                container_id: t.container_id,
                found: true,
                ..TargetState::default()
            })
            .collect(),
        result: Some(result(counts.events)),
    }
}

type ResultStream = Pin<Box<dyn Stream<Item = Result<ResultMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Agent for SimAgent {
    async fn start_job(
        &self,
        request: Request<StartJobRequest>,
    ) -> Result<Response<JobState>, Status> {
        let request = request.into_inner();
        let uid = uid(request.job.as_ref())?.to_owned();
        let name = request.job.map(|j| j.name).unwrap_or_default();
        let job = self
            .fleet
            .start(
                &self.node,
                &uid,
                &name,
                request.events,
                targets(request.targets),
            )
            .map_err(status)?;
        Ok(Response::new(state(&job)))
    }

    async fn update_targets(
        &self,
        request: Request<UpdateTargetsRequest>,
    ) -> Result<Response<JobState>, Status> {
        let request = request.into_inner();
        let uid = uid(request.job.as_ref())?;
        let job = self
            .fleet
            .update_targets(&self.node, uid, targets(request.targets))
            .map_err(status)?;
        Ok(Response::new(state(&job)))
    }

    async fn stop_job(&self, request: Request<JobRef>) -> Result<Response<JobState>, Status> {
        let job = self
            .fleet
            .stop(&self.node, uid(Some(request.get_ref()))?)
            .map_err(status)?;
        Ok(Response::new(state(&job)))
    }

    async fn forget_job(
        &self,
        request: Request<JobRef>,
    ) -> Result<Response<ForgetJobResponse>, Status> {
        self.fleet
            .forget(&self.node, uid(Some(request.get_ref()))?)
            .map_err(status)?;
        Ok(Response::new(ForgetJobResponse {}))
    }

    async fn list_jobs(
        &self,
        request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        let uid = request.into_inner().job_uid;
        if uid.is_empty() {
            return Err(Status::invalid_argument("job_uid is required"));
        }
        let jobs = match self.node.job(&uid) {
            Ok(job) => vec![state(&job)],
            Err(SimError::UnknownJob) => Vec::new(),
            Err(error) => return Err(status(error)),
        };
        Ok(Response::new(ListJobsResponse { jobs }))
    }

    async fn capabilities(
        &self,
        _request: Request<CapabilitiesRequest>,
    ) -> Result<Response<CapabilitiesResponse>, Status> {
        if self.node.is_dead() {
            return Err(status(SimError::Dead));
        }
        Ok(Response::new(CapabilitiesResponse {
            node: self.node.name.clone(),
            kernel_release: "simulated".to_owned(),
            btf: true,
            tools: vec!["exec".to_owned()],
            ..CapabilitiesResponse::default()
        }))
    }

    type StreamResultsStream = ResultStream;

    async fn stream_results(
        &self,
        request: Request<StreamResultsRequest>,
    ) -> Result<Response<ResultStream>, Status> {
        let request = request.into_inner();
        let job = self.node.job(&request.job_uid).map_err(status)?;
        let messages = crate::sim::stream(self.node.clone(), job, request.from_sequence);
        let stream = ReceiverStream::new(messages).map(|msg| match msg {
            StreamMsg::Event {
                sequence,
                target,
                job,
            } => Ok(ResultMessage {
                sequence,
                body: Some(Body::Event(event(sequence, target, &job))),
            }),
            StreamMsg::Summary { sequence, events } => Ok(ResultMessage {
                sequence,
                body: Some(Body::Summary(result(events))),
            }),
            StreamMsg::Final { sequence, events } => Ok(ResultMessage {
                sequence,
                body: Some(Body::Final(result(events))),
            }),
            StreamMsg::Dead => Err(status(SimError::Dead)),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// A synthetic exec event: its sequence (as the pid) makes it unique per (node, job), so
/// storage can be checked for each event exactly once; the origin names the pod, as a real
/// agent's does.
fn event(sequence: u64, target: SimTarget, job: &str) -> Event {
    Event {
        origin: Some(Origin {
            pod: target.pod,
            container: target.container_id,
            ..Origin::default()
        }),
        record: Some(Record::Exec(ExecEvent {
            pid: u32::try_from(sequence).unwrap_or(u32::MAX),
            comm: "simulated".to_owned(),
            filename: format!("/simulated/{job}"),
            ..ExecEvent::default()
        })),
    }
}

/// Serves the node's agent on `address` (mutual TLS) until the node is killed.
pub async fn serve(
    fleet: Arc<Fleet>,
    node: Arc<SimNode>,
    address: SocketAddr,
    tls: ServerTlsConfig,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let mut server = Server::builder().tls_config(tls)?;
    let killed = node.clone();
    let service = SimAgent { fleet, node };
    let name = service.node.name.clone();
    Ok(tokio::spawn(async move {
        let served = server
            .add_service(
                AgentServer::new(service)
                    .max_decoding_message_size(tracejob_proto::MAX_REQUEST_BYTES)
                    .max_encoding_message_size(tracejob_proto::MAX_RESPONSE_BYTES),
            )
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                async move { killed.killed().await },
            )
            .await;
        if let Err(error) = served {
            tracing::warn!(node = %name, %error, "a simulated agent's server failed");
        }
    }))
}
