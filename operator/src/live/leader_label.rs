//! The live API's Service selects the operator pod labelled [`LABEL`]: the leader labels its
//! own pod once it listens, and every process takes the label off its pod when it starts
//! (it may be a restarted former leader), so the API server reaches the leader only.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

pub const LABEL: &str = "tracejob.io/live-leader";

/// The operator's own pod (from POD_NAMESPACE and POD_NAME).
#[derive(Clone, Debug)]
pub struct OwnPod {
    pub namespace: String,
    pub name: String,
}

/// Sets (or takes off) the label on the pod; a failure is logged, since only `tracejob
/// logs` depends on it.
pub async fn label(client: Client, pod: &OwnPod, leading: bool) {
    let api: Api<Pod> = Api::namespaced(client, &pod.namespace);
    let value = if leading { json!("true") } else { Value::Null };
    let patch = json!({"metadata": {"labels": {LABEL: value}}});
    if let Err(error) = api
        .patch(&pod.name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        tracing::warn!(pod = %pod.name, %error, leading, "cannot label the operator's pod for tracejob logs");
    }
}
