//! The `Ready` condition, kstatus-style: one condition that says whether a TraceJob is
//! where its spec wants it, so `kubectl wait --for=condition=Ready` and GitOps health checks
//! need not know the other conditions. Derived from the rest of the status on every write.

use tracejob_api::{Phase, TraceJobStatus};

use crate::conditions::{self as cond, Desired, Reason, Type};

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
