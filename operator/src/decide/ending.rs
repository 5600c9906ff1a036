//! Decide, at the end of a job: once its agents are stopped and its artifacts tried, whether
//! it succeeds, waits for storage or gives up on it ([`completed`]), and the status of a job
//! that fails ([`gave_up`], [`failed`]). Pure; [`crate::finish`] stops, writes and patches.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tracejob_api::{Phase, TraceJob, TraceJobStatus};

use crate::artifacts::AtEnd;
use crate::conditions::{self as cond, Desired, Reason, Type};
use crate::storage::GaveUp;

/// What a job whose duration elapsed comes to.
#[derive(Clone, Debug, PartialEq)]
pub enum Completed {
    /// Its artifacts are durable (or it has none): `Succeeded`, with the message to publish.
    Succeeded {
        status: Box<TraceJobStatus>,
        message: String,
    },
    /// Storage failed: it stays `Running` (stopped), and is looked at again after `requeue`.
    /// `storage_event`: the failure to publish, on the first one only.
    Retry {
        status: Box<TraceJobStatus>,
        storage_event: Option<String>,
        requeue: Duration,
    },
    /// Storage failed past the deadline: it ends `Failed` ([`gave_up`]).
    GiveUp(GaveUp),
}

/// `next`: the finished status with the final counts and the storage outcome; `at_end`:
/// what writing the artifacts came to; `given_up`: whether storage is past its deadline.
pub fn completed(
    job: &TraceJob,
    old: &TraceJobStatus,
    mut next: TraceJobStatus,
    at_end: AtEnd,
    given_up: Option<GaveUp>,
    now: Timestamp,
) -> Completed {
    let generation = job.metadata.generation;
    if let AtEnd::Retry(retry_in) = at_end {
        if let Some(gave_up) = given_up {
            return Completed::GiveUp(gave_up);
        }
        // Not Succeeded until the artifacts are durable: the trace is stopped, the summary
        // is in, the events wait in the spool.
        next.completion_time = old.completion_time.clone();
        let message = format!(
            "the trace stopped; writing its artifacts failed, retrying in {} s",
            retry_in.as_secs().max(1)
        );
        next.message = Some(message.clone());
        cond::set(
            &mut next.conditions,
            Desired::new(Type::Complete, Reason::WritingArtifacts, message),
            generation,
            &Time(now),
        );
        let first_failure = !cond::has(
            &old.conditions,
            Type::ArtifactsWritten,
            Reason::StorageUnavailable,
        );
        let storage_event = first_failure
            .then(|| cond::find(&next.conditions, Type::ArtifactsWritten.as_str()))
            .flatten()
            .map(|failed| failed.message.clone());
        return Completed::Retry {
            status: Box::new(next),
            storage_event,
            requeue: retry_in.max(Duration::from_millis(200)),
        };
    }
    next.phase = Some(Phase::Succeeded);
    let message = format!(
        "traced for {} on {} nodes: {} events, {} lost",
        job.spec.duration.as_deref().unwrap_or("?"),
        next.node_record.len(),
        next.events.unwrap_or(0),
        next.lost.unwrap_or(0)
    );
    next.message = Some(message.clone());
    cond::set(
        &mut next.conditions,
        Desired::new(Type::Complete, Reason::DurationElapsed, message.clone()),
        generation,
        &Time(now),
    );
    Completed::Succeeded {
        status: Box::new(next),
        message,
    }
}

/// Writing the artifacts failed for `deadline`: `Failed` with `ArtifactsWritten=False`
/// naming the error and how many events were not written (counted as lost). Returns the
/// status and the message to publish.
pub fn gave_up(
    job: &TraceJob,
    mut next: TraceJobStatus,
    gave_up: &GaveUp,
    deadline: Duration,
    now: Timestamp,
) -> (TraceJobStatus, String) {
    next.lost = Some(next.lost.unwrap_or(0) + gave_up.unwritten);
    next.phase = Some(Phase::Failed);
    let message = format!(
        "gave up writing the artifacts after {} s of failures (since {}): {}; {} events were \
         not written and are counted as lost",
        deadline.as_secs(),
        gave_up.since,
        gave_up.error,
        gave_up.unwritten
    );
    next.message = Some(cond::truncate(&message));
    for desired in [
        Desired::new(
            Type::ArtifactsWritten,
            Reason::StorageDeadlineExceeded,
            message.clone(),
        ),
        Desired::new(Type::Complete, Reason::ArtifactsNotWritten, message.clone()),
    ] {
        cond::set(
            &mut next.conditions,
            desired,
            job.metadata.generation,
            &Time(now),
        );
    }
    (next, message)
}

