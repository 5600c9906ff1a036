//! The agent over real sockets and real mutual TLS: the operator's gRPC pool drives agent
//! processes (the built binary) that trace real workloads in kubelet-style cgroups.

mod support;

use std::collections::BTreeMap;
use std::ffi::CString;

use futures::StreamExt;

use support::certs::{AGENT_NAME, AgentFiles, Ca};
use support::client;
use support::jobs::{getppid_spec, job, target};
use support::process::AgentProcess;
use support::workload::FakeContainer;
use tonic::transport::{ClientTlsConfig, Endpoint};
use tracejob_api::event::{Event, EventLine};
use tracejob_api::summary::ToolSummary;
use tracejob_api::{Tool, TraceJobSpec};
use tracejob_operator::agents::grpc::{Addresses, ClientTls, GrpcAgents};
use tracejob_operator::agents::{AgentError, AgentPool, StreamItem};
use tracejob_proto::v1::agent_client::AgentClient;
use tracejob_proto::v1::{
    CapabilitiesRequest, JobRef, ListJobsRequest, StartJobRequest, StreamResultsRequest, Target,
    UpdateTargetsRequest,
};

fn client_tls(ca: &Ca, client_ca: &Ca) -> ClientTls {
    let client = client_ca.client();
    ClientTls {
        ca_pem: ca.pem().into_bytes(),
        cert_pem: client.cert.into_bytes(),
        key_pem: client.key.into_bytes(),
        domain: Some(AGENT_NAME.to_owned()),
    }
}

fn pool(agents: &[(&str, &AgentProcess)], tls: ClientTls) -> GrpcAgents {
    let addresses: BTreeMap<String, String> = agents
        .iter()
        .map(|(node, agent)| {
            (
                node.to_string(),
                format!("https://127.0.0.1:{}", agent.port()),
            )
        })
        .collect();
    GrpcAgents::new(Addresses::Fixed(addresses), Some(tls))
}

/// True when the call fails: at the handshake, or on the first request (TLS 1.3 servers
/// check the client's certificate after the client considers the handshake done).
async fn refused(agent: &AgentProcess, tls: ClientTlsConfig) -> bool {
    match client::connect(agent, Some(tls)).await {
        Err(_) => true,
        Ok(mut client) => client.capabilities(CapabilitiesRequest {}).await.is_err(),
    }
}

#[tokio::test]
async fn a_client_with_the_tracejob_ca_certificate_is_served_and_sees_the_capabilities() {
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "served");
    let agent = AgentProcess::start("node-a", &files.args());
    let mut client = client::connect(&agent, Some(client::tls(&ca, Some(&ca.client()))))
        .await
        .expect("connect with a good certificate");
    let caps = client
        .capabilities(CapabilitiesRequest {})
        .await
        .expect("capabilities")
        .into_inner();
    assert_eq!(caps.node, "node-a");
    assert!(!caps.kernel_release.is_empty());
    assert!(caps.tools.iter().any(|t| t == "syscalls"));
    assert!(caps.attach_types.iter().any(|a| a.name == "tp_btf"));

    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{}", agent.port()))
        .expect("endpoint")
        .tls_config(client::tls(&ca, Some(&ca.client())))
        .expect("tls")
        .connect()
        .await
        .expect("connect");
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "tracejob.agent.v1.Agent".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[tokio::test]
async fn a_client_with_a_certificate_from_another_ca_is_refused() {
    let ca = Ca::new("tracejob test CA");
    let other = Ca::new("someone else's CA");
    let files = AgentFiles::write(&ca, "other-ca");
    let agent = AgentProcess::start("node-a", &files.args());
    assert!(refused(&agent, client::tls(&ca, Some(&other.client()))).await);
    assert!(
        !refused(&agent, client::tls(&ca, Some(&ca.client()))).await,
        "the right certificate still works"
    );
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "no-cert");
    let agent = AgentProcess::start("node-a", &files.args());
    assert!(refused(&agent, client::tls(&ca, None)).await);
}

#[tokio::test]
async fn a_plaintext_client_is_refused_by_a_tls_agent() {
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "plain");
    let agent = AgentProcess::start("node-a", &files.args());
    let endpoint =
        Endpoint::from_shared(format!("http://127.0.0.1:{}", agent.port())).expect("endpoint");
    let ok = match endpoint.connect().await {
        Err(_) => false,
        Ok(channel) => AgentClient::new(channel)
            .capabilities(CapabilitiesRequest {})
            .await
            .is_ok(),
    };
    assert!(!ok);
}

