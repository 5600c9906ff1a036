//! The operator against the real local kube-apiserver when things go wrong: input it cannot
//! run, nodes that go away. Skipped with a reason when no API server runs, unless
//! `TRACEJOB_REQUIRE_ALL=1`.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::cluster::*;
use tracejob_api::{Phase, TraceJob};

fn phase(job: &TraceJob) -> Option<Phase> {
    job.status.as_ref().and_then(|s| s.phase)
}

/// The operator binary, watching one namespace, with its log in a file.
struct OperatorProcess {
    child: tokio::process::Child,
    log: std::path::PathBuf,
}

impl OperatorProcess {
    fn spawn(cluster: &Cluster, ns: &str) -> Self {
        let log = std::env::temp_dir().join(format!("{ns}-operator.log"));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tracejob-operator"))
            .env("KUBECONFIG", &cluster.kubeconfig)
            .args(["--metrics-addr", "127.0.0.1:0", "--watch-namespace", ns])
            .args(["--lease-namespace", ns, "--identity", "failures-test"])
            .args(["--poll-seconds", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("the operator binary starts");
        OperatorProcess { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

#[tokio::test]
async fn a_job_the_operator_cannot_run_fails_naming_the_field_and_the_next_job_still_runs() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "unrunnable").await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let mut operator = OperatorProcess::spawn(&cluster, &ns);
    // Each term fits in a Duration, their sum does not: the schema's pattern admits it.
    let api = create_job(
        client,
        &ns,
        "overflow",
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}},
               "duration": "10000000000000000000s10000000000000000000s"}),
    )
    .await;
    let failed = wait_for_job(&api, "overflow", "Failed", |j| {
        phase(j) == Some(Phase::Failed)
    })
    .await;
    let message = failed
        .status
        .and_then(|s| s.message)
        .expect("a Failed job says why");
    assert!(message.starts_with("spec.duration: "), "{message}");

    let created = Instant::now();
    create_job(
        client,
        &ns,
        "valid",
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    wait_for_job(&api, "valid", "Running", |j| {
        phase(j) == Some(Phase::Running)
    })
    .await;
    let took = created.elapsed();
    eprintln!("the next valid job ran {took:?} after it was created");
    assert!(
        took < Duration::from_secs(3),
        "the valid job took {took:?}; log: {}",
        operator.log()
    );
    assert!(
        operator.child.try_wait().expect("a child").is_none(),
        "the operator is still running; log: {}",
        operator.log()
    );
}

fn counted(events: u64) -> tracejob_operator::agents::NodeResult {
    tracejob_operator::agents::NodeResult {
        probe: Some("tp_btf".into()),
        events,
        lost: 1,
        ..Default::default()
    }
}

fn settings(grace: Duration) -> tracejob_operator::Settings {
    tracejob_operator::Settings {
        poll_interval: Duration::from_secs(1),
        node_lost_grace: grace,
        ..tracejob_operator::Settings::default()
    }
}

#[tokio::test]
async fn a_node_deleted_mid_job_is_counted_lost_with_its_last_counts_and_the_job_succeeds() {
    use k8s_openapi::api::core::v1::Node;
    use kube::api::{Api, DeleteParams};
    use tracejob_api::NodePhase;
    use tracejob_operator::agents::memory::InMemoryAgents;
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "node-deleted").await;
    let (kept, gone) = (format!("{ns}-kept"), format!("{ns}-gone"));
    node(client, &kept, true).await;
    node(client, &gone, true).await;
    running_pod(
        client,
        &ns,
        "web-1",
        &kept,
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    running_pod(
        client,
        &ns,
        "web-2",
        &gone,
        json!({"app": "web"}),
        "containerd://b1",
    )
    .await;
    let agents = std::sync::Arc::new(InMemoryAgents::on_every_node());
    agents.set_result(&kept, counted(10));
    agents.set_result(&gone, counted(7));
    // A long grace: only the Node's deletion can make the node count as lost.
    let operator = Operator::start_with(client, &agents, &ns, settings(Duration::from_secs(3600)));
    let api = create_job(
        client,
        &ns,
        "short",
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "4s"}),
    )
    .await;
    wait_for_job(&api, "short", "events from both nodes", |j| {
        j.status.as_ref().and_then(|s| s.events) == Some(17)
    })
    .await;
    agents.set_unavailable(&gone, true);
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .delete(&gone, &DeleteParams::default())
        .await
        .expect("the node is deleted");

    let done = wait_for_job(&api, "short", "Succeeded", |j| {
        phase(j) == Some(Phase::Succeeded)
    })
    .await;
    let status = done.status.expect("a status");
    assert_eq!(
        status.events,
        Some(17),
        "the lost node's last counts are kept"
    );
    let lost = tracejob_operator::conditions::find(&status.conditions, "NodeLost")
        .expect("a NodeLost condition");
    assert_eq!(lost.status, "True");
    assert!(
        lost.message.contains("the node was deleted")
            && lost.message.contains(&format!("{gone} (7 events, 1 lost)")),
        "{}",
        lost.message
    );
    assert!(!lost.message.contains(&kept), "{}", lost.message);
    let row = status.nodes.iter().find(|r| r.node == gone).expect("a row");
    assert_eq!(row.phase, NodePhase::Lost);
    operator.stop().await;
}

#[tokio::test]
async fn deleting_a_job_whose_agents_are_all_gone_ends_within_the_grace_period() {
    use kube::api::DeleteParams;
    use kube::runtime::wait::conditions;
    use tracejob_operator::agents::memory::InMemoryAgents;
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "agents-gone").await;
    let (not_ready, unreachable) = (format!("{ns}-notready"), format!("{ns}-unreachable"));
    node(client, &not_ready, true).await;
    node(client, &unreachable, true).await;
    running_pod(
        client,
        &ns,
        "web-1",
        &not_ready,
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    running_pod(
        client,
        &ns,
        "web-2",
        &unreachable,
        json!({"app": "web"}),
        "containerd://b1",
    )
    .await;
    let agents = std::sync::Arc::new(InMemoryAgents::on_every_node());
    let grace = Duration::from_secs(3);
    let operator = Operator::start_with(client, &agents, &ns, settings(grace));
    let api = create_job(
        client,
        &ns,
        "standing",
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let job = wait_for_job(&api, "standing", "Running on 2 nodes", |j| {
        j.status.as_ref().and_then(|s| s.matched_nodes) == Some(2)
    })
    .await;
    agents.set_unavailable(&not_ready, true);
    agents.set_unavailable(&unreachable, true);
    {
        use k8s_openapi::api::core::v1::Node;
        use kube::api::{Api, Patch, PatchParams};
        let nodes: Api<Node> = Api::all(client.clone());
        let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown",
            "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]}});
        nodes
            .patch_status(&not_ready, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("the node goes NotReady");
    }

    let deleted = Instant::now();
    api.delete("standing", &DeleteParams::default())
        .await
        .expect("the job is deleted");
    wait_for(
        api.clone(),
        "standing",
        conditions::is_deleted(&job.metadata.uid.clone().expect("a uid")),
    )
    .await;
    let took = deleted.elapsed();
    eprintln!("the finalizer went {took:?} after the deletion (grace {grace:?})");
    // The grace period, plus at most one retry of the failed cleanup (5 s) and slack.
    assert!(took < grace + Duration::from_secs(10), "took {took:?}");
    operator.stop().await;
}
