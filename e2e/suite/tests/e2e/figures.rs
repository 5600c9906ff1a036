//! The latencies a user feels, over ten runs each: `kubectl apply` → Running (programs
//! attached on the node), and a new matching pod → its first event in the job's status
//! (`new_pod_to_first_event_in_status`; `new_pod_to_traced` before the stream carried
//! the counts).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use tracejob_api::{Phase, TraceJob};
use tracejob_e2e::cluster::{apply, client, fresh_namespace};
use tracejob_e2e::figures::{median, record};
use tracejob_e2e::jobs::{self, count, exec_job, wait_for};
use tracejob_e2e::workload::Counter;

const NS: &str = "e2e-figures";
const RUNS: usize = 10;
/// One heartbeat program per new pod, so each pod's first traced exec has a key of its own.
const HEARTBEATS: [&str; RUNS] = [
    "/bin/uname",
    "/bin/hostname",
    "/bin/id",
    "/bin/date",
    "/bin/pwd",
    "/bin/whoami",
    "/bin/nproc",
    "/bin/env",
    "/bin/arch",
    "/bin/true",
];

#[tokio::test]
#[ignore = "needs a cluster with the chart installed: make e2e"]
async fn apply_to_running_and_new_pod_to_traced_over_ten_runs() {
    let client = client().await;
    fresh_namespace(&client, NS).await;
    let api = jobs::api(&client, NS);
    let target = Counter {
        namespace: NS,
        name: "target",
        app: "target",
        heartbeat: None,
        program: "/bin/true",
        count: 1,
    };
    target.create();
    target.wait_running(&client).await;

    let mut to_running = Vec::new();
    for run in 0..RUNS {
        let name = format!("apply-{run}");
        let applied = Instant::now();
        apply(&exec_job(NS, &name, "target", None)).expect("apply the job");
        wait_for(&api, &name, "Running with its programs attached", |job| {
            jobs::phase(job) == Some(Phase::Running)
                && job.status.as_ref().and_then(|s| s.matched_nodes) == Some(1)
        })
        .await;
        to_running.push(applied.elapsed());
        jobs::delete_and_wait(&api, &name).await;
    }
    record("kubectl_apply_to_running", &to_running);

    apply(&exec_job(NS, "newcomers", "newcomer", None)).expect("apply the job");
    let mut to_traced = Vec::new();
    let mut from_running = Vec::new();
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    for (run, heartbeat) in HEARTBEATS.iter().enumerate() {
        let name = format!("newcomer-{run}");
        let pod = Counter {
            namespace: NS,
            name: &name,
            app: "newcomer",
            heartbeat: Some(heartbeat),
            program: "/bin/true",
            count: 0,
        };
        let created = pod.create();
        // Also when the pod was first seen Running: from there on the time is tracejob's
        // (before it, the kubelet's sandbox and container start).
        let (running, counted) = running_and_counted(&pods, &api, &name, heartbeat, created).await;
        to_traced.push(counted - created);
        from_running.push(counted.saturating_duration_since(running));
    }
    record("new_pod_to_first_event_in_status", &to_traced);
    record("running_pod_to_first_event_in_status", &from_running);
    jobs::delete_and_wait(&api, "newcomers").await;

    assert!(
        median(&to_running) < Duration::from_secs(15),
        "apply → Running median {:?} is too slow",
        median(&to_running)
    );
    assert!(
        median(&to_traced) < Duration::from_secs(30),
        "new pod → traced median {:?} is too slow",
        median(&to_traced)
    );
}

/// Polls the pod and the job every 20 ms until the job counts `heartbeat`: when the pod was
/// first seen Running (or the count came first), and when the count was seen.
async fn running_and_counted(
    pods: &Api<Pod>,
    jobs: &Api<TraceJob>,
    pod: &str,
    heartbeat: &str,
    created: Instant,
) -> (Instant, Instant) {
    let mut running = None;
    loop {
        assert!(
            created.elapsed() < Duration::from_secs(120),
            "{heartbeat} from {pod} was never counted"
        );
        if running.is_none() {
            let phase = pods
                .get_opt(pod)
                .await
                .ok()
                .flatten()
                .and_then(|p| p.status?.phase);
            if phase.as_deref() == Some("Running") {
                running = Some(Instant::now());
            }
        }
        let job = jobs.get_opt("newcomers").await.ok().flatten();
        if job.as_ref().is_some_and(|job| count(job, heartbeat) > 0) {
            let counted = Instant::now();
            return (running.unwrap_or(counted), counted);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
