//! The kstatus conditions, derived from the rest of the status on every write ([`kstatus`]):
//! `Ready`, one condition that says whether a TraceJob is where its spec wants it, so
//! `kubectl wait --for=condition=Ready` and GitOps health checks need not know the other
//! conditions; and `Reconciling` and `Stalled`, abnormal-true, which kstatus (Flux's health
//! checks) reads with `observedGeneration`: InProgress while `Reconciling` is True, Failed
//! when `Stalled` is.

use tracejob_api::{Phase, TraceJobStatus};

use crate::conditions::{self as cond, Desired, Reason, Type};

/// `Ready`, `Reconciling` and `Stalled` for `status` (the status about to be written) of a
/// job whose spec is at `generation` (`metadata.generation`).
pub fn kstatus(status: &TraceJobStatus, generation: Option<i64>) -> [Desired; 3] {
    let reconciling = |reason, message: &str| Desired::new(Type::Reconciling, reason, message);
    let stalled = |reason, message: &str| Desired::new(Type::Stalled, reason, message);
    let message = status.message.as_deref().unwrap_or("");
    let true_condition =
        |type_: Type| cond::find(&status.conditions, type_.as_str()).filter(|c| c.status == "True");
    let not_stalled = stalled(Reason::NotStalled, "nothing waits for a person");
    let seen = status.observed_generation;
    if let Some(generation) = generation.filter(|&g| seen.is_none_or(|seen| seen < g)) {
        // What the rest of the status says is of an older spec (or of none yet).
        let about = seen.map_or_else(
            || "the operator has not seen it yet".to_owned(),
            |seen| format!("the status is of generation {seen}"),
        );
        let behind = format!("generation {generation} is not acted on yet: {about}");
        return [
            of(status),
            reconciling(Reason::NewGeneration, &behind),
            not_stalled,
        ];
    }
    let (reconciling, stalled) = match status.phase {
        None | Some(Phase::Pending) => (reconciling(Reason::Starting, message), not_stalled),
        Some(Phase::Failed) => {
            let complete = cond::find(&status.conditions, Type::Complete.as_str());
            let why = complete.map_or(message, |c| c.message.as_str());
            let storage =
                complete.is_some_and(|c| c.reason == Reason::ArtifactsNotWritten.as_str());
            let reason = if storage {
                Reason::StorageGaveUp
            } else {
                Reason::CannotRun
            };
            (
                reconciling(Reason::Reconciled, "the job failed: see Stalled"),
                stalled(reason, why),
            )
        }
        Some(Phase::Running | Phase::Succeeded) => {
            let storage = cond::find(&status.conditions, Type::ArtifactsWritten.as_str())
                .filter(|c| c.reason == Reason::StorageUnavailable.as_str());
            let nodes = true_condition(Type::Degraded);
            let reconciling = match (storage, nodes) {
                (Some(c), _) => reconciling(Reason::RetryingStorage, &c.message),
                (None, Some(c)) if status.phase == Some(Phase::Running) => {
                    reconciling(Reason::StartingOnNodes, &c.message)
                }
                _ if status.phase == Some(Phase::Running) => reconciling(
                    Reason::Reconciled,
                    "the trace runs on every target node as the spec asks",
                ),
                _ => reconciling(Reason::Reconciled, "the job is finished"),
            };
            (reconciling, not_stalled)
        }
    };
    [of(status), reconciling, stalled]
}

