//! The operator against the real local kube-apiserver (`make control-plane-up`). Skipped with a
//! reason when it is not running, unless `TRACEJOB_REQUIRE_ALL=1`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::wait::conditions;
use serde_json::json;
use support::cluster::*;
use tracejob_api::{NodePhase, Phase, SummaryRow, TraceJob};
use tracejob_operator::agents::NodeResult;
use tracejob_operator::agents::memory::{AgentCall, InMemoryAgents};
use tracejob_operator::leader::LeaseLock;
use tracejob_operator::{FINALIZER, controller};

fn phase(job: &TraceJob) -> Option<Phase> {
    job.status.as_ref().and_then(|s| s.phase)
}

fn condition_status(job: &TraceJob, type_: &str) -> Option<String> {
    let status = job.status.as_ref()?;
    tracejob_operator::conditions::find(&status.conditions, type_).map(|c| c.status.clone())
}

fn result(events: u64) -> NodeResult {
    NodeResult {
        probe: Some("tp_btf".into()),
        events,
        lost: 1,
        rows: vec![SummaryRow {
            key: "openat".into(),
            count: events,
            ..SummaryRow::default()
        }],
        ..NodeResult::default()
    }
}

#[tokio::test]
async fn invalid_trace_jobs_are_rejected_by_the_server_naming_the_field() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let ns = namespace(&cluster.client, "invalid").await;
    let cases = [
        ("tool: dtrace", "spec.tool: Unsupported value: \"dtrace\""),
        (
            "tool: open, duration: soon",
            "spec.duration: Invalid value: \"soon\"",
        ),
        (
            "tool: open, ttlSecondsAfterFinished: -1",
            "spec.ttlSecondsAfterFinished: Invalid value: -1",
        ),
        (
            "tool: open, output: {maxEvents: 1000000000}",
            "spec.output.maxEvents: Invalid value",
        ),
        (
            "tool: open, output: {storage: {url: ftp://x}}",
            "spec.output.storage.url: Invalid value",
        ),
        // 1.20 prunes unknown fields instead of rejecting them; kubectl rejects them against
        // the schema the server publishes (client-side validation).
        ("tool: open, colour: red", "unknown field \"colour\""),
    ];
    for (spec, expected) in cases {
        let manifest = format!(
            "apiVersion: tracejob.io/v1alpha1\nkind: TraceJob\nmetadata: {{name: bad, namespace: {ns}}}\nspec: {{{spec}}}\n"
        );
        let (ok, output) = kubectl(&cluster.kubeconfig, &["apply", "-f", "-"], Some(&manifest));
        assert!(!ok, "`{spec}` was accepted: {output}");
        assert!(
            output.contains(expected),
            "`{spec}`: expected {expected:?} in {output}"
        );
    }
    let job = serde_json::from_value::<TraceJob>(
        json!({"apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
        "metadata": {"name": "bad"}, "spec": {"tool": "dtrace"}}),
    );
    // The typed client cannot even express an unknown tool; send it as raw JSON instead.
    assert!(job.is_err());
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &ns,
        &kube::api::ApiResource::erase::<TraceJob>(&()),
    );
    let object = serde_json::from_value(
        json!({"apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
        "metadata": {"name": "bad"}, "spec": {"tool": "dtrace"}}),
    )
    .unwrap();
    match raw.create(&PostParams::default(), &object).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422);
            assert!(status.message.contains("spec.tool"), "{}", status.message);
        }
        other => panic!("an unknown tool was not refused by the server: {other:?}"),
    }
}

