//! A TraceJob managed from git, against the real local kube-apiserver: applied with
//! `kubectl apply --server-side --field-manager=gitops-controller` (a GitOps controller's way,
//! without `--force-conflicts`) while the operator, running in this process with in-memory
//! agents, writes its status; waited for with `kubectl wait`; pruned with a delete. Skipped
//! with a reason when no API server runs, unless `TRACEJOB_REQUIRE_ALL=1`.

mod support;

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::{Value, json};
use support::cluster::*;
use support::poll;
use tracejob_api::{Phase, SummaryRow, TraceJob};
use tracejob_operator::agents::NodeResult;
use tracejob_operator::agents::memory::{AgentCall, InMemoryAgents};

/// `status.observedGeneration` and `status.events` of one version of a job.
type Seen = (Option<i64>, Option<u64>);

/// The field manager a GitOps controller applies with.
const GITOPS: &str = "gitops-controller";

fn result(events: u64) -> NodeResult {
    NodeResult {
        probe: Some("tp_btf".into()),
        events,
        rows: vec![SummaryRow {
            key: "openat".into(),
            count: events,
            ..SummaryRow::default()
        }],
        ..NodeResult::default()
    }
}

/// The TraceJob as it would be committed to git.
fn manifest(namespace: &str, name: &str, spec: Value) -> String {
    json!({
        "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec
    })
    .to_string()
}

/// kubectl, off the runtime's threads: the operator under test keeps running meanwhile.
async fn kubectl_async(cluster: &Cluster, args: &[&str], stdin: Option<String>) -> (bool, String) {
    let kubeconfig = cluster.kubeconfig.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kubectl(&kubeconfig, &args, stdin.as_deref())
    })
    .await
    .expect("kubectl ran")
}

/// What a GitOps controller does on every sync: a server-side apply as its own field
/// manager, never forcing conflicts. Fails on any conflict.
async fn apply_from_git(cluster: &Cluster, manifest: &str) {
    let args = [
        "apply",
        "--server-side",
        &format!("--field-manager={GITOPS}"),
        "-f",
        "-",
    ];
    let (ok, output) = kubectl_async(cluster, &args, Some(manifest.to_owned())).await;
    assert!(ok, "the server-side apply failed: {output}");
    assert!(
        !output.to_lowercase().contains("conflict"),
        "the server-side apply reported a conflict: {output}"
    );
}

/// `kubectl wait --for=condition=...` on the job; true if it returned 0.
async fn kubectl_wait(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    condition: &str,
    timeout: &str,
) -> bool {
    let (ok, output) = kubectl_async(
        cluster,
        &[
            "wait",
            "-n",
            ns,
            &format!("--for=condition={condition}"),
            &format!("tracejob/{name}"),
            &format!("--timeout={timeout}"),
        ],
        None,
    )
    .await;
    eprintln!(
        "kubectl wait --for=condition={condition}: {}",
        output.trim()
    );
    ok
}

