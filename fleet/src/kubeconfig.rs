//! The local test control plane (`e2e/control-plane.sh`, or `e2e/ci-operator.sh` under
//! `make test`): its kubeconfig, a client, and the TraceJob CRD installed.

use std::path::PathBuf;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config, CustomResourceExt};
use tracejob_api::TraceJob;

/// The context the control-plane script writes; nothing else is ever driven.
pub const CONTEXT: &str = "tracejob-test";

/// `$KUBECONFIG` when it names the test control plane, else `$TRACEJOB_CP_DIR/kubeconfig`.
pub fn path() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("KUBECONFIG")
        && Kubeconfig::read_from(&path).is_ok_and(|k| k.current_context.as_deref() == Some(CONTEXT))
    {
        return Ok(PathBuf::from(path));
    }
    let dir = std::env::var("TRACEJOB_CP_DIR")
        .unwrap_or_else(|_| "/tmp/tracejob-control-plane".to_owned());
    let path = PathBuf::from(format!("{dir}/kubeconfig"));
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "no local control plane: neither KUBECONFIG nor {} names one",
            path.display()
        ))
    }
}

/// A client of the test control plane, with the TraceJob CRD established.
pub async fn connect() -> Result<(Client, PathBuf), String> {
    let path = path()?;
    let kubeconfig =
        Kubeconfig::read_from(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if kubeconfig.current_context.as_deref() != Some(CONTEXT) {
        return Err(format!(
            "{} is not the local test control plane",
            path.display()
        ));
    }
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("bad kubeconfig {}: {e}", path.display()))?;
    let client = Client::try_from(config).map_err(|e| format!("cannot build a client: {e}"))?;
    client
        .apiserver_version()
        .await
        .map_err(|e| format!("the API server in {} does not answer: {e}", path.display()))?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "tracejobs.tracejob.io",
        &PatchParams::apply("tracejob-fleet").force(),
        &Patch::Apply(TraceJob::crd()),
    )
    .await
    .map_err(|e| format!("cannot install the TraceJob CRD: {e}"))?;
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        await_condition(
            crds,
            "tracejobs.tracejob.io",
            conditions::is_crd_established(),
        ),
    )
    .await
    .map_err(|_| "the TraceJob CRD was not established within 30 s".to_owned())?
    .map_err(|e| format!("cannot watch the CRD: {e}"))?;
    Ok((client, path))
}
