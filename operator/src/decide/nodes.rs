//! Decide, per node: what to ask of a target node's agent from what was observed of it
//! ([`plan_target`]), what its row says once the agent answered ([`settle_target`]), and
//! what to do about a node the job left ([`plan_left`]). Pure: the agent calls themselves
//! are made by [`crate::fanout`].

use tracejob_api::{NodePhase, NodeStatus};

use crate::agents::{AgentError, NodeResult};
use crate::streams::Observed;

/// What was observed of one target node before talking to its agent.
#[derive(Clone, Copy, Debug)]
pub struct TargetNode<'a> {
    pub node: &'a str,
    /// Its target pods.
    pub pods: u32,
    /// Its row in the old status.
    pub previous: Option<&'a NodeStatus>,
    /// What its result stream said so far.
    pub seen: Option<&'a Observed>,
    /// The digest of its targets now, and of those this process last handed to its agent.
    pub digest: u64,
    pub applied: Option<u64>,
}

/// What to ask of a target node's agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStep {
    /// It runs the job with these targets already: nothing.
    Keep,
    /// It runs the job: new targets (if it lost the job meanwhile, start it again).
    Update,
    /// Start the job (or start it over: new node, changed spec, the agent lost it).
    Start,
}

/// What [`plan_target`] decided, with what [`settle_target`] needs of the observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetPlan {
    pub step: AgentStep,
    was_running: bool,
    /// Unreachable after having run (a probe was reported): the agent may have restarted.
    was_lost_track_of: bool,
    /// The node's stream found that the agent no longer knows the job (it restarted).
    agent_lost_it: bool,
    /// Targets this process has not handed to the agent yet (not a repeated start of a
    /// node the status does not list as running yet).
    new_targets: bool,
    spec_changed: bool,
}

pub fn plan_target(target: &TargetNode, spec_changed: bool) -> TargetPlan {
    let previous = target.previous;
    let was_running = previous.is_some_and(|r| r.phase == NodePhase::Running);
    let was_lost_track_of = previous
        .is_some_and(|r| r.phase == NodePhase::Unavailable && r.probe.is_some())
        && !spec_changed;
    let agent_lost_it = target.seen.is_some_and(|s| s.unknown_to_agent);
    let same_spec = was_running && !spec_changed && !agent_lost_it;
    let unchanged = target.applied == Some(target.digest);
    let step = match (same_spec, unchanged) {
        (true, true) => AgentStep::Keep,
        (true, false) => AgentStep::Update,
        (false, _) => AgentStep::Start,
    };
    TargetPlan {
        step,
        was_running,
        was_lost_track_of,
        agent_lost_it,
        new_targets: !unchanged,
        spec_changed,
    }
}

/// How the agent answered the step of a [`TargetPlan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Nothing was asked ([`AgentStep::Keep`]).
    Unchanged,
    /// The job was started, or its targets updated.
    Applied,
    /// The update found the agent had lost the running job (it restarted): it was given it
    /// again.
    Restarted,
    Failed(AgentError),
}

/// A target node after its agent answered: its row and what else follows from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub row: NodeStatus,
    /// Its current result, to merge into the job's summary.
    pub result: Option<NodeResult>,
    /// The agent lost the running job and runs it afresh: the trace has a gap.
    pub gap: bool,
    /// The agent refused the job, with its reason.
    pub rejected: Option<String>,
    /// The job was just started or given new targets (its first counts are on the way).
    pub applied: bool,
    /// Act: tell the node's stream the job was given to its agent (`Some(afresh)`).
    pub stream_started: Option<bool>,
}

pub fn settle_target(target: &TargetNode, plan: &TargetPlan, answer: Answer) -> Settled {
    let (node, pods, previous) = (target.node, target.pods, target.previous);
    match answer {
        Answer::Failed(error) => Settled {
            row: failed_row(node, pods, previous, &error),
            result: None,
            gap: false,
            rejected: match error {
                AgentError::Rejected { message, .. } => Some(message),
                _ => None,
            },
            applied: false,
            stream_started: None,
        },
        answer => {
            let afresh = answer == Answer::Restarted || plan.agent_lost_it;
            let result = if afresh {
                None
            } else {
                target.seen.and_then(|s| s.result.clone())
            };
            Settled {
                row: running_row(node, pods, previous, result.as_ref(), afresh),
                result,
                gap: afresh && (plan.was_running || plan.was_lost_track_of) && !plan.spec_changed,
                rejected: None,
                applied: answer == Answer::Applied && plan.new_targets,
                stream_started: (answer != Answer::Unchanged).then_some(afresh),
            }
        }
    }
}