/// The spec cannot run as written (`reason`: `InvalidSpec`, or `RejectedByAgents`): `Failed`
/// with the problem.
pub fn failed(
    job: &TraceJob,
    mut next: TraceJobStatus,
    reason: Reason,
    problem: &str,
    now: Timestamp,
) -> TraceJobStatus {
    next.phase = Some(Phase::Failed);
    next.message = Some(cond::truncate(problem));
    cond::set(
        &mut next.conditions,
        Desired::new(Type::Complete, reason, problem),
        job.metadata.generation,
        &Time(now),
    );
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("a time")
    }

    fn job() -> TraceJob {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
            "metadata": {"name": "j", "namespace": "shop", "generation": 1},
            "spec": {"tool": "exec", "duration": "30s"}
        }))
        .expect("a job")
    }

    fn with_storage(reason: Reason) -> TraceJobStatus {
        let mut status = TraceJobStatus {
            phase: Some(Phase::Running),
            events: Some(12),
            lost: Some(1),
            completion_time: Some(Time(at(50))),
            ..TraceJobStatus::default()
        };
        cond::set(
            &mut status.conditions,
            Desired::new(Type::ArtifactsWritten, reason, format!("{reason:?}")),
            Some(1),
            &Time(at(40)),
        );
        status
    }

    fn bucket_gone() -> GaveUp {
        GaveUp {
            since: at(0),
            error: "no such bucket".into(),
            unwritten: 5,
        }
    }

    #[test]
    fn what_the_end_of_a_job_comes_to_once_its_artifacts_were_tried() {
        let second = Duration::from_secs(1);
        let spooling = with_storage(Reason::Spooling);
        let failing = with_storage(Reason::StorageUnavailable);
        let written = with_storage(Reason::Written);
        // (case, old status, next status, storage outcome, past the deadline) → expected
        let cases = [
            (
                "written",
                &spooling,
                &written,
                AtEnd::Done,
                None,
                "Succeeded",
            ),
            (
                "first failure",
                &spooling,
                &failing,
                AtEnd::Retry(2 * second),
                None,
                "Retry+event",
            ),
            (
                "failing again",
                &failing,
                &failing,
                AtEnd::Retry(4 * second),
                None,
                "Retry",
            ),
            (
                "past the deadline",
                &failing,
                &failing,
                AtEnd::Retry(second),
                Some(bucket_gone()),
                "GiveUp",
            ),
        ];
        for (case, old, next, at_end, given_up, expected) in cases {
            let outcome = completed(&job(), old, next.clone(), at_end, given_up, at(60));
            let got = match &outcome {
                Completed::Succeeded { status, message } => {
                    assert_eq!(status.phase, Some(Phase::Succeeded), "{case}");
                    assert_eq!(message, "traced for 30s on 0 nodes: 12 events, 1 lost");
                    assert!(cond::has(
                        &status.conditions,
                        Type::Complete,
                        Reason::DurationElapsed
                    ));
                    "Succeeded"
                }
                Completed::Retry {
                    status,
                    storage_event,
                    requeue,
                } => {
                    assert_eq!(status.phase, Some(Phase::Running), "{case}");
                    assert_eq!(
                        status.completion_time, old.completion_time,
                        "{case}: not complete yet"
                    );
                    assert!(cond::has(
                        &status.conditions,
                        Type::Complete,
                        Reason::WritingArtifacts
                    ));
                    assert!(*requeue >= Duration::from_millis(200));
                    if storage_event.is_some() {
                        "Retry+event"
                    } else {
                        "Retry"
                    }
                }
                Completed::GiveUp(gave_up) => {
                    assert_eq!(gave_up, &bucket_gone());
                    "GiveUp"
                }
            };
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn a_job_whose_storage_is_given_up_on_fails_counting_the_unwritten_events_lost() {
        let (status, message) = gave_up(
            &job(),
            with_storage(Reason::StorageUnavailable),
            &bucket_gone(),
            Duration::from_secs(3600),
            at(3600),
        );
        assert_eq!(status.phase, Some(Phase::Failed));
        assert_eq!(status.lost, Some(6), "1 lost before, 5 not written");
        assert!(cond::has(
            &status.conditions,
            Type::ArtifactsWritten,
            Reason::StorageDeadlineExceeded
        ));
        assert!(cond::has(
            &status.conditions,
            Type::Complete,
            Reason::ArtifactsNotWritten
        ));
        assert!(
            message.contains("after 3600 s") && message.contains("no such bucket"),
            "{message}"
        );
    }

    #[test]
    fn a_spec_that_cannot_run_fails_with_the_problem_as_its_message() {
        let status = failed(
            &job(),
            TraceJobStatus::default(),
            Reason::InvalidSpec,
            "spec.duration: too long",
            at(1),
        );
        assert_eq!(status.phase, Some(Phase::Failed));
        assert_eq!(status.message.as_deref(), Some("spec.duration: too long"));
        assert!(cond::has(
            &status.conditions,
            Type::Complete,
            Reason::InvalidSpec
        ));
    }
}