fn condition(job: &TraceJob, type_: &str) -> Option<(String, String, String)> {
    let status = job.status.as_ref()?;
    tracejob_operator::conditions::find(&status.conditions, type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn condition_is(job: &TraceJob, type_: &str, status: &str) -> bool {
    condition(job, type_).is_some_and(|(s, _, _)| s == status)
}

fn events(job: &TraceJob) -> Option<u64> {
    job.status.as_ref().and_then(|s| s.events)
}

/// Whether a managedFields entry owns any field of `spec`.
fn owns_spec(entry: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry) -> bool {
    entry
        .fields_v1
        .as_ref()
        .is_some_and(|f| f.0.get("f:spec").is_some())
}

#[tokio::test]
async fn reapplying_from_git_while_the_operator_writes_status_never_conflicts_and_git_keeps_the_spec()
 {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "gitops-reapply").await;
    web_pods(client, &ns, &["node-a"]).await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("node-a", result(10));
    let operator = Operator::start(client, &agents, &ns);
    let spec = json!({"tool": "syscalls", "selector": {"matchLabels": {"app": "web"}},
                      "args": {"syscalls": ["openat"]}, "output": {"maxEvents": 500}});
    let manifest = manifest(&ns, "policy", spec);
    apply_from_git(&cluster, &manifest).await;
    let api: Api<TraceJob> = Api::namespaced(client.clone(), &ns);
    wait_for_job(&api, "policy", "running from git", |j| {
        events(j) == Some(10)
    })
    .await;

    // Each sync lands while the operator is writing new counts.
    for round in 1..=5u64 {
        let count = 10 + round * 7;
        agents.set_result("node-a", result(count));
        apply_from_git(&cluster, &manifest).await;
        wait_for_job(&api, "policy", &format!("{count} events"), |j| {
            events(j) == Some(count)
        })
        .await;
    }

    let job = api.get("policy").await.expect("the job");
    assert_eq!(
        job.metadata.generation,
        Some(1),
        "re-applying the same manifest is no spec change"
    );
    let managed = job.metadata.managed_fields.clone().unwrap_or_default();
    let summary: Vec<String> = managed
        .iter()
        .map(|m| {
            format!(
                "{:?} {:?} {:?} spec: {}",
                m.manager,
                m.operation,
                m.subresource,
                owns_spec(m)
            )
        })
        .collect();
    let gitops = managed
        .iter()
        .find(|m| m.manager.as_deref() == Some(GITOPS))
        .unwrap_or_else(|| panic!("no {GITOPS} entry: {summary:#?}"));
    assert_eq!(gitops.operation.as_deref(), Some("Apply"), "{summary:#?}");
    let spec_fields = &gitops.fields_v1.as_ref().expect("fieldsV1").0["f:spec"];
    for field in ["f:tool", "f:selector", "f:args", "f:output"] {
        assert!(
            spec_fields.get(field).is_some(),
            "{GITOPS} owns spec.{field}: {spec_fields}"
        );
    }
    assert!(
        managed
            .iter()
            .filter(|m| m.manager.as_deref() != Some(GITOPS))
            .all(|m| !owns_spec(m)),
        "only {GITOPS} owns spec fields: {summary:#?}"
    );
    // (An API server before 1.22 records no `subresource`: the fields tell them apart.)
    assert!(
        managed.iter().any(|m| m.manager.as_deref() != Some(GITOPS)
            && m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.get("f:status").is_some())),
        "the operator's status writes are its own, apart from the spec: {summary:#?}"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_spec_change_from_git_updates_the_running_job_without_losing_its_counts() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "gitops-change").await;
    web_pods(client, &ns, &["node-a"]).await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("node-a", result(10));
    let operator = Operator::start(client, &agents, &ns);
    let spec = |syscalls: &[&str]| {
        json!({"tool": "syscalls", "selector": {"matchLabels": {"app": "web"}},
               "args": {"syscalls": syscalls}})
    };
    apply_from_git(&cluster, &manifest(&ns, "policy", spec(&["openat"]))).await;
    let api: Api<TraceJob> = Api::namespaced(client.clone(), &ns);
    wait_for_job(&api, "policy", "10 events at generation 1", |j| {
        events(j) == Some(10) && j.status.as_ref().and_then(|s| s.observed_generation) == Some(1)
    })
    .await;
    let starts_before = agents
        .calls()
        .iter()
        .filter(|c| matches!(c, AgentCall::Start { .. }))
        .count();

    // Every status the API server holds from here on: none may lose the counts.
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let watch = {
        let (api, seen) = (api.clone(), seen.clone());
        tokio::spawn(async move {
            let mut statuses = std::pin::pin!(watcher::watch_object(api, "policy"));
            while let Some(Ok(Some(job))) = statuses.next().await {
                let status = job.status.unwrap_or_default();
                seen.lock()
                    .expect("the list")
                    .push((status.observed_generation, status.events));
            }
        })
    };
    poll::until("the watch sees the job", || {
        let seen = seen.clone();
        async move { (!seen.lock().expect("the list").is_empty()).then_some(()) }
    })
    .await;

    apply_from_git(
        &cluster,
        &manifest(&ns, "policy", spec(&["openat", "read"])),
    )
    .await;
    let changed = wait_for_job(&api, "policy", "generation 2 acted on", |j| {
        j.metadata.generation == Some(2)
            && j.status.as_ref().and_then(|s| s.observed_generation) == Some(2)
            && condition_is(j, "Reconciling", "False")
            && condition_is(j, "Ready", "True")
    })
    .await;
    let running = agents.running("node-a", "policy").expect("the job runs");
    assert_eq!(
        running.spec.args.syscalls,
        ["openat", "read"],
        "the agent runs the new spec"
    );
    let starts_after = agents
        .calls()
        .iter()
        .filter(|c| matches!(c, AgentCall::Start { .. }))
        .count();
    assert!(
        starts_after > starts_before,
        "the new spec was given to the agent"
    );
    assert_eq!(
        events(&changed),
        Some(10),
        "the counts survive the spec change"
    );
    assert_eq!(
        changed.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Running)
    );
    // The agent's counts keep adding up under the new spec.
    agents.set_result("node-a", result(15));
    wait_for_job(&api, "policy", "15 events", |j| events(j) == Some(15)).await;
    watch.abort();
    let seen = seen.lock().expect("the list").clone();
    assert!(
        seen.iter().all(|&(_, events)| events.unwrap_or(0) >= 10),
        "a status lost the counts during the change: {seen:?}"
    );
    assert!(
        seen.iter().any(|&(generation, _)| generation == Some(2)),
        "the watch saw the change: {seen:?}"
    );
    assert!(
        kubectl_wait(&cluster, &ns, "policy", "Ready", "30s").await,
        "Ready after the change"
    );
    operator.stop().await;
}

