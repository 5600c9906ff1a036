//! A TraceJob's `spec.args` (`tracejob_api::ToolArgs`) and the `ToolArgs` message, both
//! ways: the operator sends them, the node agent reads them back, each field checked.

use tracejob_api::{ToolArgs, ValueType};

use crate::ConvertError;
use crate::v1;

impl From<&ToolArgs> for v1::ToolArgs {
    fn from(args: &ToolArgs) -> Self {
        v1::ToolArgs {
            syscalls: args.syscalls.clone(),
            count_only: args.count_only,
            failed_only: args.failed_only,
            frequency: args.frequency,
            per_request: args.per_request,
            function: args.function.clone(),
            binary: args.binary.clone(),
            arg_types: args
                .arg_types
                .iter()
                .map(|t| v1::ValueType::from(*t) as i32)
                .collect(),
            return_type: args.return_type.map(|t| v1::ValueType::from(t) as i32),
        }
    }
}

impl TryFrom<&v1::ToolArgs> for ToolArgs {
    type Error = ConvertError;

    /// [`ConvertError::UnknownValueType`] naming the field (`args.argTypes[1]`) for a value
    /// type this agent does not know.
    fn try_from(args: &v1::ToolArgs) -> Result<Self, ConvertError> {
        let arg_types = args
            .arg_types
            .iter()
            .enumerate()
            .map(|(i, raw)| value_type(format!("args.argTypes[{i}]"), *raw))
            .collect::<Result<_, _>>()?;
        let return_type = args
            .return_type
            .map(|raw| value_type("args.returnType".to_owned(), raw))
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
}

impl From<ValueType> for v1::ValueType {
    fn from(value_type: ValueType) -> Self {
        match value_type {
            ValueType::Int => v1::ValueType::Int,
            ValueType::Long => v1::ValueType::Long,
            ValueType::Pointer => v1::ValueType::Pointer,
            ValueType::String => v1::ValueType::String,
            ValueType::None => v1::ValueType::None,
        }
    }
}

fn value_type(field: String, raw: i32) -> Result<ValueType, ConvertError> {
    match v1::ValueType::try_from(raw) {
        Ok(v1::ValueType::Int) => Ok(ValueType::Int),
        Ok(v1::ValueType::Long) => Ok(ValueType::Long),
        Ok(v1::ValueType::Pointer) => Ok(ValueType::Pointer),
        Ok(v1::ValueType::String) => Ok(ValueType::String),
        Ok(v1::ValueType::None) => Ok(ValueType::None),
        Ok(v1::ValueType::Unspecified) | Err(_) => {
            Err(ConvertError::UnknownValueType { field, raw })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_argument_comes_back_from_its_message_unchanged() {
        let args = ToolArgs {
            syscalls: vec!["openat".into(), "read".into()],
            count_only: true,
            failed_only: true,
            frequency: Some(49),
            per_request: true,
            function: Some("readline".into()),
            binary: Some("/bin/bash".into()),
            arg_types: vec![
                ValueType::Int,
                ValueType::Long,
                ValueType::Pointer,
                ValueType::String,
                ValueType::None,
            ],
            return_type: Some(ValueType::String),
        };
        let message = v1::ToolArgs::from(&args);
        let encoded = prost::Message::encode_to_vec(&message);
        let decoded: v1::ToolArgs = prost::Message::decode(encoded.as_slice()).expect("decodes");
        assert_eq!(ToolArgs::try_from(&decoded).expect("accepted"), args);
        let none = ToolArgs::default();
        assert_eq!(
            ToolArgs::try_from(&v1::ToolArgs::from(&none)).expect("accepted"),
            none
        );
    }

    #[test]
    fn an_unknown_value_type_is_refused_naming_the_field() {
        let error = ToolArgs::try_from(&v1::ToolArgs {
            arg_types: vec![v1::ValueType::Int as i32, 42],
            ..v1::ToolArgs::default()
        })
        .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "args.argTypes[1]: 42 is not a value type (int, long, pointer, string or none)"
        );
        let unspecified = ToolArgs::try_from(&v1::ToolArgs {
            return_type: Some(v1::ValueType::Unspecified as i32),
            ..v1::ToolArgs::default()
        })
        .expect_err("refused");
        assert!(
            unspecified.to_string().starts_with("args.returnType: 0"),
            "{unspecified}"
        );
    }
}
