//! `ToolArgs` off the wire into the API's (the conversion is the proto crate's, shared
//! with the operator), a wrong field an InvalidArgument naming it.

use tonic::Status;
use tracejob_api::ToolArgs;
use tracejob_proto::v1;

/// The job's arguments; no arguments are the defaults.
pub fn tool_args(args: Option<&v1::ToolArgs>) -> Result<ToolArgs, Status> {
    args.map_or(Ok(ToolArgs::default()), |args| {
        ToolArgs::try_from(args).map_err(|error| Status::invalid_argument(error.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_arguments_are_the_defaults() {
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
