//! The `ArtifactsWritten` side of reconciliation: while a job runs, its events are spooled
//! (and a standing job flushes periodically); when it ends, everything is written before
//! the job may succeed.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tracejob_api::{NodePhase, TraceJob, TraceJobStatus};

use crate::agents::JobId;
use crate::conditions::{self as cond, Desired, Reason, Type};
use crate::context::Context;
use crate::storage::{Outcome, Target, config};

/// What the end of a job needs before it can succeed.
#[derive(Debug, PartialEq, Eq)]
pub enum AtEnd {
    /// Artifacts are durable (or the job has no storage).
    Done,
    /// Storage failed: try again after this long.
    Retry(Duration),
}

fn no_storage() -> Desired {
    Desired::new(
        Type::ArtifactsWritten,
        Reason::NoStorage,
        "no object storage is configured (spec.output.storage, or the operator's \
         TRACEJOB_STORAGE_URL): only the summary in this status is kept",
    )
}

fn set(next: &mut TraceJobStatus, job: &TraceJob, desired: Desired, now: Timestamp) {
    cond::set(
        &mut next.conditions,
        desired,
        job.metadata.generation,
        &Time(now),
    );
}

/// A running job: its nodes' streams are read (their events into the spool if the job has
/// storage); a standing job writes a new part when its flush is due. Returns when to look
/// again for the next flush.
pub async fn while_running(
    job: &TraceJob,
    ctx: &Context,
    id: &JobId,
    next: &mut TraceJobStatus,
    now: Timestamp,
) -> Option<Duration> {
    let Ok(Some(target)) = config::target(job, &ctx.settings.storage) else {
        read_streams(ctx, id, next, None);
        set(next, job, no_storage(), now);
        return None;
    };
    continue_deadline(ctx, id, next).await;
    if let Err(failed) = ctx.storage.recover(&ctx.client, &target, id).await {
        // Reading the streams before knowing what an earlier process wrote would write
        // events twice: they wait in the agents' buffers until storage answers, and only
        // the counts are asked for.
        let running = next
            .node_record
            .iter()
            .filter(|r| r.phase == NodePhase::Running)
            .map(|r| r.node.as_str());
        ctx.streams.count(&ctx.agents, id, running);
        return record(
            ctx,
            job,
            id,
            next,
            Some(failed),
            &target,
            now,
            Reason::Flushed,
        );
    }
    ctx.storage
        .keep_at_most(&id.uid, job.spec.output.max_events);
    read_streams(ctx, id, next, Some(&ctx.storage.spool(&id.uid)));
    add_losses(ctx, id, next);
    if job.spec.duration.is_some() {
        let message = format!(
            "events are spooled by the operator and written to {} when the trace ends",
            target.location
        );
        set(
            next,
            job,
            Desired::new(Type::ArtifactsWritten, Reason::Spooling, message),
            now,
        );
        return None;
    }
    let flushed = ctx
        .storage
        .flush_if_due(&ctx.client, &target, job, id, next)
        .await;
    let retry = record(ctx, job, id, next, flushed, &target, now, Reason::Flushed);
    Some(retry.unwrap_or(ctx.settings.storage.flush_interval))
}

/// The job's agents are stopped (`next` holds their final counts): write everything.
pub async fn at_end(
    job: &TraceJob,
    ctx: &Context,
    id: &JobId,
    next: &mut TraceJobStatus,
    now: Timestamp,
) -> AtEnd {
    let Ok(Some(target)) = config::target(job, &ctx.settings.storage) else {
        set(next, job, no_storage(), now);
        return AtEnd::Done;
    };
    continue_deadline(ctx, id, next).await;
    if let Err(failed) = ctx.storage.recover(&ctx.client, &target, id).await {
        let retry = record(
            ctx,
            job,
            id,
            next,
            Some(failed),
            &target,
            now,
            Reason::Written,
        );
        return AtEnd::Retry(retry.unwrap_or(Duration::from_secs(1)));
    }
    // After an operator restart nothing reads the streams yet: a stopped job's stream still
    // holds its buffered events and its final message.
    let ran = next
        .node_record
        .iter()
        .filter(|r| r.phase == NodePhase::Stopped)
        .map(|r| r.node.as_str());
    ctx.storage
        .keep_at_most(&id.uid, job.spec.output.max_events);
    let spool = ctx.storage.spool(&id.uid);
    ctx.streams.track(&ctx.agents, id, ran, Some(&spool), false);
    let outcome = ctx
        .storage
        .finish(&ctx.client, &target, job, id, &with_losses(ctx, id, next))
        .await;
    add_losses(ctx, id, next);
    match record(
        ctx,
        job,
        id,
        next,
        Some(outcome),
        &target,
        now,
        Reason::Written,
    ) {
        None => AtEnd::Done,
        Some(retry) => AtEnd::Retry(retry),
    }
}