/// What to do about a node the job's targets left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeftStep {
    /// It may still run the job: stop it (or count it lost, see [`crate::lost`]).
    Stop,
    /// Stopped before: the row stays, with its stream's final result if one was read.
    KeepStopped,
    /// Lost stays lost (with its counts at last contact) unless it is a target again.
    KeepLost,
    /// It never ran the job: the row goes.
    Drop,
}

pub fn plan_left(previous: &NodeStatus) -> LeftStep {
    match previous.phase {
        NodePhase::Running | NodePhase::Unavailable => LeftStep::Stop,
        NodePhase::Stopped => LeftStep::KeepStopped,
        NodePhase::Lost => LeftStep::KeepLost,
        NodePhase::NoAgent | NodePhase::Rejected => LeftStep::Drop,
    }
}

/// The row of a node running the job: its counts from its stream's latest result, else
/// (none arrived yet since this process started reading) those of the previous row, or
/// zero when the agent runs the job afresh.
fn running_row(
    node: &str,
    pods: u32,
    previous: Option<&NodeStatus>,
    result: Option<&NodeResult>,
    afresh: bool,
) -> NodeStatus {
    let previous = previous.filter(|_| !afresh);
    NodeStatus {
        node: node.to_owned(),
        pods,
        phase: NodePhase::Running,
        probe: result
            .and_then(|r| r.probe.clone())
            .or_else(|| previous.and_then(|r| r.probe.clone())),
        events: result.map_or_else(|| previous.map_or(0, |r| r.events), |r| r.events),
        lost: result.map_or_else(|| previous.map_or(0, |r| r.lost), |r| r.lost),
        message: result.and_then(|r| r.message.clone()),
        unreachable_since: None,
    }
}

