//! The Apply half of reconciliation: a job that is not finished.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use tracejob_api::validate::validate_spec;
use tracejob_api::{Phase, TraceJob, TraceJobStatus, parse_duration};

use crate::conditions::{self as cond, Type};
use crate::context::Context;
use crate::decide::round::{self, Act, AfterStorage, Pacing, Route, Running, Settle};
use crate::error::Error;
use crate::fanout;
use crate::pace::{Counted, Held};
use crate::targets::{self, Targets};
use crate::{artifacts, finish, job_id, selector, summary, write};

/// Observe (the old status, the spec, the targets, the streams) → decide
/// ([`crate::decide::round`], pure) → act (agents, storage, the status patch).
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
    let finished = old.phase.is_some_and(Phase::is_finished);
    let spec_problem = if finished {
        None
    } else {
        check_spec(job, ctx).err()
    };
    match round::route(&old, spec_problem, end_time(job, &old), now) {
        Route::Finished if spec_changed => {
            return finish::spec_changed_after(job, ctx, &old, now).await;
        }
        Route::Finished => return finish::after_finished(job, ctx, &old, now).await,
        Route::Fail(reason, problem) => {
            return finish::fail(job, ctx, &old, (reason, problem), now).await;
        }
        Route::Complete => return finish::complete(job, ctx, &old, now).await,
        Route::Run => {}
    }
    let targets = fetch_targets(job, ctx).await?;
    let id = job_id(job)?;
    let old_rows = summary::all_rows(&old);
    let fanout = fanout::drive(ctx, &id, &job.spec, &old_rows, &targets, spec_changed).await;
    let counted = Counted::of(&fanout.live);
    ctx.metrics.jobs.set_pods(
        &id.namespace,
        &id.name,
        fanout.live.iter().map(|r| r.pods.as_slice()),
    );
    // Pods of the nodes just given new targets whose first counts are still to come.
    let new_pods: Vec<String> = fanout
        .applied
        .iter()
        .filter_map(|node| targets.by_node.get(node))
        .flatten()
        .map(|c| c.pod.clone())
        .filter(|pod| !counted.has(pod))
        .collect();
    let (mut next, acts, new_targets, gaps) = match round::running(job, &old, &targets, fanout, now)
    {
        Running::Fail {
            status,
            reason,
            problem,
        } => return finish::fail(job, ctx, &status, (reason, problem), now).await,
        Running::Next {
            status,
            acts,
            new_targets,
            gaps,
        } => (*status, acts, new_targets, gaps),
    };
    for act in acts {
        match act {
            Act::RestartStream(node) => ctx.storage.stream_restarted(&id.uid, &node),
        }
    }
    let flush_in = artifacts::while_running(job, ctx, &id, &mut next, now).await;
    let gave_up = ctx.storage.gave_up(&id.uid, next.events.unwrap_or(0), now);
    let pacing = if gave_up.is_some() {
        Pacing::default()
    } else {
        // Holding starts a clock: only when new targets are waiting for their counts.
        let held = if new_targets {
            ctx.pace.hold(&id.uid, new_pods).map_or(Held::No, Held::For)
        } else {
            ctx.pace.held(&id.uid, &counted)
        };
        match held {
            Held::Released => Pacing::default(),
            Held::For(wait) => Pacing {
                held: Some(wait),
                too_soon: ctx.pace.too_soon(&id.uid),
            },
            Held::No => Pacing {
                held: None,
                too_soon: ctx.pace.too_soon(&id.uid),
            },
        }
    };
    let seen = AfterStorage {
        gave_up,
        flush_in,
        pacing,
        end: end_time(job, &next),
        poll: ctx.settings.poll_interval,
    };
    match round::settle(&old, &next, gaps, seen, now) {
        // A standing job whose storage never comes back must not hold the spool for ever.
        Settle::GiveUp(gave_up) => finish::storage_gave_up(job, ctx, &next, gave_up, now).await,
        Settle::Wait(wait) => Ok(Action::requeue(wait)),
        Settle::Write(after) => {
            if write::status(job, ctx, &next).await? {
                ctx.pace.wrote(&id.uid);
            }
            announce(job, ctx, &old, &next).await;
            Ok(Action::requeue(after))
        }
    }
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
    let pods = if ctx.pods.watched() {
        // From the controller's Pod watch. An empty cache is not "no pod matches": that
        // would stop the job everywhere.
        if !ctx.pods.synced(crate::nodes::SYNC_WAIT).await {
            return Err(Error::PodsNotSynced);
        }
        ctx.pods.matching(&namespace, job.spec.selector.as_ref())
    } else {
        // No controller runs (a reconcile called directly): ask the API server.
        let query = selector::to_query(job.spec.selector.as_ref()).unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
        pods.list(&ListParams::default().labels(&query))
            .await?
            .items
    };
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
    Ok(targets::resolve(&pods, &job.spec, eligible.as_ref()))
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
