//! The agent's wire edge: requests into engine and registry types, results into messages
//! within the size limit, registry and engine errors into gRPC codes. Nothing else in the
//! agent but the service and the stream buffer touches prost types.

use prost::Message as _;
use tonic::Status;
use tracejob_api::{Tool, ToolArgs, TraceJobSpec, validate};
use tracejob_engine::EngineError;
use tracejob_engine::summary::Summary;
use tracejob_proto::v1::{JobResult, StartJobRequest};

use crate::state::JobError;
use crate::validate as fields;

mod args;
mod jobs;

pub use jobs::containers;

/// What a StartJob asks for, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRequest {
    pub uid: String,
    pub name: String,
    pub generation: i64,
    pub tool: Tool,
    pub args: ToolArgs,
    pub events: bool,
}

impl TryFrom<&StartJobRequest> for JobRequest {
    type Error = Status;

    fn try_from(request: &StartJobRequest) -> Result<Self, Status> {
        let job = request
            .job
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("job.uid is required"))?;
        fields::job_uid("job.uid", &job.uid)?;
        let tool: Tool = serde_json::from_value(serde_json::Value::String(request.tool.clone()))
            .map_err(|_| {
                let known: Vec<&str> = Tool::ALL.iter().map(|t| t.name()).collect();
                Status::invalid_argument(format!(
                    "unknown tool {:?} (one of {})",
                    request.tool,
                    known.join(", ")
                ))
            })?;
        let args = args::tool_args(request.args.as_ref())?;
        let spec = TraceJobSpec {
            tool,
            args: args.clone(),
            ..TraceJobSpec::default()
        };
        validate::validate_spec(&spec)
            .map_err(|error| Status::invalid_argument(error.to_string()))?;
        if request.targets.is_empty() {
            return Err(Status::invalid_argument(
                "no targets: a job needs at least one container",
            ));
        }
        fields::targets(&request.targets)?;
        Ok(JobRequest {
            uid: job.uid.clone(),
            name: format!("{}/{}", job.namespace, job.name),
            generation: request.generation,
            tool,
            args,
            events: request.events,
        })
    }
}

impl From<JobError> for Status {
    /// NotFound for an unknown job, ResourceExhausted for a full agent (the operator does
    /// not back the node off for it), FailedPrecondition for what the node or the job's
    /// state does not allow, Internal for a failed engine task; the engine's own errors as
    /// [`status`] says.
    fn from(error: JobError) -> Self {
        let message = error.to_string();
        match error {
            JobError::NotFound(_) => Status::not_found(message),
            JobError::Full(_) => Status::resource_exhausted(message),
            JobError::NoHierarchy(_)
            | JobError::StaleGeneration { .. }
            | JobError::Stopped(_)
            | JobError::AlreadyStopped => Status::failed_precondition(message),
            JobError::Task(_) => Status::internal(message),
            JobError::Engine(engine) => status(&engine),
        }
    }
}

/// InvalidArgument for the spec's faults, FailedPrecondition (saying what is missing) for
/// the kernel's or the agent's privileges, Internal for the rest.
pub fn status(error: &EngineError) -> Status {
    let message = error.to_string();
    match error {
        _ if error.is_environment() => Status::failed_precondition(message),
        EngineError::Load { .. } | EngineError::Cgroup(_) => Status::failed_precondition(message),
        EngineError::Map { .. } | EngineError::Reader(_) => Status::internal(message),
        _ => Status::invalid_argument(message),
    }
}

/// A summary (its pods named, see [`Origins::name_pods`]) as a result: one row per key the
/// tool counts and the full summary, within [`tracejob_proto::MAX_RESULT_BYTES`].
///
/// [`Origins::name_pods`]: crate::origins::Origins::name_pods
pub fn job_result(summary: &Summary) -> JobResult {
    fit(summary.clone(), tracejob_proto::MAX_RESULT_BYTES)
}