/// What `Ready` says about `status` (the status about to be written).
pub fn of(status: &TraceJobStatus) -> Desired {
    let ready = |reason, message: &str| Desired::new(Type::Ready, reason, message);
    let message = status.message.as_deref().unwrap_or("");
    let troubled = |type_: Type, reason: Option<Reason>| {
        cond::find(&status.conditions, type_.as_str()).filter(|c| match reason {
            Some(reason) => c.reason == reason.as_str(),
            None => c.status == "True",
        })
    };
    if status.phase == Some(Phase::Failed) {
        let why = cond::find(&status.conditions, Type::Complete.as_str())
            .map_or(message, |c| c.message.as_str());
        return ready(Reason::JobFailed, why);
    }
    if let Some(c) = troubled(Type::ArtifactsWritten, Some(Reason::StorageUnavailable)) {
        return ready(Reason::StorageFailing, &c.message);
    }
    if let Some(c) = troubled(Type::NodeLost, None) {
        return ready(Reason::NodesGone, &c.message);
    }
    if let Some(c) = troubled(Type::Degraded, None) {
        return ready(Reason::NodesNotTracing, &c.message);
    }
    match status.phase {
        Some(Phase::Running) => ready(Reason::Tracing, message),
        Some(Phase::Succeeded) => ready(Reason::Finished, message),
        _ => ready(Reason::Waiting, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn status(phase: Phase, conditions: &[(Type, Reason, &str)]) -> TraceJobStatus {
        let mut status = TraceJobStatus {
            phase: Some(phase),
            message: Some("tracing 3 pods on 2 nodes".into()),
            ..TraceJobStatus::default()
        };
        for &(type_, reason, message) in conditions {
            cond::set(
                &mut status.conditions,
                Desired::new(type_, reason, message),
                Some(1),
                &Time(Timestamp::UNIX_EPOCH),
            );
        }
        status
    }

    /// `status` with its `observedGeneration`.
    fn seen(mut status: TraceJobStatus, generation: i64) -> TraceJobStatus {
        status.observed_generation = Some(generation);
        status
    }

    #[test]
    fn reconciling_and_stalled_are_true_only_while_work_remains_or_a_person_is_needed() {
        use Phase::*;
        use Reason as R;
        use Type as T;
        // The status, the job's generation, then Reconciling's and Stalled's reasons and the
        // start of the message of whichever of them is True.
        let cases: [(TraceJobStatus, i64, Reason, Reason, &str); 11] = [
            (
                TraceJobStatus::default(),
                1,
                R::NewGeneration,
                R::NotStalled,
                "generation 1 is not acted on yet: the operator has not seen it",
            ),
            (
                seen(status(Pending, &[]), 1),
                1,
                R::Starting,
                R::NotStalled,
                "tracing 3 pods",
            ),
            (
                seen(
                    status(Running, &[(T::Degraded, R::AllNodesRunning, "ok")]),
                    1,
                ),
                1,
                R::Reconciled,
                R::NotStalled,
                "",
            ),
            (
                seen(
                    status(
                        Running,
                        &[(T::Degraded, R::AgentUnavailable, "node-b down")],
                    ),
                    1,
                ),
                1,
                R::StartingOnNodes,
                R::NotStalled,
                "node-b down",
            ),
            (
                seen(status(Running, &[]), 1),
                2,
                R::NewGeneration,
                R::NotStalled,
                "generation 2 is not acted on yet: the status is of generation 1",
            ),
            (
                seen(
                    status(
                        Running,
                        &[(T::ArtifactsWritten, R::StorageUnavailable, "403")],
                    ),
                    1,
                ),
                1,
                R::RetryingStorage,
                R::NotStalled,
                "403",
            ),
            (
                seen(
                    status(Succeeded, &[(T::NodeLost, R::NodesLost, "node-c gone")]),
                    1,
                ),
                1,
                R::Reconciled,
                R::NotStalled,
                "",
            ),
            (
                seen(
                    status(
                        Failed,
                        &[(T::Complete, R::InvalidSpec, "spec.duration: too large")],
                    ),
                    1,
                ),
                1,
                R::Reconciled,
                R::CannotRun,
                "spec.duration: too large",
            ),
            (
                seen(
                    status(Failed, &[(T::Complete, R::RejectedByAgents, "no BTF")]),
                    1,
                ),
                1,
                R::Reconciled,
                R::CannotRun,
                "no BTF",
            ),
            (
                seen(
                    status(
                        Failed,
                        &[(T::Complete, R::ArtifactsNotWritten, "gave up writing")],
                    ),
                    1,
                ),
                1,
                R::Reconciled,
                R::StorageGaveUp,
                "gave up writing",
            ),
            // A failed job whose spec was changed: the operator retries it with the new spec.
            (
                seen(status(Failed, &[(T::Complete, R::InvalidSpec, "bad")]), 1),
                2,
                R::NewGeneration,
                R::NotStalled,
                "generation 2",
            ),
        ];
        for (status, generation, reconciling, stalled, message) in cases {
            let [ready, got_reconciling, got_stalled] = kstatus(&status, Some(generation));
            let what = format!("{status:?} at generation {generation}");
            assert_eq!(ready, of(&status), "Ready is unchanged: {what}");
            assert_eq!(got_reconciling.type_, T::Reconciling);
            assert_eq!(got_stalled.type_, T::Stalled);
            assert_eq!(got_reconciling.reason, reconciling, "{what}");
            assert_eq!(got_stalled.reason, stalled, "{what}");
            assert!(
                !(got_reconciling.status() && got_stalled.status()),
                "never both: {what}"
            );
            let abnormal = [&got_reconciling, &got_stalled]
                .into_iter()
                .find(|c| c.status());
            match abnormal {
                Some(c) => assert!(c.message.starts_with(message), "{c:?}: {what}"),
                None => assert_eq!(message, "", "{what}"),
            }
        }
    }

    #[test]
    fn ready_follows_the_phase_and_the_conditions_that_need_a_person() {
        use Phase::*;
        use Reason as R;
        use Type as T;
        let cases: [(TraceJobStatus, Reason, &str); 8] = [
            (status(Pending, &[]), R::Waiting, "tracing 3 pods"),
            (
                status(Running, &[(T::ArtifactsWritten, R::Spooling, "spooled")]),
                R::Tracing,
                "tracing 3 pods",
            ),
            (
                status(Running, &[(T::Gap, R::AgentRestarted, "a gap")]),
                R::Tracing,
                "tracing 3 pods",
            ),
            (
                status(
                    Running,
                    &[(T::ArtifactsWritten, R::StorageUnavailable, "403")],
                ),
                R::StorageFailing,
                "403",
            ),
            (
                status(
                    Running,
                    &[(T::Degraded, R::AgentUnavailable, "node-b down")],
                ),
                R::NodesNotTracing,
                "node-b down",
            ),
            (
                status(
                    Succeeded,
                    &[(T::NodeLost, R::NodesLost, "node-c went away")],
                ),
                R::NodesGone,
                "node-c went away",
            ),
            (
                status(
                    Succeeded,
                    &[(T::NodeLost, R::AllNodesStopped, "all stopped")],
                ),
                R::Finished,
                "tracing 3 pods",
            ),
            (
                status(
                    Failed,
                    &[(T::Complete, R::InvalidSpec, "spec.duration: too large")],
                ),
                R::JobFailed,
                "spec.duration: too large",
            ),
        ];
        for (status, reason, message) in cases {
            let ready = of(&status);
            assert_eq!(ready.reason, reason, "{status:?}");
            assert!(ready.message.starts_with(message), "{ready:?}");
            assert_eq!(
                ready.status(),
                matches!(reason, R::Tracing | R::Finished),
                "{reason:?}"
            );
        }
    }
}
