//! Everything started together: certificates, the simulated agents on their loopback
//! addresses, the Node and Pod objects, a Garage S3 server and the real operator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube::api::{Api, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Client, ResourceExt};
use serde_json::json;
use tracejob_api::TraceJob;
use tracejob_testkit::garage::{BUCKET, Garage};

use crate::certs::FleetTls;
use crate::cluster::{APP, SimCluster};
use crate::operator::{self, Operator, Options};
use crate::sim::{Fleet, Production};

/// The size and pace of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub nodes: usize,
    pub pods_per_node: usize,
    pub production: Production,
    pub poll_seconds: u64,
    pub node_lost_grace_seconds: u64,
    pub flush_seconds: u64,
    /// Start a Garage S3 server and make it the operator's default storage.
    pub storage: bool,
}

pub struct Harness {
    pub client: Client,
    pub fleet: Arc<Fleet>,
    pub cluster: SimCluster,
    /// The operator, started again (as its Deployment would) whenever it exits.
    pub operator: Arc<tokio::sync::Mutex<Operator>>,
    /// Why the operator exited, once per restart.
    pub restarts: Arc<std::sync::Mutex<Vec<String>>>,
    supervisor: tokio::task::JoinHandle<()>,
    pub garage: Option<Garage>,
    /// The operator's default storage and its credentials.
    pub storage: Option<(String, Vec<(String, String)>)>,
    pub work_dir: PathBuf,
    servers: Vec<tokio::task::JoinHandle<()>>,
    _tls: FleetTls,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("cluster", &self.cluster)
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl Harness {
    pub async fn start(
        client: Client,
        kubeconfig: PathBuf,
        operator_binary: &std::path::Path,
        settings: &Settings,
    ) -> anyhow::Result<Self> {
        let cluster = SimCluster::create(client.clone(), settings.nodes, settings.pods_per_node)
            .await
            .context("cannot create the fleet's Nodes and Pods")?;
        let work_dir = std::env::temp_dir().join(format!("tracejob-{}", cluster.namespace));
        let tls = FleetTls::create(&work_dir.join("tls"))?;
        let fleet = Fleet::new(settings.production);
        let port = operator::free_port()?;
        let mut servers = Vec::with_capacity(cluster.nodes.len());
        for node in &cluster.nodes {
            let sim = fleet.add_node(&node.name);
            let address = SocketAddr::from((node.ip, port));
            servers.push(
                crate::service::serve(fleet.clone(), sim, address, tls.server())
                    .await
                    .with_context(|| format!("cannot serve a simulated agent on {address}"))?,
            );
        }
        let garage = if settings.storage {
            Some(
                tokio::task::spawn_blocking(Garage::start)
                    .await
                    .context("Garage did not start")?,
            )
        } else {
            None
        };
        let storage = garage.as_ref().map(|g| {
            (
                format!("s3://{BUCKET}/{}", cluster.namespace),
                g.credentials(),
            )
        });
        let options = Options {
            kubeconfig,
            namespace: cluster.namespace.clone(),
            agent_port: port,
            poll_seconds: settings.poll_seconds,
            node_lost_grace_seconds: settings.node_lost_grace_seconds,
            flush_seconds: settings.flush_seconds,
            storage: storage.clone(),
            work_dir: work_dir.join("operator"),
        };
        let operator = Arc::new(tokio::sync::Mutex::new(
            Operator::start(operator_binary, &tls, &options).await?,
        ));
        let restarts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let supervisor = tokio::spawn(supervise(operator.clone(), restarts.clone()));
        Ok(Harness {
            client,
            fleet,
            cluster,
            operator,
            restarts,
            supervisor,
            garage,
            storage,
            work_dir,
            servers,
            _tls: tls,
        })
    }

    pub fn jobs(&self) -> Api<TraceJob> {
        Api::namespaced(self.client.clone(), &self.cluster.namespace)
    }

    /// Creates a job tracing every fleet pod (`exec`), keeping its events or only counts.
    pub async fn apply_job(
        &self,
        name: &str,
        duration: Option<&str>,
        events: bool,
    ) -> anyhow::Result<TraceJob> {
        let mut spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": APP}},
                              "output": {"events": events}});
        if let Some(duration) = duration {
            spec["duration"] = json!(duration);
        }
        let job: TraceJob = serde_json::from_value(json!({
            "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
            "metadata": {"name": name, "namespace": self.cluster.namespace},
            "spec": spec
        }))?;
        Ok(self.jobs().create(&PostParams::default(), &job).await?)
    }

    /// Waits at most `limit` for the job to satisfy `check`.
    pub async fn wait_job(
        &self,
        name: &str,
        limit: Duration,
        check: impl Fn(&TraceJob) -> bool + Send + 'static,
    ) -> anyhow::Result<TraceJob> {
        let waited = tokio::time::timeout(
            limit,
            await_condition(self.jobs(), name, move |job: Option<&TraceJob>| {
                job.is_some_and(&check)
            }),
        )
        .await;
        match waited {
            Ok(Ok(Some(job))) => Ok(job),
            _ => {
                let now = self.jobs().get_opt(name).await.ok().flatten();
                anyhow::bail!(
                    "job {name} did not reach the expected state within {limit:?}; it is now {:#?}\noperator log:\n{}",
                    now.map(|j| j.status),
                    self.operator.lock().await.log_tail()
                )
            }
        }
    }

    /// The node goes away: its agent stops answering, then its Node and Pods are deleted.
    pub async fn lose_node(&self, node: &str) -> anyhow::Result<()> {
        self.fleet.kill(node);
        self.cluster.delete_node(node).await
    }

    /// Stops the operator and the agents, removes the Node objects and the work directory.
    pub async fn stop(self) {
        self.supervisor.abort();
        self.operator.lock().await.stop().await;
        for name in self.cluster.nodes.iter().map(|n| n.name.clone()) {
            self.fleet.kill(&name);
        }
        for server in self.servers {
            server.abort();
        }
        self.cluster.delete_nodes().await;
        drop(self.garage);
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }

    /// The operator's memory and CPU so far (of its current process).
    pub async fn usage(&self) -> anyhow::Result<operator::Usage> {
        self.operator.lock().await.usage()
    }

    /// Why the operator exited, each time it did.
    pub fn restart_reasons(&self) -> Vec<String> {
        self.restarts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn uid(job: &TraceJob) -> String {
        job.uid().unwrap_or_default()
    }
}

/// Starts the operator again whenever it exits, recording why.
async fn supervise(
    operator: Arc<tokio::sync::Mutex<Operator>>,
    restarts: Arc<std::sync::Mutex<Vec<String>>>,
) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut operator = operator.lock().await;
        let Some(reason) = operator.exited() else {
            continue;
        };
        tracing::warn!(%reason, "the operator exited; starting it again");
        restarts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(reason);
        if let Err(error) = operator.restart().await {
            tracing::warn!(%error, "the operator did not come back");
        }
    }
}
