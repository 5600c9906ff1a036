//! The real local kube-apiserver (`make control-plane-up`): connection, gating, and helpers.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::{Client, Config, CustomResourceExt, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracejob_api::TraceJob;
use tracejob_operator::agents::AgentPool;
use tracejob_operator::agents::memory::InMemoryAgents;
use tracejob_operator::metrics::Metrics;
use tracejob_operator::{Context, Settings, controller};

/// The kubeconfig context `e2e/control-plane.sh` writes; tests refuse any other cluster.
const CONTEXT: &str = "tracejob-test";
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Cluster {
    pub client: Client,
    pub kubeconfig: PathBuf,
}

/// Connects to the local control plane. Without one, the test is skipped with the reason,
/// unless `TRACEJOB_REQUIRE_ALL=1` (CI), which turns the skip into a failure.
pub async fn cluster() -> Option<Cluster> {
    match connect().await {
        Ok(cluster) => Some(cluster),
        Err(reason) if std::env::var("TRACEJOB_REQUIRE_ALL").as_deref() == Ok("1") => {
            panic!("TRACEJOB_REQUIRE_ALL=1 but the local kube-apiserver is not usable: {reason}")
        }
        Err(reason) => {
            // To the process's stderr itself: the harness swallows what a passing test prints.
            let message = format!(
                "skipped: {reason} (run `make control-plane-up` and export the KUBECONFIG it prints)\n"
            );
            match std::fs::OpenOptions::new().write(true).open("/dev/stderr") {
                Ok(mut stderr) => drop(stderr.write_all(message.as_bytes())),
                Err(_) => eprint!("{message}"),
            }
            None
        }
    }
}

async fn connect() -> Result<Cluster, String> {
    let path = kubeconfig_path()?;
    let client = client_for(&PathBuf::from(&path)).await?;
    client
        .apiserver_version()
        .await
        .map_err(|e| format!("the API server in {path} does not answer: {e}"))?;
    install_crd(&client).await;
    Ok(Cluster {
        client,
        kubeconfig: PathBuf::from(path),
    })
}

/// `$KUBECONFIG` when it names the test control plane, else the kubeconfig
/// `e2e/control-plane.sh` writes (in `$TRACEJOB_CP_DIR`, default /tmp/tracejob-control-plane).
fn kubeconfig_path() -> Result<String, String> {
    if let Ok(path) = std::env::var("KUBECONFIG")
        && Kubeconfig::read_from(&path).is_ok_and(|k| k.current_context.as_deref() == Some(CONTEXT))
    {
        return Ok(path);
    }
    let dir = std::env::var("TRACEJOB_CP_DIR")
        .unwrap_or_else(|_| "/tmp/tracejob-control-plane".to_owned());
    let path = format!("{dir}/kubeconfig");
    if std::path::Path::new(&path).exists() {
        Ok(path)
    } else {
        Err(format!(
            "no local control plane: neither KUBECONFIG nor {path} names one"
        ))
    }
}

/// A client from a kubeconfig written by the control-plane script.
pub async fn client_for(path: &PathBuf) -> Result<Client, String> {
    let config = config_for(path).await?;
    Client::try_from(config).map_err(|e| format!("cannot build a client: {e}"))
}

/// The client configuration of a kubeconfig written by the control-plane script.
pub async fn config_for(path: &PathBuf) -> Result<Config, String> {
    let kubeconfig =
        Kubeconfig::read_from(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if kubeconfig.current_context.as_deref() != Some(CONTEXT) {
        return Err(format!(
            "{} is not the local test control plane (context {CONTEXT})",
            path.display()
        ));
    }
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("bad kubeconfig {}: {e}", path.display()))
}

async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("tracejob-tests").force();
    crds.patch(
        "tracejobs.tracejob.io",
        &params,
        &Patch::Apply(TraceJob::crd()),
    )
    .await
    .expect("the CRD applies");
    wait_for(
        crds,
        "tracejobs.tracejob.io",
        conditions::is_crd_established(),
    )
    .await;
}

/// Waits until `condition` holds for the named object, failing after [`WAIT`].
pub async fn wait_for<K>(api: Api<K>, name: &str, condition: impl Condition<K>) -> Option<K>
where
    K: Clone + std::fmt::Debug + Send + DeserializeOwned + Resource + 'static,
{
    tokio::time::timeout(WAIT, await_condition(api, name, condition))
        .await
        .unwrap_or_else(|_| panic!("{name} did not reach the expected state within {WAIT:?}"))
        .expect("the watch works")
}

/// With `TRACEJOB_RECORD_STATUSES=DIR`, each TraceJob a test waited for is written there
/// as JSON (`<name>--<what>.json`): real statuses, for the chart's Argo CD health check
/// fixtures (charts/tracejob/argocd/).
fn record(job: &TraceJob, what: &str) {
    let Ok(dir) = std::env::var("TRACEJOB_RECORD_STATUSES") else {
        return;
    };
    let slug: String = what
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = job.metadata.name.clone().unwrap_or_default();
    let path = std::path::Path::new(&dir).join(format!("{name}--{slug}.json"));
    if let Ok(text) = serde_json::to_string_pretty(job) {
        let _ = std::fs::write(path, text);
    }
}

