//! Which storage a job writes to: its `spec.output.storage` (credentials from a Secret in its
//! namespace) or the operator's default (`TRACEJOB_STORAGE_URL`, credentials from
//! `TRACEJOB_STORAGE_SECRET` in the operator's namespace).

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Client, ResourceExt};
use tracejob_api::TraceJob;
use tracejob_storage::{Credentials, Location, Scheme, Store};

use super::StorageSettings;
use super::error::{SpecError, WriteError};

/// A job's storage, resolved from its spec or the operator's default.
#[derive(Clone, Debug)]
pub struct Target {
    pub location: Location,
    /// `(namespace, name)` of the Secret holding the credentials.
    pub secret: Option<(String, String)>,
    /// Where the configuration came from, for messages.
    pub source: &'static str,
}

/// The job's storage; `Ok(None)` when neither the spec nor the operator names one.
///
/// Tenancy: only the operator's default storage (or a place under it) is written with the
/// operator's own credentials; any other URL needs the job's own `secretRef`, so a tenant
/// cannot borrow the operator's identity for a bucket of its choosing. `file://` in a spec
/// writes into the operator's own filesystem, outside the spool's bound: refused unless
/// the operator allows it (`--allow-file-storage`, for single-host and test setups).
pub fn target(job: &TraceJob, settings: &StorageSettings) -> Result<Option<Target>, SpecError> {
    let Some(storage) = &job.spec.output.storage else {
        return Ok(settings.default.clone());
    };
    let location = Location::parse(&storage.url).map_err(|e| SpecError::Url(Box::new(e)))?;
    if location.scheme() == Scheme::File && !settings.allow_file_urls {
        return Err(SpecError::FileRefused(location.to_string()));
    }
    let namespace = job.namespace().unwrap_or_default();
    if let Some(allowed) = settings
        .allowed_prefixes
        .get(&namespace)
        .or_else(|| settings.allowed_prefixes.get("*"))
        && !allowed
            .iter()
            .filter_map(|prefix| Location::parse(prefix).ok())
            .any(|prefix| is_under(&location, &prefix))
    {
        return Err(SpecError::NotAllowed {
            location: location.to_string(),
            namespace,
            allowed: allowed.join(", "),
        });
    }
    if let Some(secret) = &storage.secret_ref {
        return Ok(Some(Target {
            location,
            secret: Some((namespace, secret.name.clone())),
            source: "spec.output.storage",
        }));
    }
    match &settings.default {
        Some(default) if is_under(&location, &default.location) => Ok(Some(Target {
            location,
            secret: default.secret.clone(),
            source: "spec.output.storage (under the operator's default storage)",
        })),
        _ if location.scheme() == Scheme::File => Ok(Some(Target {
            location,
            secret: None,
            source: "spec.output.storage",
        })),
        _ => Err(SpecError::NeedsSecret {
            location: location.to_string(),
            namespace,
        }),
    }
}

/// Whether `inner` is `outer` or a place under it (same store, longer prefix).
fn is_under(inner: &Location, outer: &Location) -> bool {
    let (inner, outer) = (inner.as_str(), outer.as_str());
    inner == outer || inner.starts_with(&format!("{outer}/"))
}

/// Opens the target's store with the credentials of its Secret (none: the operator's
/// environment, e.g. a cloud workload identity).
pub async fn open(client: &Client, target: &Target) -> Result<Store, WriteError> {
    let credentials = match &target.secret {
        Some((namespace, name)) => secret_credentials(client, target, namespace, name).await?,
        None => Credentials::from_env(),
    };
    Ok(Store::open(&target.location, &credentials)?)
}