#[tokio::test]
async fn a_job_traces_the_matching_running_pods_and_kubectl_shows_its_columns() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "columns").await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    running_pod(
        client,
        &ns,
        "web-2",
        "node-b",
        json!({"app": "web"}),
        "containerd://b1",
    )
    .await;
    running_pod(
        client,
        &ns,
        "db-1",
        "node-a",
        json!({"app": "db"}),
        "containerd://d1",
    )
    .await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("node-a", result(40));
    agents.set_result("node-b", result(2));
    let operator = Operator::start(client, &agents, &ns);
    let api = create_job(
        client,
        &ns,
        "web",
        json!({"tool": "syscalls", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;

    let job = wait_for_job(&api, "web", "Running with 42 events", |j| {
        phase(j) == Some(Phase::Running) && j.status.as_ref().and_then(|s| s.events) == Some(42)
    })
    .await;
    let status = job.status.clone().unwrap();
    assert_eq!(status.matched_pods, Some(2));
    assert_eq!(status.matched_nodes, Some(2));
    assert_eq!(status.lost, Some(2));
    assert_eq!(status.nodes[0].node, "node-a");
    assert_eq!(status.nodes[0].probe.as_deref(), Some("tp_btf"));
    assert_eq!(condition_status(&job, "Targeted").as_deref(), Some("True"));
    assert_eq!(
        condition_status(&job, "AgentsReady").as_deref(),
        Some("True")
    );
    assert!(
        job.metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == FINALIZER)
    );
    assert_eq!(
        agents.running("node-a", "web").unwrap().targets[0].container_id,
        "containerd://a1"
    );

    let (ok, table) = kubectl(&cluster.kubeconfig, &["get", "tj", "-n", &ns], None);
    assert!(ok, "{table}");
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "TOOL", "PHASE", "PODS", "NODES", "EVENTS", "LOST", "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..7],
        ["web", "syscalls", "Running", "2", "2", "42", "2"]
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_job_matching_nothing_waits_pending_then_follows_pods_that_come_and_go() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "follow").await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let operator = Operator::start(client, &agents, &ns);
    let api = create_job(
        client,
        &ns,
        "follow",
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let job = wait_for_job(&api, "follow", "Targeted=False", |j| {
        condition_status(j, "Targeted").as_deref() == Some("False")
    })
    .await;
    assert_eq!(
        phase(&job),
        Some(Phase::Pending),
        "no pod matched, so nothing ran"
    );
    assert!(agents.calls().is_empty());

    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    wait_for_job(&api, "follow", "Running on node-a", |j| {
        phase(j) == Some(Phase::Running)
    })
    .await;
    running_pod(
        client,
        &ns,
        "web-2",
        "node-b",
        json!({"app": "web"}),
        "containerd://b1",
    )
    .await;
    wait_for_job(&api, "follow", "two pods", |j| {
        j.status.as_ref().and_then(|s| s.matched_pods) == Some(2)
    })
    .await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.delete("web-1", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let job = wait_for_job(&api, "follow", "node-a stopped", |j| {
        j.status.as_ref().is_some_and(|s| {
            s.nodes
                .iter()
                .any(|n| n.node == "node-a" && n.phase == NodePhase::Stopped)
        })
    })
    .await;
    assert_eq!(job.status.as_ref().unwrap().matched_pods, Some(1));
    assert!(agents.running("node-a", "follow").is_none());
    assert!(agents.running("node-b", "follow").is_some());
    operator.stop().await;
}

#[tokio::test]
async fn deleting_a_job_stops_it_on_every_agent_before_it_is_gone() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "delete").await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    running_pod(
        client,
        &ns,
        "web-2",
        "node-b",
        json!({"app": "web"}),
        "containerd://b1",
    )
    .await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let operator = Operator::start(client, &agents, &ns);
    let api = create_job(
        client,
        &ns,
        "doomed",
        json!({"tool": "open", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let job = wait_for_job(&api, "doomed", "Running on 2 nodes", |j| {
        j.status.as_ref().and_then(|s| s.matched_nodes) == Some(2)
    })
    .await;
    assert_eq!(agents.running_jobs().len(), 2);

    api.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        api.clone(),
        "doomed",
        conditions::is_deleted(&job.metadata.uid.clone().unwrap()),
    )
    .await;
    assert!(
        agents.running_jobs().is_empty(),
        "every agent stopped the job"
    );
    let stops = agents
        .calls()
        .into_iter()
        .filter(|c| matches!(c, AgentCall::Stop { .. }))
        .count();
    assert_eq!(stops, 2);
    assert!(
        agents.known_jobs().is_empty(),
        "every agent forgot the deleted job"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_job_with_a_duration_succeeds_and_is_deleted_after_its_ttl() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "ttl").await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("node-a", result(7));
    let operator = Operator::start(client, &agents, &ns);
    let spec = json!({"tool": "syscalls", "selector": {"matchLabels": {"app": "web"}}, "duration": "2s", "ttlSecondsAfterFinished": 3});
    let api = create_job(client, &ns, "short", spec).await;
    let job = wait_for_job(&api, "short", "Succeeded", |j| {
        phase(j) == Some(Phase::Succeeded)
    })
    .await;
    let status = job.status.clone().unwrap();
    assert_eq!(status.events, Some(7));
    assert_eq!(condition_status(&job, "Complete").as_deref(), Some("True"));
    let ran = status
        .completion_time
        .unwrap()
        .0
        .duration_since(status.start_time.unwrap().0);
    assert!(
        ran.as_secs_f64() >= 2.0,
        "the job ran its whole duration ({ran:?})"
    );
    assert!(
        agents.running_jobs().is_empty(),
        "the agents stopped at the end of the duration"
    );
    wait_for(
        api.clone(),
        "short",
        conditions::is_deleted(&job.metadata.uid.clone().unwrap()),
    )
    .await;
    operator.stop().await;
}

#[tokio::test]
async fn an_operator_restart_continues_a_running_job_without_resetting_its_status() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "restart").await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("node-a", result(10));
    let first = Operator::start(client, &agents, &ns);
    let api = create_job(
        client,
        &ns,
        "long",
        json!({"tool": "syscalls", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let before = wait_for_job(&api, "long", "10 events", |j| {
        j.status.as_ref().and_then(|s| s.events) == Some(10)
    })
    .await;
    first.stop().await;

    let calls_before_restart = agents.calls().len();
    agents.set_result("node-a", result(25));
    let second = Operator::start(client, &agents, &ns);
    let after = wait_for_job(&api, "long", "25 events", |j| {
        j.status.as_ref().and_then(|s| s.events) == Some(25)
    })
    .await;
    let (before, after) = (before.status.unwrap(), after.status.unwrap());
    assert_eq!(after.phase, Some(Phase::Running));
    assert_eq!(
        after.start_time, before.start_time,
        "the start time survives the restart"
    );
    let new_calls = &agents.calls()[calls_before_restart..];
    assert!(
        !new_calls
            .iter()
            .any(|c| matches!(c, AgentCall::Start { .. })),
        "the restarted operator did not start the job over: {new_calls:?}"
    );
    second.stop().await;
}

#[tokio::test]
async fn an_agent_restart_mid_job_flags_a_gap_and_never_double_counts() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "agent-restart").await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("node-a", result(10));
    let operator = Operator::start(client, &agents, &ns);
    let api = create_job(
        client,
        &ns,
        "long",
        json!({"tool": "syscalls", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let before = wait_for_job(&api, "long", "10 events, no gap", |j| {
        j.status.as_ref().and_then(|s| s.events) == Some(10)
            && condition_status(j, "Gap").as_deref() == Some("False")
    })
    .await;
    assert_eq!(phase(&before), Some(Phase::Running));

    // The agent restarts: it forgets the job, and once given it again counts from zero.
    agents.restart_agents();
    agents.set_result("node-a", result(4));
    let after = wait_for_job(&api, "long", "the gap flagged", |j| {
        condition_status(j, "Gap").as_deref() == Some("True")
    })
    .await;
    let status = after.status.expect("status");
    assert_eq!(status.phase, Some(Phase::Running), "the job runs on");
    // The restarted agent counts from zero; its first summary follows on its stream.
    assert!(
        matches!(status.events, Some(0 | 4)),
        "the new agent's count, never 10 + 4 or 10 twice: {:?}",
        status.events
    );
    let after = wait_for_job(&api, "long", "the new agent's 4 events", |j| {
        j.status.as_ref().and_then(|s| s.events) == Some(4)
    })
    .await;
    let status = after.status.expect("status");
    let gap = tracejob_operator::conditions::find(&status.conditions, "Gap").expect("Gap");
    assert!(gap.message.contains("node-a"), "{}", gap.message);
    operator.stop().await;
}

#[tokio::test]
async fn only_one_of_two_replicas_holds_the_lease() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "lease").await;
    let lease = Duration::from_secs(15);
    let a = LeaseLock::new(client.clone(), &ns, "tracejob-operator", "replica-a", lease);
    let b = LeaseLock::new(client.clone(), &ns, "tracejob-operator", "replica-b", lease);
    assert!(a.try_acquire().await.unwrap());
    assert!(
        !b.try_acquire().await.unwrap(),
        "b must not lead while a holds the lease"
    );
    assert!(a.try_acquire().await.unwrap(), "a renews its own lease");
    assert!(!b.try_acquire().await.unwrap());
    a.release().await.unwrap();
    assert!(
        b.try_acquire().await.unwrap(),
        "b takes over once a released the lease"
    );
    assert!(!a.try_acquire().await.unwrap());
}

#[tokio::test]
async fn the_operator_works_with_only_the_permissions_its_rbac_grants() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let kubeconfig = &cluster.kubeconfig;
    let operator_kubeconfig = kubeconfig.with_file_name("operator.kubeconfig");
    let (_, _) = kubectl(
        kubeconfig,
        &["create", "namespace", "tracejob-system"],
        None,
    );
    let rbac = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml");
    let (ok, out) = kubectl(kubeconfig, &["apply", "-f", rbac], None);
    assert!(ok, "{out}");
    // Bind the same roles to the unprivileged user the operator's kubeconfig names.
    for args in [
        &[
            "create",
            "clusterrolebinding",
            "tracejob-operator-user",
            "--clusterrole=tracejob-operator",
            "--user=tracejob-operator",
        ][..],
        &[
            "create",
            "rolebinding",
            "tracejob-operator-leader-user",
            "-n",
            "tracejob-system",
            "--role=tracejob-operator-leader",
            "--user=tracejob-operator",
        ][..],
    ] {
        let (ok, out) = kubectl(kubeconfig, args, None);
        assert!(ok || out.contains("already exists"), "{out}");
    }
    let restricted = client_for(&operator_kubeconfig)
        .await
        .expect("the operator's kubeconfig works");
    let (ok, out) = kubectl(&operator_kubeconfig, &["get", "secrets", "-A"], None);
    assert!(
        !ok && out.contains("forbidden"),
        "the operator's identity must not read secrets: {out}"
    );

    controller::check_crd(&restricted)
        .await
        .expect("the operator may list TraceJobs");
    let lock = LeaseLock::new(
        restricted.clone(),
        "tracejob-system",
        "rbac-test",
        "replica-a",
        Duration::from_secs(15),
    );
    assert!(
        lock.try_acquire()
            .await
            .expect("the operator may take its lease")
    );
    lock.release()
        .await
        .expect("the operator may release its lease");
    // The Node cache is one watch: without `watch` it would fall back to relisting, silently.
    for verb in ["list", "watch"] {
        let (ok, out) = kubectl(
            &operator_kubeconfig,
            &["auth", "can-i", verb, "nodes"],
            None,
        );
        assert!(ok, "the operator may {verb} Nodes: {out}");
    }

    let ns = namespace(client, "rbac").await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = serde_json::from_value(
        json!({"metadata": {"name": format!("{ns}-node"), "labels": {"trace": "yes"}}}),
    )
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    running_pod(
        client,
        &ns,
        "web-1",
        &format!("{ns}-node"),
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let operator = Operator::start(&restricted, &agents, &ns);
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "nodeSelector": {"trace": "yes"},
                      "duration": "1s", "ttlSecondsAfterFinished": 0});
    let api = create_job(client, &ns, "limited", spec).await;
    let job = wait_for_job(&api, "limited", "Running", |j| phase(j).is_some()).await;
    wait_for(
        api.clone(),
        "limited",
        conditions::is_deleted(&job.metadata.uid.clone().unwrap()),
    )
    .await;
    let calls = agents.calls();
    assert!(
        matches!(calls.first(), Some(AgentCall::Start { .. })),
        "{calls:?}"
    );
    assert!(
        matches!(
            calls[1..],
            [AgentCall::Stop { .. }, AgentCall::Forget { .. }]
        ),
        "stopped when the duration elapsed, forgotten when the TTL deleted the job: {calls:?}"
    );
    operator.stop().await;
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_counted_as_a_transition() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "expired").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let stale = serde_json::from_value(json!({
        "metadata": {"name": "tracejob-operator"},
        "spec": {"holderIdentity": "crashed-replica", "leaseDurationSeconds": 2, "leaseTransitions": 3,
                 "renewTime": "2026-01-01T00:00:00.000000Z", "acquireTime": "2026-01-01T00:00:00.000000Z"}
    }))
    .unwrap();
    leases.create(&PostParams::default(), &stale).await.unwrap();
    let lock = LeaseLock::new(
        client.clone(),
        &ns,
        "tracejob-operator",
        "replica-b",
        Duration::from_secs(15),
    );
    // Expiry is judged on this replica's clock: the record must stay unchanged for the
    // holder's 2 s from when this replica first saw it, whatever its renewTime says.
    assert!(!lock.try_acquire().await.unwrap(), "just seen: not yet");
    tokio::time::timeout(Duration::from_secs(10), lock.acquire())
        .await
        .expect("a lease not renewed for its duration is free");
    let spec = leases.get("tracejob-operator").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
    assert_eq!(spec.lease_transitions, Some(4));
}

