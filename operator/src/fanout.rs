//! Driving the agents: start the job where targets appeared, update where they changed,
//! stop where they left. Each node's counts are what its result stream said last
//! ([`crate::streams`]); no agent is asked for them.

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use futures::{FutureExt, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tracejob_api::{NodePhase, NodeStatus, TraceJobSpec};

use crate::agents::{AgentError, ContainerTarget, JobId, NodeResult};
use crate::context::Context;
use crate::decide::nodes::{
    AgentStep, Answer, LeftStep, TargetNode, failed_row, plan_left, plan_target, settle_target,
};
use crate::error::Error;
use crate::lost;
use crate::targets::Targets;

/// What the agents said this round.
#[derive(Debug, Default)]
pub struct Fanout {
    /// One row per node the job runs on, tried to run on, or ran on.
    pub rows: Vec<NodeStatus>,
    /// Current results of the nodes running the job, and final ones of nodes it left.
    pub live: Vec<NodeResult>,
    /// Nodes whose agent lost the running job (it restarted) and runs it afresh: whatever
    /// happened there between its last report and the restart was not traced.
    pub gaps: Vec<String>,
    /// Target nodes whose agent refused the job, with the agent's reason.
    pub rejected: Vec<(String, String)>,
    /// Nodes where the job was just started or given new targets (their first counts are
    /// on the way).
    pub applied: Vec<String>,
}

impl Fanout {
    /// Target nodes whose agent is not running the job, with why.
    pub fn troubled(&self) -> impl Iterator<Item = &NodeStatus> {
        self.rows.iter().filter(|r| {
            matches!(
                r.phase,
                NodePhase::NoAgent | NodePhase::Unavailable | NodePhase::Rejected
            )
        })
    }

    pub fn running(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.phase == NodePhase::Running)
            .count()
    }
}

/// How many nodes the job left are stopped at once.
const STOPS_AT_ONCE: usize = 32;

/// Brings every node in line with `targets`; `spec_changed` restarts the job where it runs.
/// Act only: what to ask of each agent and what its answer means are decided in
/// [`crate::decide::nodes`].
pub async fn drive(
    ctx: &Context,
    job: &JobId,
    spec: &TraceJobSpec,
    old_rows: &[NodeStatus],
    targets: &Targets,
    spec_changed: bool,
) -> Fanout {
    let mut out = Fanout::default();
    let observed = ctx.streams.observe(&job.uid);
    let observed = &observed;
    // Every node at once: one slow or unreachable agent must not hold up the others.
    let per_node = targets.by_node.iter().map(|(node, containers)| async move {
        let target = TargetNode {
            node,
            pods: u32::try_from(targets.pods_on(node)).unwrap_or(u32::MAX),
            previous: old_rows.iter().find(|r| &r.node == node),
            seen: observed.get(node),
            digest: digest(containers),
            applied: ctx.applied_digest(&job.uid, node),
        };
        let plan = plan_target(&target, spec_changed);
        let answer = ensure(ctx, node, job, spec, containers, plan.step, target.digest).await;
        if matches!(answer, Answer::Failed(_)) {
            ctx.forget_applied(&job.uid, node);
        }
        let settled = settle_target(&target, &plan, answer);
        if let Some(afresh) = settled.stream_started {
            ctx.streams.started(&job.uid, node, afresh);
        }
        settled
    });
    for settled in futures::future::join_all(per_node).await {
        let node = settled.row.node.clone();
        if settled.applied {
            out.applied.push(node.clone());
        }
        out.rejected
            .extend(settled.rejected.map(|reason| (node.clone(), reason)));
        if settled.gap {
            tracing::warn!(job = %job.name, node = %node, "the agent lost the running job (it restarted): the trace has a gap");
            out.gaps.push(node);
        }
        out.rows.push(settled.row);
        out.live.extend(settled.result);
    }
    let left: Vec<(&NodeStatus, LeftStep)> = old_rows
        .iter()
        .filter(|r| !targets.by_node.contains_key(&r.node))
        .map(|r| (r, plan_left(r)))
        .collect();
    // Nodes the job left are stopped at the same time, a bounded number at once: each
    // unreachable one costs a connect timeout.
    let stops = left
        .iter()
        .filter(|(_, step)| *step == LeftStep::Stop)
        .map(|&(previous, _)| {
            async move {
                ctx.forget_applied(&job.uid, &previous.node);
                let stopped = stop_or_lose(ctx, job, previous, Timestamp::now()).await;
                (previous.node.clone(), stopped)
            }
            // Boxed: the stream of borrowing futures is then Send for the controller.
            .boxed()
        })
        .collect::<Vec<_>>();
    let mut stopped: BTreeMap<String, _> = futures::stream::iter(stops)
        .buffer_unordered(STOPS_AT_ONCE)
        .collect()
        .await;
    for (previous, step) in left {
        match step {
            LeftStep::Stop => match stopped.remove(&previous.node) {
                Some(Ok((row, result))) => {
                    out.rows.push(row);
                    out.live.extend(result);
                }
                Some(Err(failed)) => {
                    let mut row = failed_row(&previous.node, 0, Some(previous), &failed.error);
                    row.unreachable_since = failed.unreachable_since.map(Time);
                    out.rows.push(row);
                }
                None => {}
            },
            LeftStep::KeepStopped => {
                out.rows.push(previous.clone());
                out.live
                    .extend(observed.get(&previous.node).and_then(|s| s.result.clone()));
            }
            LeftStep::KeepLost => out.rows.push(previous.clone()),
            LeftStep::Drop => {}
        }
    }
    out
}