async fn secret_credentials(
    client: &Client,
    target: &Target,
    namespace: &str,
    name: &str,
) -> Result<Credentials, WriteError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api.get(name).await.map_err(|error| WriteError::Secret {
        source_name: target.source,
        location: target.location.to_string(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        error,
    })?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, value) in secret.data.unwrap_or_default() {
        let value = String::from_utf8(value.0).map_err(|_| WriteError::SecretNotUtf8 {
            source_name: target.source,
            location: target.location.to_string(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.clone(),
        })?;
        pairs.push((key, value.trim_end_matches('\n').to_owned()));
    }
    for (key, value) in secret.string_data.unwrap_or_default() {
        pairs.push((key, value));
    }
    Ok(Credentials::new(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(storage: serde_json::Value) -> TraceJob {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
            "metadata": {"name": "j", "namespace": "tenant"},
            "spec": {"tool": "exec", "output": {"storage": storage}}
        }))
        .expect("a job")
    }

    fn settings(allow_file_urls: bool) -> StorageSettings {
        StorageSettings {
            default: Some(Target {
                location: Location::parse("s3://shared/traces").expect("a URL"),
                secret: Some(("ops".into(), "storage".into())),
                source: "the operator's default storage",
            }),
            allow_file_urls,
            ..StorageSettings::default()
        }
    }

    #[test]
    fn which_storage_a_tenant_may_reach_and_with_whose_credentials() {
        let ok = |url: &str, secret: Option<&str>, allow: bool| {
            let storage = match secret {
                Some(name) => serde_json::json!({"url": url, "secretRef": {"name": name}}),
                None => serde_json::json!({"url": url}),
            };
            target(&job(storage), &settings(allow))
                .map(|t| t.and_then(|t| t.secret))
                .map_err(|e| e.to_string())
        };
        // Another bucket with the job's own Secret: the job's credentials.
        assert_eq!(
            ok("s3://mine/x", Some("creds"), false),
            Ok(Some(("tenant".into(), "creds".into())))
        );
        // Under the operator's default: the operator's credentials.
        assert_eq!(
            ok("s3://shared/traces/tenant", None, false),
            Ok(Some(("ops".into(), "storage".into())))
        );
        // Anywhere else without a Secret: refused, naming the field.
        for url in ["s3://other/x", "s3://shared/tracesX", "s3://shared"] {
            let error = ok(url, None, false).expect_err(url);
            assert!(
                error.starts_with("spec.output.storage.secretRef: "),
                "{error}"
            );
        }
        // file:// only when the operator allows it.
        let error = ok("file:///etc", None, false).expect_err("file:// refused");
        assert!(
            error.starts_with("spec.output.storage.url: file:///etc: file://"),
            "{error}"
        );
        assert_eq!(ok("file:///tmp/x", None, true), Ok(None));
    }

    #[test]
    fn a_namespace_with_an_allow_list_writes_only_under_its_prefixes() {
        let mut settings = settings(false);
        settings
            .allowed_prefixes
            .insert("tenant".into(), vec!["s3://team-a/traces".into()]);
        settings
            .allowed_prefixes
            .insert("*".into(), vec!["s3://common".into()]);
        let with_secret =
            |url: &str| serde_json::json!({"url": url, "secretRef": {"name": "creds"}});
        assert!(target(&job(with_secret("s3://team-a/traces/x")), &settings).is_ok());
        let error = target(&job(with_secret("s3://team-b/x")), &settings)
            .expect_err("refused")
            .to_string();
        assert_eq!(
            error,
            "spec.output.storage.url: s3://team-b/x is not under a storage URL namespace \
             tenant may use (s3://team-a/traces)"
        );
        let mut elsewhere = job(with_secret("s3://common/x"));
        elsewhere.metadata.namespace = Some("other".into());
        assert!(
            target(&elsewhere, &settings).is_ok(),
            "`*` covers other namespaces"
        );
        elsewhere.spec.output.storage = Some(tracejob_api::StorageSpec {
            url: "s3://team-a/traces".into(),
            secret_ref: Some(tracejob_api::SecretRef {
                name: "creds".into(),
            }),
        });
        assert!(target(&elsewhere, &settings).is_err());
    }

    #[test]
    fn a_job_without_storage_gets_the_operator_default() {
        let mut plain = job(serde_json::json!({"url": "s3://x/y"}));
        plain.spec.output.storage = None;
        let found = target(&plain, &settings(false)).expect("no error");
        assert_eq!(
            found.map(|t| t.location.to_string()),
            Some("s3://shared/traces".to_owned())
        );
    }
}
