//! TraceJob manifests and waits on their status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use kube::api::Api;
use tracejob_api::{Phase, TraceJob};

use crate::cluster::wait_until;

/// An exec job (BCC execsnoop) over the pods labelled `app`, for `duration` (None: until deleted).
pub fn exec_job(namespace: &str, name: &str, app: &str, duration: Option<&str>) -> String {
    let duration = duration
        .map(|d| format!("  duration: {d}\n"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: tracejob.io/v1alpha1
kind: TraceJob
metadata:
  name: {name}
  namespace: {namespace}
spec:
  selector:
    matchLabels: {{app: {app}}}
  tool: exec
{duration}"#
    )
}

pub fn api(client: &Client, namespace: &str) -> Api<TraceJob> {
    Api::namespaced(client.clone(), namespace)
}

pub fn phase(job: &TraceJob) -> Option<Phase> {
    job.status.as_ref()?.phase
}

/// The job's count for one key of its summary (an exec's filename), 0 when absent.
pub fn count(job: &TraceJob, key: &str) -> u64 {
    job.status
        .as_ref()
        .and_then(|s| s.summary.as_ref())
        .and_then(|s| s.top.iter().find(|row| row.key == key))
        .map_or(0, |row| row.count)
}

pub fn condition<'a>(job: &'a TraceJob, type_: &str) -> Option<&'a Condition> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// Waits until `check` holds for the job, returning it.
pub async fn wait_for(
    api: &Api<TraceJob>,
    name: &str,
    what: &str,
    check: impl Fn(&TraceJob) -> bool,
) -> TraceJob {
    let check = &check;
    wait_until(&format!("job {name}: {what}"), crate::WAIT, || {
        let api = api.clone();
        async move {
            let job = api.get_opt(name).await.ok().flatten()?;
            check(&job).then_some(job)
        }
    })
    .await
}

pub async fn wait_phase(api: &Api<TraceJob>, name: &str, phase_wanted: Phase) -> TraceJob {
    wait_for(api, name, &format!("phase {phase_wanted}"), |job| {
        phase(job) == Some(phase_wanted)
    })
    .await
}

/// Deletes the job and waits until it is gone (the operator has removed its finalizer).
pub async fn delete_and_wait(api: &Api<TraceJob>, name: &str) {
    let _ = api.delete(name, &Default::default()).await;
    wait_until(&format!("job {name} deleted"), crate::WAIT, || {
        let api = api.clone();
        async move { api.get_opt(name).await.ok()?.is_none().then_some(()) }
    })
    .await;
}

/// A compact view for failure messages.
pub fn describe(job: &TraceJob) -> String {
    serde_json::to_string(&job.status).unwrap_or_default()
}
