//! Nodes a running job's pods left are stopped at the same time, not one after another:
//! on a fleet, each unreachable one would otherwise add its connect timeout to the
//! reconcile (the reconciler against a mocked API server and the in-memory agents).

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use support::fixtures::*;
use support::reconcile::run_on;
use tracejob_operator::agents::memory::{AgentCall, InMemoryAgents};

const NODES: usize = 4;

#[tokio::test]
async fn the_nodes_a_job_left_are_stopped_at_the_same_time() {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}});
    let pods: Vec<Value> = (0..NODES)
        .map(|i| {
            let id = format!("containerd://{i:064x}");
            pod(
                &format!("web-{i}"),
                &format!("n{i}"),
                json!({"app": "web"}),
                &[("server", id.as_str())],
            )
        })
        .collect();

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
    let status = rx.await.expect("a status");
    assert_eq!(agents.running_jobs().len(), NODES);

    // Every pod is gone: each stop waits until all of them are under way at once.
    agents.stop_together(NODES);
    let job = job_json(spec, Some(status));
    let answer = job.clone();
    let round = run_on(&job, &agents, |mut server| async move {
        server
            .expect("GET", PODS_PATH)
            .await
            .respond(pod_list(vec![]));
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        patch.respond_with_status(&answer);
    });
    tokio::time::timeout(Duration::from_secs(30), round)
        .await
        .expect("the stops were made one after another: the first never got past the others");
    let stops = agents
        .calls()
        .into_iter()
        .filter(|call| matches!(call, AgentCall::Stop { .. }))
        .count();
    assert_eq!(stops, NODES, "every node the job left got Stop");
    assert!(agents.running_jobs().is_empty(), "no node still traces");
}
