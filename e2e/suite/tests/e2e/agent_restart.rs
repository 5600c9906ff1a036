//! The agent pod killed in the middle of a job: the DaemonSet brings it back, the job goes on,
//! and its result says it has a gap rather than pretending to be whole or counting twice.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use tracejob_api::Phase;
use tracejob_e2e::cluster::{apply, client, fresh_namespace, wait_until};
use tracejob_e2e::jobs::{self, condition, count, describe, exec_job, wait_for, wait_phase};
use tracejob_e2e::workload::Counter;
use tracejob_e2e::{WAIT, helm};

const NS: &str = "e2e-agent-restart";
const AGENT: &str = "app.kubernetes.io/component=agent";

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
#[ignore = "needs a cluster with the chart installed: make e2e"]
async fn killing_the_agent_mid_job_ends_with_a_gap_flagged_and_nothing_counted_twice() {
    let client = client().await;
    fresh_namespace(&client, NS).await;
    let before = Counter {
        namespace: NS,
        name: "before",
        app: "restart",
        heartbeat: None,
        program: "/bin/true",
        count: 15,
    };
    let after = Counter {
        name: "after",
        heartbeat: Some("/bin/id"),
        program: "/bin/hostname",
        count: 12,
        ..before.clone()
    };
    before.create();
    before.wait_running(&client).await;
    apply(&exec_job(NS, "interrupted", "restart", Some("60s"))).expect("apply the job");
    let api = jobs::api(&client, NS);
    wait_phase(&api, "interrupted", Phase::Running).await;
    before.go_and_wait().await;
    wait_for(&api, "interrupted", "15 execs counted", |job| {
        count(job, "/bin/true") == 15
    })
    .await;

    let agents: Api<Pod> = Api::namespaced(client.clone(), &helm::namespace());
    let old: Vec<String> = agents
        .list(&ListParams::default().labels(AGENT))
        .await
        .expect("list agent pods")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert!(!old.is_empty(), "an agent pod runs");
    for name in &old {
        agents
            .delete(name, &DeleteParams::default().grace_period(0))
            .await
            .expect("kill the agent pod");
    }
    wait_until("a new agent pod Ready", WAIT, || {
        let (agents, old) = (agents.clone(), old.clone());
        async move {
            let pods = agents
                .list(&ListParams::default().labels(AGENT))
                .await
                .ok()?;
            pods.items
                .iter()
                .any(|p| p.metadata.name.as_ref().is_some_and(|n| !old.contains(n)) && ready(p))
                .then_some(())
        }
    })
    .await;
    wait_for(&api, "interrupted", "the gap flagged", |job| {
        condition(job, "Gap").is_some_and(|c| c.status == "True")
    })
    .await;

    after.create();
    after.wait_running(&client).await;
    // Told to go only once its heartbeat shows it is traced.
    wait_for(&api, "interrupted", "the new pod traced", |job| {
        count(job, "/bin/id") > 0
    })
    .await;
    after.go_and_wait().await;
    let done = wait_phase(&api, "interrupted", Phase::Succeeded).await;
    let status = describe(&done);
    let gap = condition(&done, "Gap").expect("a Gap condition");
    assert_eq!(
        gap.status, "True",
        "the result is flagged as having a gap: {status}"
    );
    assert_eq!(
        count(&done, "/bin/hostname"),
        12,
        "traced exactly again after the restart: {status}"
    );
    assert!(
        count(&done, "/bin/true") <= 15,
        "the execs before the restart are never counted twice: {status}"
    );
}