/// The row of a node whose agent failed: its counts from before, the error as message.
pub fn failed_row(
    node: &str,
    pods: u32,
    previous: Option<&NodeStatus>,
    error: &AgentError,
) -> NodeStatus {
    let phase = match error {
        AgentError::NoAgent { .. } => NodePhase::NoAgent,
        AgentError::Rejected { .. } => NodePhase::Rejected,
        AgentError::Unavailable { .. } | AgentError::NotRunning { .. } => NodePhase::Unavailable,
    };
    NodeStatus {
        node: node.to_owned(),
        pods,
        phase,
        probe: previous.and_then(|r| r.probe.clone()),
        events: previous.map_or(0, |r| r.events),
        lost: previous.map_or(0, |r| r.lost),
        message: Some(crate::conditions::truncate(&error.to_string())),
        unreachable_since: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(phase: NodePhase, events: u64, probe: bool) -> NodeStatus {
        NodeStatus {
            node: "n".into(),
            pods: 1,
            phase,
            events,
            probe: probe.then(|| "tracepoint".to_owned()),
            ..NodeStatus::default()
        }
    }

    fn target<'a>(
        previous: Option<&'a NodeStatus>,
        seen: Option<&'a Observed>,
        applied: Option<u64>,
    ) -> TargetNode<'a> {
        TargetNode {
            node: "n",
            pods: 1,
            previous,
            seen,
            digest: 7,
            applied,
        }
    }

    fn seen(events: u64, unknown_to_agent: bool) -> Observed {
        Observed {
            result: Some(NodeResult {
                events,
                ..NodeResult::default()
            }),
            finished: false,
            unknown_to_agent,
        }
    }

    #[test]
    fn what_each_target_node_is_asked_from_what_was_observed() {
        let running = row(NodePhase::Running, 5, true);
        let lost_it = seen(5, true);
        let unavailable = row(NodePhase::Unavailable, 5, true);
        // (case, previous row, stream, digest handed over, spec changed, expected step)
        let cases = [
            ("a new node", None, None, None, false, AgentStep::Start),
            (
                "same targets",
                Some(&running),
                None,
                Some(7),
                false,
                AgentStep::Keep,
            ),
            (
                "after an operator restart",
                Some(&running),
                None,
                None,
                false,
                AgentStep::Update,
            ),
            (
                "new targets",
                Some(&running),
                None,
                Some(3),
                false,
                AgentStep::Update,
            ),
            (
                "a changed spec",
                Some(&running),
                None,
                Some(7),
                true,
                AgentStep::Start,
            ),
            (
                "the agent lost the job",
                Some(&running),
                Some(&lost_it),
                Some(7),
                false,
                AgentStep::Start,
            ),
            (
                "an unavailable node",
                Some(&unavailable),
                None,
                None,
                false,
                AgentStep::Start,
            ),
        ];
        for (case, previous, stream, applied, spec_changed, step) in cases {
            let plan = plan_target(&target(previous, stream, applied), spec_changed);
            assert_eq!(plan.step, step, "{case}");
        }
    }

    #[test]
    fn an_agent_that_lost_the_running_job_is_a_gap_counted_from_zero() {
        let running = row(NodePhase::Running, 5, true);
        let lost_it = seen(5, true);
        let node = target(Some(&running), Some(&lost_it), Some(7));
        let plan = plan_target(&node, false);
        let settled = settle_target(&node, &plan, Answer::Applied);
        assert!(settled.gap);
        assert_eq!(
            settled.row.events, 0,
            "counts from before the restart are dropped"
        );
        assert_eq!(settled.result, None);
        assert_eq!(
            settled.stream_started,
            Some(true),
            "its stream is read afresh"
        );

        // The same found by the update (the stream had not told yet).
        let node = target(Some(&running), None, Some(3));
        let plan = plan_target(&node, false);
        let settled = settle_target(&node, &plan, Answer::Restarted);
        assert!(settled.gap);
        assert!(!settled.applied, "a restart is no new target");
    }

    #[test]
    fn a_node_row_follows_its_agents_answer() {
        let running = row(NodePhase::Running, 5, true);
        let newer = seen(9, false);
        // Unchanged: the stream's counts, nothing to tell the stream.
        let node = target(Some(&running), Some(&newer), Some(7));
        let kept = settle_target(&node, &plan_target(&node, false), Answer::Unchanged);
        assert_eq!((kept.row.phase, kept.row.events), (NodePhase::Running, 9));
        assert_eq!(kept.stream_started, None);
        assert!(!kept.gap && !kept.applied);
        // A new node started: its first counts are on the way.
        let node = target(None, None, None);
        let started = settle_target(&node, &plan_target(&node, false), Answer::Applied);
        assert!(started.applied);
        assert_eq!(started.stream_started, Some(false));
        assert!(!started.gap, "a node that never ran has no gap");
        // Refused: the reason is kept for refused-everywhere.
        let refused = AgentError::Rejected {
            node: "n".into(),
            message: "no BTF".into(),
        };
        let failed = settle_target(&node, &plan_target(&node, false), Answer::Failed(refused));
        assert_eq!(failed.row.phase, NodePhase::Rejected);
        assert_eq!(failed.rejected.as_deref(), Some("no BTF"));
        // Unreachable: its counts from before stay.
        let node = target(Some(&running), None, Some(3));
        let down = AgentError::Unavailable {
            node: "n".into(),
            message: "connect timeout".into(),
        };
        let failed = settle_target(&node, &plan_target(&node, false), Answer::Failed(down));
        assert_eq!(
            (failed.row.phase, failed.row.events),
            (NodePhase::Unavailable, 5)
        );
    }

    #[test]
    fn a_node_the_job_left_is_stopped_only_if_it_may_still_run_it() {
        use NodePhase::*;
        let cases = [
            (Running, LeftStep::Stop),
            (Unavailable, LeftStep::Stop),
            (Stopped, LeftStep::KeepStopped),
            (Lost, LeftStep::KeepLost),
            (NoAgent, LeftStep::Drop),
            (Rejected, LeftStep::Drop),
        ];
        for (phase, step) in cases {
            assert_eq!(plan_left(&row(phase, 1, false)), step, "{phase:?}");
        }
    }
}
