//! A standing job's counts on the operator's /metrics, read as Prometheus reads them
//! (through the chart's metrics Service), against a workload whose truth is known.

use tracejob_e2e::cluster::{apply, client, fresh_namespace, kubectl, wait_until};
use tracejob_e2e::helm;
use tracejob_e2e::jobs::{self, count, exec_job, wait_for};
use tracejob_e2e::workload::Counter;

const NS: &str = "e2e-metrics";

/// The operator's /metrics, through the API server's proxy to the chart's metrics Service.
fn scrape() -> Option<String> {
    let namespace = helm::namespace();
    let service = kubectl(
        &[
            "get",
            "service",
            "-n",
            &namespace,
            "-l",
            "app.kubernetes.io/component=operator",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
        None,
    )
    .ok()?;
    let path = format!("/api/v1/namespaces/{namespace}/services/{service}:metrics/proxy/metrics");
    kubectl(&["get", "--raw", &path], None).ok()
}

/// The value of the sample whose name and labels are exactly `series`.
fn value(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
#[ignore = "needs a cluster with the chart installed: make e2e"]
async fn a_standing_jobs_exported_counters_equal_the_workloads_exact_counts() {
    let client = client().await;
    fresh_namespace(&client, NS).await;
    let pod = Counter {
        namespace: NS,
        name: "metered",
        app: "metered",
        heartbeat: Some("/bin/uname"),
        program: "/bin/true",
        count: 25,
    };
    pod.create();
    pod.wait_running(&client).await;
    // No duration: a standing job, a tracing policy a dashboard watches.
    apply(&exec_job(NS, "standing", "metered", None)).expect("apply the job");
    let api = jobs::api(&client, NS);
    wait_for(&api, "standing", "the pod traced", |job| {
        count(job, "/bin/uname") > 0
    })
    .await;
    pod.go_and_wait().await;

    let series = |key: &str| {
        format!(
            r#"tracejob_job_key_events_total{{namespace="{NS}",name="standing",tool="exec",key="{key}"}}"#
        )
    };
    let text = wait_until(
        "25 execs of /bin/true on /metrics",
        tracejob_e2e::WAIT,
        || async {
            let text = scrape()?;
            (value(&text, &series("/bin/true")) == Some(25)).then_some(text)
        },
    )
    .await;
    // The heartbeat stopped before the go: its count no longer moves, and the metric and
    // the status must agree on it exactly.
    let job = api.get("standing").await.expect("read the job");
    let uname = count(&job, "/bin/uname");
    assert!(uname > 0);
    assert_eq!(value(&text, &series("/bin/uname")), Some(uname), "{text}");
    let pod_series = format!(
        r#"tracejob_job_pod_events_total{{namespace="{NS}",name="standing",tool="exec",pod="metered"}}"#
    );
    let pod_events =
        value(&text, &pod_series).unwrap_or_else(|| panic!("no {pod_series} in\n{text}"));
    assert!(
        pod_events >= 25 + uname,
        "the pod's series counts all its execs: {pod_events}"
    );

    // Deleting the job takes its series away.
    jobs::delete_and_wait(&api, "standing").await;
    wait_until(
        "the deleted job's series gone",
        tracejob_e2e::WAIT,
        || async {
            let text = scrape()?;
            (!text.contains(r#"name="standing""#)).then_some(())
        },
    )
    .await;
}
