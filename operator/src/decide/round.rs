//! Decide, for one reconcile of a job that is not deleted: which path it takes
//! ([`route`]), what its agents' answers make of its status ([`running`]), and whether
//! that status is written now, waits, or gives up on storage ([`settle`]). Pure: what was
//! observed in, decisions out; [`crate::apply`] observes and acts.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use tracejob_api::{Phase, TraceJob, TraceJobStatus};

use super::{may_wait, next_status};
use crate::conditions::Reason;
use crate::fanout::Fanout;
use crate::storage::GaveUp;
use crate::summary;
use crate::targets::Targets;

/// Which path a reconcile takes, from the old status, the spec and the clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Finished before: only its time-to-live is looked after.
    Finished,
    /// The spec cannot run as written: stop wherever it ran, `Failed`.
    Fail(Reason, String),
    /// Its duration is up: stop, write the artifacts, `Succeeded`.
    Complete,
    /// It runs: bring the agents in line with the targets.
    Run,
}

/// `spec_problem`: what validation found wrong with the spec; `end`: when its duration is up.
pub fn route(
    old: &TraceJobStatus,
    spec_problem: Option<String>,
    end: Option<Timestamp>,
    now: Timestamp,
) -> Route {
    if old.phase.is_some_and(Phase::is_finished) {
        return Route::Finished;
    }
    if let Some(problem) = spec_problem {
        return Route::Fail(Reason::InvalidSpec, problem);
    }
    if end.is_some_and(|end| end <= now) {
        return Route::Complete;
    }
    Route::Run
}

/// What to do beside writing the status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act {
    /// The node's agent runs the job afresh: its stream is spooled from sequence 1 again.
    RestartStream(String),
}

/// What a running job's round of agent answers comes to.
#[derive(Clone, Debug, PartialEq)]
pub enum Running {
    /// Every target node's agent refused the job and it runs nowhere: a final answer
    /// instead of Pending for ever (`status` holds this round's rows).
    Fail {
        status: Box<TraceJobStatus>,
        reason: Reason,
        problem: String,
    },
    /// It runs (or waits for its agents): the next status, and what else to do.
    Next {
        status: Box<TraceJobStatus>,
        acts: Vec<Act>,
        /// The job was just started or given new targets on some node.
        new_targets: bool,
        /// Some agent lost the running job (a gap to report at once).
        gaps: bool,
    },
}

pub fn running(
    job: &TraceJob,
    old: &TraceJobStatus,
    targets: &Targets,
    fanout: Fanout,
    now: Timestamp,
) -> Running {
    if let Some(problem) =
        refused_everywhere(targets.by_node.len(), fanout.running(), &fanout.rejected)
    {
        let mut status = old.clone();
        summary::set_rows(&mut status, fanout.rows);
        return Running::Fail {
            status: Box::new(status),
            reason: Reason::RejectedByAgents,
            problem,
        };
    }
    let acts = fanout
        .gaps
        .iter()
        .map(|node| Act::RestartStream(node.clone()))
        .collect::<Vec<_>>();
    let gaps = !fanout.gaps.is_empty();
    let new_targets = !fanout.applied.is_empty();
    Running::Next {
        status: Box::new(next_status(job, old, targets, fanout, now)),
        acts,
        new_targets,
        gaps,
    }
}

/// When the agent of every target node refused the job and it runs nowhere, why — the
/// job cannot run as written, so it ends `Failed` with this — grouping nodes that gave the
/// same reason.
pub fn refused_everywhere(
    target_nodes: usize,
    running: usize,
    rejected: &[(String, String)],
) -> Option<String> {
    if target_nodes == 0 || running > 0 || rejected.len() < target_nodes {
        return None;
    }
    let mut by_reason: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (node, reason) in rejected {
        by_reason.entry(reason).or_default().push(node);
    }
    let reasons: Vec<String> = by_reason
        .into_iter()
        .map(|(reason, nodes)| match nodes.as_slice() {
            [one] => format!("{one}: {reason}"),
            [first, rest @ ..] => format!("{first} and {} more: {reason}", rest.len()),
            [] => reason.to_owned(),
        })
        .collect();
    Some(format!(
        "the agent of every target node refused the job: {}",
        reasons.join("; ")
    ))
}

/// How soon the job's status may be written ([`crate::pace::Pace`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pacing {
    /// The last write was less than an interval ago: this long until the next.
    pub too_soon: Option<Duration>,
    /// New targets may wait this long for their first counts.
    pub held: Option<Duration>,
}

/// What ends a running job's reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Storage failed past its deadline: stop everywhere, `Failed`.
    GiveUp(GaveUp),
    /// Only counts and targets moved and a write is too soon: look again after this long.
    Wait(Duration),
    /// Write the status, then look again after this long.
    Write(Duration),
}

/// What was observed after storage was acted on.
#[derive(Clone, Debug, Default)]
pub struct AfterStorage {
    /// Storage failed past its deadline.
    pub gave_up: Option<GaveUp>,
    /// When a standing job's next flush (or its retry) is due.
    pub flush_in: Option<Duration>,
    pub pacing: Pacing,
    /// When the job's duration is up.
    pub end: Option<Timestamp>,
    /// How often a running job is looked at without a reason.
    pub poll: Duration,
}

