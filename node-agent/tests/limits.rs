//! The agent's bounds, over real sockets: how many jobs it runs at once, how long a stopped
//! job's events are kept, and message sizes between the agent and the operator's pool.

mod support;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::pin::Pin;
use std::time::{Duration, Instant};

use support::certs::{AGENT_NAME, AgentFiles, Ca};
use support::client;
use support::jobs::{getppid_spec, job, target};
use support::process::AgentProcess;
use support::workload::FakeContainer;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};
use tracejob_api::summary;
use tracejob_api::{Tool, TraceJobSpec};
use tracejob_operator::agents::grpc::{Addresses, ClientTls, GrpcAgents};
use tracejob_operator::agents::{AgentError, AgentPool, NodeResult, StreamItem};
use tracejob_proto::v1::agent_client::AgentClient;
use tracejob_proto::v1::agent_server::{Agent, AgentServer};
use tracejob_proto::v1::result_message::Body;
use tracejob_proto::v1::tool_summary::Details;
use tracejob_proto::v1::{
    CapabilitiesRequest, CapabilitiesResponse, FoldedStack, ForgetJobResponse, JobRef, JobResult,
    JobState, ListJobsRequest, ListJobsResponse, Lost, ProfileSummary, ResultMessage,
    StartJobRequest, StreamResultsRequest, Target, ToolSummary, UpdateTargetsRequest,
};

fn pool(node: &str, address: String, tls: Option<ClientTls>) -> GrpcAgents {
    GrpcAgents::new(
        Addresses::Fixed(BTreeMap::from([(node.to_owned(), address)])),
        tls,
    )
}

fn operator_tls(ca: &Ca) -> ClientTls {
    let client = ca.client();
    ClientTls {
        ca_pem: ca.pem().into_bytes(),
        cert_pem: client.cert.into_bytes(),
        key_pem: client.key.into_bytes(),
        domain: Some(AGENT_NAME.to_owned()),
    }
}

#[tokio::test]
async fn a_job_beyond_the_agents_maximum_is_refused_until_another_one_ends() {
    if !tracejob_testkit::can_trace(
        "a_job_beyond_the_agents_maximum_is_refused_until_another_one_ends",
    ) {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "max-jobs");
    let mut args = files.args();
    args.extend(["--max-jobs".to_owned(), "1".to_owned()]);
    let agent = AgentProcess::start("node-a", &args);
    let agents = pool(
        "node-a",
        format!("https://127.0.0.1:{}", agent.port()),
        Some(operator_tls(&ca)),
    );
    let container = FakeContainer::new();
    let (first, second) = (job("first"), job("second"));
    agents
        .start("node-a", &first, &getppid_spec(), &[target(&container)])
        .await
        .expect("the first job");
    agents
        .start("node-a", &first, &getppid_spec(), &[target(&container)])
        .await
        .expect("the same job again is no new job");
    let refused = agents
        .start("node-a", &second, &getppid_spec(), &[target(&container)])
        .await
        .expect_err("over the maximum");
    let AgentError::Rejected { message, .. } = &refused else {
        panic!("a refusal a person acts on, not a transient failure: {refused}");
    };
    assert!(message.contains("maximum of 1 jobs"), "{refused}");
    assert!(
        refused.to_string().contains("node-a"),
        "names the node: {refused}"
    );
    assert_eq!(
        agents.retry_after("node-a"),
        None,
        "the node is not backed off"
    );

    agents.stop("node-a", &first).await.expect("stop");
    agents
        .start("node-a", &second, &getppid_spec(), &[target(&container)])
        .await
        .expect("a stopped job leaves room");
}

async fn first_message(client: &mut AgentClient<Channel>, uid: &str) -> ResultMessage {
    client
        .stream_results(StreamResultsRequest {
            job_uid: uid.into(),
            from_sequence: 1,
        })
        .await
        .expect("stream")
        .into_inner()
        .next()
        .await
        .expect("a message")
        .expect("a good message")
}

