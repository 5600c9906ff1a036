//! The agent's wire edge: requests into engine types, engine results into messages, engine
//! errors into gRPC codes. Nothing else in the agent touches prost types' fields.

use prost::Message as _;
use tonic::Status;
use tracejob_api::{Tool, ToolArgs, TraceJobSpec, validate};
use tracejob_engine::EngineError;
use tracejob_engine::latency::Latency;
use tracejob_engine::summary::{Summary, ToolSummary};
use tracejob_proto::v1::{JobResult, Row, StartJobRequest};

use crate::origins::Origins;
use crate::validate as fields;
use tracejob_api::event::PodEvents;

mod args;
mod event;

pub use event::event;

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

/// The engine's summary as rows (one per key the tool counts), events per pod, plus its
/// full JSON, within [`tracejob_proto::MAX_RESULT_BYTES`].
pub fn job_result(summary: &Summary, origins: &Origins) -> JobResult {
    let pods = origins.pods(&summary.cgroups);
    let mut result = JobResult {
        tool: summary.tool.clone(),
        probe: summary.probe.clone(),
        events: summary.events,
        lost: summary.lost,
        lost_kernel: summary.lost_kernel,
        lost_user: summary.lost_user,
        duration_ms: summary.duration_ms,
        rows: rows(&summary.details),
        summary_json: summary_json(summary, &pods),
        pods: pods
            .into_iter()
            .map(|p| tracejob_proto::v1::PodEvents {
                namespace: p.namespace,
                pod: p.pod.unwrap_or_default(),
                container: p.container.unwrap_or_default(),
                events: p.events,
            })
            .collect(),
    };
    fit(&mut result, tracejob_proto::MAX_RESULT_BYTES);
    result
}

/// The engine's summary with `pods` (events per pod) in place of its cgroup ids, which mean
/// nothing off the node.
fn summary_json(summary: &Summary, pods: &[PodEvents]) -> String {
    let Ok(mut json) = serde_json::to_value(summary) else {
        return String::new();
    };
    if let Some(object) = json.as_object_mut() {
        object.remove("cgroups");
        if !pods.is_empty() {
            object.insert(
                "pods".into(),
                serde_json::to_value(pods).unwrap_or_default(),
            );
        }
    }
    json.to_string()
}

/// Keeps a result within `max` encoded bytes, so no answer ever trips the gRPC message
/// limit: the full summary JSON gives way first (a note says how big it was), then the
/// rows at the end (the smallest counts).
fn fit(result: &mut JobResult, max: usize) {
    if result.encoded_len() <= max {
        return;
    }
    let bytes = result.summary_json.len();
    result.summary_json = serde_json::json!({
        "tool": result.tool,
        "truncated": format!("the full summary ({bytes} bytes) is over the agent's limit of {max} bytes"),
    })
    .to_string();
    while result.encoded_len() > max && !result.rows.is_empty() {
        let keep = result.rows.len() / 2;
        result.rows.truncate(keep);
    }
}

fn row(key: impl Into<String>, count: u64, errors: u64, latency: Option<&Latency>) -> Row {
    Row {
        key: key.into(),
        count,
        errors,
        latency_us_log2: latency.map(histogram_us).unwrap_or_default(),
    }
}

fn rows(details: &ToolSummary) -> Vec<Row> {
    match details {
        ToolSummary::Syscalls { syscalls } => syscalls
            .iter()
            .map(|s| row(&s.name, s.latency.count, s.errors, Some(&s.latency)))
            .collect(),
        ToolSummary::Exec { execs } => execs
            .iter()
            .map(|e| row(&e.filename, e.count, e.errors, None))
            .collect(),
        ToolSummary::Open { opens } => opens
            .iter()
            .map(|o| row(&o.path, o.count, o.errors, None))
            .collect(),
        ToolSummary::Runqlat { runqueue } => {
            vec![row("runqueue", runqueue.count, 0, Some(runqueue))]
        }
        ToolSummary::Blockio { devices } => devices
            .iter()
            .map(|d| row(&d.device, d.latency.count, d.errors, Some(&d.latency)))
            .collect(),
        ToolSummary::Tcp { peers, .. } => peers
            .iter()
            .map(|p| {
                row(
                    format!("{} {}", p.direction, p.peer),
                    p.connections,
                    p.failed,
                    None,
                )
            })
            .collect(),
        ToolSummary::Profile { functions, .. } => functions
            .iter()
            .map(|f| row(&f.function, f.self_samples, 0, None))
            .collect(),
        ToolSummary::Calls { functions } => functions
            .iter()
            .map(|c| row(&c.function, c.latency.count, 0, Some(&c.latency)))
            .collect(),
    }
}

/// Log2 nanosecond buckets (`< 2^i ns`) → log2 microsecond buckets: bucket 0 holds
/// < 1 µs, bucket j holds [2^(j-1), 2^j) µs.
fn histogram_us(latency: &Latency) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for bucket in &latency.histogram {
        let log2_ns = 63 - bucket.lt_ns.max(1).leading_zeros() as usize;
        let index = log2_ns.saturating_sub(10);
        if out.len() <= index {
            out.resize(index + 1, 0);
        }
        out[index] += bucket.count;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracejob_engine::Bucket;
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
    fn a_good_request_is_read_with_its_arguments() {
        let job = JobRequest::try_from(&request("syscalls", syscalls(&["getppid"]), 1))
            .expect("accepted");
        assert_eq!(job.tool, Tool::Syscalls);
        assert_eq!(job.args.syscalls, ["getppid"]);
    }

    #[test]
    fn a_result_over_the_limit_drops_its_full_summary_then_its_smallest_rows() {
        let mut result = JobResult {
            tool: "profile".into(),
            rows: (0..100)
                .map(|n| Row {
                    key: format!("function {n}"),
                    count: 100 - n,
                    ..Row::default()
                })
                .collect(),
            summary_json: "x".repeat(10_000),
            ..JobResult::default()
        };
        fit(&mut result, 20_000);
        assert_eq!(
            result.summary_json.len(),
            10_000,
            "under the limit: untouched"
        );
        fit(&mut result, 1_000);
        assert!(result.encoded_len() <= 1_000, "{}", result.encoded_len());
        assert!(
            result.summary_json.contains("10000 bytes"),
            "{}",
            result.summary_json
        );
        assert!(!result.rows.is_empty() && result.rows.len() < 100);
        assert_eq!(result.rows[0].key, "function 0", "the largest counts stay");
    }

    #[test]
    fn nanosecond_buckets_fold_into_microsecond_buckets() {
        let latency = Latency {
            histogram: vec![
                Bucket {
                    lt_ns: 512,
                    count: 1,
                },
                Bucket {
                    lt_ns: 1024,
                    count: 2,
                },
                Bucket {
                    lt_ns: 2048,
                    count: 3,
                },
                Bucket {
                    lt_ns: 8192,
                    count: 4,
                },
            ],
            ..Latency::default()
        };
        assert_eq!(histogram_us(&latency), [3, 3, 0, 4]);
    }
}