/// Asks the node's agent what `step` says; an update that finds the agent lost the job
/// starts it again.
async fn ensure(
    ctx: &Context,
    node: &str,
    job: &JobId,
    spec: &TraceJobSpec,
    containers: &[ContainerTarget],
    step: AgentStep,
    digest: u64,
) -> Answer {
    let answer = match step {
        AgentStep::Keep => return Answer::Unchanged,
        AgentStep::Update => match ctx.agents.update_targets(node, job, containers).await {
            Err(AgentError::NotRunning { .. }) => ctx
                .agents
                .start(node, job, spec, containers)
                .await
                .map(|()| Answer::Restarted),
            other => other.map(|()| Answer::Applied),
        },
        AgentStep::Start => ctx
            .agents
            .start(node, job, spec, containers)
            .await
            .map(|()| Answer::Applied),
    };
    match answer {
        Ok(answer) => {
            ctx.remember_applied(&job.uid, node, digest);
            answer
        }
        Err(error) => Answer::Failed(error),
    }
}

/// Stops the job on the node of `row`; the returned row is `Stopped` with final counts.
pub async fn stop_one(
    ctx: &Context,
    job: &JobId,
    row: &NodeStatus,
) -> Result<(NodeStatus, NodeResult), AgentError> {
    let result = match ctx.agents.stop(&row.node, job).await {
        Ok(result) => result,
        Err(AgentError::NoAgent { .. } | AgentError::NotRunning { .. }) => NodeResult::default(),
        Err(error) => return Err(error),
    };
    let stopped = NodeStatus {
        phase: NodePhase::Stopped,
        events: row.events.max(result.events),
        lost: row.lost.max(result.lost),
        probe: result.probe.clone().or_else(|| row.probe.clone()),
        message: None,
        unreachable_since: None,
        ..row.clone()
    };
    Ok((stopped, result))
}

/// A stop that failed; an agent that did not answer has been failing since then (the grace
/// period counts from it, and the status keeps it for a restarted operator).
#[derive(Debug)]
pub struct StopFailed {
    pub error: AgentError,
    pub unreachable_since: Option<Timestamp>,
}

