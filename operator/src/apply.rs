//! The Apply half of reconciliation: a job that is not finished.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use tracejob_api::validate::validate_spec;
use tracejob_api::{NodePhase, Phase, TraceJob, TraceJobStatus, parse_duration};

use crate::conditions::{self as cond, Desired, Reason, Type};
use crate::context::Context;
use crate::error::Error;
use crate::fanout::{self, Fanout};
use crate::targets::{self, Targets};
use crate::{artifacts, finish, job_id, selector, summary, write};

pub async fn apply(job: &TraceJob, ctx: &Context) -> Result<Action, Error> {
    let now = Timestamp::now();
    let spec_changed = job
        .status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .is_some_and(|seen| Some(seen) != job.metadata.generation);
    let mut old = job.status.clone().unwrap_or_default();
    if old.phase == Some(Phase::Failed) && spec_changed {
        // The person acted on the Failed condition: try the new spec from the start.
        old = TraceJobStatus {
            conditions: old.conditions,
            nodes: old.nodes,
            node_record: old.node_record,
            ..TraceJobStatus::default()
        };
    }
    if old.phase.is_some_and(Phase::is_finished) {
        return finish::after_finished(job, ctx, &old, now).await;
    }
    if let Err(problem) = check_spec(job, ctx) {
        return finish::fail(job, ctx, &old, (Reason::InvalidSpec, problem), now).await;
    }
    if let Some(end) = end_time(job, &old)
        && end <= now
    {
        return finish::complete(job, ctx, &old, now).await;
    }
    let targets = fetch_targets(job, ctx).await?;
    let id = job_id(job)?;
    let old_rows = summary::all_rows(&old);
    let fanout = fanout::drive(ctx, &id, &job.spec, &old_rows, &targets, spec_changed).await;
    if let Some(problem) =
        fanout::refused_everywhere(targets.by_node.len(), fanout.running(), &fanout.rejected)
    {
        // A final answer instead of Pending for ever; a changed spec is tried afresh.
        let mut refused = old.clone();
        summary::set_rows(&mut refused, fanout.rows);
        return finish::fail(job, ctx, &refused, (Reason::RejectedByAgents, problem), now).await;
    }
    for node in &fanout.gaps {
        ctx.storage.stream_restarted(&id.uid, node);
    }
    let gaps = !fanout.gaps.is_empty();
    let new_targets = !fanout.applied.is_empty();
    let mut next = next_status(job, &old, &targets, fanout, now);
    let flush = artifacts::while_running(job, ctx, &id, &mut next, now).await;
    if let Some(gave_up) = ctx.storage.gave_up(&id.uid, next.events.unwrap_or(0), now) {
        // A standing job whose storage never comes back must not hold the spool for ever.
        return finish::storage_gave_up(job, ctx, &next, gave_up, now).await;
    }
    // At most one status write per job per interval: these counts go out with the next;
    // new targets wait (an interval at most) for their first counts, to go out together.
    let wait = ctx
        .pace
        .too_soon(&id.uid)
        .or_else(|| new_targets.then(|| ctx.pace.hold(&id.uid)).flatten());
    if let Some(wait) = wait
        && may_wait(&old, &next, gaps)
    {
        return Ok(Action::requeue(wait));
    }
    if write::status(job, ctx, &next).await? {
        ctx.pace.wrote(&id.uid);
    }
    announce(job, ctx, &old, &next).await;
    // A standing job's next flush may be due before the next poll.
    let after = requeue_after(job, ctx, &next, now);
    let after = flush.map_or(after, |f| after.min(f.max(Duration::from_millis(100))));
    Ok(Action::requeue(after))
}

