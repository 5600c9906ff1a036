//! The operator's wire edge: domain types into agent requests, agent answers and gRPC
//! statuses into domain types.

use tonic::{Code, Status};
use tracejob_api::event::PodEvents;
use tracejob_api::summary::Summary;
use tracejob_api::{SummaryRow, TraceJobSpec};
use tracejob_proto::v1::{self, JobRef, JobResult, JobState, StartJobRequest, Target};

use crate::agents::{AgentError, ContainerTarget, JobId, NodeResult};

impl From<&JobId> for JobRef {
    fn from(job: &JobId) -> Self {
        JobRef {
            uid: job.uid.clone(),
            namespace: job.namespace.clone(),
            name: job.name.clone(),
        }
    }
}

impl From<&ContainerTarget> for Target {
    fn from(target: &ContainerTarget) -> Self {
        Target {
            pod: target.pod.clone(),
            pod_uid: target.pod_uid.clone(),
            container: target.container.clone(),
            container_id: target.container_id.clone(),
            cgroup_path: String::new(),
        }
    }
}

pub fn targets(targets: &[ContainerTarget]) -> Vec<Target> {
    targets.iter().map(Target::from).collect()
}

pub fn start_request(
    job: &JobId,
    spec: &TraceJobSpec,
    targets: &[ContainerTarget],
) -> StartJobRequest {
    StartJobRequest {
        job: Some(job.into()),
        generation: 0,
        tool: spec.tool.name().to_owned(),
        args: Some(v1::ToolArgs::from(&spec.args)),
        events: spec.output.events,
        targets: self::targets(targets),
    }
}

impl From<JobResult> for NodeResult {
    /// A result without a summary (a job replaced before it had one) has none here.
    fn from(result: JobResult) -> Self {
        NodeResult {
            summary: Summary::try_from(&result).ok(),
            probe: Some(result.probe).filter(|p| !p.is_empty()),
            events: result.events,
            lost: result.lost,
            rows: result.rows.into_iter().map(SummaryRow::from).collect(),
            message: None,
            pods: result.pods.iter().map(PodEvents::from).collect(),
        }
    }
}

/// The job's result, with the containers the agent could not find named in the message.
pub fn node_result(state: JobState) -> NodeResult {
    let missing: Vec<&str> = state
        .targets
        .iter()
        .filter(|t| !t.found)
        .map(|t| t.message.as_str())
        .collect();
    let mut result = state.result.map(NodeResult::from).unwrap_or_default();
    if !missing.is_empty() {
        result.message = Some(format!(
            "{} of {} containers not traced: {}",
            missing.len(),
            state.targets.len(),
            missing.join("; ")
        ));
    }
    result
}