#[tokio::test]
async fn an_unknown_tool_is_refused_with_invalid_argument_over_the_wire() {
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "bad-tool");
    let agent = AgentProcess::start("node-a", &files.args());
    let mut client = client::connect(&agent, Some(client::tls(&ca, Some(&ca.client()))))
        .await
        .expect("connect");
    let status = client
        .start_job(StartJobRequest {
            job: Some(JobRef {
                uid: "u".into(),
                ..JobRef::default()
            }),
            tool: "strace".into(),
            targets: vec![Target::default()],
            ..StartJobRequest::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("unknown tool"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn an_unknown_job_is_not_running_for_the_operator() {
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "unknown-job");
    let agent = AgentProcess::start("node-a", &files.args());
    let agents = pool(&[("node-a", &agent)], client_tls(&ca, &ca));
    let error = agents
        .results("node-a", &job("never-started"))
        .await
        .expect_err("unknown");
    assert!(matches!(error, AgentError::NotRunning { .. }), "{error}");
    let error = agents
        .results("node-b", &job("never-started"))
        .await
        .expect_err("no agent");
    assert!(matches!(error, AgentError::NoAgent { .. }), "{error}");
}

#[tokio::test]
async fn a_job_started_through_the_operator_pool_counts_every_getppid_of_its_container() {
    if !tracejob_testkit::can_trace(
        "a_job_started_through_the_operator_pool_counts_every_getppid_of_its_container",
    ) {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "one-node");
    let agent = AgentProcess::start("node-a", &files.args());
    let agents = pool(&[("node-a", &agent)], client_tls(&ca, &ca));
    let traced = FakeContainer::new();
    let untraced = FakeContainer::new();
    let job = job("one-node");

    agents
        .start("node-a", &job, &getppid_spec(), &[target(&traced)])
        .await
        .expect("start");
    agents
        .start("node-a", &job, &getppid_spec(), &[target(&traced)])
        .await
        .expect("starting again is the same job");
    traced.getppid(1234);
    untraced.getppid(500);
    let result = agents.stop("node-a", &job).await.expect("stop");

    assert_eq!(result.rows.len(), 1, "{:?}", result.rows);
    assert_eq!(result.rows[0].key, "getppid");
    assert_eq!(result.rows[0].count, 1234);
    assert_eq!(result.lost, 0);
    assert!(result.probe.is_some());
    let again = agents
        .results("node-a", &job)
        .await
        .expect("kept until forgotten");
    assert_eq!(again.rows[0].count, 1234);
    agents.forget("node-a", &job).await.expect("forget");
    assert!(matches!(
        agents.results("node-a", &job).await,
        Err(AgentError::NotRunning { .. })
    ));
}

#[tokio::test]
async fn an_exec_in_a_target_container_arrives_on_the_stream_naming_its_node_pod_and_container_and_is_counted_for_its_pod()
 {
    if !tracejob_testkit::can_trace(
        "an_exec_in_a_target_container_arrives_on_the_stream_naming_its_node_pod_and_container_and_is_counted_for_its_pod",
    ) {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "origin");
    let agent = AgentProcess::start("node-a", &files.args());
    let agents = pool(&[("node-a", &agent)], client_tls(&ca, &ca));
    let traced = FakeContainer::new();
    let untraced = FakeContainer::new();
    let job = job("origin");
    let spec = TraceJobSpec {
        tool: Tool::Exec,
        ..TraceJobSpec::default()
    };
    assert!(spec.output.events, "events are kept by default");

    agents
        .start("node-a", &job, &spec, &[target(&traced)])
        .await
        .expect("start");
    let true_path = CString::new("/bin/true").expect("path");
    traced.exec(&true_path);
    untraced.exec(&true_path);
    let result = agents.stop("node-a", &job).await.expect("stop");
    let items: Vec<StreamItem> = agents
        .stream_results("node-a", &job, 1)
        .await
        .expect("stream")
        .map(|message| message.expect("a message").item)
        .collect()
        .await;

    let lines: Vec<&EventLine> = items
        .iter()
        .filter_map(|item| match item {
            StreamItem::Event(line) => Some(line.as_ref()),
            _ => None,
        })
        .collect();
    let execs: Vec<&EventLine> = lines
        .iter()
        .copied()
        .filter(|line| matches!(&line.event, Event::Exec(exec) if exec.filename == "/bin/true"))
        .collect();
    assert_eq!(
        execs.len(),
        1,
        "only the traced container's exec: {lines:?}"
    );
    let origin = &execs[0].origin;
    assert_eq!(origin.node.as_deref(), Some("node-a"));
    assert_eq!(origin.namespace.as_deref(), Some("default"));
    assert_eq!(origin.pod.as_deref(), Some("workload"));
    assert_eq!(origin.container.as_deref(), Some("main"));
    assert!(matches!(items.last(), Some(StreamItem::Final(_))));
    // The summary breaks the events down per pod: all of them are the traced container's.
    assert_eq!(result.pods.len(), 1, "{:?}", result.pods);
    let pod = &result.pods[0];
    assert_eq!(
        (
            pod.namespace.as_str(),
            pod.pod.as_deref(),
            pod.container.as_deref()
        ),
        ("default", Some("workload"), Some("main"))
    );
    assert_eq!(pod.events, result.events);
    let summary = result.summary.as_ref().expect("the full summary");
    assert_eq!(summary.pods, result.pods, "the summary names the pods too");
    assert!(summary.cgroups.is_empty(), "cgroup ids stay on the node");
    let ToolSummary::Exec { execs } = &summary.details else {
        panic!("an exec summary: {summary:?}");
    };
    assert!(execs.iter().any(|e| e.filename == "/bin/true"), "{execs:?}");
    agents.forget("node-a", &job).await.expect("forget");
}

#[tokio::test]
async fn two_agents_on_two_ports_merge_into_one_summary() {
    if !tracejob_testkit::can_trace("two_agents_on_two_ports_merge_into_one_summary") {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "two-nodes");
    let a = AgentProcess::start("node-a", &files.args());
    let b = AgentProcess::start("node-b", &files.args());
    let agents = pool(&[("node-a", &a), ("node-b", &b)], client_tls(&ca, &ca));
    let (on_a, on_b) = (FakeContainer::new(), FakeContainer::new());
    let job = job("two-nodes");

    agents
        .start("node-a", &job, &getppid_spec(), &[target(&on_a)])
        .await
        .expect("start on a");
    agents
        .start("node-b", &job, &getppid_spec(), &[target(&on_b)])
        .await
        .expect("start on b");
    on_a.getppid(300);
    on_b.getppid(700);
    let ra = agents.stop("node-a", &job).await.expect("stop a");
    let rb = agents.stop("node-b", &job).await.expect("stop b");

    let merged =
        tracejob_operator::summary::merge([&ra.rows[..], &rb.rows[..]]).expect("a summary");
    assert_eq!(merged.top.len(), 1);
    assert_eq!(merged.top[0].key, "getppid");
    assert_eq!(merged.top[0].count, 1000);
    assert_eq!((ra.rows[0].count, rb.rows[0].count), (300, 700));
}

#[tokio::test]
async fn a_container_that_is_not_on_the_node_is_reported_not_found() {
    if !tracejob_testkit::can_trace("a_container_that_is_not_on_the_node_is_reported_not_found") {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "missing");
    let agent = AgentProcess::start("node-a", &files.args());
    let mut client = client::connect(&agent, Some(client::tls(&ca, Some(&ca.client()))))
        .await
        .expect("connect");
    let present = FakeContainer::new();
    let state = client
        .start_job(StartJobRequest {
            job: Some(JobRef {
                uid: "missing".into(),
                ..JobRef::default()
            }),
            tool: "syscalls".into(),
            targets: vec![
                Target {
                    pod_uid: present.pod_uid.clone(),
                    container_id: present.container_id.clone(),
                    ..Target::default()
                },
                Target {
                    pod_uid: "00000000-0000-4000-8000-000000000000".into(),
                    container_id: "containerd://feed".into(),
                    ..Target::default()
                },
            ],
            ..StartJobRequest::default()
        })
        .await
        .expect("started with the container it found")
        .into_inner();
    assert!(state.targets[0].found, "{:?}", state.targets[0]);
    assert!(state.targets[0].cgroup_id > 1);
    assert!(!state.targets[1].found);
    assert!(
        state.targets[1].message.contains("containerd://feed"),
        "{}",
        state.targets[1].message
    );
}

#[tokio::test]
async fn a_stale_generation_is_refused_and_the_same_one_is_the_same_job() {
    if !tracejob_testkit::can_trace(
        "a_stale_generation_is_refused_and_the_same_one_is_the_same_job",
    ) {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "generation");
    let agent = AgentProcess::start("node-a", &files.args());
    let mut client = client::connect(&agent, Some(client::tls(&ca, Some(&ca.client()))))
        .await
        .expect("connect");
    let container = FakeContainer::new();
    let request = |generation| StartJobRequest {
        job: Some(JobRef {
            uid: "gen".into(),
            ..JobRef::default()
        }),
        generation,
        tool: "syscalls".into(),
        args: Some(tracejob_proto::v1::ToolArgs {
            syscalls: vec!["getppid".into()],
            ..Default::default()
        }),
        targets: vec![Target {
            pod_uid: container.pod_uid.clone(),
            container_id: container.container_id.clone(),
            ..Target::default()
        }],
        ..StartJobRequest::default()
    };
    client.start_job(request(2)).await.expect("start");
    container.getppid(10);
    let same = client
        .start_job(request(2))
        .await
        .expect("same job")
        .into_inner();
    let status = client.start_job(request(1)).await.expect_err("stale");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    container.getppid(5);
    let stopped = client
        .stop_job(JobRef {
            uid: "gen".into(),
            ..JobRef::default()
        })
        .await
        .expect("stop")
        .into_inner();
    assert_eq!(same.generation, 2);
    let rows = stopped.result.expect("a result").rows;
    assert_eq!(
        rows[0].count, 15,
        "one job all along: its counts kept adding up"
    );
}

#[tokio::test]
async fn the_agents_own_certificate_cannot_drive_an_agent() {
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "agent-as-client");
    let agent = AgentProcess::start("node-a", &files.args());
    // The same CA signed it, for client auth too (as the chart's certificates are): the
    // handshake passes, the name check refuses every call.
    let mut client = client::connect(&agent, Some(client::tls(&ca, Some(&files.agent))))
        .await
        .expect("the handshake passes: the same CA");
    let status = client
        .capabilities(CapabilitiesRequest {})
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("tracejob-operator"),
        "{}",
        status.message()
    );
    let status = client
        .stop_job(JobRef {
            uid: "any".into(),
            ..JobRef::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(
        refused(
            &agent,
            client::tls(&ca, Some(&ca.client_named("tracejob-intruder")))
        )
        .await
    );
    assert!(
        !refused(&agent, client::tls(&ca, Some(&ca.client()))).await,
        "the operator's certificate still works"
    );
}

const POD_UID: &str = "0b6b1a5e-1111-4222-8333-444455556666";

fn good_target() -> Target {
    Target {
        pod_uid: POD_UID.into(),
        container_id: format!("containerd://{}", "ab".repeat(32)),
        ..Target::default()
    }
}

fn start_request(target: Target) -> StartJobRequest {
    StartJobRequest {
        job: Some(JobRef {
            uid: "fields".into(),
            ..JobRef::default()
        }),
        tool: "syscalls".into(),
        targets: vec![good_target(), target],
        ..StartJobRequest::default()
    }
}

#[tokio::test]
async fn every_field_that_names_something_on_the_node_is_refused_with_invalid_argument() {
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "bad-fields");
    let agent = AgentProcess::start("node-a", &files.args());
    let mut client = client::connect(&agent, Some(client::tls(&ca, Some(&ca.client()))))
        .await
        .expect("connect");
    let bad_targets = [
        (
            "targets[1].pod_uid",
            Target {
                pod_uid: "../../..".into(),
                ..good_target()
            },
        ),
        (
            "targets[1].pod_uid",
            Target {
                pod_uid: String::new(),
                ..good_target()
            },
        ),
        (
            "targets[1].container_id",
            Target {
                container_id: "containerd://../../..".into(),
                ..good_target()
            },
        ),
        (
            "targets[1].container_id",
            Target {
                container_id: "abc123".into(),
                ..good_target()
            },
        ),
        (
            "targets[1].cgroup_path",
            Target {
                cgroup_path: "/".into(),
                ..good_target()
            },
        ),
        (
            "targets[1].cgroup_path",
            Target {
                cgroup_path: "kubepods".into(),
                ..good_target()
            },
        ),
        (
            "targets[1].cgroup_path",
            Target {
                cgroup_path: "kubepods/besteffort".into(),
                ..good_target()
            },
        ),
        (
            "targets[1].cgroup_path",
            Target {
                cgroup_path: "system.slice/sshd.service/x".into(),
                ..good_target()
            },
        ),
        (
            "targets[1].cgroup_path",
            Target {
                cgroup_path: format!("kubepods/besteffort/pod{POD_UID}/../../.."),
                ..good_target()
            },
        ),
    ];
    for (field, target) in bad_targets {
        let status = client
            .start_job(start_request(target.clone()))
            .await
            .expect_err(field);
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{field}: {status:?}"
        );
        assert!(
            status.message().contains(field),
            "{field}: {}",
            status.message()
        );
        let status = client
            .update_targets(UpdateTargetsRequest {
                job: Some(JobRef {
                    uid: "fields".into(),
                    ..JobRef::default()
                }),
                targets: vec![good_target(), target],
            })
            .await
            .expect_err(field);
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{field}: {status:?}"
        );
    }
    let status = client
        .list_jobs(ListJobsRequest::default())
        .await
        .expect_err("listing every job");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("job_uid"), "{}", status.message());
    let status = client
        .stream_results(StreamResultsRequest::default())
        .await
        .expect_err("a stream without a job");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let status = client
        .stop_job(JobRef::default())
        .await
        .expect_err("a stop without a job");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
}
