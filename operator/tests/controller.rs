//! The reconciler against a mocked API server: every request it makes is checked.

mod support;

use std::sync::Arc;

use serde_json::{Value, json};
use support::fixtures::*;
use support::mock::{self, ApiServer};
use support::reconcile::run;
use tracejob_api::SummaryRow;
use tracejob_operator::agents::memory::{AgentCall, InMemoryAgents};
use tracejob_operator::agents::{AgentPool, ContainerTarget, JobId, NodeResult};
use tracejob_operator::metrics::Metrics;
use tracejob_operator::{Context, Settings, reconcile};

fn context(agents: &Arc<InMemoryAgents>) -> (Arc<Context>, ApiServer) {
    let (client, server) = mock::client();
    let pool: Arc<dyn AgentPool> = agents.clone();
    let ctx = Context::new(
        client,
        pool,
        Arc::new(Metrics::default()),
        Settings::default(),
    );
    (Arc::new(ctx), server)
}

fn web_selector() -> Value {
    json!({"tool": "syscalls", "selector": {"matchLabels": {"app": "web"}}})
}

fn job_key() -> JobId {
    JobId {
        namespace: NAMESPACE.into(),
        name: NAME.into(),
        uid: "uid-1".into(),
    }
}

fn syscalls_result(events: u64, lost: u64) -> NodeResult {
    NodeResult {
        probe: Some("tp_btf".into()),
        events,
        lost,
        rows: vec![SummaryRow {
            key: "openat".into(),
            count: events,
            errors: 1,
            latency_us_log2: vec![0, 2],
        }],
        ..NodeResult::default()
    }
}

#[tokio::test]
async fn a_new_job_gets_the_finalizer_before_anything_else() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let (ctx, server) = context(&agents);
    let mut job = job_json(web_selector(), None);
    job["metadata"]["finalizers"] = json!([]);
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        let patch = server.expect("PATCH", JOB_PATH).await;
        assert!(!patch.uri.contains("/status"));
        assert_eq!(
            patch.body,
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": ["tracejob.io/stop-agents"]}
            ])
        );
        patch.respond(answer);
    })
    .await;
    assert!(
        agents.calls().is_empty(),
        "no agent is touched before the finalizer is in place"
    );
}

/// A context that may write a job's status twice in a row (no pacing), and the reconciles
/// the nodes' result streams ask for.
fn unpaced(agents: &Arc<InMemoryAgents>) -> (Arc<Context>, ApiServer, Requests) {
    let (client, server) = mock::client();
    let pool: Arc<dyn AgentPool> = agents.clone();
    let settings = Settings {
        status_interval: std::time::Duration::ZERO,
        ..Settings::default()
    };
    let ctx = Context::new(client, pool, Arc::new(Metrics::default()), settings);
    let requests = ctx.pace.take_requests().expect("the requests");
    (Arc::new(ctx), server, requests)
}

type Requests =
    tokio::sync::mpsc::Receiver<kube::runtime::reflector::ObjectRef<tracejob_api::TraceJob>>;

/// Waits, reconcile request by reconcile request, until each of `nodes` has streamed a
/// result for the job.
async fn until_streamed(ctx: &Context, requests: &mut Requests, nodes: &[&str]) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let observed = ctx.streams.observe("uid-1");
        if nodes
            .iter()
            .all(|n| observed.get(*n).is_some_and(|o| o.result.is_some()))
        {
            return;
        }
        let request = tokio::time::timeout_at(deadline, requests.recv())
            .await
            .unwrap_or_else(|_| panic!("no reconcile request; streams said {observed:?}"))
            .expect("a request");
        assert_eq!(request.name, NAME);
    }
}

/// One reconciliation while `scenario` plays the API server; returns what the scenario
/// returns (the server, for the next round).
async fn round<T: Send + 'static>(
    job: &Value,
    ctx: &Arc<Context>,
    scenario: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let scenario = tokio::spawn(scenario);
    reconcile(Arc::new(support::fixtures::job(job)), ctx.clone())
        .await
        .expect("reconcile succeeds");
    scenario.await.expect("the API server scenario completes")
}

