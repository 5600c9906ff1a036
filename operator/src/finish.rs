//! The end of a job: its duration elapsed, its spec cannot run, it was deleted, or its
//! time-to-live after finishing is up.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::controller::Action;
use tracejob_api::{NodeStatus, TraceJob, TraceJobStatus};

use crate::agents::{JobId, NodeResult};
use crate::artifacts::{self, AtEnd};
use crate::conditions::Reason;
use crate::context::Context;
use crate::decide::ending::{self, Completed};
use crate::decide::{finished, with_unreachable_since};
use crate::error::Error;
use crate::storage::GaveUp;
use crate::{fanout, job_id, summary, write};

/// The duration elapsed: stop every agent, merge the final results, write the artifacts
/// (act), then [`ending::completed`] decides: Succeeded — or, while storage fails, stay
/// Running (stopped) and retry with backoff, or give up on it past the deadline.
pub async fn complete(
    job: &TraceJob,
    ctx: &Context,
    old: &TraceJobStatus,
    now: Timestamp,
) -> Result<Action, Error> {
    let id = job_id(job)?;
    let (rows, finals) = stop_everywhere(job, ctx, &id, old).await?;
    let mut next = finished(job, old, rows, now);
    if let Some(merged) = summary::merge(finals.iter().map(|r| r.rows.as_slice())) {
        next.summary = Some(merged);
    }
    let pods = finals.iter().map(|r| r.pods.as_slice());
    ctx.metrics.jobs.set_pods(&id.namespace, &id.name, pods);
    let at_end = artifacts::at_end(job, ctx, &id, &mut next, now).await;
    let given_up = match at_end {
        AtEnd::Retry(_) => ctx.storage.gave_up(&id.uid, next.events.unwrap_or(0), now),
        AtEnd::Done => None,
    };
    match ending::completed(job, old, next, at_end, given_up, now) {
        Completed::GiveUp(gave_up) => storage_gave_up(job, ctx, old, gave_up, now).await,
        Completed::Retry {
            status,
            storage_event,
            requeue,
        } => {
            write::status(job, ctx, &status).await?;
            if let Some(message) = storage_event {
                write::event(job, ctx, true, "StorageUnavailable", message).await;
            }
            Ok(Action::requeue(requeue))
        }
        Completed::Succeeded { status, message } => {
            ctx.streams.forget(&id.uid);
            ctx.storage.forget(&id.uid);
            write::status(job, ctx, &status).await?;
            ended_live(ctx, &id);
            write::event(job, ctx, false, "Completed", message).await;
            after_finished(job, ctx, &status, now).await
        }
    }
}

/// Writing the artifacts failed past the deadline (`--storage-deadline-seconds`): stop the
/// trace everywhere, drop the spooled events (counted as lost), `Failed` with
/// `ArtifactsWritten=False` naming the error and how many events were not written.
pub async fn storage_gave_up(
    job: &TraceJob,
    ctx: &Context,
    old: &TraceJobStatus,
    gave_up: GaveUp,
    now: Timestamp,
) -> Result<Action, Error> {
    let id = job_id(job)?;
    let (rows, finals) = stop_everywhere(job, ctx, &id, old).await?;
    let mut next = finished(job, old, rows, now);
    if let Some(merged) = summary::merge(finals.iter().map(|r| r.rows.as_slice())) {
        next.summary = Some(merged);
    }
    let deadline = ctx.storage.settings.give_up_after;
    let (next, message) = ending::gave_up(job, next, &gave_up, deadline, now);
    ctx.streams.forget(&id.uid);
    ctx.storage.forget(&id.uid);
    write::status(job, ctx, &next).await?;
    ended_live(ctx, &id);
    write::event(job, ctx, true, "StorageDeadlineExceeded", message).await;
    after_finished(job, ctx, &next, now).await
}

/// The spec cannot run as written (`reason`: `InvalidSpec`, or `RejectedByAgents` when
/// every agent refused it): stop wherever it ran, Failed, with the reason.
pub async fn fail(
    job: &TraceJob,
    ctx: &Context,
    old: &TraceJobStatus,
    (reason, problem): (Reason, String),
    now: Timestamp,
) -> Result<Action, Error> {
    let id = job_id(job)?;
    let (rows, _) = stop_everywhere(job, ctx, &id, old).await?;
    let next = ending::failed(job, finished(job, old, rows, now), reason, &problem, now);
    write::status(job, ctx, &next).await?;
    // (The streams stay until the job is deleted.)
    ended_live(ctx, &id);
    write::event(job, ctx, true, reason.as_str(), problem).await;
    after_finished(job, ctx, &next, now).await
}

