//! Objects as the API server would return them.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tracejob_api::TraceJob;

pub const NAMESPACE: &str = "shop";
pub const NAME: &str = "slow-io";
pub const JOB_PATH: &str = "/apis/tracejob.io/v1alpha1/namespaces/shop/tracejobs/slow-io";
pub const PODS_PATH: &str = "/api/v1/namespaces/shop/pods";

/// A TraceJob object (with the operator's finalizer) as JSON.
pub fn job_json(spec: Value, status: Option<Value>) -> Value {
    let mut job = json!({
        "apiVersion": "tracejob.io/v1alpha1",
        "kind": "TraceJob",
        "metadata": {
            "name": NAME, "namespace": NAMESPACE, "uid": "uid-1", "generation": 1,
            "resourceVersion": "10", "finalizers": [tracejob_operator::FINALIZER],
        },
        "spec": spec,
    });
    if let Some(status) = status {
        job["status"] = status;
    }
    job
}

pub fn job(value: &Value) -> TraceJob {
    serde_json::from_value(value.clone()).expect("a valid TraceJob")
}

/// A Running pod with one running container per `(name, id)`.
pub fn pod(name: &str, node: &str, labels: Value, containers: &[(&str, &str)]) -> Value {
    let statuses: Vec<Value> = containers
        .iter()
        .map(|(c, id)| {
            json!({"name": c, "ready": true, "restartCount": 0, "image": "busybox", "imageID": "",
                   "containerID": id, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}})
        })
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": format!("uid-{name}"), "labels": labels},
        "spec": {"nodeName": node, "containers": containers.iter().map(|(c, _)| json!({"name": c})).collect::<Vec<_>>()},
        "status": {"phase": "Running", "containerStatuses": statuses}
    })
}

pub fn pod_list(pods: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "20"}, "items": pods})
}

/// An RFC 3339 time `seconds` before now.
pub fn ago(seconds: i64) -> String {
    (Timestamp::now() - SignedDuration::from_secs(seconds)).to_string()
}

/// The condition of that type in a status JSON.
pub fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}