/// NotFound is a job the agent does not know; InvalidArgument, FailedPrecondition and
/// PermissionDenied are refusals a person must act on, and so are ResourceExhausted (the
/// agent runs its maximum of jobs) and OutOfRange (a message over the size limit): these
/// say nothing about the node's health, so they must not back the node off. The rest is
/// transient.
pub fn agent_error(node: &str, status: &Status) -> AgentError {
    let node = node.to_owned();
    let message = if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        status.message().to_owned()
    };
    match status.code() {
        Code::NotFound => AgentError::NotRunning { node },
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::PermissionDenied
        | Code::ResourceExhausted => AgentError::Rejected { node, message },
        Code::OutOfRange => AgentError::Rejected {
            node,
            message: format!("an answer is over the gRPC message limit: {message}"),
        },
        _ => AgentError::Unavailable { node, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracejob_proto::v1::{Row, TargetState};

    #[test]
    fn an_agent_result_becomes_a_node_result_with_its_rows() {
        let result = NodeResult::from(JobResult {
            probe: "tp_btf".into(),
            events: 7,
            lost: 1,
            rows: vec![Row {
                key: "getppid".into(),
                count: 7,
                errors: 0,
                latency_us_log2: vec![7],
            }],
            ..JobResult::default()
        });
        assert_eq!(result.probe.as_deref(), Some("tp_btf"));
        assert_eq!((result.events, result.lost), (7, 1));
        assert_eq!(result.rows[0].key, "getppid");
        assert_eq!(result.rows[0].latency_us_log2, [7]);
    }

    #[test]
    fn an_agent_result_with_a_summary_gives_it_typed_and_one_without_gives_none() {
        use tracejob_api::summary::{ExecRow, ToolSummary};
        let summary = Summary {
            tool: "exec".into(),
            probe: "tp_btf".into(),
            events: 2,
            lost: 0,
            lost_kernel: 0,
            lost_user: 0,
            duration_ms: 5,
            cgroups: Vec::new(),
            pods: vec![PodEvents {
                namespace: "shop".into(),
                pod: Some("web-0".into()),
                container: Some("app".into()),
                events: 2,
            }],
            rows_omitted: 0,
            details: ToolSummary::Exec {
                execs: vec![ExecRow {
                    filename: "/bin/sh".into(),
                    count: 2,
                    errors: 0,
                }],
            },
        };
        let result = NodeResult::from(JobResult::from(&summary));
        assert_eq!(result.summary.as_ref(), Some(&summary));
        assert_eq!(result.pods, summary.pods);
        assert_eq!(result.rows[0].key, "/bin/sh");
        assert_eq!(NodeResult::from(JobResult::default()).summary, None);
    }

    #[test]
    fn containers_the_agent_could_not_find_are_named_in_the_node_message() {
        let state = JobState {
            targets: vec![
                TargetState {
                    found: true,
                    ..TargetState::default()
                },
                TargetState {
                    found: false,
                    message: "container containerd://feed of pod p has no cgroup".into(),
                    ..TargetState::default()
                },
            ],
            result: Some(JobResult::default()),
            ..JobState::default()
        };
        let message = node_result(state).message.expect("a message");
        assert!(
            message.starts_with("1 of 2 containers not traced"),
            "{message}"
        );
        assert!(message.contains("containerd://feed"), "{message}");
    }

    #[test]
    fn an_unknown_job_is_not_running_and_a_bad_spec_is_rejected() {
        let not_found = agent_error("n1", &Status::not_found("no job"));
        assert!(matches!(not_found, AgentError::NotRunning { .. }));
        let rejected = agent_error("n1", &Status::invalid_argument("unknown tool"));
        assert!(
            matches!(rejected, AgentError::Rejected { message, .. } if message == "unknown tool")
        );
        let full = agent_error(
            "n1",
            &Status::resource_exhausted("this agent already runs its maximum of 32 jobs"),
        );
        assert!(
            full.to_string()
                == "the agent on node n1 refused the job: this agent already runs its maximum of 32 jobs",
            "{full}"
        );
        let oversized = agent_error(
            "n1",
            &Status::out_of_range("decoded message length too large"),
        );
        assert!(
            matches!(oversized, AgentError::Rejected { .. }),
            "{oversized}"
        );
        let transient = agent_error("n1", &Status::unavailable("connection refused"));
        assert!(matches!(transient, AgentError::Unavailable { .. }));
    }

    #[test]
    fn a_start_request_carries_the_spec_s_tool_and_arguments_typed() {
        use tracejob_api::{Tool, ToolArgs, ValueType};
        let spec = TraceJobSpec {
            tool: Tool::Uprobe,
            args: ToolArgs {
                arg_types: vec![ValueType::String, ValueType::Pointer],
                return_type: Some(ValueType::Int),
                ..ToolArgs::default()
            },
            ..TraceJobSpec::default()
        };
        let job = JobId {
            namespace: "shop".into(),
            name: "trace".into(),
            uid: "u1".into(),
        };
        let request = start_request(&job, &spec, &[]);
        assert_eq!(request.tool, "uprobe");
        let wire = request.args.expect("arguments");
        assert_eq!(
            wire.arg_types,
            [v1::ValueType::String as i32, v1::ValueType::Pointer as i32]
        );
        assert_eq!(wire.return_type, Some(v1::ValueType::Int as i32));
    }
}
