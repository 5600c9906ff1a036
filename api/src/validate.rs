//! Checks the CRD schema cannot express (the API server here is Kubernetes 1.20: no CEL).

use std::time::Duration;

use crate::duration::parse_duration;
use crate::spec::{Tool, TraceJobSpec};

/// The longest `spec.duration` (30 days); a longer watch is a standing job (no duration).
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// `spec.ttlSecondsAfterFinished` is at most a year.
pub const MAX_TTL_SECONDS: i64 = 365 * 24 * 3600;
/// `spec.args.frequency`, samples per second per CPU.
pub const MIN_FREQUENCY: u32 = 1;
pub const MAX_FREQUENCY: u32 = 10_000;
/// `spec.output.maxEvents`.
pub const MAX_EVENTS: u64 = 100_000_000;
/// `spec.args.argTypes`: the uprobe records at most this many arguments.
pub const MAX_ARG_TYPES: usize = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("spec.duration: {0}")]
    Duration(#[from] crate::duration::DurationError),
    #[error("spec.duration: must be longer than zero")]
    ZeroDuration,
    #[error(
        "spec.duration: {given} is longer than the longest trace, 720h (30 days); leave it out for a standing job"
    )]
    DurationTooLong { given: String },
    #[error("spec.{field}: {value} is out of range (from {min} to {max})")]
    OutOfRange {
        field: &'static str,
        value: String,
        min: String,
        max: String,
    },
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
    if let Some(duration) = &spec.duration {
        let parsed = parse_duration(duration)?;
        if parsed.is_zero() {
            return Err(SpecError::ZeroDuration);
        }
        if parsed > MAX_DURATION {
            return Err(SpecError::DurationTooLong {
                given: duration.clone(),
            });
        }
    }
    check_bounds(spec)?;
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

/// The numeric bounds the CRD schema also states, for manifests that never meet the API
/// server (`tracejob run`) and objects stored before a bound existed.
fn check_bounds(spec: &TraceJobSpec) -> Result<(), SpecError> {
    fn in_range<T: PartialOrd + ToString>(
        field: &'static str,
        value: Option<T>,
        min: T,
        max: T,
    ) -> Result<(), SpecError> {
        match value {
            Some(value) if value < min || value > max => Err(SpecError::OutOfRange {
                field,
                value: value.to_string(),
                min: min.to_string(),
                max: max.to_string(),
            }),
            _ => Ok(()),
        }
    }
    in_range(
        "ttlSecondsAfterFinished",
        spec.ttl_seconds_after_finished,
        0,
        MAX_TTL_SECONDS,
    )?;
    in_range(
        "args.frequency",
        spec.args.frequency,
        MIN_FREQUENCY,
        MAX_FREQUENCY,
    )?;
    in_range("output.maxEvents", spec.output.max_events, 0, MAX_EVENTS)?;
    in_range(
        "args.argTypes",
        Some(spec.args.arg_types.len()),
        0,
        MAX_ARG_TYPES,
    )?;
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
    fn numbers_outside_their_bounds_are_rejected_naming_the_field_and_the_range() {
        let mut profile = spec(Tool::Profile, ToolArgs::default(), None);
        profile.args.frequency = Some(0);
        assert_eq!(
            validate_spec(&profile).unwrap_err().to_string(),
            "spec.args.frequency: 0 is out of range (from 1 to 10000)"
        );
        let mut ttl = spec(Tool::Exec, ToolArgs::default(), None);
        ttl.ttl_seconds_after_finished = Some(-1);
        assert!(
            validate_spec(&ttl)
                .unwrap_err()
                .to_string()
                .starts_with("spec.ttlSecondsAfterFinished: -1 is out of range"),
        );
        let mut events = spec(Tool::Exec, ToolArgs::default(), None);
        events.output.max_events = Some(MAX_EVENTS + 1);
        assert!(
            validate_spec(&events)
                .unwrap_err()
                .to_string()
                .starts_with("spec.output.maxEvents: 100000001 is out of range"),
        );
    }

    #[test]
    fn a_duration_past_thirty_days_is_rejected() {
        let error =
            validate_spec(&spec(Tool::Exec, ToolArgs::default(), Some("721h"))).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("spec.duration: 721h is longer"),
            "{error}"
        );
        assert_eq!(
            validate_spec(&spec(Tool::Exec, ToolArgs::default(), Some("720h"))),
            Ok(())
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