/// Waits until the TraceJob's status satisfies `check`, and returns the job.
pub async fn wait_for_job(
    api: &Api<TraceJob>,
    name: &str,
    what: &str,
    check: impl Fn(&TraceJob) -> bool,
) -> TraceJob {
    let found = tokio::time::timeout(
        WAIT,
        await_condition(api.clone(), name, move |job: Option<&TraceJob>| {
            job.is_some_and(&check)
        }),
    )
    .await;
    match found {
        Ok(Ok(Some(job))) => {
            record(&job, what);
            job
        }
        _ => {
            let now = api.get_opt(name).await.ok().flatten();
            panic!("{name}: {what} did not happen within {WAIT:?}; the job is now {now:#?}")
        }
    }
}

/// A fresh namespace for one test (never deleted: without a controller-manager a namespace
/// never finishes terminating; the control plane is thrown away instead).
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!("{prefix}-{:x}", nanos ^ std::process::id());
    let api: Api<Namespace> = Api::all(client.clone());
    let namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("a namespace");
    api.create(&PostParams::default(), &namespace)
        .await
        .expect("the namespace is created");
    name
}

/// Creates a Pod object and makes it look Running on `node` with one running container, as
/// a kubelet would report it.
pub async fn running_pod(
    client: &Client,
    namespace: &str,
    name: &str,
    node: &str,
    labels: Value,
    container_id: &str,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "server", "image": "busybox"}]}
    }))
    .expect("a pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("the pod is created");
    let status = json!({"status": {"phase": "Running", "containerStatuses": [{
        "name": "server", "ready": true, "restartCount": 0, "image": "busybox", "imageID": "",
        "containerID": container_id, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("the pod status is patched");
}

/// Running pods labelled `app: web`, `web-1` on the first node, `web-2` on the second and
/// so on, each with one container `containerd://<node's last letter>1` (node-a → a1).
pub async fn web_pods(client: &Client, namespace: &str, nodes: &[&str]) {
    for (i, node) in nodes.iter().enumerate() {
        let letter = node.chars().last().unwrap_or('x');
        running_pod(
            client,
            namespace,
            &format!("web-{}", i + 1),
            node,
            json!({"app": "web"}),
            &format!("containerd://{letter}1"),
        )
        .await;
    }
}

/// Creates a TraceJob from its spec.
pub async fn create_job(
    client: &Client,
    namespace: &str,
    name: &str,
    spec: Value,
) -> Api<TraceJob> {
    let api: Api<TraceJob> = Api::namespaced(client.clone(), namespace);
    let job = serde_json::from_value(json!({
        "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob", "metadata": {"name": name}, "spec": spec
    }))
    .expect("a TraceJob");
    api.create(&PostParams::default(), &job)
        .await
        .expect("the TraceJob is created");
    api
}

/// The operator's controller running in this process, scoped to one namespace.
pub struct Operator {
    /// What the running controller shares (its streams, the live hub).
    pub ctx: Arc<Context>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Operator {
    pub fn start(client: &Client, agents: &Arc<InMemoryAgents>, namespace: &str) -> Self {
        let settings = Settings {
            poll_interval: Duration::from_secs(1),
            ..Settings::default()
        };
        Self::start_with(client, agents, namespace, settings)
    }

    pub fn start_with(
        client: &Client,
        agents: &Arc<InMemoryAgents>,
        namespace: &str,
        settings: Settings,
    ) -> Self {
        let pool: Arc<dyn AgentPool> = agents.clone();
        let ctx = Arc::new(Context::new(
            client.clone(),
            pool,
            Arc::new(Metrics::default()),
            settings,
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(controller::run(
            ctx.clone(),
            Some(namespace.to_owned()),
            async move {
                let _ = stopped.await;
            },
        ));
        Operator {
            ctx,
            stop: Some(stop),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .expect("the controller stops cleanly");
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs kubectl against the test cluster; returns (success, stdout + stderr).
pub fn kubectl(kubeconfig: &PathBuf, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("kubectl reads stdin");
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().expect("kubectl finishes");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A Node object, Ready unless `ready` says otherwise.
pub async fn node(client: &kube::Client, name: &str, ready: bool) {
    use k8s_openapi::api::core::v1::Node;
    use kube::api::{Api, Patch, PatchParams, PostParams};
    let nodes: Api<Node> = Api::all(client.clone());
    let object = serde_json::from_value(json!({"metadata": {"name": name}})).expect("a node");
    nodes
        .create(&PostParams::default(), &object)
        .await
        .expect("the node is created");
    let status = if ready { "True" } else { "False" };
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": status,
        "reason": "Test", "message": "set by the test"}]}});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("the node status is patched");
}