#[tokio::test]
async fn matched_pods_are_started_on_their_nodes_and_written_to_the_status() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("n1", syscalls_result(100, 2));
    agents.set_result("n2", syscalls_result(50, 0));
    let (ctx, server, mut requests) = unpaced(&agents);
    let job = job_json(web_selector(), None);
    let answer = job.clone();
    let pods = pod_list(vec![
        pod(
            "web-1",
            "n1",
            json!({"app": "web"}),
            &[("server", "containerd://aaa")],
        ),
        pod(
            "web-2",
            "n2",
            json!({"app": "web"}),
            &[("server", "containerd://bbb")],
        ),
    ]);
    let listed = pods.clone();
    let (server, started) = round(&job, &ctx, async move {
        let mut server = server;
        let list = server.expect("GET", PODS_PATH).await;
        assert!(list.uri.contains("labelSelector=app%3Dweb"), "{}", list.uri);
        list.respond(listed);
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["matchedPods"], 2);
        assert_eq!(status["matchedNodes"], 2);
        assert_eq!(status["events"], 0, "no node has reported yet");
        assert_eq!(status["observedGeneration"], 1);
        assert!(status["startTime"].is_string());
        assert_eq!(condition(&status, "Targeted")["status"], "True");
        assert_eq!(condition(&status, "AgentsReady")["status"], "True");
        assert_eq!(condition(&status, "Degraded")["status"], "False");
        assert_eq!(condition(&status, "Complete")["reason"], "InProgress");
        patch.respond_with_status(&answer);
        server.expect_event("Started").await;
        (server, status)
    })
    .await;

    // Each agent's stream brings its counts and asks for the next round.
    until_streamed(&ctx, &mut requests, &["n1", "n2"]).await;
    let mut job = job.clone();
    job["status"] = started;
    let answer = job.clone();
    round(&job, &ctx, async move {
        let mut server = server;
        server.expect("GET", PODS_PATH).await.respond(pods);
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = &patch.status_after(&answer);
        assert_eq!(status["events"], 150);
        assert_eq!(status["lost"], 2);
        assert_eq!(status["nodes"][0], json!({"node": "n1", "pods": 1, "phase": "Running", "probe": "tp_btf", "events": 100, "lost": 2}));
        assert_eq!(status["summary"]["top"][0], json!({"key": "openat", "count": 150, "errors": 2,
            "latencyUsLog2": [0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}));
        patch.respond_with_status(&answer);
    })
    .await;
    let started: Vec<AgentCall> = agents.calls();
    assert_eq!(
        started,
        [
            AgentCall::Start {
                node: "n1".into(),
                job: NAME.into(),
                containers: vec!["containerd://aaa".into()]
            },
            AgentCall::Start {
                node: "n2".into(),
                job: NAME.into(),
                containers: vec!["containerd://bbb".into()]
            },
        ],
        "the second round changes nothing on the agents"
    );
    assert_eq!(
        agents.results_calls(),
        0,
        "no agent was polled for its counts"
    );
}

fn node(name: &str, labels: Value) -> k8s_openapi::api::core::v1::Node {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).expect("a node")
}

#[tokio::test]
async fn a_node_selector_is_read_from_the_node_cache_without_listing_nodes_on_a_poll() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let (ctx, server) = context(&agents);
    // What the controller's Node watch would hold: only n1 carries the label.
    ctx.nodes.replace(vec![
        node("n1", json!({"trace": "yes"})),
        node("n2", json!({"trace": "no"})),
    ]);
    let mut spec = web_selector();
    spec["nodeSelector"] = json!({"trace": "yes"});
    let job = job_json(spec, None);
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        server.expect("GET", PODS_PATH).await.respond(pod_list(vec![
            pod(
                "web-1",
                "n1",
                json!({"app": "web"}),
                &[("server", "containerd://aaa")],
            ),
            pod(
                "web-2",
                "n2",
                json!({"app": "web"}),
                &[("server", "containerd://bbb")],
            ),
        ]));
        // The next request must be the status: a Node list here fails the test.
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        assert_eq!(status["matchedNodes"], 1);
        patch.respond_with_status(&answer);
        server.expect_event("Started").await;
    })
    .await;
    assert_eq!(
        agents.calls(),
        [AgentCall::Start {
            node: "n1".into(),
            job: NAME.into(),
            containers: vec!["containerd://aaa".into()]
        }]
    );
}

#[tokio::test]
async fn a_selector_matching_nothing_leaves_the_job_pending_with_targeted_false() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let (ctx, server) = context(&agents);
    let job = job_json(web_selector(), None);
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        server
            .expect("GET", PODS_PATH)
            .await
            .respond(pod_list(vec![]));
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = &patch.status_after(&answer);
        assert_eq!(status["phase"], "Pending");
        assert_eq!(status["matchedPods"], 0);
        let targeted = condition(status, "Targeted");
        assert_eq!(targeted["status"], "False");
        assert_eq!(targeted["reason"], "NoPodsMatched");
        assert_eq!(
            targeted["message"],
            "no Running pod in namespace shop matches selector app=web"
        );
        assert!(status.get("startTime").is_none());
        patch.respond_with_status(&answer);
        let event = server.expect_event("NoPodsMatched").await;
        assert_eq!(event["type"], "Warning");
    })
    .await;
    assert!(agents.calls().is_empty());
}

