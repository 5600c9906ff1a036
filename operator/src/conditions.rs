//! The job's `metav1.Condition`s: `Targeted`, `AgentsReady`, `Complete`, `Degraded`, `Gap`,
//! `ArtifactsWritten`, `NodeLost`, and the kstatus ones derived from them on every write:
//! `Ready`, `Reconciling`, `Stalled` ([`crate::ready`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use tracejob_api::status::MAX_MESSAGE_BYTES;

/// The type of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Targeted,
    AgentsReady,
    Complete,
    Degraded,
    /// True, for good, once an agent lost the running job (it restarted): the results miss
    /// whatever happened on that node until the job ran there again.
    Gap,
    /// Whether the job's full results are in object storage (or why not).
    ArtifactsWritten,
    /// Set when a job ends: True if nodes went away before the trace was stopped there.
    NodeLost,
    /// The kstatus summary (`kubectl wait --for=condition=Ready`, GitOps health): see
    /// [`crate::ready`].
    Ready,
    /// kstatus, abnormal-true: True while the operator still works toward the spec (a new
    /// generation not acted on yet, the job starting, storage being retried).
    Reconciling,
    /// kstatus, abnormal-true: True when the job failed and only a person can move it on.
    Stalled,
}

impl Type {
    pub fn as_str(self) -> &'static str {
        match self {
            Type::Targeted => "Targeted",
            Type::AgentsReady => "AgentsReady",
            Type::Complete => "Complete",
            Type::Degraded => "Degraded",
            Type::Gap => "Gap",
            Type::ArtifactsWritten => "ArtifactsWritten",
            Type::NodeLost => "NodeLost",
            Type::Ready => "Ready",
            Type::Reconciling => "Reconciling",
            Type::Stalled => "Stalled",
        }
    }
}

/// Every reason a condition can give; each implies the condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    // Targeted
    PodsMatched,
    NoPodsMatched,
    // AgentsReady, Degraded
    AgentsRunning,
    AgentsNotReady,
    NoTargets,
    AllNodesRunning,
    AgentMissing,
    AgentUnavailable,
    AgentRejected,
    AgentsFailing,
    Stopped,
    // Complete
    InProgress,
    WritingArtifacts,
    DurationElapsed,
    ArtifactsNotWritten,
    InvalidSpec,
    RejectedByAgents,
    // Gap
    Continuous,
    AgentRestarted,
    // ArtifactsWritten
    NoStorage,
    Spooling,
    Flushed,
    Written,
    StorageUnavailable,
    StorageDeadlineExceeded,
    // NodeLost
    AllNodesStopped,
    NodesLost,
    // Ready
    Tracing,
    Finished,
    Waiting,
    JobFailed,
    StorageFailing,
    NodesGone,
    NodesNotTracing,
    // Reconciling
    NewGeneration,
    Starting,
    StartingOnNodes,
    RetryingStorage,
    Reconciled,
    // Stalled
    CannotRun,
    StorageGaveUp,
    NotStalled,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::PodsMatched => "PodsMatched",
            Reason::NoPodsMatched => "NoPodsMatched",
            Reason::AgentsRunning => "AgentsRunning",
            Reason::AgentsNotReady => "AgentsNotReady",
            Reason::NoTargets => "NoTargets",
            Reason::AllNodesRunning => "AllNodesRunning",
            Reason::AgentMissing => "AgentMissing",
            Reason::AgentUnavailable => "AgentUnavailable",
            Reason::AgentRejected => "AgentRejected",
            Reason::AgentsFailing => "AgentsFailing",
            Reason::Stopped => "Stopped",
            Reason::InProgress => "InProgress",
            Reason::WritingArtifacts => "WritingArtifacts",
            Reason::DurationElapsed => "DurationElapsed",
            Reason::ArtifactsNotWritten => "ArtifactsNotWritten",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::RejectedByAgents => "RejectedByAgents",
            Reason::Continuous => "Continuous",
            Reason::AgentRestarted => "AgentRestarted",
            Reason::NoStorage => "NoStorage",
            Reason::Spooling => "Spooling",
            Reason::Flushed => "Flushed",
            Reason::Written => "Written",
            Reason::StorageUnavailable => "StorageUnavailable",
            Reason::StorageDeadlineExceeded => "StorageDeadlineExceeded",
            Reason::AllNodesStopped => "AllNodesStopped",
            Reason::NodesLost => "NodesLost",
            Reason::Tracing => "Tracing",
            Reason::Finished => "Finished",
            Reason::Waiting => "Waiting",
            Reason::JobFailed => "JobFailed",
            Reason::StorageFailing => "StorageFailing",
            Reason::NodesGone => "NodesGone",
            Reason::NodesNotTracing => "NodesNotTracing",
            Reason::NewGeneration => "NewGeneration",
            Reason::Starting => "Starting",
            Reason::StartingOnNodes => "StartingOnNodes",
            Reason::RetryingStorage => "RetryingStorage",
            Reason::Reconciled => "Reconciled",
            Reason::CannotRun => "CannotRun",
            Reason::StorageGaveUp => "StorageGaveUp",
            Reason::NotStalled => "NotStalled",
        }
    }

    /// The status a condition with this reason has (Degraded, Gap, NodeLost, Reconciling and
    /// Stalled are True when something is wrong or unfinished).
    pub fn status(self) -> bool {
        matches!(
            self,
            Reason::PodsMatched
                | Reason::AgentsRunning
                | Reason::AgentMissing
                | Reason::AgentUnavailable
                | Reason::AgentRejected
                | Reason::AgentsFailing
                | Reason::DurationElapsed
                | Reason::AgentRestarted
                | Reason::Flushed
                | Reason::Written
                | Reason::NodesLost
                | Reason::Tracing
                | Reason::Finished
                | Reason::NewGeneration
                | Reason::Starting
                | Reason::StartingOnNodes
                | Reason::RetryingStorage
                | Reason::CannotRun
                | Reason::StorageGaveUp
        )
    }
}