/// The result of `summary` within `max` encoded bytes, so no answer ever trips the gRPC
/// message limit and an oversized summary never fails a node: the longest row list loses
/// its second half (the smallest counts) until it fits, and `rows_omitted` counts what went.
fn fit(mut summary: Summary, max: usize) -> JobResult {
    loop {
        let result = JobResult::from(&summary);
        if result.encoded_len() <= max {
            return result;
        }
        match summary.details.halve_longest_list() {
            // Nothing left to cut: only the counters and pods remain, a few KiB.
            0 => return result,
            cut => summary.rows_omitted += cut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracejob_engine::summary::{FoldedStack, FunctionRow, ToolSummary};
    use tracejob_proto::v1::{self, JobRef, Target};

    fn syscalls(names: &[&str]) -> Option<v1::ToolArgs> {
        Some(v1::ToolArgs {
            syscalls: names.iter().map(|n| n.to_string()).collect(),
            ..v1::ToolArgs::default()
        })
    }

    fn request(tool: &str, args: Option<v1::ToolArgs>, targets: usize) -> StartJobRequest {
        StartJobRequest {
            job: Some(JobRef {
                uid: "u1".into(),
                namespace: "ns".into(),
                name: "j".into(),
            }),
            generation: 1,
            tool: tool.into(),
            args,
            events: false,
            targets: vec![
                Target {
                    pod_uid: "0b6b1a5e-1111-2222-3333-444455556666".into(),
                    container_id: "containerd://abc123".into(),
                    ..Target::default()
                };
                targets
            ],
        }
    }

    #[test]
    fn an_unknown_tool_is_an_invalid_argument_naming_the_known_ones() {
        let status = JobRequest::try_from(&request("strace", None, 1)).expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("syscalls"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn a_malformed_argument_is_an_invalid_argument_naming_the_field() {
        let bad = Some(v1::ToolArgs {
            function: Some("readline".into()),
            binary: Some("/bin/bash".into()),
            arg_types: vec![7],
            ..v1::ToolArgs::default()
        });
        let status = JobRequest::try_from(&request("uprobe", bad, 1)).expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("args.argTypes[0]"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn a_job_without_targets_is_an_invalid_argument() {
        let status = JobRequest::try_from(&request("syscalls", None, 0)).expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn a_target_with_a_bad_field_is_an_invalid_argument_naming_it() {
        let mut bad = request("syscalls", None, 2);
        bad.targets[1].cgroup_path = "/".into();
        let status = JobRequest::try_from(&bad).expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("targets[1].cgroup_path"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn each_registry_error_gets_the_code_the_operator_acts_on() {
        use tonic::Code;
        let cases = [
            (JobError::NotFound("u1".into()), Code::NotFound),
            (JobError::Full(32), Code::ResourceExhausted),
            (JobError::Stopped("u1".into()), Code::FailedPrecondition),
            (JobError::AlreadyStopped, Code::FailedPrecondition),
            (
                JobError::NoHierarchy("no cgroup v2 mount".into()),
                Code::FailedPrecondition,
            ),
            (
                JobError::StaleGeneration {
                    uid: "u1".into(),
                    running: 3,
                    asked: 2,
                },
                Code::FailedPrecondition,
            ),
            (JobError::Task("panicked".into()), Code::Internal),
            (
                JobError::Engine(EngineError::NoBtf),
                Code::FailedPrecondition,
            ),
        ];
        for (error, code) in cases {
            let message = error.to_string();
            let status = Status::from(error);
            assert_eq!(status.code(), code, "{message}");
            assert_eq!(status.message(), message);
        }
        let full = Status::from(JobError::Full(32));
        assert!(
            full.message()
                .starts_with("this agent already runs its maximum of 32 jobs"),
            "{}",
            full.message()
        );
    }

    #[test]
    fn a_good_request_is_read_with_its_arguments() {
        let job = JobRequest::try_from(&request("syscalls", syscalls(&["getppid"]), 1))
            .expect("accepted");
        assert_eq!(job.tool, Tool::Syscalls);
        assert_eq!(job.args.syscalls, ["getppid"]);
    }

    fn profile(stacks: u64) -> Summary {
        Summary {
            tool: "profile".into(),
            probe: "perf_event".into(),
            events: stacks,
            lost: 0,
            lost_kernel: 0,
            lost_user: 0,
            duration_ms: 1,
            cgroups: Vec::new(),
            pods: Vec::new(),
            rows_omitted: 0,
            details: ToolSummary::Profile {
                samples: stacks,
                frequency_hz: 99,
                functions: vec![FunctionRow {
                    function: "main".into(),
                    kernel: false,
                    self_samples: stacks,
                    total_samples: stacks,
                }],
                stacks: (0..stacks)
                    .map(|n| FoldedStack {
                        stack: format!("app;main;f{n:04}"),
                        count: stacks - n,
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn a_result_within_the_limit_carries_the_whole_summary() {
        let summary = profile(100);
        let result = fit(summary.clone(), 20_000);
        assert_eq!(result.rows_omitted, 0);
        assert_eq!(Summary::try_from(&result).expect("a summary"), summary);
    }

    #[test]
    fn a_result_over_the_limit_loses_its_smallest_stacks_and_counts_them() {
        let result = fit(profile(1000), 10_000);
        assert!(result.encoded_len() <= 10_000, "{}", result.encoded_len());
        let back = Summary::try_from(&result).expect("a summary");
        let ToolSummary::Profile {
            stacks, functions, ..
        } = &back.details
        else {
            panic!("a profile: {back:?}");
        };
        assert!(
            !stacks.is_empty() && stacks.len() < 1000,
            "{}",
            stacks.len()
        );
        assert_eq!(stacks[0].stack, "app;main;f0000", "the largest counts stay");
        assert_eq!(back.rows_omitted, 1000 - stacks.len() as u64);
        assert_eq!(functions.len(), 1, "the short list is kept");
        assert_eq!(result.rows.len(), 1, "the status rows are the functions");
    }
}