#[tokio::test]
async fn a_node_without_an_agent_is_degraded_by_name_while_the_other_nodes_run() {
    let agents = Arc::new(InMemoryAgents::on_nodes(&["n1"]));
    let (ctx, server) = context(&agents);
    let job = job_json(web_selector(), None);
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        server.expect("GET", PODS_PATH).await.respond(pod_list(vec![
            pod(
                "web-1",
                "n1",
                json!({"app": "web"}),
                &[("server", "containerd://aaa")],
            ),
            pod(
                "web-2",
                "n2",
                json!({"app": "web"}),
                &[("server", "containerd://bbb")],
            ),
        ]));
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = &patch.status_after(&answer);
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["matchedNodes"], 1);
        let degraded = condition(status, "Degraded");
        assert_eq!(degraded["status"], "True");
        assert_eq!(degraded["reason"], "AgentMissing");
        assert_eq!(degraded["message"], "n2: no tracejob agent runs on node n2");
        assert_eq!(condition(status, "AgentsReady")["status"], "False");
        let n2 = status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["node"] == "n2")
            .unwrap();
        assert_eq!(n2["phase"], "NoAgent");
        patch.respond_with_status(&answer);
        server.expect_event("Started").await;
        server.expect_event("Degraded").await;
    })
    .await;
    assert!(agents.running("n1", NAME).is_some());
}

#[tokio::test]
async fn an_elapsed_duration_stops_every_agent_merges_final_results_and_succeeds() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let spec =
        json!({"tool": "syscalls", "selector": {"matchLabels": {"app": "web"}}, "duration": "30s"});
    for (node, id) in [("n1", "containerd://aaa"), ("n2", "containerd://bbb")] {
        let target = ContainerTarget {
            pod: "p".into(),
            pod_uid: "u".into(),
            container: "c".into(),
            container_id: id.into(),
        };
        let spec = serde_json::from_value(spec.clone()).unwrap();
        agents
            .start(node, &job_key(), &spec, &[target])
            .await
            .unwrap();
    }
    agents.set_result("n1", syscalls_result(70, 1));
    agents.set_result("n2", syscalls_result(30, 0));
    let (ctx, server) = context(&agents);
    let status = json!({
        "phase": "Running", "startTime": ago(60), "observedGeneration": 1, "matchedPods": 2, "matchedNodes": 2,
        "nodes": [
            {"node": "n1", "pods": 1, "phase": "Running", "events": 60, "lost": 1},
            {"node": "n2", "pods": 1, "phase": "Running", "events": 20, "lost": 0}
        ],
        "events": 80, "lost": 1
    });
    let job = job_json(spec, Some(status));
    let answer = job.clone();
    let action = run(&job, ctx, server, |mut server| async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = &patch.status_after(&answer);
        assert_eq!(status["phase"], "Succeeded");
        assert!(status["completionTime"].is_string());
        assert_eq!(
            status["events"], 100,
            "final counts come from the stopped agents"
        );
        assert_eq!(status["lost"], 1);
        assert_eq!(status["nodes"][0]["phase"], "Stopped");
        assert_eq!(status["nodes"][1]["phase"], "Stopped");
        assert_eq!(status["summary"]["top"][0]["count"], 100);
        let complete = condition(status, "Complete");
        assert_eq!(complete["status"], "True");
        assert_eq!(complete["reason"], "DurationElapsed");
        patch.respond_with_status(&answer);
        server.expect_event("Completed").await;
    })
    .await;
    assert_eq!(action, kube::runtime::controller::Action::await_change());
    assert!(
        agents.running_jobs().is_empty(),
        "every agent stopped the job"
    );
    assert_eq!(
        agents.calls()[2..],
        [
            AgentCall::Stop {
                node: "n1".into(),
                job: NAME.into()
            },
            AgentCall::Stop {
                node: "n2".into(),
                job: NAME.into()
            },
        ]
    );
}

