//! Connecting to the cluster, kubectl, namespaces, and waiting on conditions.

use std::future::Future;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

/// The cluster `KUBECONFIG` names (the suite never guesses another one).
pub async fn client() -> Client {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: run the suite with `make e2e` (or e2e/kind), which exports it"
    );
    Client::try_default()
        .await
        .unwrap_or_else(|e| panic!("cannot use the cluster in KUBECONFIG: {e}"))
}

/// `kubectl <args>` with `stdin`; Ok(stdout) or Err(stderr).
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new("kubectl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes())
            .expect("write kubectl's stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("kubectl runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `kubectl apply -f -`, as a user applies a manifest.
pub fn apply(manifest: &str) -> Result<String, String> {
    kubectl(&["apply", "-f", "-"], Some(manifest))
}

/// A namespace of the test's own, emptied of whatever an earlier run left.
pub async fn fresh_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await.expect("read namespace").is_some() {
        // Jobs first: their finalizer needs the operator, which is up now.
        let _ = kubectl(
            &["delete", "tracejobs", "--all", "-n", name, "--wait=true"],
            None,
        );
        let _ = api.delete(name, &DeleteParams::default()).await;
        wait_until(&format!("namespace {name} gone"), crate::WAIT, || {
            let api = api.clone();
            async move {
                api.get_opt(name)
                    .await
                    .ok()
                    .flatten()
                    .is_none()
                    .then_some(())
            }
        })
        .await;
    }
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace object");
    api.create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("cannot create namespace {name}: {e}"));
    wait_until(
        &format!("service account default in {name}"),
        crate::WAIT,
        || async move {
            kubectl(&["get", "serviceaccount", "default", "-n", name], None)
                .ok()
                .map(|_| ())
        },
    )
    .await;
}

/// Polls `check` every 100 ms until it returns Some, failing the test after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
