//! `tracejob-operator`: runs the TraceJob controller against the cluster the usual
//! kubeconfig rules select (in-cluster config, `KUBECONFIG`, `~/.kube/config`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kube::Client;
use tokio::net::TcpListener;
use tracejob_operator::agents::AgentPool;
use tracejob_operator::agents::memory::InMemoryAgents;
use tracejob_operator::leader::LeaseLock;
use tracejob_operator::metrics::Metrics;
use tracejob_operator::server::{self, Health};
use tracejob_operator::{Context, Settings, controller};

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
    /// Seconds a leader's Lease lasts without renewal.
    #[arg(long, default_value_t = 15)]
    lease_seconds: u64,
    /// Seconds between pulls of running jobs' results into their status.
    #[arg(long, default_value_t = 10)]
    poll_seconds: u64,
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
    let client = Client::try_default()
        .await
        .context("no Kubernetes configuration found (in-cluster, KUBECONFIG or ~/.kube/config)")?;
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
    let lease_duration = Duration::from_secs(args.lease_seconds.max(2));
    let lock = LeaseLock::new(
        client.clone(),
        &args.lease_namespace,
        &args.lease_name,
        &identity,
        lease_duration,
    );
    tracing::info!(%identity, lease = %args.lease_name, "waiting to lead");
    tokio::select! {
        () = lock.acquire(lease_duration / 3) => {}
        () = shutdown_signal() => return Ok(()),
    }
    metrics.leader.set(1);
    tracing::info!(%identity, "leading");

    tracing::warn!(
        "no gRPC agent pool yet: jobs run against in-process simulated agents that trace nothing"
    );
    let agents: Arc<dyn AgentPool> = Arc::new(InMemoryAgents::on_every_node());
    let settings = Settings {
        poll_interval: Duration::from_secs(args.poll_seconds.max(1)),
        ..Settings::default()
    };
    let ctx = Arc::new(Context::new(client, agents, metrics.clone(), settings));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(controller::run(
        ctx,
        args.watch_namespace.clone(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let lost = tokio::select! {
        () = lock.hold(lease_duration / 3) => true,
        () = shutdown_signal() => false,
    };
    let _ = stop_tx.send(());
    running.await.context("the controller task panicked")?;
    metrics.leader.set(0);
    if lost {
        anyhow::bail!(
            "lost the leader lease {}: exiting so a fresh replica can take over",
            args.lease_name
        );
    }
    lock.release()
        .await
        .context("failed to release the leader lease")?;
    Ok(())
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