/// Whether a status may wait for the job's next write: only if nothing but counts and
/// targets moved. A new phase, a gap or a storage outcome is written at once (the next
/// round would not see them again).
fn may_wait(old: &TraceJobStatus, next: &TraceJobStatus, gaps: bool) -> bool {
    let artifacts = |s: &TraceJobStatus| {
        cond::find(&s.conditions, Type::ArtifactsWritten.as_str())
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    !gaps
        && old.phase == next.phase
        && old.artifacts == next.artifacts
        && artifacts(old) == artifacts(next)
}

/// What the schema could not reject.
fn check_spec(job: &TraceJob, ctx: &Context) -> Result<(), String> {
    validate_spec(&job.spec).map_err(|e| e.to_string())?;
    selector::to_query(job.spec.selector.as_ref()).map_err(|e| e.to_string())?;
    crate::storage::config::target(job, &ctx.settings.storage).map_err(|e| e.to_string())?;
    Ok(())
}

/// When a job with a duration ends (it counts from the first start on a node).
pub fn end_time(job: &TraceJob, status: &TraceJobStatus) -> Option<Timestamp> {
    let start = status.start_time.as_ref()?.0;
    let duration = parse_duration(job.spec.duration.as_deref()?).ok()?;
    let duration = SignedDuration::try_from(duration).ok()?;
    start.checked_add(duration).ok()
}

async fn fetch_targets(job: &TraceJob, ctx: &Context) -> Result<Targets, Error> {
    let namespace = job.namespace().ok_or(Error::MissingField("namespace"))?;
    let query = selector::to_query(job.spec.selector.as_ref()).unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let pods = pods.list(&ListParams::default().labels(&query)).await?;
    let eligible = if job.spec.node_selector.is_empty() {
        None
    } else {
        // From the controller's Node watch, never a list per poll. An empty cache is not
        // "no node matches": that would stop the job everywhere.
        if !ctx.nodes.synced(crate::nodes::SYNC_WAIT).await {
            return Err(Error::NodesNotSynced);
        }
        Some(ctx.nodes.matching(&job.spec.node_selector))
    };
    Ok(targets::resolve(&pods.items, &job.spec, eligible.as_ref()))
}

fn next_status(
    job: &TraceJob,
    old: &TraceJobStatus,
    targets: &Targets,
    fanout: Fanout,
    now: Timestamp,
) -> TraceJobStatus {
    let generation = job.metadata.generation;
    let time = Time(now);
    let mut next = old.clone();
    next.observed_generation = generation;
    let running = fanout.running();
    let phase = if running > 0 || old.phase == Some(Phase::Running) {
        Phase::Running
    } else {
        Phase::Pending
    };
    if phase == Phase::Running && next.start_time.is_none() {
        next.start_time = Some(time.clone());
    }
    next.phase = Some(phase);
    next.matched_pods = Some(u32::try_from(targets.pods()).unwrap_or(u32::MAX));
    next.matched_nodes = Some(u32::try_from(running).unwrap_or(u32::MAX));
    next.events = Some(fanout.rows.iter().map(|r| r.events).sum());
    next.lost = Some(fanout.rows.iter().map(|r| r.lost).sum());
    if let Some(merged) = summary::merge(fanout.live.iter().map(|r| r.rows.as_slice())) {
        next.summary = Some(merged);
    }

    let targeted = targeted_condition(job, targets);
    // Bounded like every message: the targeted one quotes the selector, which has no bound.
    next.message = Some(cond::truncate(&match (phase, targets.is_empty()) {
        (_, true) => targeted.message.clone(),
        (Phase::Pending, false) => "waiting for the agents to start the trace".to_owned(),
        _ => format!("tracing {} pods on {running} nodes", targets.pods()),
    }));
    cond::set(&mut next.conditions, targeted, generation, &time);
    let troubled: Vec<String> = fanout
        .troubled()
        .map(|r| {
            format!(
                "{}: {}",
                r.node,
                r.message.as_deref().unwrap_or(r.phase.as_str())
            )
        })
        .collect();
    let agents_ready = match (targets.by_node.len(), troubled.len()) {
        (0, _) => Desired::new(
            Type::AgentsReady,
            Reason::NoTargets,
            "no node has a target pod",
        ),
        (nodes, 0) => Desired::new(
            Type::AgentsReady,
            Reason::AgentsRunning,
            format!("the trace runs on all {nodes} target nodes"),
        ),
        (nodes, bad) => Desired::new(
            Type::AgentsReady,
            Reason::AgentsNotReady,
            format!("{bad} of {nodes} target nodes are not running the trace"),
        ),
    };
    cond::set(&mut next.conditions, agents_ready, generation, &time);
    let degraded = if targets.is_empty() {
        Desired::new(
            Type::Degraded,
            Reason::NoTargets,
            "no node has a target pod",
        )
    } else if troubled.is_empty() {
        Desired::new(
            Type::Degraded,
            Reason::AllNodesRunning,
            "every target node runs the trace",
        )
    } else {
        Desired::new(
            Type::Degraded,
            degraded_reason(&fanout),
            troubled.join("; "),
        )
    };
    cond::set(&mut next.conditions, degraded, generation, &time);
    cond::set(
        &mut next.conditions,
        Desired::new(Type::Complete, Reason::InProgress, in_progress_message(job)),
        generation,
        &time,
    );
    cond::set(
        &mut next.conditions,
        cond::gap(&old.conditions, &fanout.gaps),
        generation,
        &time,
    );
    summary::set_rows(&mut next, fanout.rows);
    next
}

fn targeted_condition(job: &TraceJob, targets: &Targets) -> Desired {
    if targets.is_empty() {
        let namespace = job.namespace().unwrap_or_default();
        let query = selector::to_query(job.spec.selector.as_ref()).unwrap_or_default();
        let selector = if query.is_empty() {
            "(every pod)".to_owned()
        } else {
            query
        };
        let mut message =
            format!("no Running pod in namespace {namespace} matches selector {selector}");
        if !job.spec.containers.is_empty() {
            message.push_str(&format!(
                " with a running container named {}",
                job.spec.containers.join(" or ")
            ));
        }
        if !job.spec.node_selector.is_empty() {
            message.push_str(" on a node matching spec.nodeSelector");
        }
        Desired::new(Type::Targeted, Reason::NoPodsMatched, message)
    } else {
        Desired::new(
            Type::Targeted,
            Reason::PodsMatched,
            format!(
                "{} pods on {} nodes match",
                targets.pods(),
                targets.by_node.len()
            ),
        )
    }
}

fn degraded_reason(fanout: &Fanout) -> Reason {
    let phases: BTreeSet<NodePhase> = fanout.troubled().map(|r| r.phase).collect();
    match phases.into_iter().collect::<Vec<_>>().as_slice() {
        [NodePhase::NoAgent] => Reason::AgentMissing,
        [NodePhase::Unavailable] => Reason::AgentUnavailable,
        [NodePhase::Rejected] => Reason::AgentRejected,
        _ => Reason::AgentsFailing,
    }
}

fn in_progress_message(job: &TraceJob) -> String {
    match &job.spec.duration {
        Some(duration) => format!("tracing for {duration}"),
        None => "tracing until the TraceJob is deleted".to_owned(),
    }
}

/// Events for the transitions a person cares about.
async fn announce(job: &TraceJob, ctx: &Context, old: &TraceJobStatus, next: &TraceJobStatus) {
    if old.phase != next.phase {
        let from = old.phase.map_or("new", Phase::as_str);
        let to = next.phase.map_or("none", Phase::as_str);
        tracing::info!(
            from,
            to,
            message = next.message.as_deref().unwrap_or(""),
            "phase changed"
        );
    }
    if old.phase != Some(Phase::Running) && next.phase == Some(Phase::Running) {
        let message = next.message.clone().unwrap_or_default();
        write::event(job, ctx, false, "Started", message).await;
    }
    for (type_, reason, warning) in [
        (Type::Targeted.as_str(), "NoPodsMatched", true),
        (Type::Degraded.as_str(), "Degraded", true),
        (Type::Gap.as_str(), "Gap", true),
    ] {
        let was = cond::find(&old.conditions, type_).map(|c| (c.status.clone(), c.reason.clone()));
        let now = cond::find(&next.conditions, type_)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()));
        let Some((status, now_reason, message)) = now else {
            continue;
        };
        let bad = (type_ == Type::Targeted.as_str() && status == "False")
            || (type_ != Type::Targeted.as_str() && status == "True");
        if bad && was != Some((status, now_reason)) {
            write::event(job, ctx, warning, reason, message).await;
        }
    }
}