/// The desired state of one condition: the one way conditions are built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub type_: Type,
    pub reason: Reason,
    pub message: String,
}

impl Desired {
    pub fn new(type_: Type, reason: Reason, message: impl Into<String>) -> Self {
        Desired {
            type_,
            reason,
            message: message.into(),
        }
    }

    pub fn status(&self) -> bool {
        self.reason.status()
    }
}

/// Sets a condition, keeping its `lastTransitionTime` unless its status flips, so that
/// writing the same state twice changes nothing.
pub fn set(conditions: &mut Vec<Condition>, desired: Desired, generation: Option<i64>, now: &Time) {
    let status = if desired.status() { "True" } else { "False" }.to_owned();
    let message = truncate(&desired.message);
    let (type_, reason) = (desired.type_.as_str(), desired.reason.as_str());
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = now.clone();
            }
            existing.status = status;
            existing.reason = reason.to_owned();
            existing.message = message;
            existing.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message,
            observed_generation: generation,
            last_transition_time: now.clone(),
        }),
    }
}

/// The condition of that type (`Type::as_str`), if set.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of that type is set with that reason.
pub fn has(conditions: &[Condition], type_: Type, reason: Reason) -> bool {
    find(conditions, type_.as_str()).is_some_and(|c| c.reason == reason.as_str())
}

/// Cuts a message to the status's size bound, on a character boundary.
pub fn truncate(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_owned();
    }
    let mut end = MAX_MESSAGE_BYTES - 3;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// The `Gap` condition: sticky, so a job whose trace ever broke says so until it is gone,
/// naming every node where it broke.
pub fn gap(old: &[Condition], gaps_now: &[String]) -> Desired {
    let before = find(old, Type::Gap.as_str())
        .filter(|c| c.status == "True")
        .map(|c| c.message.clone());
    if gaps_now.is_empty() {
        return match before {
            Some(message) => Desired::new(Type::Gap, Reason::AgentRestarted, message),
            None => Desired::new(
                Type::Gap,
                Reason::Continuous,
                "every node has traced without interruption",
            ),
        };
    }
    let now = format!(
        "the agent on {} restarted while tracing: nothing was traced there until it ran the \
         job again, and counts from before the restart are not included",
        gaps_now.join(", ")
    );
    let message = match before {
        Some(before) => format!("{before}; {now}"),
        None => now,
    };
    Desired::new(Type::Gap, Reason::AgentRestarted, truncate(&message))
}