#[tokio::test]
async fn deleting_a_running_job_stops_it_on_every_agent_before_the_finalizer_is_removed() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let spec = web_selector();
    let target = ContainerTarget {
        pod: "p".into(),
        pod_uid: "u".into(),
        container: "c".into(),
        container_id: "containerd://aaa".into(),
    };
    agents
        .start(
            "n1",
            &job_key(),
            &serde_json::from_value(spec.clone()).unwrap(),
            &[target],
        )
        .await
        .unwrap();
    let (ctx, server) = context(&agents);
    let status = json!({"phase": "Running", "startTime": ago(10), "nodes": [{"node": "n1", "pods": 1, "phase": "Running", "events": 5, "lost": 0}]});
    let mut job = job_json(spec, Some(status));
    job["metadata"]["deletionTimestamp"] = json!(ago(1));
    let answer = job.clone();
    let observer = agents.clone();
    run(&job, ctx, server, |mut server| async move {
        server.expect_event("Stopped").await;
        let patch = server.expect("PATCH", JOB_PATH).await;
        assert!(observer.running_jobs().is_empty(), "the agent stopped the job before the finalizer goes");
        assert_eq!(
            patch.body,
            json!([
                {"op": "test", "path": "/metadata/finalizers/0", "value": "tracejob.io/stop-agents"},
                {"op": "remove", "path": "/metadata/finalizers/0"}
            ])
        );
        patch.respond(answer);
    })
    .await;
    let calls = agents.calls();
    assert_eq!(
        calls[calls.len() - 2..],
        [
            AgentCall::Stop {
                node: "n1".into(),
                job: NAME.into()
            },
            AgentCall::Forget {
                node: "n1".into(),
                job: NAME.into()
            },
        ]
    );
    assert!(
        agents.known_jobs().is_empty(),
        "the agent forgot the deleted job"
    );
}

#[tokio::test]
async fn a_selector_change_while_running_moves_the_trace_to_the_new_pods() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let old_spec = web_selector();
    let target = ContainerTarget {
        pod: "web-1".into(),
        pod_uid: "uid-web-1".into(),
        container: "server".into(),
        container_id: "containerd://aaa".into(),
    };
    agents
        .start(
            "n1",
            &job_key(),
            &serde_json::from_value(old_spec).unwrap(),
            &[target],
        )
        .await
        .unwrap();
    agents.set_result("n1", syscalls_result(5, 0));
    agents.set_result(
        "n2",
        NodeResult {
            rows: vec![SummaryRow {
                key: "read".into(),
                count: 3,
                ..SummaryRow::default()
            }],
            ..NodeResult::default()
        },
    );
    let (ctx, server, mut requests) = unpaced(&agents);
    let status = json!({
        "phase": "Running", "startTime": ago(10), "observedGeneration": 1,
        "nodes": [{"node": "n1", "pods": 1, "phase": "Running", "events": 5, "lost": 0}],
        "conditions": [{"type": "Targeted", "status": "True", "reason": "PodsMatched", "message": "1 pods on 1 nodes match",
                        "lastTransitionTime": ago(10), "observedGeneration": 1}]
    });
    let mut job = job_json(
        json!({"tool": "syscalls", "selector": {"matchLabels": {"app": "api"}}}),
        Some(status),
    );
    job["metadata"]["generation"] = json!(2);
    let answer = job.clone();
    let pods = pod_list(vec![pod(
        "api-1",
        "n2",
        json!({"app": "api"}),
        &[("server", "containerd://ccc")],
    )]);
    let listed = pods.clone();
    let (server, moved) = round(&job, &ctx, async move {
        let mut server = server;
        let list = server.expect("GET", PODS_PATH).await;
        assert!(list.uri.contains("labelSelector=app%3Dapi"), "{}", list.uri);
        list.respond(listed);
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        assert_eq!(status["observedGeneration"], 2);
        let nodes = status["nodes"].as_array().unwrap();
        let row = |name: &str| nodes.iter().find(|r| r["node"] == name).unwrap().clone();
        assert_eq!(row("n1")["phase"], "Stopped");
        assert_eq!(
            row("n1")["events"],
            5,
            "the counts of a node that left are kept"
        );
        assert_eq!(row("n2")["phase"], "Running");
        patch.respond_with_status(&answer);
        (server, status)
    })
    .await;

    // n2's stream brings its first result; n1's its final one.
    until_streamed(&ctx, &mut requests, &["n1", "n2"]).await;
    job["status"] = moved;
    let answer = job.clone();
    round(&job, &ctx, async move {
        let mut server = server;
        server.expect("GET", PODS_PATH).await.respond(pods);
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = &patch.status_after(&answer);
        let keys: Vec<&str> = status["summary"]["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        assert_eq!(
            keys,
            ["openat", "read"],
            "the summary keeps the final results of the node the job left"
        );
        patch.respond_with_status(&answer);
    })
    .await;
    assert!(agents.running("n1", NAME).is_none());
    let on_n2 = agents
        .running("n2", NAME)
        .expect("the job runs where the new pods are");
    assert_eq!(on_n2.targets[0].container_id, "containerd://ccc");
    assert_eq!(
        on_n2.spec.selector.unwrap().match_labels.unwrap()["app"],
        "api"
    );
}