#[tokio::test]
async fn kubectl_wait_for_ready_returns_once_the_job_traces_and_reconciling_says_why_until_then() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "gitops-wait").await;
    web_pods(client, &ns, &["node-a"]).await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("node-a", result(3));
    // The node's agent is not up yet: the job cannot start.
    agents.set_unavailable("node-a", true);
    let operator = Operator::start(client, &agents, &ns);
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}});
    apply_from_git(&cluster, &manifest(&ns, "watch", spec)).await;
    let api: Api<TraceJob> = Api::namespaced(client.clone(), &ns);
    let starting = wait_for_job(&api, "watch", "Reconciling while the agent is down", |j| {
        condition_is(j, "Reconciling", "True")
    })
    .await;
    assert_eq!(
        starting.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Pending)
    );
    let (_, reason, message) = condition(&starting, "Reconciling").expect("Reconciling");
    assert_eq!(reason, "Starting", "{message}");
    assert!(condition_is(&starting, "Ready", "False"));
    assert!(condition_is(&starting, "Stalled", "False"));
    assert!(
        !kubectl_wait(&cluster, &ns, "watch", "Ready", "2s").await,
        "kubectl wait returned for a job that does not trace yet"
    );

    agents.set_unavailable("node-a", false);
    assert!(
        kubectl_wait(&cluster, &ns, "watch", "Ready", "30s").await,
        "kubectl wait --for=condition=Ready did not return 0 for a running job"
    );
    assert!(kubectl_wait(&cluster, &ns, "watch", "Reconciling=False", "30s").await);
    let running = api.get("watch").await.expect("the job");
    assert_eq!(
        running.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Running)
    );
    assert!(condition_is(&running, "Stalled", "False"));
    operator.stop().await;
}

#[tokio::test]
async fn a_spec_that_cannot_run_is_stalled_until_git_fixes_it() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "gitops-stalled").await;
    web_pods(client, &ns, &["node-a"]).await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("node-a", result(4));
    let operator = Operator::start(client, &agents, &ns);
    // The schema cannot tell that `open` takes no `syscalls`; the operator can.
    let wrong = json!({"tool": "open", "selector": {"matchLabels": {"app": "web"}},
                       "args": {"syscalls": ["read"]}});
    apply_from_git(&cluster, &manifest(&ns, "typo", wrong)).await;
    assert!(
        kubectl_wait(&cluster, &ns, "typo", "Stalled", "30s").await,
        "kubectl wait --for=condition=Stalled did not return 0 for a spec that cannot run"
    );
    let api: Api<TraceJob> = Api::namespaced(client.clone(), &ns);
    let failed = api.get("typo").await.expect("the job");
    let (_, reason, message) = condition(&failed, "Stalled").expect("Stalled");
    assert_eq!(reason, "CannotRun");
    assert_eq!(
        message, "spec.args.syscalls: not an argument of the open tool (it takes: failedOnly)",
        "the message says what to fix"
    );
    assert!(condition_is(&failed, "Reconciling", "False"));

    let fixed = json!({"tool": "open", "selector": {"matchLabels": {"app": "web"}}});
    apply_from_git(&cluster, &manifest(&ns, "typo", fixed)).await;
    let running = wait_for_job(&api, "typo", "running once git fixed it", |j| {
        j.status.as_ref().and_then(|s| s.observed_generation) == Some(2)
            && condition_is(j, "Ready", "True")
    })
    .await;
    assert!(condition_is(&running, "Stalled", "False"));
    assert!(condition_is(&running, "Reconciling", "False"));
    assert!(agents.running("node-a", "typo").is_some());
    operator.stop().await;
}