/// The `NodeLost` condition of a finished job, from its final node rows: how many nodes went
/// away with their summed last counts, then each node by why it went, with its own counts, as
/// many as the message holds; the rest are counted, and `status.nodeRecord` names them all.
pub fn node_lost(rows: &[tracejob_api::NodeStatus]) -> Desired {
    let lost: Vec<&tracejob_api::NodeStatus> = rows
        .iter()
        .filter(|r| r.phase == tracejob_api::NodePhase::Lost)
        .collect();
    if lost.is_empty() {
        return Desired::new(
            Type::NodeLost,
            Reason::AllNodesStopped,
            "the trace was stopped on every node",
        );
    }
    let events: u64 = lost.iter().map(|r| r.events).sum();
    let lost_events: u64 = lost.iter().map(|r| r.lost).sum();
    let mut message = format!(
        "{} nodes went away before the trace was stopped there ({events} events, {lost_events} \
         lost at their last contact)",
        lost.len()
    );
    // Grouped by why, so fifty deleted nodes do not repeat the same sentence fifty times.
    let mut by_why: std::collections::BTreeMap<&str, Vec<&tracejob_api::NodeStatus>> =
        std::collections::BTreeMap::new();
    for row in &lost {
        by_why
            .entry(row.message.as_deref().unwrap_or("lost"))
            .or_default()
            .push(row);
    }
    let mut named = 0;
    'groups: for (why, rows) in by_why {
        let mut group = format!("; {why}:");
        for (i, row) in rows.iter().enumerate() {
            let node = format!(
                "{} {} ({} events, {} lost)",
                if i == 0 { "" } else { "," },
                row.node,
                row.events,
                row.lost
            );
            // Room kept for the closing "and N more" clause.
            if message.len() + group.len() + node.len() + 80 > MAX_MESSAGE_BYTES {
                if i > 0 {
                    message.push_str(&group);
                }
                break 'groups;
            }
            group.push_str(&node);
            named += 1;
        }
        message.push_str(&group);
    }
    if named < lost.len() {
        message.push_str(&format!(
            "; and {} more, all in status.nodeRecord",
            lost.len() - named
        ));
    }
    Desired::new(Type::NodeLost, Reason::NodesLost, truncate(&message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).expect("a valid time"))
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let mut conditions = Vec::new();
        set(
            &mut conditions,
            Desired::new(Type::Targeted, Reason::NoPodsMatched, "none"),
            Some(1),
            &at(10),
        );
        set(
            &mut conditions,
            Desired::new(Type::Targeted, Reason::NoPodsMatched, "still none"),
            Some(1),
            &at(20),
        );
        assert_eq!(conditions[0].last_transition_time, at(10));
        assert_eq!(conditions[0].message, "still none");
        set(
            &mut conditions,
            Desired::new(Type::Targeted, Reason::PodsMatched, "2 pods"),
            Some(2),
            &at(30),
        );
        assert_eq!(conditions[0].last_transition_time, at(30));
        assert_eq!(conditions[0].observed_generation, Some(2));
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn node_lost_names_each_lost_node_with_its_last_counts() {
        use tracejob_api::{NodePhase, NodeStatus};
        let rows = [
            NodeStatus {
                node: "a".into(),
                phase: NodePhase::Stopped,
                events: 5,
                ..NodeStatus::default()
            },
            NodeStatus {
                node: "b".into(),
                phase: NodePhase::Lost,
                events: 7,
                lost: 1,
                message: Some("the node was deleted: counts are from the last contact".into()),
                ..NodeStatus::default()
            },
        ];
        let desired = node_lost(&rows);
        assert!(desired.status());
        assert_eq!(
            desired.message,
            "1 nodes went away before the trace was stopped there (7 events, 1 lost at their \
             last contact); the node was deleted: counts are from the last contact: b (7 \
             events, 1 lost)"
        );
        assert!(!node_lost(&rows[..1]).status());
    }

    #[test]
    fn node_lost_of_many_nodes_names_what_fits_and_counts_every_one() {
        use tracejob_api::{NodePhase, NodeStatus};
        let row = |i: u64, why: &str| NodeStatus {
            node: format!("node-{i:03}"),
            phase: NodePhase::Lost,
            events: i,
            lost: 1,
            message: Some(why.into()),
            ..NodeStatus::default()
        };
        let rows: Vec<NodeStatus> = (0..50)
            .map(|i| {
                row(
                    i,
                    if i < 40 {
                        "deleted"
                    } else {
                        "unreachable for 120 s"
                    },
                )
            })
            .collect();
        let message = node_lost(&rows).message;
        assert!(message.len() <= MAX_MESSAGE_BYTES, "{}", message.len());
        assert!(
            message.starts_with(&format!(
                "50 nodes went away before the trace was stopped there ({} events, 50 lost",
                (0..50).sum::<u64>()
            )),
            "{message}"
        );
        let named = (0..50)
            .filter(|i| message.contains(&format!("node-{i:03} (")))
            .count();
        assert!(
            named >= 20,
            "as many as fit are named: {named} in {message}"
        );
        assert!(
            message.ends_with(&format!(
                "; and {} more, all in status.nodeRecord",
                50 - named
            )),
            "{message}"
        );
        assert!(!message.ends_with("..."), "never cut mid-name: {message}");
    }

    #[test]
    fn a_reason_sets_its_conditions_status() {
        let cases = [
            (Type::Targeted, Reason::NoPodsMatched, "False"),
            (Type::Targeted, Reason::PodsMatched, "True"),
            (Type::Degraded, Reason::AgentMissing, "True"),
            (Type::Degraded, Reason::NoTargets, "False"),
            (Type::AgentsReady, Reason::NoTargets, "False"),
            (Type::Complete, Reason::DurationElapsed, "True"),
            (Type::Complete, Reason::InvalidSpec, "False"),
            (Type::ArtifactsWritten, Reason::Written, "True"),
            (
                Type::ArtifactsWritten,
                Reason::StorageDeadlineExceeded,
                "False",
            ),
            (Type::NodeLost, Reason::NodesLost, "True"),
            (Type::Reconciling, Reason::Starting, "True"),
            (Type::Reconciling, Reason::Reconciled, "False"),
            (Type::Stalled, Reason::CannotRun, "True"),
            (Type::Stalled, Reason::NotStalled, "False"),
        ];
        for (type_, reason, status) in cases {
            let mut conditions = Vec::new();
            set(
                &mut conditions,
                Desired::new(type_, reason, "m"),
                None,
                &at(0),
            );
            assert_eq!(
                (conditions[0].type_.as_str(), conditions[0].reason.as_str()),
                (type_.as_str(), reason.as_str())
            );
            assert_eq!(conditions[0].status, status, "{type_:?} {reason:?}");
            assert!(has(&conditions, type_, reason));
        }
    }

    #[test]
    fn long_messages_are_cut_to_the_bound() {
        let long = "é".repeat(2000);
        let cut = truncate(&long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES && cut.ends_with("..."));
    }

    #[test]
    fn a_gap_stays_flagged_and_names_every_node_where_the_trace_broke() {
        let now = at(0);
        let mut conditions = Vec::new();
        let desired = gap(&conditions, &[]);
        set(&mut conditions, desired, None, &now);
        assert_eq!(
            find(&conditions, Type::Gap.as_str()).map(|c| c.status.as_str()),
            Some("False")
        );

        let desired = gap(&conditions, &["n1".into()]);
        set(&mut conditions, desired, None, &now);
        let desired = gap(&conditions, &[]);
        set(&mut conditions, desired, None, &now);
        let flagged = find(&conditions, Type::Gap.as_str()).expect("gap condition");
        assert_eq!(
            flagged.status, "True",
            "a later quiet round does not clear it"
        );
        assert!(flagged.message.contains("n1"), "{}", flagged.message);

        let desired = gap(&conditions, &["n2".into()]);
        set(&mut conditions, desired, None, &now);
        let both = find(&conditions, Type::Gap.as_str()).expect("gap condition");
        assert!(
            both.message.contains("n1") && both.message.contains("n2"),
            "{}",
            both.message
        );
    }
}
