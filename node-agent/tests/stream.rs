//! StreamResults over mutual TLS: sequence numbers, events, summaries, resume without
//! duplicates; and an agent restarted under the operator's pool.

mod support;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::time::Duration;

use support::certs::{AGENT_NAME, AgentFiles, Ca};
use support::client;
use support::process::AgentProcess;
use support::workload::FakeContainer;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tracejob_api::{Tool, ToolArgs, TraceJobSpec};
use tracejob_operator::agents::grpc::{Addresses, ClientTls, GrpcAgents};
use tracejob_operator::agents::{AgentError, AgentPool, ContainerTarget, JobId};
use tracejob_proto::v1::agent_client::AgentClient;
use tracejob_proto::v1::result_message::Body;
use tracejob_proto::v1::{JobRef, ResultMessage, StartJobRequest, StreamResultsRequest, Target};

fn open_job(uid: &str, container: &FakeContainer) -> StartJobRequest {
    StartJobRequest {
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
    }
}

async fn read_all(client: &mut AgentClient<Channel>, uid: &str, from: u64) -> Vec<ResultMessage> {
    let mut stream = client
        .stream_results(StreamResultsRequest {
            job_uid: uid.into(),
            from_sequence: from,
        })
        .await
        .expect("stream")
        .into_inner();
    let mut messages = Vec::new();
    while let Some(message) = stream.next().await {
        messages.push(message.expect("a message"));
    }
    messages
}

/// The first `n` messages from `from` on; the stream is then dropped, as by a consumer that
/// breaks off.
async fn read_first(
    client: &mut AgentClient<Channel>,
    uid: &str,
    from: u64,
    n: usize,
) -> Vec<ResultMessage> {
    let mut stream = client
        .stream_results(StreamResultsRequest {
            job_uid: uid.into(),
            from_sequence: from,
        })
        .await
        .expect("stream")
        .into_inner();
    let mut messages = Vec::new();
    while messages.len() < n {
        match stream.next().await {
            Some(message) => messages.push(message.expect("a message")),
            None => break,
        }
    }
    messages
}

fn events(messages: &[ResultMessage]) -> usize {
    messages
        .iter()
        .filter(|m| matches!(m.body, Some(Body::Event(_))))
        .count()
}

#[tokio::test]
async fn the_stream_carries_every_event_in_sequence_a_resume_repeats_nothing_and_reading_the_end_frees_the_buffer()
 {
    if !tracejob_testkit::can_trace(
        "the_stream_carries_every_event_in_sequence_a_resume_repeats_nothing_and_reading_the_end_frees_the_buffer",
    ) {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "stream");
    let agent = AgentProcess::start("node-a", &files.args());
    let mut client = client::operator(&ca, &agent).await;
    let container = FakeContainer::new();
    let path = CString::new("/dev/null").expect("path");
    client
        .start_job(open_job("stream", &container))
        .await
        .expect("start");
    container.opens(&path, 500);
    client
        .stop_job(JobRef {
            uid: "stream".into(),
            ..JobRef::default()
        })
        .await
        .expect("stop");

    let first = read_first(&mut client, "stream", 0, 200).await;
    let rest = read_all(&mut client, "stream", 201).await;
    assert_eq!(rest.first().map(|m| m.sequence), Some(201));
    let all: Vec<ResultMessage> = first.into_iter().chain(rest).collect();
    let sequences: Vec<u64> = all.iter().map(|m| m.sequence).collect();
    assert_eq!(
        sequences,
        (1..=501).collect::<Vec<_>>(),
        "numbered 1, 2, 3..., the resume repeating nothing"
    );
    assert_eq!(events(&all), 500);
    let Some(Body::Final(result)) = &all.last().expect("messages").body else {
        panic!("the stream ends with the final result");
    };
    assert_eq!((result.events, result.lost), (500, 0));

    // Asking for what follows the final message says it was read: the buffered events
    // are freed, and a late reader learns how many it can no longer have.
    let after = read_all(&mut client, "stream", 502).await;
    assert!(
        after.is_empty(),
        "nothing follows the final result: {after:?}"
    );
    let late = read_all(&mut client, "stream", 1).await;
    assert_eq!(late.len(), 2, "{late:?}");
    assert_eq!(
        late[0].body,
        Some(Body::Lost(tracejob_proto::v1::Lost { messages: 500 }))
    );
    assert!(matches!(late[1].body, Some(Body::Final(_))));
}

