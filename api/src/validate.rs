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
    #[error("spec.args.{field}: the {tool} tool needs it ({hint})")]
    MissingArgument {
        field: &'static str,
        tool: Tool,
        hint: &'static str,
    },
}

/// Validates the parts of a spec that the schema cannot.
pub fn validate_spec(spec: &TraceJobSpec) -> Result<(), SpecError> {
    if let Some(duration) = &spec.duration
        && parse_duration(duration)?.is_zero()
    {
        return Err(SpecError::ZeroDuration);
    }
    let args = &spec.args;
    let tool = spec.tool;
    let accepted = accepted_args(tool);
    let given = [
        ("syscalls", !args.syscalls.is_empty()),
        ("failedOnly", args.failed_only),
        ("countOnly", args.count_only),
        ("frequency", args.frequency.is_some()),
        ("perRequest", args.per_request),
        ("function", args.function.is_some()),
        ("binary", args.binary.is_some()),
        ("argTypes", !args.arg_types.is_empty()),
        ("returnType", args.return_type.is_some()),
    ];
    for (field, present) in given {
        if present && !accepted.split(", ").any(|name| name == field) {
            return Err(SpecError::ArgumentNotForTool {
                field,
                tool,
                accepted,
            });
        }
    }
    if matches!(tool, Tool::Funclatency | Tool::Funccount | Tool::Uprobe)
        && args.function.as_deref().is_none_or(str::is_empty)
    {
        let hint = if tool == Tool::Uprobe {
            "the symbol to probe, e.g. readline"
        } else {
            "e.g. vfs_read"
        };
        return Err(SpecError::MissingArgument {
            field: "function",
            tool,
            hint,
        });
    }
    if tool == Tool::Uprobe && args.binary.as_deref().is_none_or(str::is_empty) {
        let hint = "the binary or library that defines the function, e.g. /bin/bash or libc";
        return Err(SpecError::MissingArgument {
            field: "binary",
            tool,
            hint,
        });
    }
    Ok(())
}

fn accepted_args(tool: Tool) -> &'static str {
    match tool {
        Tool::Exec | Tool::Tcp | Tool::Runqlat => "no arguments",
        Tool::Open => "failedOnly",
        Tool::Syscalls => "syscalls, countOnly",
        Tool::Profile => "frequency",
        Tool::Blockio => "perRequest",
        Tool::Funclatency | Tool::Funccount => "function",
        Tool::Uprobe => "binary, function, argTypes, returnType",
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
    fn function_tools_need_their_function_and_uprobe_its_binary() {
        let error = validate_spec(&spec(Tool::Funclatency, ToolArgs::default(), None)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.args.function: the funclatency tool needs it (e.g. vfs_read)"
        );
        let args = ToolArgs {
            function: Some("readline".into()),
            ..ToolArgs::default()
        };
        let error = validate_spec(&spec(Tool::Uprobe, args, None)).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("spec.args.binary: the uprobe tool needs it"),
            "{error}"
        );
        let args = ToolArgs {
            function: Some("readline".into()),
            binary: Some("/bin/bash".into()),
            ..ToolArgs::default()
        };
        assert_eq!(validate_spec(&spec(Tool::Uprobe, args, None)), Ok(()));
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