/// The status says storage has been failing since some time (an earlier operator process
/// saw it): the deadline counts from then, not from this process's first failure.
async fn continue_deadline(ctx: &Context, id: &JobId, next: &TraceJobStatus) {
    if let Some(since) = &next.storage_failing_since {
        ctx.storage.failing_since_before(&id.uid, since.0).await;
    }
}

/// Reads the stream of every node the job runs on (the control record, not the bounded
/// rows: every node counts), and of every node it stopped on whose final message this
/// process has not read (after an operator restart).
fn read_streams(
    ctx: &Context,
    id: &JobId,
    next: &TraceJobStatus,
    spool: Option<&std::sync::Arc<crate::storage::JobSpool>>,
) {
    let nodes = |phase: NodePhase| {
        next.node_record
            .iter()
            .filter(move |r| r.phase == phase)
            .map(|r| r.node.as_str())
    };
    ctx.streams
        .track(&ctx.agents, id, nodes(NodePhase::Running), spool, true);
    ctx.streams
        .track(&ctx.agents, id, nodes(NodePhase::Stopped), spool, false);
}

/// Puts an outcome into the status; returns the retry delay of a failure.
#[allow(
    clippy::too_many_arguments,
    reason = "one call per storage outcome, all of it needed"
)]
fn record(
    ctx: &Context,
    job: &TraceJob,
    id: &JobId,
    next: &mut TraceJobStatus,
    outcome: Option<Outcome>,
    target: &Target,
    now: Timestamp,
    reason: Reason,
) -> Option<Duration> {
    let outcome = outcome?;
    // Kept in the status so that a restarted operator continues the storage deadline.
    next.storage_failing_since = ctx.storage.failing_since(&id.uid).map(Time);
    match outcome {
        Outcome::Written {
            artifacts,
            message,
            bytes,
        } => {
            ctx.metrics.artifacts_written(true, bytes);
            next.artifacts = artifacts;
            set(
                next,
                job,
                Desired::new(Type::ArtifactsWritten, reason, message),
                now,
            );
            None
        }
        Outcome::Failed { message, retry_in } => {
            ctx.metrics.artifacts_written(false, 0);
            tracing::warn!(url = %target.location, %message, "cannot write artifacts");
            set(
                next,
                job,
                Desired::new(Type::ArtifactsWritten, Reason::StorageUnavailable, message),
                now,
            );
            Some(retry_in)
        }
    }
}

/// Events lost between the agents and storage count as lost too; events past
/// `spec.output.maxEvents` are counted as not kept (they are not lost).
fn add_losses(ctx: &Context, id: &JobId, next: &mut TraceJobStatus) {
    let losses = ctx.storage.losses(&id.uid).total();
    if losses > 0 {
        next.lost = Some(next.lost.unwrap_or(0) + losses);
    }
    let not_kept = ctx.storage.not_kept(&id.uid);
    if not_kept > 0 || next.events_not_kept.is_some() {
        next.events_not_kept = Some(not_kept.max(next.events_not_kept.unwrap_or(0)));
    }
}

fn with_losses(ctx: &Context, id: &JobId, next: &TraceJobStatus) -> TraceJobStatus {
    let mut status = next.clone();
    add_losses(ctx, id, &mut status);
    status
}
