//! The job registry's types (`state`) from requests and into answers.

use tracejob_proto::v1;

use crate::state::{Container, JobId, JobState, Placement, TargetState};

impl From<&v1::JobRef> for JobId {
    fn from(job: &v1::JobRef) -> Self {
        JobId {
            uid: job.uid.clone(),
            namespace: job.namespace.clone(),
            name: job.name.clone(),
        }
    }
}

impl From<&JobId> for v1::JobRef {
    fn from(job: &JobId) -> Self {
        v1::JobRef {
            uid: job.uid.clone(),
            namespace: job.namespace.clone(),
            name: job.name.clone(),
        }
    }
}

impl From<&v1::Target> for Container {
    /// An empty `cgroup_path` is none given.
    fn from(target: &v1::Target) -> Self {
        Container {
            pod: target.pod.clone(),
            pod_uid: target.pod_uid.clone(),
            container: target.container.clone(),
            container_id: target.container_id.clone(),
            cgroup_path: Some(target.cgroup_path.clone()).filter(|p| !p.is_empty()),
        }
    }
}

/// A request's targets (validated by the caller).
pub fn containers(targets: &[v1::Target]) -> Vec<Container> {
    targets.iter().map(Container::from).collect()
}

impl From<&TargetState> for v1::TargetState {
    fn from(state: &TargetState) -> Self {
        let container_id = state.container_id.clone();
        match &state.placement {
            Placement::Found {
                cgroup_path,
                cgroup_id,
            } => v1::TargetState {
                container_id,
                found: true,
                cgroup_path: cgroup_path.clone(),
                cgroup_id: *cgroup_id,
                message: String::new(),
            },
            Placement::Missing { reason } => v1::TargetState {
                container_id,
                found: false,
                message: reason.clone(),
                ..v1::TargetState::default()
            },
        }
    }
}

impl From<&JobState> for v1::JobState {
    /// The result within the agent's message limit (see [`super::job_result`]).
    fn from(state: &JobState) -> Self {
        v1::JobState {
            job: Some((&state.job).into()),
            generation: state.generation,
            stopped: state.stopped,
            targets: state.targets.iter().map(v1::TargetState::from).collect(),
            result: state.result.as_ref().map(super::job_result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_found_target_carries_its_cgroup_and_a_missing_one_its_reason() {
        let found = v1::TargetState::from(&TargetState {
            container_id: "containerd://ab".into(),
            placement: Placement::Found {
                cgroup_path: "kubepods/pod1/ab".into(),
                cgroup_id: 42,
            },
        });
        assert!(found.found);
        assert_eq!(
            (found.cgroup_path.as_str(), found.cgroup_id),
            ("kubepods/pod1/ab", 42)
        );
        let missing = v1::TargetState::from(&TargetState {
            container_id: "containerd://cd".into(),
            placement: Placement::Missing {
                reason: "no cgroup".into(),
            },
        });
        assert!(!missing.found);
        assert_eq!(missing.message, "no cgroup");
        assert_eq!(missing.container_id, "containerd://cd");
    }

    #[test]
    fn a_target_without_a_cgroup_path_has_none_and_keeps_its_names() {
        let container = Container::from(&v1::Target {
            pod: "web-0".into(),
            pod_uid: "0b6b1a5e-1111-2222-3333-444455556666".into(),
            container: "app".into(),
            container_id: "containerd://ab".into(),
            cgroup_path: String::new(),
        });
        assert_eq!(container.cgroup_path, None);
        assert_eq!(
            (container.pod.as_str(), container.container.as_str()),
            ("web-0", "app")
        );
    }
}
