//! `ToolArgs` off the wire into the API's, each field checked and named when it is wrong.

use tonic::Status;
use tracejob_api::{ToolArgs, ValueType};
use tracejob_proto::v1;

/// The job's arguments; no arguments are the defaults.
pub fn tool_args(args: Option<&v1::ToolArgs>) -> Result<ToolArgs, Status> {
    let Some(args) = args else {
        return Ok(ToolArgs::default());
    };
    let arg_types = args
        .arg_types
        .iter()
        .enumerate()
        .map(|(i, raw)| value_type(&format!("args.argTypes[{i}]"), *raw))
        .collect::<Result<_, _>>()?;
    let return_type = args
        .return_type
        .map(|raw| value_type("args.returnType", raw))
        .transpose()?;
    Ok(ToolArgs {
        syscalls: args.syscalls.clone(),
        count_only: args.count_only,
        failed_only: args.failed_only,
        frequency: args.frequency,
        per_request: args.per_request,
        function: args.function.clone(),
        binary: args.binary.clone(),
        arg_types,
        return_type,
    })
}

fn value_type(field: &str, raw: i32) -> Result<ValueType, Status> {
    match v1::ValueType::try_from(raw) {
        Ok(v1::ValueType::Int) => Ok(ValueType::Int),
        Ok(v1::ValueType::Long) => Ok(ValueType::Long),
        Ok(v1::ValueType::Pointer) => Ok(ValueType::Pointer),
        Ok(v1::ValueType::String) => Ok(ValueType::String),
        Ok(v1::ValueType::None) => Ok(ValueType::None),
        Ok(v1::ValueType::Unspecified) | Err(_) => Err(Status::invalid_argument(format!(
            "{field}: {raw} is not a value type (int, long, pointer, string or none)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_arguments_are_read_field_by_field() {
        let args = tool_args(Some(&v1::ToolArgs {
            function: Some("readline".into()),
            binary: Some("/bin/bash".into()),
            arg_types: vec![v1::ValueType::String as i32, v1::ValueType::Int as i32],
            return_type: Some(v1::ValueType::Long as i32),
            frequency: Some(49),
            ..v1::ToolArgs::default()
        }))
        .expect("accepted");
        assert_eq!(args.function.as_deref(), Some("readline"));
        assert_eq!(args.arg_types, [ValueType::String, ValueType::Int]);
        assert_eq!(args.return_type, Some(ValueType::Long));
        assert_eq!(args.frequency, Some(49));
        assert_eq!(tool_args(None).expect("none"), ToolArgs::default());
    }

    #[test]
    fn an_unknown_value_type_is_an_invalid_argument_naming_the_field() {
        let status = tool_args(Some(&v1::ToolArgs {
            arg_types: vec![v1::ValueType::Int as i32, 42],
            ..v1::ToolArgs::default()
        }))
        .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().starts_with("args.argTypes[1]: 42"),
            "{}",
            status.message()
        );
    }
}
