//! The events a job writes to storage: every line names the node, namespace, pod and
//! container it came from.

use std::path::{Path, PathBuf};

use tracejob_api::Phase;
use tracejob_api::event::{Event, EventLine};
use tracejob_e2e::cluster::{apply, client, fresh_namespace};
use tracejob_e2e::jobs::{self, describe, wait_for, wait_phase};
use tracejob_e2e::workload::Counter;

const NS: &str = "e2e-events";
/// In the operator's `/tmp` (an emptyDir, written with `--allow-file-storage`).
const STORAGE: &str = "file:///tmp/e2e-events";

fn job() -> String {
    format!(
        r#"apiVersion: tracejob.io/v1alpha1
kind: TraceJob
metadata:
  name: lines
  namespace: {NS}
spec:
  selector:
    matchLabels: {{app: lines}}
  tool: exec
  duration: 15s
  output:
    storage: {{url: "{STORAGE}"}}
"#
    )
}

/// The operator's file, as the node sees it: under the kubelet's emptyDir of some pod.
fn on_node(url: &str) -> PathBuf {
    let inside = url
        .strip_prefix("file:///tmp/")
        .unwrap_or_else(|| panic!("{url} is not under the operator's /tmp"));
    let kubelet = std::env::var("TRACEJOB_E2E_KUBELET_DIR")
        .expect("TRACEJOB_E2E_KUBELET_DIR (set by e2e/run.sh)");
    let pods = std::fs::read_dir(Path::new(&kubelet).join("pods")).expect("the kubelet's pods");
    pods.filter_map(Result::ok)
        .map(|pod| {
            pod.path()
                .join("volumes/kubernetes.io~empty-dir/tmp")
                .join(inside)
        })
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("{url} is in no pod's emptyDir under {kubelet}"))
}

#[tokio::test]
#[ignore = "needs a cluster with the chart installed: make e2e"]
async fn each_event_line_in_storage_names_the_pod_and_container_it_came_from() {
    let client = client().await;
    fresh_namespace(&client, NS).await;
    let pod = Counter {
        namespace: NS,
        name: "lines",
        app: "lines",
        heartbeat: None,
        program: "/bin/true",
        count: 5,
    };
    pod.create();
    pod.wait_running(&client).await;
    apply(&job()).expect("apply the job");
    let api = jobs::api(&client, NS);
    wait_for(&api, "lines", "Running on its pod", |job| {
        jobs::phase(job) == Some(Phase::Running)
            && job.status.as_ref().and_then(|s| s.matched_pods) == Some(1)
    })
    .await;
    pod.go_and_wait().await;
    let done = wait_phase(&api, "lines", Phase::Succeeded).await;
    let status = describe(&done);
    let url = done
        .status
        .as_ref()
        .and_then(|s| s.artifacts.iter().find(|a| a.name == "events.jsonl.gz"))
        .map(|a| a.url.clone())
        .unwrap_or_else(|| panic!("no events.jsonl.gz artifact: {status}"));

    let path = on_node(&url);
    let text = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&path)
        .output()
        .expect("gzip");
    assert!(text.status.success(), "{} is gzip", path.display());
    let lines: Vec<EventLine> = String::from_utf8_lossy(&text.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let trues = lines
        .iter()
        .filter(|l| matches!(&l.event, Event::Exec(e) if e.filename == "/bin/true"))
        .count();
    assert_eq!(trues, 5, "every exec of /bin/true is in storage: {status}");
    for line in &lines {
        let origin = &line.origin;
        assert!(
            origin.node.as_deref().is_some_and(|n| !n.is_empty())
                && origin.namespace.as_deref() == Some(NS)
                && origin.pod.as_deref() == Some("lines")
                && origin.container.as_deref() == Some("counter"),
            "the line names its node, namespace, pod and container: {line:?}"
        );
    }
    jobs::delete_and_wait(&api, "lines").await;
}