/// At most one status write per job per interval: counts may go out with the next; new
/// targets may wait (an interval at most) for their first counts, to go out together. A
/// new phase, a gap or a storage outcome is written at once.
pub fn settle(
    old: &TraceJobStatus,
    next: &TraceJobStatus,
    gaps: bool,
    seen: AfterStorage,
    now: Timestamp,
) -> Settle {
    if let Some(gave_up) = seen.gave_up {
        return Settle::GiveUp(gave_up);
    }
    let wait = match (seen.pacing.too_soon, seen.pacing.held) {
        (Some(soon), Some(held)) => Some(soon.max(held)),
        (soon, held) => soon.or(held),
    };
    if let Some(wait) = wait
        && may_wait(old, next, gaps)
    {
        return Settle::Wait(wait);
    }
    let until_end = seen
        .end
        .and_then(|end| Duration::try_from(end.duration_since(now)).ok())
        .map(|d| d.max(Duration::from_millis(100)));
    let after = until_end.map_or(seen.poll, |d| d.min(seen.poll));
    // A standing job's next flush may be due before the next poll.
    Settle::Write(
        seen.flush_in
            .map_or(after, |f| after.min(f.max(Duration::from_millis(100)))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::{self as cond, Desired, Type};
    use crate::decide::tests::targets;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use tracejob_api::{NodePhase, NodeStatus};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("a time")
    }

    fn job() -> TraceJob {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
            "metadata": {"name": "j", "namespace": "shop", "generation": 1},
            "spec": {"tool": "exec"}
        }))
        .expect("a job")
    }

    fn row(node: &str, phase: NodePhase, events: u64) -> NodeStatus {
        NodeStatus {
            node: node.into(),
            pods: 1,
            phase,
            events,
            ..NodeStatus::default()
        }
    }

    fn status(phase: Phase) -> TraceJobStatus {
        TraceJobStatus {
            phase: Some(phase),
            ..TraceJobStatus::default()
        }
    }

    #[test]
    fn which_path_a_reconcile_takes() {
        let running = status(Phase::Running);
        let cases = [
            (
                "finished",
                status(Phase::Succeeded),
                None,
                None,
                Route::Finished,
            ),
            (
                "a bad spec",
                running.clone(),
                Some("spec.duration: too long".to_owned()),
                Some(at(0)),
                Route::Fail(Reason::InvalidSpec, "spec.duration: too long".into()),
            ),
            (
                "duration up",
                running.clone(),
                None,
                Some(at(100)),
                Route::Complete,
            ),
            (
                "duration to go",
                running.clone(),
                None,
                Some(at(101)),
                Route::Run,
            ),
            ("standing", running, None, None, Route::Run),
        ];
        for (case, old, problem, end, expected) in cases {
            assert_eq!(route(&old, problem, end, at(100)), expected, "{case}");
        }
    }

    #[test]
    fn what_a_round_of_agent_answers_makes_of_a_running_job() {
        use NodePhase::*;
        let refused = |n: &str| (n.to_owned(), "no BTF".to_owned());
        // (case, targets, rows, refused, gaps, applied) → fails, restarted streams, new targets
        type Case<'a> = (
            &'a str,
            &'a [&'a str],
            Vec<NodeStatus>,
            Vec<(String, String)>,
            Vec<String>,
            Vec<String>,
        );
        let cases: [Case; 5] = [
            (
                "a new node",
                &["a"],
                vec![row("a", Running, 0)],
                vec![],
                vec![],
                vec!["a".into()],
            ),
            (
                "a node that left",
                &["a"],
                vec![row("a", Running, 3), row("b", Stopped, 4)],
                vec![],
                vec![],
                vec![],
            ),
            (
                "an agent that lost the job",
                &["a"],
                vec![row("a", Running, 0)],
                vec![],
                vec!["a".into()],
                vec![],
            ),
            (
                "refused everywhere",
                &["a", "b"],
                vec![row("a", Rejected, 0), row("b", Rejected, 0)],
                vec![refused("a"), refused("b")],
                vec![],
                vec![],
            ),
            (
                "refused on one of two",
                &["a", "b"],
                vec![row("a", Rejected, 0), row("b", NoAgent, 0)],
                vec![refused("a")],
                vec![],
                vec![],
            ),
        ];
        for (case, nodes, rows, rejected, gaps, applied) in cases {
            let fanout = Fanout {
                rows,
                rejected,
                gaps: gaps.clone(),
                applied: applied.clone(),
                ..Fanout::default()
            };
            let decided = running(
                &job(),
                &status(Phase::Running),
                &targets(nodes),
                fanout,
                at(5),
            );
            match decided {
                super::Running::Fail {
                    status,
                    reason,
                    problem,
                } => {
                    assert_eq!(case, "refused everywhere");
                    assert_eq!(reason, Reason::RejectedByAgents);
                    assert!(problem.contains("a and 1 more: no BTF"), "{problem}");
                    assert_eq!(status.node_record.len(), 2, "{case}: the rows are kept");
                }
                super::Running::Next {
                    status,
                    acts,
                    new_targets,
                    gaps: gap,
                } => {
                    assert_ne!(case, "refused everywhere");
                    let restarted: Vec<Act> =
                        gaps.iter().cloned().map(Act::RestartStream).collect();
                    assert_eq!(acts, restarted, "{case}");
                    assert_eq!(gap, !gaps.is_empty(), "{case}");
                    assert_eq!(new_targets, !applied.is_empty(), "{case}");
                    let gap_reason = if gaps.is_empty() {
                        Reason::Continuous
                    } else {
                        Reason::AgentRestarted
                    };
                    assert!(
                        cond::has(&status.conditions, Type::Gap, gap_reason),
                        "{case}: Gap {}",
                        gap_reason.as_str()
                    );
                    let events: u64 = status.node_record.iter().map(|r| r.events).sum();
                    assert_eq!(status.events, Some(events), "{case}");
                }
            }
        }
    }

    #[test]
    fn whether_a_status_is_written_waits_or_gives_up_on_storage() {
        let second = Duration::from_secs(1);
        let poll = Duration::from_secs(10);
        let old = TraceJobStatus {
            events: Some(1),
            ..status(Phase::Running)
        };
        let counts = TraceJobStatus {
            events: Some(9),
            ..old.clone()
        };
        let mut flushed = counts.clone();
        cond::set(
            &mut flushed.conditions,
            Desired::new(Type::ArtifactsWritten, Reason::Flushed, "written"),
            None,
            &Time(at(0)),
        );
        let gave_up = GaveUp {
            since: at(0),
            error: "bucket gone".into(),
            unwritten: 7,
        };
        let seen = |pacing: Pacing,
                    gave_up: Option<GaveUp>,
                    flush_in: Option<Duration>,
                    end: Option<Timestamp>| AfterStorage {
            gave_up,
            flush_in,
            pacing,
            end,
            poll,
        };
        let soon = Pacing {
            too_soon: Some(2 * second),
            held: None,
        };
        let held = Pacing {
            too_soon: Some(second),
            held: Some(3 * second),
        };
        // (case, next status, gaps, observed) → what follows
        let cases = [
            (
                "storage failed past its deadline",
                &counts,
                false,
                seen(soon, Some(gave_up.clone()), None, None),
                Settle::GiveUp(gave_up),
            ),
            (
                "counts, too soon",
                &counts,
                false,
                seen(soon, None, None, None),
                Settle::Wait(2 * second),
            ),
            (
                "new targets wait for their counts",
                &counts,
                false,
                seen(held, None, None, None),
                Settle::Wait(3 * second),
            ),
            (
                "a gap is written at once",
                &counts,
                true,
                seen(soon, None, None, None),
                Settle::Write(poll),
            ),
            (
                "a storage outcome is written at once",
                &flushed,
                false,
                seen(soon, None, None, None),
                Settle::Write(poll),
            ),
            (
                "not too soon",
                &counts,
                false,
                seen(Pacing::default(), None, None, None),
                Settle::Write(poll),
            ),
            (
                "a flush due before the poll",
                &counts,
                false,
                seen(Pacing::default(), None, Some(3 * second), None),
                Settle::Write(3 * second),
            ),
            (
                "the end before the poll",
                &counts,
                false,
                seen(Pacing::default(), None, None, Some(at(4))),
                Settle::Write(4 * second),
            ),
        ];
        for (case, next, gaps, observed, expected) in cases {
            assert_eq!(
                settle(&old, next, gaps, observed, at(0)),
                expected,
                "{case}"
            );
        }
    }

    fn refused(nodes: &[(&str, &str)]) -> Vec<(String, String)> {
        nodes
            .iter()
            .map(|(n, r)| ((*n).to_owned(), (*r).to_owned()))
            .collect()
    }

    #[test]
    fn a_job_fails_only_when_every_target_node_refused_it_and_it_runs_nowhere() {
        let both = refused(&[("n1", "no BTF"), ("n2", "no BTF")]);
        type Case<'a> = (usize, usize, &'a [(String, String)], bool);
        let cases: [Case; 5] = [
            (2, 0, &both, true),
            (3, 0, &both, false),
            (2, 1, &both[..1], false),
            (0, 0, &[], false),
            (1, 0, &both[..1], true),
        ];
        for (targets, running, rejected, fails) in cases {
            assert_eq!(
                refused_everywhere(targets, running, rejected).is_some(),
                fails,
                "{targets} targets, {running} running, {rejected:?}"
            );
        }
    }

    #[test]
    fn nodes_giving_the_same_reason_are_named_once() {
        let many: Vec<(String, String)> = (0..200)
            .map(|i| (format!("n{i:03}"), "the kernel has no BTF".to_owned()))
            .chain([("x".to_owned(), "verifier said no".to_owned())])
            .collect();
        assert_eq!(
            refused_everywhere(201, 0, &many).as_deref(),
            Some(
                "the agent of every target node refused the job: n000 and 199 more: the \
                 kernel has no BTF; x: verifier said no"
            )
        );
    }
}
