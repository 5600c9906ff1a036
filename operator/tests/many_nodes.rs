//! A job on more nodes than the status shows rows for: every node it ever touched is
//! stopped, counted and forgotten (the reconciler against a mocked API server and the
//! in-memory agents).

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};
use support::fixtures::*;
use support::reconcile::run_on;
use tracejob_api::status::MAX_NODE_ROWS;
use tracejob_operator::agents::NodeResult;
use tracejob_operator::agents::memory::{AgentCall, InMemoryAgents};

const NODES: u64 = 200;

fn node(i: u64) -> String {
    format!("n{i:03}")
}

fn nodes_called(agents: &InMemoryAgents, stop: bool) -> BTreeSet<String> {
    agents
        .calls()
        .into_iter()
        .filter_map(|call| match call {
            AgentCall::Stop { node, .. } if stop => Some(node),
            AgentCall::Forget { node, .. } if !stop => Some(node),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_job_on_200_nodes_stops_counts_and_forgets_every_one_of_them() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    for i in 0..NODES {
        agents.set_result(
            &node(i),
            NodeResult {
                probe: Some("tp_btf".into()),
                events: i + 1,
                lost: 1,
                ..NodeResult::default()
            },
        );
    }
    let spec =
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "30s"});
    let pods: Vec<Value> = (0..NODES)
        .map(|i| {
            let id = format!("containerd://{i:064x}");
            pod(
                &format!("web-{i}"),
                &node(i),
                json!({"app": "web"}),
                &[("server", id.as_str())],
            )
        })
        .collect();

    // First round: the job starts on all 200 nodes; people see the busiest 50.
    let job = job_json(spec.clone(), None);
    let answer = job.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    run_on(&job, &agents, |mut server| async move {
        server
            .expect("GET", PODS_PATH)
            .await
            .respond(pod_list(pods));
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        patch.respond_with_status(&answer);
        server.expect_event("Started").await;
        let _ = tx.send(status);
    })
    .await;
    let mut status = rx.await.expect("a status");
    assert_eq!(
        status["nodes"].as_array().map(Vec::len),
        Some(MAX_NODE_ROWS)
    );
    assert_eq!(status["omittedNodes"], NODES - MAX_NODE_ROWS as u64);
    assert_eq!(
        status["nodeRecord"].as_array().map(Vec::len),
        Some(NODES as usize)
    );

    // Second round: the duration is up.
    status["startTime"] = json!(ago(60));
    let job = job_json(spec.clone(), Some(status));
    let answer = job.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    run_on(&job, &agents, |mut server| async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        patch.respond_with_status(&answer);
        server.expect_event("Completed").await;
        let _ = tx.send(status);
    })
    .await;
    let status = rx.await.expect("a status");
    assert_eq!(status["phase"], "Succeeded");
    assert_eq!(
        nodes_called(&agents, true).len(),
        NODES as usize,
        "every node got Stop"
    );
    assert_eq!(status["events"], (1..=NODES).sum::<u64>());
    assert_eq!(status["lost"], NODES);
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("on 200 nodes")),
        "{}",
        status["message"]
    );
    assert!(agents.running_jobs().is_empty(), "no node still traces");

    // Deletion: every node forgets the job.
    let mut job = job_json(spec, Some(status));
    job["metadata"]["deletionTimestamp"] = json!(ago(1));
    let answer = job.clone();
    run_on(&job, &agents, |mut server| async move {
        server.expect("PATCH", JOB_PATH).await.respond(answer);
    })
    .await;
    assert_eq!(
        nodes_called(&agents, false).len(),
        NODES as usize,
        "every node got Forget"
    );
    assert!(agents.known_jobs().is_empty(), "no agent keeps the job");
}