#[tokio::test]
async fn a_spec_the_schema_cannot_reject_fails_with_a_condition_a_person_can_act_on() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let (ctx, server) = context(&agents);
    let job = job_json(
        json!({"tool": "open", "args": {"syscalls": ["read"]}}),
        None,
    );
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = &patch.status_after(&answer);
        assert_eq!(status["phase"], "Failed");
        let complete = condition(status, "Complete");
        assert_eq!(complete["status"], "False");
        assert_eq!(complete["reason"], "InvalidSpec");
        assert_eq!(
            complete["message"],
            "spec.args.syscalls: not an argument of the open tool (it takes: failedOnly)"
        );
        patch.respond_with_status(&answer);
        server.expect_event("InvalidSpec").await;
    })
    .await;
    assert!(agents.calls().is_empty());
}

#[tokio::test]
async fn a_finished_job_past_its_ttl_is_deleted() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let (ctx, server) = context(&agents);
    let status = json!({"phase": "Succeeded", "startTime": ago(200), "completionTime": ago(120)});
    let job = job_json(
        json!({"tool": "exec", "ttlSecondsAfterFinished": 60}),
        Some(status),
    );
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        let delete = server.expect("DELETE", JOB_PATH).await;
        assert_eq!(delete.body["preconditions"]["uid"], "uid-1");
        delete.respond(answer);
    })
    .await;
}

#[tokio::test]
async fn a_finished_job_within_its_ttl_waits_for_it_without_a_request() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let (ctx, server) = context(&agents);
    let status = json!({"phase": "Succeeded", "completionTime": ago(10)});
    let job = job_json(
        json!({"tool": "exec", "ttlSecondsAfterFinished": 3600}),
        Some(status),
    );
    let action = run(&job, ctx, server, |_server| async move {}).await;
    let debug = format!("{action:?}");
    assert!(debug.contains("requeue_after: Some("), "{debug}");
}

#[tokio::test]
async fn fixing_the_spec_of_a_failed_job_runs_it() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let (ctx, server) = context(&agents);
    let failed = json!({
        "phase": "Failed", "message": "spec.args.syscalls: not an argument of the open tool (it takes: failedOnly)",
        "observedGeneration": 1, "completionTime": ago(30),
        "conditions": [{"type": "Complete", "status": "False", "reason": "InvalidSpec", "message": "...",
                        "lastTransitionTime": ago(30), "observedGeneration": 1}]
    });
    let mut job = job_json(
        json!({"tool": "open", "selector": {"matchLabels": {"app": "web"}}}),
        Some(failed),
    );
    job["metadata"]["generation"] = json!(2);
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        server
            .expect("GET", PODS_PATH)
            .await
            .respond(pod_list(vec![pod(
                "web-1",
                "n1",
                json!({"app": "web"}),
                &[("server", "containerd://aaa")],
            )]));
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        assert_eq!(
            patch.body["status"].get("completionTime"),
            Some(&Value::Null),
            "the old completion time is removed"
        );
        let status = &patch.status_after(&answer);
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["observedGeneration"], 2);
        assert!(status.get("completionTime").is_none());
        assert_eq!(condition(status, "Complete")["reason"], "InProgress");
        patch.respond_with_status(&answer);
        server.expect_event("Started").await;
    })
    .await;
    assert!(agents.running("n1", NAME).is_some());
}

#[tokio::test]
async fn a_spec_every_agent_refuses_fails_with_the_agents_reasons_instead_of_staying_pending() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_rejecting("n1", "the kernel has no BTF");
    agents.set_rejecting("n2", "the kernel has no BTF");
    let (ctx, server) = context(&agents);
    let job = job_json(web_selector(), None);
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        server.expect("GET", PODS_PATH).await.respond(pod_list(vec![
            pod(
                "web-1",
                "n1",
                json!({"app": "web"}),
                &[("server", "containerd://aaa")],
            ),
            pod(
                "web-2",
                "n2",
                json!({"app": "web"}),
                &[("server", "containerd://bbb")],
            ),
        ]));
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        assert_eq!(status["phase"], "Failed");
        let complete = condition(&status, "Complete");
        assert_eq!(complete["reason"], "RejectedByAgents");
        assert_eq!(
            status["message"],
            "the agent of every target node refused the job: n1 and 1 more: the kernel has no BTF"
        );
        patch.respond_with_status(&answer);
        server.expect_event("RejectedByAgents").await;
    })
    .await;
}
