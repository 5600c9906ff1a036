//! `tracejob-operator`: runs the TraceJob controller against the cluster the usual
//! kubeconfig rules select (in-cluster config, `KUBECONFIG`, `~/.kube/config`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kube::Client;
use tokio::net::TcpListener;
use tracejob_operator::agents::AgentPool;
use tracejob_operator::agents::grpc::{Addresses, ClientTls, GrpcAgents};
use tracejob_operator::agents::memory::InMemoryAgents;
use tracejob_operator::leader::LeaseLock;
use tracejob_operator::live::leader_label::OwnPod;
use tracejob_operator::live::{self, LiveSettings};
use tracejob_operator::metrics::Metrics;
use tracejob_operator::nodes::NodeCache;
use tracejob_operator::renewer::{LeaseName, Renewer};
use tracejob_operator::server::{self, Health};
use tracejob_operator::storage::{StorageSettings, Target};
use tracejob_operator::{Context, Settings, controller};
use tracejob_storage::Location;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, env = "TRACEJOB_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Only this namespace's TraceJobs (default: every namespace).
    #[arg(long, env = "TRACEJOB_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Namespace of the leader-election Lease (in a pod: its own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    #[arg(long, default_value = "tracejob-operator")]
    lease_name: String,
    /// This replica's name in the Lease (in a pod: its name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a leader's Lease lasts without renewal. The leader steps down after 2/3 of it
    /// without a successful renewal and retries every 2/15 of it (client-go's 15/10/2 s).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..=3600))]
    lease_seconds: u64,
    /// Seconds between looks at a running job without a reason. Its counts do not wait for
    /// this: they arrive on the agents' result streams and update the status at once.
    #[arg(long, default_value_t = 10)]
    poll_seconds: u64,
    /// The least time, in milliseconds, between two writes of one job's status: a job whose
    /// counts change all the time is written at most this often.
    #[arg(long, env = "TRACEJOB_STATUS_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    status_interval_ms: u64,
    /// Seconds a node's agent may fail to answer a stop before the node counts as lost (the
    /// job then completes, or its deletion ends, without it). A deleted or NotReady node
    /// counts as lost at once.
    #[arg(long, env = "TRACEJOB_NODE_LOST_GRACE_SECONDS", default_value_t = 120)]
    node_lost_grace_seconds: u64,
    /// Where each node's tracejob-agent listens; `{node}` is the node's name and `{node_ip}`
    /// its InternalIP, e.g. `https://{node_ip}:7443`. Absent: in-process simulated agents that trace nothing.
    #[arg(long, env = "TRACEJOB_AGENT_ADDRESS")]
    agent_address: Option<String>,
    /// The CA that signed the agents' certificates (PEM).
    #[arg(long, env = "TRACEJOB_AGENT_CA", requires = "agent_address")]
    agent_ca: Option<PathBuf>,
    /// The operator's client certificate and key, signed by the CA the agents trust.
    #[arg(long, env = "TRACEJOB_AGENT_CLIENT_CERT", requires = "agent_ca")]
    agent_client_cert: Option<PathBuf>,
    #[arg(long, env = "TRACEJOB_AGENT_CLIENT_KEY", requires = "agent_ca")]
    agent_client_key: Option<PathBuf>,
    /// The name in the agents' certificate, when it is not the address's host.
    #[arg(long, env = "TRACEJOB_AGENT_TLS_DOMAIN")]
    agent_tls_domain: Option<String>,
    /// Object storage for jobs whose spec names none: s3://bucket/prefix, gs://...,
    /// az://container/prefix or file:///path. Absent: such jobs keep only their summary.
    #[arg(long, env = "TRACEJOB_STORAGE_URL")]
    storage_url: Option<String>,
    /// A Secret in the operator's namespace (POD_NAMESPACE) with the default storage's
    /// credentials, as object_store keys (AWS_ACCESS_KEY_ID, GOOGLE_SERVICE_ACCOUNT_KEY, ...).
    /// Absent: the operator's own environment.
    #[arg(long, env = "TRACEJOB_STORAGE_SECRET", requires = "storage_url")]
    storage_secret: Option<String>,
    /// Seconds between the flushes of a standing job (no duration) to storage.
    #[arg(long, env = "TRACEJOB_STORAGE_FLUSH_SECONDS", default_value_t = 30)]
    storage_flush_seconds: u64,
    /// Where streamed events wait for upload (an emptyDir in a pod).
    #[arg(
        long,
        env = "TRACEJOB_SPOOL_DIR",
        default_value = "/tmp/tracejob-spool"
    )]
    spool_dir: PathBuf,
    /// `NAMESPACE=URL_PREFIX` (repeatable; `*=...` for every namespace without its own):
    /// the storage a namespace's jobs may name. A namespace without an entry may name any.
    #[arg(
        long = "storage-allow",
        env = "TRACEJOB_STORAGE_ALLOW",
        value_delimiter = ','
    )]
    storage_allow: Vec<String>,
    /// Let jobs name `file://` storage: it writes into the operator's own filesystem, outside
    /// the spool's bound (single-host and test setups only).
    #[arg(long, env = "TRACEJOB_ALLOW_FILE_STORAGE")]
    allow_file_storage: bool,
    /// Seconds writing a job's artifacts may keep failing before the job ends Failed and its
    /// spooled events are dropped (counted as lost).
    #[arg(
        long,
        env = "TRACEJOB_STORAGE_DEADLINE_SECONDS",
        default_value_t = 3600
    )]
    storage_deadline_seconds: u64,
    /// The spool's bound in bytes, across every job; events beyond it are counted as lost.
    #[arg(long, env = "TRACEJOB_SPOOL_MAX_BYTES", default_value_t = 1 << 30)]
    spool_max_bytes: u64,
    /// Serve `tracejob logs` (the aggregated API live.tracejob.io) on this address, over
    /// TLS with --live-tls-cert and --live-tls-key, once leading.
    #[arg(long, env = "TRACEJOB_LIVE_ADDR", requires_all = ["live_tls_cert", "live_tls_key"])]
    live_addr: Option<SocketAddr>,
    /// PEM certificate of the live API, for the name its APIService's Service has.
    #[arg(long, env = "TRACEJOB_LIVE_TLS_CERT", requires = "live_addr")]
    live_tls_cert: Option<PathBuf>,
    #[arg(long, env = "TRACEJOB_LIVE_TLS_KEY", requires = "live_addr")]
    live_tls_key: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .init();
    let args = Args::parse();
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration found (in-cluster, KUBECONFIG or ~/.kube/config)")?;
    let client = Client::try_from(config.clone()).context("cannot make a Kubernetes client")?;
    controller::check_crd(&client).await?;

    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let listener = TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.metrics_addr))?;
    tokio::spawn(server::serve(listener, metrics.clone(), health.clone()));
    health.set_ready(true);

    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let lease_duration = Duration::from_secs(args.lease_seconds);
    let lock = LeaseLock::new(
        client.clone(),
        &args.lease_namespace,
        &args.lease_name,
        &identity,
        lease_duration,
    );
    // Off until this process leads and serves (it may be a restarted former leader).
    let own_pod = args.identity.clone().map(|name| OwnPod {
        namespace: args.lease_namespace.clone(),
        name,
    });
    if let (Some(pod), Some(_)) = (&own_pod, args.live_addr) {
        live::leader_label::label(client.clone(), pod, false).await;
    }
    tracing::info!(%identity, lease = %args.lease_name, "waiting to lead");
    tokio::select! {
        () = lock.acquire() => {}
        () = shutdown_signal() => return Ok(()),
    }
    metrics.leader.set(1);
    tracing::info!(%identity, "leading");
    let lease = LeaseName {
        namespace: args.lease_namespace.clone(),
        name: args.lease_name.clone(),
        identity: identity.clone(),
    };
    let mut renewer = Renewer::start(config, lease, lock.timing())
        .context("cannot start the lease renewer's thread")?;

    // Made before the context so the agent pool reads node addresses from it.
    let nodes = NodeCache::default();
    let agents = agent_pool(&args, &client, &nodes)?;
    let settings = Settings {
        poll_interval: Duration::from_secs(args.poll_seconds.max(1)),
        status_interval: Duration::from_millis(args.status_interval_ms),
        storage: storage_settings(&args)?,
        node_lost_grace: Duration::from_secs(args.node_lost_grace_seconds),
        ..Settings::default()
    };
    let ctx =
        Arc::new(Context::new(client, agents, metrics.clone(), settings).with_node_cache(nodes));
    if let (Some(addr), Some(cert), Some(key)) = (
        args.live_addr,
        args.live_tls_cert.clone(),
        args.live_tls_key.clone(),
    ) {
        let live = live::run(
            LiveSettings {
                addr,
                cert,
                key,
                watching: args.watch_namespace.clone(),
                pod: own_pod,
            },
            ctx.client.clone(),
            ctx.streams.live.clone(),
        );
        tokio::spawn(async move {
            if let Err(error) = live.await {
                tracing::error!(error = format!("{error:#}"), "tracejob logs is not served");
            }
        });
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut running = tokio::spawn(controller::run(
        ctx,
        args.watch_namespace.clone(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let lost = tokio::select! {
        () = renewer.lost() => true,
        () = shutdown_signal() => false,
        // The controller must never end on its own: /healthz fails and the process exits
        // non-zero so the pod restarts (the Lease is left to expire).
        stopped = controller::supervise(&mut running, &health) => {
            metrics.leader.set(0);
            return Err(anyhow::Error::new(stopped));
        }
    };
    if lost {
        // Another replica may lead soon: stop acting now rather than finish in-flight
        // reconciles (an upload can take minutes); what they did not finish, the next
        // leader redoes.
        running.abort();
        metrics.leader.set(0);
        anyhow::bail!(
            "lost the leader lease {}: exiting so a fresh replica can take over",
            args.lease_name
        );
    }
    let _ = stop_tx.send(());
    running.await.context("the controller task panicked")?;
    metrics.leader.set(0);
    renewer.stop();
    lock.release()
        .await
        .context("failed to release the leader lease")?;
    Ok(())
}

fn storage_settings(args: &Args) -> anyhow::Result<StorageSettings> {
    let default = match &args.storage_url {
        None => None,
        Some(url) => Some(Target {
            location: Location::parse(url).context("TRACEJOB_STORAGE_URL")?,
            secret: args
                .storage_secret
                .clone()
                .map(|name| (args.lease_namespace.clone(), name)),
            source: "the operator's default storage",
        }),
    };
    if let Some(target) = &default {
        tracing::info!(url = %target.location, secret = ?target.secret, "default storage");
    }
    let mut allowed_prefixes = std::collections::BTreeMap::<String, Vec<String>>::new();
    for entry in &args.storage_allow {
        let (namespace, prefix) = entry
            .split_once('=')
            .with_context(|| format!("--storage-allow {entry:?}: write NAMESPACE=URL_PREFIX"))?;
        Location::parse(prefix).with_context(|| format!("--storage-allow {entry:?}"))?;
        allowed_prefixes
            .entry(namespace.to_owned())
            .or_default()
            .push(prefix.to_owned());
    }
    Ok(StorageSettings {
        allowed_prefixes,
        default,
        flush_interval: Duration::from_secs(args.storage_flush_seconds.max(1)),
        spool_dir: args.spool_dir.clone(),
        spool_max_bytes: args.spool_max_bytes,
        allow_file_urls: args.allow_file_storage,
        give_up_after: Duration::from_secs(args.storage_deadline_seconds),
        ..StorageSettings::default()
    })
}

fn agent_pool(
    args: &Args,
    client: &Client,
    nodes: &NodeCache,
) -> anyhow::Result<Arc<dyn AgentPool>> {
    let Some(address) = &args.agent_address else {
        tracing::warn!(
            "no --agent-address: jobs run against in-process simulated agents that trace nothing"
        );
        return Ok(Arc::new(InMemoryAgents::on_every_node()));
    };
    let read = |path: &PathBuf| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let tls = match (
        &args.agent_ca,
        &args.agent_client_cert,
        &args.agent_client_key,
    ) {
        (Some(ca), Some(cert), Some(key)) => Some(ClientTls {
            ca_pem: read(ca)?,
            cert_pem: read(cert)?,
            key_pem: read(key)?,
            domain: args.agent_tls_domain.clone(),
        }),
        (None, None, None) => {
            tracing::warn!(%address, "no agent certificates: talking plaintext to agents started with --insecure");
            None
        }
        _ => anyhow::bail!("--agent-ca, --agent-client-cert and --agent-client-key go together"),
    };
    tracing::info!(%address, tls = tls.is_some(), "gRPC agents");
    Ok(Arc::new(
        GrpcAgents::new(Addresses::Pattern(address.clone()), tls)
            .with_node_ips(client.clone(), Some(nodes.reader())),
    ))
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; only Ctrl-C stops the operator");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "tracejob-operator".to_owned())
}
