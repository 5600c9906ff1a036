//! Which storage a job writes to: its `spec.output.storage` (credentials from a Secret in its
//! namespace) or the operator's default (`TRACEJOB_STORAGE_URL`, credentials from
//! `TRACEJOB_STORAGE_SECRET` in the operator's namespace).

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Client, ResourceExt};
use tracejob_api::TraceJob;
use tracejob_storage::{Credentials, Location, Store};

use super::StorageSettings;

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
pub fn target(job: &TraceJob, settings: &StorageSettings) -> Result<Option<Target>, String> {
    if let Some(storage) = &job.spec.output.storage {
        let location =
            Location::parse(&storage.url).map_err(|e| format!("spec.output.storage.url: {e}"))?;
        let namespace = job.namespace().unwrap_or_default();
        return Ok(Some(Target {
            location,
            secret: storage
                .secret_ref
                .as_ref()
                .map(|s| (namespace, s.name.clone())),
            source: "spec.output.storage",
        }));
    }
    Ok(settings.default.clone())
}

/// Opens the target's store with the credentials of its Secret (none: the operator's
/// environment, e.g. a cloud workload identity).
pub async fn open(client: &Client, target: &Target) -> Result<Store, String> {
    let credentials = match &target.secret {
        Some((namespace, name)) => secret_credentials(client, namespace, name)
            .await
            .map_err(|e| format!("{} {}: {e}", target.source, target.location))?,
        None => Credentials::from_env(),
    };
    Store::open(&target.location, &credentials).map_err(|e| e.one_line())
}

async fn secret_credentials(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Credentials, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get(name)
        .await
        .map_err(|e| format!("cannot read the credentials Secret {namespace}/{name}: {e}"))?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, value) in secret.data.unwrap_or_default() {
        let value = String::from_utf8(value.0).map_err(|_| {
            format!("the credentials Secret {namespace}/{name} has a non-UTF-8 value for {key}")
        })?;
        pairs.push((key, value.trim_end_matches('\n').to_owned()));
    }
    for (key, value) in secret.string_data.unwrap_or_default() {
        pairs.push((key, value));
    }
    Ok(Credentials::new(pairs))
}
