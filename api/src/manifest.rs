//! Reading TraceJob manifests from YAML, as `kubectl apply` would take them.

use crate::spec::TraceJob;
use crate::validate::{SpecError, validate_spec};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not valid YAML for a TraceJob: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("the manifest is a {found}, not a tracejob.io/v1alpha1 TraceJob")]
    WrongKind { found: String },
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// Parses and validates one TraceJob manifest.
pub fn parse_manifest(yaml: &str) -> Result<TraceJob, ManifestError> {
    let header: serde_yaml::Value = serde_yaml::from_str(yaml)?;
    let api_version = header
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or("<no apiVersion>");
    let kind = header
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or("<no kind>");
    if api_version != "tracejob.io/v1alpha1" || kind != "TraceJob" {
        return Err(ManifestError::WrongKind {
            found: format!("{api_version} {kind}"),
        });
    }
    let job: TraceJob = serde_yaml::from_value(header)?;
    validate_spec(&job.spec)?;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Tool;

    #[test]
    fn a_minimal_manifest_parses_with_defaults() {
        let job = parse_manifest(
            "apiVersion: tracejob.io/v1alpha1\nkind: TraceJob\nmetadata: {name: t}\nspec: {tool: open}\n",
        )
        .expect("valid manifest");
        assert_eq!(job.spec.tool, Tool::Open);
        assert!(job.spec.output.events);
        assert_eq!(job.spec.duration, None);
    }

    #[test]
    fn unknown_fields_and_tools_are_named_in_the_error() {
        let unknown_field = parse_manifest(
            "apiVersion: tracejob.io/v1alpha1\nkind: TraceJob\nmetadata: {name: t}\nspec: {tool: open, colour: red}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(unknown_field.contains("colour"), "{unknown_field}");
        let unknown_tool = parse_manifest(
            "apiVersion: tracejob.io/v1alpha1\nkind: TraceJob\nmetadata: {name: t}\nspec: {tool: dtrace}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(unknown_tool.contains("dtrace"), "{unknown_tool}");
    }

    #[test]
    fn other_kinds_are_refused() {
        let error = parse_manifest("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the manifest is a v1 Pod, not a tracejob.io/v1alpha1 TraceJob"
        );
    }
}
