//! Decide: from what a reconcile of a running job observed (its old status, its targets, what
//! the agents and their streams said) to its next status. Pure: no client, no agent, no
//! clock but the `now` it is given; table-tested with plain structs.

pub mod ending;
pub mod nodes;
pub mod round;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use tracejob_api::{NodePhase, Phase, TraceJob, TraceJobStatus};

use crate::conditions::{self as cond, Desired, Reason, Type};
use crate::fanout::Fanout;
use crate::targets::Targets;
use crate::{selector, summary};

/// Whether a status may wait for the job's next write: only if nothing but counts and
/// targets moved. A new phase, a gap or a storage outcome is written at once (the next
/// round would not see them again).
pub fn may_wait(old: &TraceJobStatus, next: &TraceJobStatus, gaps: bool) -> bool {
    let artifacts = |s: &TraceJobStatus| {
        cond::find(&s.conditions, Type::ArtifactsWritten.as_str())
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    !gaps
        && old.phase == next.phase
        && old.artifacts == next.artifacts
        && artifacts(old) == artifacts(next)
}

pub fn next_status(
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

/// The status of a job that just finished, with the given (stopped) node rows.
pub fn finished(
    job: &TraceJob,
    old: &TraceJobStatus,
    rows: Vec<tracejob_api::NodeStatus>,
    now: Timestamp,
) -> TraceJobStatus {
    let generation = job.metadata.generation;
    let time = Time(now);
    let mut next = old.clone();
    next.observed_generation = generation;
    next.completion_time = Some(time.clone());
    next.events = Some(rows.iter().map(|r| r.events).sum());
    next.lost = Some(rows.iter().map(|r| r.lost).sum());
    next.matched_nodes = Some(u32::try_from(rows.len()).unwrap_or(u32::MAX));
    cond::set(
        &mut next.conditions,
        cond::node_lost(&rows),
        generation,
        &time,
    );
    summary::set_rows(&mut next, rows);
    cond::set(
        &mut next.conditions,
        Desired::new(
            Type::AgentsReady,
            Reason::Stopped,
            "the trace is stopped on every node",
        ),
        generation,
        &time,
    );
    cond::set(
        &mut next.conditions,
        Desired::new(
            Type::Degraded,
            Reason::Stopped,
            "the trace is stopped on every node",
        ),
        generation,
        &time,
    );
    next
}

/// The status with each node's `unreachableSince` (its agent has not answered a stop since
/// then), or `None` if it holds them already. A node that is not listed keeps its clock: a
/// failed stop round may not have reached it.
pub fn with_unreachable_since(
    status: &TraceJobStatus,
    since: &BTreeMap<String, Timestamp>,
) -> Option<TraceJobStatus> {
    let mut next = status.clone();
    let clock = |node: &str, at: &mut Option<Time>| {
        if let Some(t) = since.get(node) {
            *at = Some(Time(*t));
        }
    };
    for row in &mut next.nodes {
        clock(&row.node, &mut row.unreachable_since);
    }
    for record in &mut next.node_record {
        clock(&record.node, &mut record.unreachable_since);
    }
    (next != *status).then_some(next)
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

    fn job(spec: serde_json::Value) -> TraceJob {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
            "metadata": {"name": "j", "namespace": "shop", "generation": 1},
            "spec": spec
        }))
        .expect("a job")
    }

    /// One container per node (shared with the other steps' tests).
    pub(super) fn targets(nodes: &[&str]) -> Targets {
        let mut targets = Targets::default();
        for node in nodes {
            targets.by_node.insert(
                (*node).to_owned(),
                vec![crate::agents::ContainerTarget {
                    pod: format!("pod-{node}"),
                    pod_uid: format!("uid-{node}"),
                    container: "c".into(),
                    container_id: format!("containerd://{node}"),
                }],
            );
        }
        targets
    }

    fn row(node: &str, phase: NodePhase, events: u64) -> tracejob_api::NodeStatus {
        tracejob_api::NodeStatus {
            node: node.into(),
            pods: 1,
            phase,
            events,
            ..tracejob_api::NodeStatus::default()
        }
    }

    fn reason(status: &TraceJobStatus, type_: Type) -> String {
        cond::find(&status.conditions, type_.as_str())
            .map(|c| c.reason.clone())
            .unwrap_or_default()
    }

    /// Target nodes, the rows the agents gave, then the phase, events, `AgentsReady` and
    /// `Degraded` reasons expected.
    type Case<'a> = (
        &'a [&'a str],
        Vec<tracejob_api::NodeStatus>,
        Phase,
        u64,
        Reason,
        Reason,
    );

    #[test]
    fn the_next_status_of_a_running_job_from_what_was_observed() {
        use NodePhase::*;
        let cases: [Case; 5] = [
            (
                &[],
                vec![],
                Phase::Pending,
                0,
                Reason::NoTargets,
                Reason::NoTargets,
            ),
            (
                &["a"],
                vec![row("a", Running, 5)],
                Phase::Running,
                5,
                Reason::AgentsRunning,
                Reason::AllNodesRunning,
            ),
            (
                &["a", "b"],
                vec![row("a", Running, 5), row("b", NoAgent, 0)],
                Phase::Running,
                5,
                Reason::AgentsNotReady,
                Reason::AgentMissing,
            ),
            (
                &["a"],
                vec![row("a", Rejected, 0)],
                Phase::Pending,
                0,
                Reason::AgentsNotReady,
                Reason::AgentRejected,
            ),
            (
                &["a", "b"],
                vec![row("a", Unavailable, 3), row("b", Rejected, 0)],
                Phase::Pending,
                3,
                Reason::AgentsNotReady,
                Reason::AgentsFailing,
            ),
        ];
        for (nodes, rows, phase, events, ready, degraded) in cases {
            let fanout = Fanout {
                rows,
                ..Fanout::default()
            };
            let next = next_status(
                &job(serde_json::json!({"tool": "exec"})),
                &TraceJobStatus::default(),
                &targets(nodes),
                fanout,
                Timestamp::now(),
            );
            let what = format!("{nodes:?}");
            assert_eq!(next.phase, Some(phase), "{what}");
            assert_eq!(next.events, Some(events), "{what}");
            assert_eq!(reason(&next, Type::AgentsReady), ready.as_str(), "{what}");
            assert_eq!(reason(&next, Type::Degraded), degraded.as_str(), "{what}");
            assert_eq!(next.start_time.is_some(), phase == Phase::Running, "{what}");
        }
    }

    #[test]
    fn a_finished_job_adds_up_every_node_and_names_the_lost_ones() {
        use NodePhase::*;
        let mut lost = row("b", Lost, 7);
        lost.message = Some("the node was deleted".into());
        let rows = vec![row("a", Stopped, 5), lost, row("c", Stopped, 1)];
        let next = finished(
            &job(serde_json::json!({"tool": "exec"})),
            &TraceJobStatus::default(),
            rows,
            Timestamp::now(),
        );
        assert_eq!(next.events, Some(13));
        assert_eq!(next.matched_nodes, Some(3));
        assert!(next.completion_time.is_some());
        assert_eq!(reason(&next, Type::NodeLost), "NodesLost");
        assert_eq!(reason(&next, Type::AgentsReady), "Stopped");
        assert_eq!(next.node_record.len(), 3);
    }

    #[test]
    fn a_failed_stop_round_records_when_each_silent_agent_first_failed_once() {
        let mut status = TraceJobStatus::default();
        summary::set_rows(
            &mut status,
            vec![
                row("a", NodePhase::Running, 1),
                row("b", NodePhase::Running, 2),
            ],
        );
        let first = Timestamp::from_second(1000).expect("a time");
        let since = BTreeMap::from([("a".to_owned(), first)]);
        let clocked = with_unreachable_since(&status, &since).expect("a new clock");
        let clock = |s: &TraceJobStatus, node: &str| {
            let record = s
                .node_record
                .iter()
                .find(|r| r.node == node)
                .expect("a record");
            let row = s.nodes.iter().find(|r| r.node == node).expect("a row");
            assert_eq!(record.unreachable_since, row.unreachable_since);
            record.unreachable_since.as_ref().map(|t| t.0)
        };
        assert_eq!(clock(&clocked, "a"), Some(first));
        assert_eq!(
            clock(&clocked, "b"),
            None,
            "a node that answered has no clock"
        );
        assert_eq!(
            with_unreachable_since(&clocked, &since),
            None,
            "the same clock again is no write"
        );
        assert_eq!(
            with_unreachable_since(&clocked, &BTreeMap::new()),
            None,
            "a node missing from a round keeps its clock"
        );
    }

    #[test]
    fn only_counts_and_targets_may_wait_for_the_next_write() {
        let running = TraceJobStatus {
            phase: Some(Phase::Running),
            events: Some(1),
            ..TraceJobStatus::default()
        };
        let more = TraceJobStatus {
            events: Some(9),
            matched_pods: Some(3),
            ..running.clone()
        };
        assert!(may_wait(&running, &more, false));
        assert!(!may_wait(&running, &more, true), "a gap is written at once");
        let finished = TraceJobStatus {
            phase: Some(Phase::Succeeded),
            ..running.clone()
        };
        assert!(
            !may_wait(&running, &finished, false),
            "a new phase is written at once"
        );
        let mut flushed = more.clone();
        cond::set(
            &mut flushed.conditions,
            Desired::new(Type::ArtifactsWritten, Reason::Flushed, "written"),
            None,
            &Time(Timestamp::now()),
        );
        assert!(
            !may_wait(&running, &flushed, false),
            "a storage outcome is written at once"
        );
    }
}