#[tokio::test]
async fn a_consumer_that_falls_behind_the_buffer_is_told_what_it_missed() {
    if !tracejob_testkit::can_trace(
        "a_consumer_that_falls_behind_the_buffer_is_told_what_it_missed",
    ) {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "behind");
    let mut args = files.args();
    args.extend(["--stream-buffer".to_owned(), "100".to_owned()]);
    let agent = AgentProcess::start("node-a", &args);
    let mut client = client::operator(&ca, &agent).await;
    let container = FakeContainer::new();
    let path = CString::new("/dev/null").expect("path");
    client
        .start_job(open_job("behind", &container))
        .await
        .expect("start");
    container.opens(&path, 500);
    let stop = JobRef {
        uid: "behind".into(),
        ..JobRef::default()
    };
    client.stop_job(stop).await.expect("stop");

    let messages = read_all(&mut client, "behind", 0).await;
    let Some(Body::Lost(lost)) = &messages[0].body else {
        panic!("first comes what was missed: {:?}", messages[0]);
    };
    assert_eq!(
        messages.len(),
        102,
        "the marker, the 100 events still buffered, the final result"
    );
    assert_eq!(lost.messages, 400, "events, counted exactly");
    assert_eq!(
        messages[0].sequence, lost.messages,
        "numbered as the last one missed"
    );
    assert_eq!(messages[1].sequence, lost.messages + 1);
    assert!(matches!(messages[101].body, Some(Body::Final(_))));
}

#[tokio::test]
async fn a_restarted_agent_is_reached_again_and_reports_it_no_longer_knows_the_job() {
    if !tracejob_testkit::can_trace(
        "a_restarted_agent_is_reached_again_and_reports_it_no_longer_knows_the_job",
    ) {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "restart");
    let mut agent = AgentProcess::start("node-a", &files.args());
    let port = agent.port();
    let operator = ca.client();
    let agents = GrpcAgents::new(
        Addresses::Fixed(BTreeMap::from([(
            "node-a".to_owned(),
            format!("https://127.0.0.1:{port}"),
        )])),
        Some(ClientTls {
            ca_pem: ca.pem().into_bytes(),
            cert_pem: operator.cert.into_bytes(),
            key_pem: operator.key.into_bytes(),
            domain: Some(AGENT_NAME.to_owned()),
        }),
    );
    let job = JobId {
        namespace: "default".into(),
        name: "restart".into(),
        uid: "restart".into(),
    };
    let spec = TraceJobSpec {
        tool: Tool::Syscalls,
        args: ToolArgs {
            syscalls: vec!["getppid".into()],
            ..ToolArgs::default()
        },
        ..TraceJobSpec::default()
    };
    let container = FakeContainer::new();
    let target = ContainerTarget {
        pod: "p".into(),
        pod_uid: container.pod_uid.clone(),
        container: "c".into(),
        container_id: container.container_id.clone(),
    };
    agents
        .start("node-a", &job, &spec, std::slice::from_ref(&target))
        .await
        .expect("start");
    container.getppid(100);

    agent.kill();
    let down = agents
        .results("node-a", &job)
        .await
        .expect_err("the agent is gone");
    assert!(matches!(down, AgentError::Unavailable { .. }), "{down}");
    let _agent = AgentProcess::start_on(port, "node-a", &files.args());

    // The pool fails fast until its backoff for the node is over, then reconnects.
    let backoff = agents
        .retry_after("node-a")
        .expect("backing off after the failure");
    assert!(backoff <= Duration::from_secs(30), "{backoff:?}");
    tokio::time::sleep(backoff).await;
    let after = agents.results("node-a", &job).await;
    assert!(
        matches!(after, Err(AgentError::NotRunning { .. })),
        "{after:?}"
    );

    agents
        .start("node-a", &job, &spec, &[target])
        .await
        .expect("started again");
    container.getppid(40);
    let result = agents.stop("node-a", &job).await.expect("stop");
    assert_eq!(
        result.rows[0].count, 40,
        "only what the new agent saw: no double count"
    );
}