#[tokio::test]
async fn the_operator_binary_leads_reconciles_serves_metrics_and_releases_its_lease_on_sigterm() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "binary").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::env::temp_dir().join(format!("{ns}-operator.log"));
    let mut operator = tokio::process::Command::new(env!("CARGO_BIN_EXE_tracejob-operator"))
        .env("KUBECONFIG", &cluster.kubeconfig)
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--watch-namespace",
            &ns,
        ])
        .args([
            "--lease-namespace",
            &ns,
            "--identity",
            "binary-test",
            "--poll-seconds",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("the operator binary starts");
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let holder = |who: Option<&'static str>| {
        move |lease: Option<&Lease>| {
            lease
                .and_then(|l| l.spec.as_ref())
                .map(|s| s.holder_identity.as_deref())
                == Some(who)
        }
    };
    wait_for(
        leases.clone(),
        "tracejob-operator",
        holder(Some("binary-test")),
    )
    .await;

    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let api = create_job(
        client,
        &ns,
        "via-binary",
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    wait_for_job(
        &api,
        "via-binary",
        &format!("Running (operator log: {})", log.display()),
        |j| phase(j) == Some(Phase::Running),
    )
    .await;
    let metrics = http_get(port, "/metrics").await;
    assert!(metrics.contains("tracejob_leader 1"), "{metrics}");
    assert!(metrics.contains("tracejob_reconciles_total"), "{metrics}");
    assert!(http_get(port, "/readyz").await.starts_with("HTTP/1.1 200"));

    let pid = i32::try_from(operator.id().expect("a running process")).unwrap();
    // SAFETY: sending a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let exit = tokio::time::timeout(WAIT, operator.wait())
        .await
        .expect("the operator exits on SIGTERM")
        .unwrap();
    assert!(
        exit.success(),
        "exit {exit:?}; log: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    wait_for(leases, "tracejob-operator", holder(None)).await;
    let _ = std::fs::remove_file(&log);
}

async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the operator serves HTTP");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("a response");
    response
}

#[tokio::test]
async fn a_huge_result_leaves_the_stored_status_small() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "bounded").await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let rows: Vec<SummaryRow> = (0..100_000u64)
        .map(|i| SummaryRow {
            key: format!("/var/lib/app/data/file-{i:06}.bin"),
            count: i + 1,
            errors: i % 7,
            latency_us_log2: vec![1; 64],
        })
        .collect();
    let total: u64 = rows.iter().map(|r| r.count).sum();
    agents.set_result(
        "node-a",
        NodeResult {
            probe: None,
            events: total,
            lost: 0,
            rows,
            ..NodeResult::default()
        },
    );
    let operator = Operator::start(client, &agents, &ns);
    let api = create_job(
        client,
        &ns,
        "huge",
        json!({"tool": "open", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let job = wait_for_job(&api, "huge", "a summary", |j| {
        j.status.as_ref().is_some_and(|s| s.summary.is_some())
    })
    .await;
    let status = job.status.unwrap();
    let bytes = serde_json::to_vec(&status).unwrap().len();
    assert!(bytes < 16 * 1024, "the status is {bytes} bytes");
    let summary = status.summary.unwrap();
    assert_eq!(summary.top.len(), tracejob_api::status::MAX_SUMMARY_ROWS);
    assert_eq!(
        summary.other_keys,
        100_000 - tracejob_api::status::MAX_SUMMARY_ROWS as u64
    );
    let kept: u64 = summary.top.iter().map(|r| r.count).sum();
    assert_eq!(
        kept + summary.other_count,
        total,
        "nothing is silently dropped from the counts"
    );
    operator.stop().await;
}