/// The job's status says it finished: its live readers end now. Done after the write, so
/// that a reader who came while the job still read as running ends too; one who comes
/// later sees it finished and is not subscribed.
fn ended_live(ctx: &Context, id: &JobId) {
    ctx.streams.live.forget(&id.uid);
}

/// Stops the job on every node ([`fanout::stop_all`]). While some agent does not answer,
/// when it first failed goes into the status (`unreachableSince`) before the error is
/// returned for a retry: a restarted operator continues that node's grace period instead
/// of starting it again.
async fn stop_everywhere(
    job: &TraceJob,
    ctx: &Context,
    id: &JobId,
    old: &TraceJobStatus,
) -> Result<(Vec<NodeStatus>, Vec<NodeResult>), Error> {
    match fanout::stop_all(ctx, id, &summary::all_rows(old)).await {
        Ok(stopped) => Ok(stopped),
        Err(failed) => {
            if let Some(clocked) = with_unreachable_since(old, &failed.unreachable_since) {
                write::status(job, ctx, &clocked).await?;
            }
            Err(failed.error)
        }
    }
}

/// A finished job waits for its `ttlSecondsAfterFinished`, then is deleted.
pub async fn after_finished(
    job: &TraceJob,
    ctx: &Context,
    status: &TraceJobStatus,
    now: Timestamp,
) -> Result<Action, Error> {
    let Some(ttl) = job.spec.ttl_seconds_after_finished else {
        return Ok(Action::await_change());
    };
    let finished_at = status.completion_time.as_ref().map_or(now, |t| t.0);
    let expiry = finished_at
        .checked_add(SignedDuration::from_secs(ttl.max(0)))
        .unwrap_or(Timestamp::MAX);
    if expiry > now {
        let wait = Duration::try_from(expiry.duration_since(now)).unwrap_or(Duration::from_secs(1));
        return Ok(Action::requeue(wait.max(Duration::from_millis(100))));
    }
    let namespace = job.namespace().ok_or(Error::MissingField("namespace"))?;
    let api: Api<TraceJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: job.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    tracing::info!(
        ttl,
        "deleting the finished job: its ttlSecondsAfterFinished is up"
    );
    match api.delete(&job.name_any(), &params).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(error) => Err(error.into()),
    }
}

/// A finished job whose spec changed (a GitOps sync): it does not run again, and its status
/// says the operator saw the new generation, so kstatus and `kubectl wait` settle instead of
/// waiting for ever; an event says what to do to trace again.
pub async fn spec_changed_after(
    job: &TraceJob,
    ctx: &Context,
    old: &TraceJobStatus,
    now: Timestamp,
) -> Result<Action, Error> {
    let seen = TraceJobStatus {
        observed_generation: job.metadata.generation,
        ..old.clone()
    };
    write::status(job, ctx, &seen).await?;
    let note = "the job has finished and does not run again: a changed spec is recorded, \
                not traced; apply it under a new name to trace again"
        .to_owned();
    write::event(job, ctx, true, "SpecChangeAfterFinish", note).await;
    after_finished(job, ctx, &seen, now).await
}

/// The job is being deleted: stop it on every agent before the finalizer goes.
pub async fn cleanup(job: &TraceJob, ctx: &Context) -> Result<Action, Error> {
    let status = job.status.clone().unwrap_or_default();
    let still_running = status.phase.is_some_and(|p| !p.is_finished());
    let id = job_id(job)?;
    let (rows, _) = stop_everywhere(job, ctx, &id, &status).await?;
    if still_running && job.spec.duration.is_none() {
        // A standing job's last events since its last flush: one attempt, best effort (a
        // deletion does not wait for storage).
        let mut last = status.clone();
        summary::set_rows(&mut last, rows.clone());
        let _ = artifacts::at_end(job, ctx, &id, &mut last, Timestamp::now()).await;
    }
    ctx.streams.forget(&id.uid);
    ctx.storage.forget(&id.uid);
    fanout::forget_all(ctx, &id, &rows).await;
    ctx.metrics
        .forget_job(&job.namespace().unwrap_or_default(), &job.name_any());
    if still_running {
        write::event(
            job,
            ctx,
            false,
            "Stopped",
            "deleted: the trace is stopped on every node".to_owned(),
        )
        .await;
    }
    Ok(Action::await_change())
}