#[tokio::test]
async fn a_stopped_jobs_events_nobody_reads_are_freed_after_the_ttl() {
    if !tracejob_testkit::can_trace("a_stopped_jobs_events_nobody_reads_are_freed_after_the_ttl") {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "ttl");
    let mut args = files.args();
    args.extend(["--stopped-buffer-ttl-seconds".to_owned(), "2".to_owned()]);
    let agent = AgentProcess::start("node-a", &args);
    let mut client = client::operator(&ca, &agent).await;
    let container = FakeContainer::new();
    let uid = "ttl";
    client
        .start_job(StartJobRequest {
            job: Some(JobRef {
                uid: uid.into(),
                ..JobRef::default()
            }),
            tool: "open".into(),
            events: true,
            targets: vec![Target {
                pod_uid: container.pod_uid.clone(),
                container_id: container.container_id.clone(),
                ..Target::default()
            }],
            ..StartJobRequest::default()
        })
        .await
        .expect("start");
    container.opens(&CString::new("/dev/null").expect("path"), 50);
    let stopped = Instant::now();
    client
        .stop_job(JobRef {
            uid: uid.into(),
            ..JobRef::default()
        })
        .await
        .expect("stop");
    let kept = first_message(&mut client, uid).await;
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "checked within the TTL"
    );
    assert!(
        matches!(kept.body, Some(Body::Event(_))),
        "kept at first: {kept:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let first = first_message(&mut client, uid).await;
        if first.body == Some(Body::Lost(Lost { messages: 50 })) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still buffered 20 s after stopping with a 2 s TTL: {first:?}"
        );
        tokio::task::yield_now().await;
    }
    let state = client
        .list_jobs(ListJobsRequest {
            job_uid: uid.into(),
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        state.jobs[0].result.as_ref().map(|r| r.events),
        Some(50),
        "the final result stays until ForgetJob"
    );
}

#[tokio::test]
async fn a_stopped_jobs_events_are_freed_once_the_operator_has_read_its_final_result() {
    if !tracejob_testkit::can_trace(
        "a_stopped_jobs_events_are_freed_once_the_operator_has_read_its_final_result",
    ) {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "ack");
    let agent = AgentProcess::start("node-a", &files.args());
    let agents = pool(
        "node-a",
        format!("https://127.0.0.1:{}", agent.port()),
        Some(operator_tls(&ca)),
    );
    let mut client = client::operator(&ca, &agent).await;
    let container = FakeContainer::new();
    let job = job("ack");
    let spec = TraceJobSpec {
        tool: Tool::Open,
        output: tracejob_api::OutputSpec {
            events: true,
            ..tracejob_api::OutputSpec::default()
        },
        ..TraceJobSpec::default()
    };
    agents
        .start("node-a", &job, &spec, &[target(&container)])
        .await
        .expect("start");
    container.opens(&CString::new("/dev/null").expect("path"), 30);
    agents.stop("node-a", &job).await.expect("stop");
    let kept = first_message(&mut client, &job.uid).await;
    assert!(matches!(kept.body, Some(Body::Event(_))), "{kept:?}");

    let items: Vec<StreamItem> = agents
        .stream_results("node-a", &job, 1)
        .await
        .expect("stream")
        .map(|m| m.expect("a message").item)
        .collect()
        .await;
    assert!(matches!(items.last(), Some(StreamItem::Final(_))));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let first = first_message(&mut client, &job.uid).await;
        if first.body == Some(Body::Lost(Lost { messages: 30 })) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still buffered 20 s after the operator read the final result: {first:?}"
        );
        tokio::task::yield_now().await;
    }
}

/// An agent whose every result carries a profile of at least `bytes` bytes of stacks (a
/// profile's stacks can pass 4 MiB, tonic's default decoding limit).
#[derive(Debug)]
struct BigSummaries {
    bytes: usize,
}

