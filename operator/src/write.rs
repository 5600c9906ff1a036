//! Writing the status (a minimal JSON merge patch to `/status`) and publishing events.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde_json::{Map, Value};
use tracejob_api::{TraceJob, TraceJobStatus};

use crate::conditions as cond;
use crate::context::Context;
use crate::error::Error;

/// Patches the status from what the API server holds (`job.status`) to `new`; nothing is
/// sent when they are equal. True if a patch was sent.
pub async fn status(job: &TraceJob, ctx: &Context, new: &TraceJobStatus) -> Result<bool, Error> {
    let old = job.status.clone().unwrap_or_default();
    // Every write carries the kstatus summary of what it writes (`Ready`, `Reconciling`,
    // `Stalled`), stamped with the generation that status describes: a stale `Ready` must not
    // satisfy `kubectl wait` for a newer spec.
    let mut new = new.clone();
    let described = new.observed_generation.or(job.metadata.generation);
    let now = Time(Timestamp::now());
    for desired in crate::ready::kstatus(&new, job.metadata.generation) {
        cond::set(&mut new.conditions, desired, described, &now);
    }
    let new = &new;
    let namespace = job.namespace().ok_or(Error::MissingField("namespace"))?;
    // The metrics follow what the operator holds, written or not (after a restart the
    // first status equals the stored one and sends nothing).
    if let (Some(events), Some(lost)) = (new.events, new.lost) {
        ctx.metrics
            .set_job_counts(&namespace, &job.name_any(), events, lost);
    }
    ctx.metrics.jobs.set_keys(
        &namespace,
        &job.name_any(),
        job.spec.tool.name(),
        new.summary.as_ref(),
    );
    let diff = merge_patch(&serde_json::to_value(&old)?, &serde_json::to_value(new)?);
    let Some(diff) = diff else { return Ok(false) };
    let api: Api<TraceJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({ "status": diff });
    api.patch_status(
        &job.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(true)
}

/// The RFC 7386 merge patch turning `old` into `new`, or `None` if they are equal.
pub fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, old_value) in old {
                match new.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(new_value) => {
                        if let Some(p) = merge_patch(old_value, new_value) {
                            patch.insert(key.clone(), p);
                        }
                    }
                }
            }
            for (key, new_value) in new.iter().filter(|(k, _)| !old.contains_key(*k)) {
                patch.insert(key.clone(), new_value.clone());
            }
            Some(Value::Object(patch))
        }
        _ => Some(new.clone()),
    }
}

/// Publishes an event on the job; failures are logged, never fatal.
pub async fn event(job: &TraceJob, ctx: &Context, warning: bool, reason: &str, note: String) {
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_owned(),
        note: Some(crate::conditions::truncate(&note)),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    tracing::info!(
        reason,
        warning,
        note = event.note.as_deref().unwrap_or(""),
        "event"
    );
    if let Err(error) = ctx.recorder.publish(&event, &job.object_ref(&())).await {
        tracing::warn!(%error, reason, "failed to publish an event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_merge_patch_nulls_what_went_away_and_keeps_what_stayed_out() {
        let old =
            json!({"phase": "Running", "message": "x", "summary": {"top": [1], "otherKeys": 3}});
        let new = json!({"phase": "Running", "summary": {"top": [1, 2]}, "events": 4});
        assert_eq!(
            merge_patch(&old, &new),
            Some(
                json!({"message": null, "summary": {"top": [1, 2], "otherKeys": null}, "events": 4})
            )
        );
        assert_eq!(merge_patch(&new, &new), None);
    }
}