fn requeue_after(job: &TraceJob, ctx: &Context, next: &TraceJobStatus, now: Timestamp) -> Duration {
    let poll = ctx.settings.poll_interval;
    let until_end = end_time(job, next)
        .and_then(|end| Duration::try_from(end.duration_since(now)).ok())
        .map(|d| d.max(Duration::from_millis(100)));
    until_end.map_or(poll, |d| d.min(poll))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracejob_api::status::MAX_MESSAGE_BYTES;

    #[test]
    fn the_message_stays_bounded_whatever_the_selector() {
        let labels: serde_json::Map<String, serde_json::Value> = (0..500)
            .map(|i| (format!("label-{i}"), serde_json::json!("value")))
            .collect();
        let job: TraceJob = serde_json::from_value(serde_json::json!({
            "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
            "metadata": {"name": "big", "namespace": "shop"},
            "spec": {"tool": "exec", "selector": {"matchLabels": labels}}
        }))
        .expect("a job");
        let next = next_status(
            &job,
            &TraceJobStatus::default(),
            &Targets::default(),
            Fanout::default(),
            Timestamp::now(),
        );
        let message = next.message.expect("a message");
        assert!(
            message.len() <= MAX_MESSAGE_BYTES,
            "{} bytes",
            message.len()
        );
        assert!(
            message.starts_with("no Running pod in namespace shop matches selector label-0=value,")
        );
        assert!(
            next.conditions
                .iter()
                .all(|c| c.message.len() <= MAX_MESSAGE_BYTES)
        );
    }
}