#[tokio::test]
async fn a_spec_change_from_git_after_the_job_finished_is_seen_and_not_run() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "gitops-finished").await;
    web_pods(client, &ns, &["node-a"]).await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("node-a", result(6));
    let operator = Operator::start(client, &agents, &ns);
    let spec = |syscalls: &[&str]| {
        json!({"tool": "syscalls", "selector": {"matchLabels": {"app": "web"}},
               "duration": "1s", "args": {"syscalls": syscalls}})
    };
    apply_from_git(&cluster, &manifest(&ns, "once", spec(&["openat"]))).await;
    let api: Api<TraceJob> = Api::namespaced(client.clone(), &ns);
    wait_for_job(&api, "once", "succeeded", |j| {
        j.status.as_ref().and_then(|s| s.phase) == Some(Phase::Succeeded)
    })
    .await;
    let starts = || {
        agents
            .calls()
            .iter()
            .filter(|c| matches!(c, AgentCall::Start { .. }))
            .count()
    };
    let started = starts();

    apply_from_git(&cluster, &manifest(&ns, "once", spec(&["openat", "read"]))).await;
    let seen = wait_for_job(&api, "once", "generation 2 seen", |j| {
        j.status.as_ref().and_then(|s| s.observed_generation) == Some(2)
    })
    .await;
    assert_eq!(
        seen.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Succeeded)
    );
    assert_eq!(events(&seen), Some(6), "the finished job's counts stay");
    assert!(
        condition_is(&seen, "Reconciling", "False"),
        "kstatus settles: {:?}",
        condition(&seen, "Reconciling")
    );
    assert!(condition_is(&seen, "Ready", "True"));
    assert!(
        kubectl_wait(&cluster, &ns, "once", "Ready", "10s").await,
        "kubectl wait returns for the finished job"
    );
    let (_, described) =
        kubectl_async(&cluster, &["describe", "-n", &ns, "tracejob/once"], None).await;
    assert!(
        described.contains("SpecChangeAfterFinish"),
        "an event says the change is not traced: {described}"
    );
    assert_eq!(starts(), started, "a finished job is not started again");
    operator.stop().await;
}

#[tokio::test]
async fn pruning_the_job_from_git_stops_and_forgets_it_on_every_agent() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "gitops-prune").await;
    web_pods(client, &ns, &["node-a", "node-b"]).await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let operator = Operator::start(client, &agents, &ns);
    let spec = json!({"tool": "open", "selector": {"matchLabels": {"app": "web"}}});
    apply_from_git(&cluster, &manifest(&ns, "pruned", spec)).await;
    let api: Api<TraceJob> = Api::namespaced(client.clone(), &ns);
    wait_for_job(&api, "pruned", "running on 2 nodes", |j| {
        j.status.as_ref().and_then(|s| s.matched_nodes) == Some(2)
    })
    .await;
    assert_eq!(agents.running_jobs().len(), 2);

    // The prune: a delete, which kubectl waits out (the operator's finalizer included).
    let (ok, output) = kubectl_async(
        &cluster,
        &["delete", "-n", &ns, "tracejob/pruned", "--timeout=30s"],
        None,
    )
    .await;
    assert!(ok, "the delete failed: {output}");
    assert!(
        api.get_opt("pruned").await.expect("a get").is_none(),
        "the job is gone"
    );
    assert!(
        agents.running_jobs().is_empty(),
        "every agent stopped the job: {:?}",
        agents.running_jobs()
    );
    let calls = agents.calls();
    for node in ["node-a", "node-b"] {
        assert!(
            calls
                .iter()
                .any(|c| matches!(c, AgentCall::Stop { node: n, .. } if n == node)),
            "no stop on {node}: {calls:?}"
        );
        assert!(
            calls
                .iter()
                .any(|c| matches!(c, AgentCall::Forget { node: n, .. } if n == node)),
            "no forget on {node}: {calls:?}"
        );
    }
    assert!(
        agents.known_jobs().is_empty(),
        "every agent forgot the pruned job"
    );
    operator.stop().await;
}