/// Stops the job on the node; a node whose agent does not answer and that counts as lost
/// (see [`crate::lost`]) gets a `Lost` row with its counts at last contact instead of an
/// error, so the caller stops waiting for it. The grace period counts from the row's
/// `unreachableSince` when the status has one (an earlier operator process saw the first
/// failure), else from the first failure this process saw.
pub async fn stop_or_lose(
    ctx: &Context,
    job: &JobId,
    row: &NodeStatus,
    now: Timestamp,
) -> Result<(NodeStatus, Option<NodeResult>), StopFailed> {
    match stop_one(ctx, job, row).await {
        Ok((stopped, result)) => {
            ctx.reached(&job.uid, &row.node);
            Ok((stopped, Some(result)))
        }
        Err(error @ AgentError::Unavailable { .. }) => {
            let first_seen = row.unreachable_since.as_ref().map_or(now, |t| t.0);
            let since = ctx.unreachable_since(&job.uid, &row.node, first_seen);
            let state = lost::observe(&ctx.nodes, &row.node).await;
            match lost::lost(state, since, now, ctx.settings.node_lost_grace) {
                Some(because) => {
                    tracing::warn!(job = %job.name, node = %row.node, because = because.as_str(), "node lost");
                    Ok((lost_row(row, because), None))
                }
                None => Err(StopFailed {
                    error,
                    unreachable_since: Some(since),
                }),
            }
        }
        Err(error) => Err(StopFailed {
            error,
            unreachable_since: None,
        }),
    }
}

fn lost_row(row: &NodeStatus, because: lost::LostBecause) -> NodeStatus {
    NodeStatus {
        phase: NodePhase::Lost,
        message: Some(format!(
            "{}: counts are from the last contact",
            because.as_str()
        )),
        unreachable_since: None,
        ..row.clone()
    }
}

/// Stops the job on every node that may run it (all at once: one unreachable agent must not
/// hold up the others), and collects the final results of every node that ran it. Lost nodes
/// keep their last counts. The first failure is returned so the caller retries (stopping is
/// idempotent), with when each agent that did not answer first failed (for the status).
pub async fn stop_all(
    ctx: &Context,
    job: &JobId,
    rows: &[NodeStatus],
) -> Result<(Vec<NodeStatus>, Vec<NodeResult>), StopAllFailed> {
    let now = Timestamp::now();
    let per_row = rows.iter().map(|row| async move {
        match row.phase {
            NodePhase::Running | NodePhase::Unavailable => {}
            NodePhase::Stopped => {
                let kept = ctx.streams.observe(&job.uid).remove(&row.node);
                return Ok((Some(row.clone()), kept.and_then(|s| s.result)));
            }
            NodePhase::Lost => return Ok((Some(row.clone()), None)),
            NodePhase::NoAgent | NodePhase::Rejected => return Ok((None, None)),
        }
        stop_or_lose(ctx, job, row, now)
            .await
            .map(|(row, result)| (Some(row), result))
            .map_err(|failed| (row.node.clone(), failed))
    });
    let mut out_rows = Vec::new();
    let mut finals = Vec::new();
    let mut first_error = None;
    let mut unreachable_since = BTreeMap::new();
    for outcome in futures::future::join_all(per_row).await {
        match outcome {
            Ok((row, result)) => {
                out_rows.extend(row);
                finals.extend(result);
            }
            Err((node, failed)) => {
                if let Some(since) = failed.unreachable_since {
                    unreachable_since.insert(node.clone(), since);
                }
                first_error.get_or_insert(Error::Stop {
                    node,
                    source: failed.error,
                });
            }
        }
    }
    ctx.forget_job(&job.uid);
    match first_error {
        Some(error) => Err(StopAllFailed {
            error,
            unreachable_since,
        }),
        None => {
            ctx.forget_unreachable(&job.uid);
            Ok((out_rows, finals))
        }
    }
}

/// [`stop_all`] failed on some node.
#[derive(Debug)]
pub struct StopAllFailed {
    /// The first failure.
    pub error: Error,
    /// Per node whose agent did not answer (and is not lost yet), since when.
    pub unreachable_since: BTreeMap<String, Timestamp>,
}

/// Tells every agent that ran the job to drop what it kept, all at once (unreachable agents
/// must not add up their timeouts); best effort (an agent that cannot be reached drops it
/// when it restarts).
pub async fn forget_all(ctx: &Context, job: &JobId, rows: &[NodeStatus]) {
    let each = rows.iter().map(|row| async move {
        if let Err(error) = ctx.agents.forget(&row.node, job).await {
            tracing::info!(node = %row.node, %error, "could not tell the agent to forget the job");
        }
    });
    futures::future::join_all(each).await;
}

fn digest(containers: &[ContainerTarget]) -> u64 {
    let mut hasher = DefaultHasher::new();
    containers.hash(&mut hasher);
    hasher.finish()
}
