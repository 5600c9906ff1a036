//! Checks the CRD schema cannot express (the API server here is Kubernetes 1.20: no CEL).

use crate::duration::parse_duration;
use crate::spec::{Tool, TraceJobSpec};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("spec.duration: {0}")]
    Duration(#[from] crate::duration::DurationError),
    #[error("spec.duration: must be longer than zero")]
    ZeroDuration,
    #[error("spec.args.{field}: not an argument of the {tool} tool (it takes: {accepted})")]
    ArgumentNotForTool {
        field: &'static str,
        tool: Tool,
        accepted: &'static str,
    },
}

/// Validates the parts of a spec that the schema cannot.
pub fn validate_spec(spec: &TraceJobSpec) -> Result<(), SpecError> {
    if let Some(duration) = &spec.duration
        && parse_duration(duration)?.is_zero()
    {
        return Err(SpecError::ZeroDuration);
    }
    let accepted = accepted_args(spec.tool);
    let given = [
        ("syscalls", !spec.args.syscalls.is_empty()),
        ("failedOnly", spec.args.failed_only),
    ];
    for (field, present) in given {
        if present && !accepted.split(", ").any(|name| name == field) {
            return Err(SpecError::ArgumentNotForTool {
                field,
                tool: spec.tool,
                accepted,
            });
        }
    }
    Ok(())
}

fn accepted_args(tool: Tool) -> &'static str {
    match tool {
        Tool::Exec => "no arguments",
        Tool::Open => "failedOnly",
        Tool::Syscalls => "syscalls",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ToolArgs;

    fn spec(tool: Tool, args: ToolArgs, duration: Option<&str>) -> TraceJobSpec {
        TraceJobSpec {
            tool,
            args,
            duration: duration.map(str::to_owned),
            ..TraceJobSpec::default()
        }
    }

    #[test]
    fn arguments_of_another_tool_are_rejected_with_the_accepted_list() {
        let args = ToolArgs {
            syscalls: vec!["read".into()],
            ..ToolArgs::default()
        };
        let error = validate_spec(&spec(Tool::Open, args, None)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.args.syscalls: not an argument of the open tool (it takes: failedOnly)"
        );
    }

    #[test]
    fn zero_and_malformed_durations_are_rejected() {
        assert_eq!(
            validate_spec(&spec(Tool::Exec, ToolArgs::default(), Some("0s"))),
            Err(SpecError::ZeroDuration)
        );
        assert!(matches!(
            validate_spec(&spec(Tool::Exec, ToolArgs::default(), Some("-1s"))),
            Err(SpecError::Duration(_))
        ));
        assert_eq!(
            validate_spec(&spec(Tool::Exec, ToolArgs::default(), Some("2s"))),
            Ok(())
        );
    }
}