impl BigSummaries {
    fn result(&self) -> JobResult {
        let frames = ";frame".repeat(100);
        let stacks: Vec<FoldedStack> = (0..self.bytes / frames.len() + 1)
            .map(|n| FoldedStack {
                stack: format!("app{frames};f{n}"),
                count: 1,
            })
            .collect();
        JobResult {
            tool: "profile".into(),
            events: 1,
            summary: Some(ToolSummary {
                details: Some(Details::Profile(ProfileSummary {
                    samples: stacks.len() as u64,
                    frequency_hz: 99,
                    functions: Vec::new(),
                    stacks,
                })),
            }),
            ..JobResult::default()
        }
    }
}

/// Bytes of folded stacks in a node result's profile summary.
fn stack_bytes(result: &NodeResult) -> usize {
    match result.summary.as_ref().map(|s| &s.details) {
        Some(summary::ToolSummary::Profile { stacks, .. }) => {
            stacks.iter().map(|s| s.stack.len()).sum()
        }
        other => panic!("a profile summary: {other:?}"),
    }
}

type Messages = Pin<Box<dyn Stream<Item = Result<ResultMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Agent for BigSummaries {
    async fn start_job(&self, _: Request<StartJobRequest>) -> Result<Response<JobState>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn update_targets(
        &self,
        _: Request<UpdateTargetsRequest>,
    ) -> Result<Response<JobState>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn stop_job(&self, _: Request<JobRef>) -> Result<Response<JobState>, Status> {
        Ok(Response::new(JobState {
            stopped: true,
            result: Some(self.result()),
            ..JobState::default()
        }))
    }
    async fn forget_job(&self, _: Request<JobRef>) -> Result<Response<ForgetJobResponse>, Status> {
        Ok(Response::new(ForgetJobResponse {}))
    }
    async fn list_jobs(
        &self,
        _: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        Ok(Response::new(ListJobsResponse {
            jobs: vec![JobState {
                result: Some(self.result()),
                ..JobState::default()
            }],
        }))
    }
    async fn capabilities(
        &self,
        _: Request<CapabilitiesRequest>,
    ) -> Result<Response<CapabilitiesResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    type StreamResultsStream = Messages;
    async fn stream_results(
        &self,
        _: Request<StreamResultsRequest>,
    ) -> Result<Response<Messages>, Status> {
        let messages = vec![
            Ok(ResultMessage {
                sequence: 1,
                body: Some(Body::Summary(self.result())),
            }),
            Ok(ResultMessage {
                sequence: 2,
                body: Some(Body::Final(self.result())),
            }),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(messages))))
    }
}

#[tokio::test]
async fn a_summary_over_4_mib_reaches_the_operator_and_never_backs_the_node_off() {
    let bytes = 5 << 20;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(
        Server::builder()
            .add_service(
                AgentServer::new(BigSummaries { bytes })
                    .max_encoding_message_size(tracejob_proto::MAX_RESPONSE_BYTES),
            )
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let agents = pool("node-a", format!("http://{address}"), None);
    let job = job("big");

    let result = agents.results("node-a", &job).await.expect("results");
    assert!(stack_bytes(&result) > 4 << 20, "the whole summary");
    assert_eq!(agents.retry_after("node-a"), None, "no backoff");
    let stopped = agents.stop("node-a", &job).await.expect("stop");
    assert_eq!(stopped.events, 1);

    let items: Vec<StreamItem> = agents
        .stream_results("node-a", &job, 1)
        .await
        .expect("stream")
        .map(|m| m.expect("a message within the limit").item)
        .collect()
        .await;
    assert_eq!(items.len(), 2, "the summary and the final result");
    let StreamItem::Final(last) = &items[1] else {
        panic!("the final result: {:?}", items[1]);
    };
    assert!(stack_bytes(last) > 4 << 20);
    assert_eq!(agents.retry_after("node-a"), None, "no backoff");
}
