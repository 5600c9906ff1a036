//! The job's lifecycle and exact counts, from workloads whose truth is known.

use tracejob_api::Phase;
use tracejob_e2e::cluster::{apply, client, fresh_namespace};
use tracejob_e2e::figures;
use tracejob_e2e::jobs::{self, count, describe, exec_job, wait_for, wait_phase};
use tracejob_e2e::workload::Counter;

const NS: &str = "e2e-counts";
const OTHER_NS: &str = "e2e-counts-other";

#[tokio::test]
#[ignore = "needs a cluster with the chart installed: make e2e"]
async fn a_job_goes_pending_running_succeeded_and_counts_exactly_its_own_pods() {
    let client = client().await;
    fresh_namespace(&client, NS).await;
    fresh_namespace(&client, OTHER_NS).await;
    let first = Counter {
        namespace: NS,
        name: "first",
        app: "counter",
        heartbeat: None,
        program: "/bin/true",
        count: 25,
    };
    // Same labels, another namespace: a TraceJob only ever targets its own namespace.
    let stranger = Counter {
        namespace: OTHER_NS,
        count: 40,
        ..first.clone()
    };
    // Started later, with a heartbeat that shows when its tracing begins.
    let second = Counter {
        name: "second",
        heartbeat: Some("/bin/uname"),
        program: "/bin/hostname",
        count: 30,
        ..first.clone()
    };
    stranger.create();
    stranger.wait_running(&client).await;

    // No pod matches yet: the job waits.
    apply(&exec_job(NS, "execs", "counter", Some("45s"))).expect("apply the job");
    let api = jobs::api(&client, NS);
    wait_phase(&api, "execs", Phase::Pending).await;

    first.create();
    first.wait_running(&client).await;
    wait_for(&api, "execs", "Running on one pod", |job| {
        jobs::phase(job) == Some(Phase::Running)
            && job.status.as_ref().and_then(|s| s.matched_pods) == Some(1)
    })
    .await;
    first.go_and_wait().await;
    stranger.go_and_wait().await;

    // A matching pod started while the job runs is traced from then on.
    let asked = second.create();
    second.wait_running(&client).await;
    wait_for(&api, "execs", "the second pod traced", |job| {
        count(job, "/bin/uname") > 0
    })
    .await;
    figures::record("new_pod_to_traced_in_counts_test", &[asked.elapsed()]);
    second.go_and_wait().await;

    let done = wait_phase(&api, "execs", Phase::Succeeded).await;
    let status = describe(&done);
    assert_eq!(
        count(&done, "/bin/true"),
        25,
        "first pod's execs, and none of the other namespace's 40: {status}"
    );
    assert_eq!(
        count(&done, "/bin/hostname"),
        30,
        "every exec of the second pod once traced: {status}"
    );
    assert_eq!(
        done.status.as_ref().and_then(|s| s.matched_pods),
        Some(2),
        "both pods of this namespace matched: {status}"
    );
    assert_eq!(
        done.status.as_ref().and_then(|s| s.lost),
        Some(0),
        "nothing lost: {status}"
    );
}
