//! Deleting a running job detaches everything; a bad manifest never gets in.

use kube::ResourceExt as _;
use tracejob_api::Phase;
use tracejob_e2e::cluster::{apply, client, fresh_namespace, wait_until};
use tracejob_e2e::jobs::{self, exec_job, wait_phase};
use tracejob_e2e::workload::Counter;
use tracejob_e2e::{WAIT, agent, bpf};
use tracejob_operator::agents::{AgentError, JobId};

const NS: &str = "e2e-lifecycle";

#[tokio::test]
#[ignore = "needs a cluster with the chart installed: make e2e"]
async fn deleting_a_running_job_detaches_every_program() {
    let client = client().await;
    fresh_namespace(&client, NS).await;
    let pod = Counter {
        namespace: NS,
        name: "idle",
        app: "idle",
        heartbeat: None,
        program: "/bin/true",
        count: 1,
    };
    pod.create();
    pod.wait_running(&client).await;
    // Other jobs may hold programs of their own: this job's are those that appear with it.
    let before = bpf::agent_programs();
    apply(&exec_job(NS, "standing", "idle", None)).expect("apply the job");
    let api = jobs::api(&client, NS);
    let running = wait_phase(&api, "standing", Phase::Running).await;
    let id = JobId {
        namespace: NS.to_owned(),
        name: "standing".to_owned(),
        uid: running.uid().expect("uid"),
    };
    let (agents, nodes) = agent::agents(&client).await;
    let node = nodes.first().expect("a node").clone();
    agent::job_on(&agents, &node, &id)
        .await
        .expect("the agent runs the job");
    let on_node = bpf::on_the_node();
    if std::env::var("TRACEJOB_E2E_ON_NODE").as_deref() == Ok("1") {
        assert!(
            on_node,
            "TRACEJOB_E2E_ON_NODE=1 but no tracejob-agent pod runs on this machine"
        );
    }
    let held: std::collections::BTreeSet<u64> =
        bpf::agent_programs().difference(&before).copied().collect();
    if on_node {
        assert!(
            !held.is_empty(),
            "the agent holds programs while the job runs"
        );
        let loaded = bpf::loaded_programs();
        assert!(
            held.is_subset(&loaded),
            "bpftool lists the agent's programs {held:?} while the job runs"
        );
    }

    jobs::delete_and_wait(&api, "standing").await;
    assert_eq!(
        agent::job_on(&agents, &node, &id).await,
        Err(AgentError::NotRunning { node: node.clone() }),
        "the agent forgot the deleted job"
    );
    if on_node {
        let kept: Vec<u64> = bpf::agent_programs().intersection(&held).copied().collect();
        assert!(
            kept.is_empty(),
            "the agent still holds the job's programs {kept:?} after its deletion"
        );
        // The kernel frees a program shortly after its last descriptor closes (RCU).
        wait_until("bpftool to list none of the job's programs", WAIT, || {
            let held = held.clone();
            async move {
                bpf::loaded_programs()
                    .intersection(&held)
                    .next()
                    .is_none()
                    .then_some(())
            }
        })
        .await;
    } else {
        println!("not on the node (a remote cluster): checked through the agent only");
    }
}

#[tokio::test]
#[ignore = "needs a cluster with the chart installed: make e2e"]
async fn an_invalid_manifest_is_rejected_by_kubectl_naming_the_field() {
    let client = client().await;
    fresh_namespace(&client, NS).await;
    let bad_tool = exec_job(NS, "bad-tool", "idle", None).replace("tool: exec", "tool: strace");
    let error = apply(&bad_tool).expect_err("an unknown tool is refused");
    assert!(
        error.contains("spec.tool"),
        "the error names spec.tool: {error}"
    );

    let bad_duration = exec_job(NS, "bad-duration", "idle", Some("[1, 2]"));
    let error = apply(&bad_duration).expect_err("a duration that is not a string is refused");
    assert!(
        error.contains("spec.duration"),
        "the error names spec.duration: {error}"
    );
    let api = jobs::api(&client, NS);
    for name in ["bad-tool", "bad-duration"] {
        assert!(
            api.get_opt(name).await.expect("read").is_none(),
            "{name} was not created"
        );
    }
}
