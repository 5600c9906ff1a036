//! `tracejob-agent`: serves `tracejob.agent.v1.Agent` and the standard gRPC health service
//! on one port, over mutual TLS unless `--insecure`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use tonic::service::InterceptorLayer;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tracejob_engine::cgroup::Hierarchy;
use tracejob_node_agent::identity::ClientIdentity;
use tracejob_node_agent::{AgentService, Jobs, Settings, tls};
use tracejob_proto::v1::agent_server::AgentServer;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[arg(long, env = "TRACEJOB_AGENT_LISTEN", default_value = "0.0.0.0:7443")]
    listen: SocketAddr,
    /// The agent's certificate (PEM).
    #[arg(
        long,
        env = "TRACEJOB_AGENT_TLS_CERT",
        required_unless_present = "insecure"
    )]
    tls_cert: Option<PathBuf>,
    #[arg(
        long,
        env = "TRACEJOB_AGENT_TLS_KEY",
        required_unless_present = "insecure"
    )]
    tls_key: Option<PathBuf>,
    /// The CA that signs the operator's client certificate; other clients are refused.
    #[arg(
        long,
        env = "TRACEJOB_AGENT_CLIENT_CA",
        required_unless_present = "insecure"
    )]
    client_ca: Option<PathBuf>,
    /// The DNS name (SAN) a client certificate must carry besides the client CA's signature:
    /// the operator's. Certificates the same CA signed for other roles (the agents') are refused.
    #[arg(
        long,
        env = "TRACEJOB_AGENT_CLIENT_IDENTITY",
        default_value = "tracejob-operator"
    )]
    client_identity: String,
    /// Plaintext, any client: for a laptop only.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key", "client_ca"])]
    insecure: bool,
    /// This node's name (in a pod: spec.nodeName).
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// Events each job's stream keeps for slow or reconnecting consumers.
    #[arg(long, default_value_t = 65536)]
    stream_buffer: usize,
    /// Bytes (encoded) each job's stream keeps at most: the oldest events are dropped, and
    /// counted lost, beyond it. 8 MiB x --max-jobs 32 fits the chart's 1 GiB limit with the
    /// jobs' BPF maps (about 15 MiB each).
    #[arg(long, default_value_t = 8 << 20)]
    stream_buffer_bytes: usize,
    /// Jobs running at once on this agent; another start is refused (ResourceExhausted).
    #[arg(long, default_value_t = 32)]
    max_jobs: usize,
    /// Seconds a stopped job's buffered events are kept when no stream reads its final
    /// message (reading it frees them at once). The final result stays until ForgetJob.
    #[arg(long, default_value_t = 300)]
    stopped_buffer_ttl_seconds: u64,
    /// Milliseconds between reads of a running job's result; a summary goes on its stream
    /// only when the result changed (`profile`, whose summary symbolises every stack, is
    /// read at most once a second). 100 ms keeps a new pod's first counts within about a
    /// tenth of a second of its first event, for a read of each job's maps ten times a second.
    #[arg(long, default_value_t = 100)]
    summary_interval_ms: u64,
    /// Seconds the parsed kernel BTF (~20 MiB) is kept after the last job is forgotten:
    /// job starts within that time skip a 10-20 ms parse.
    #[arg(long, default_value_t = 60)]
    keep_warm_seconds: u64,
}

fn main() -> anyhow::Result<()> {
    tracejob_engine::heap::limit_arenas(2);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let node = args.node_name.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default()
    });
    let hierarchy = Hierarchy::discover().map_err(|e| e.to_string());
    if let Err(reason) = &hierarchy {
        tracing::warn!(%reason, "no cgroup v2 hierarchy: every job will be refused");
    }
    let settings = Settings {
        stream_buffer: args.stream_buffer,
        stream_buffer_bytes: args.stream_buffer_bytes,
        max_jobs: args.max_jobs.max(1),
        stopped_buffer_ttl: Duration::from_secs(args.stopped_buffer_ttl_seconds),
        summary_interval: Duration::from_millis(args.summary_interval_ms.max(10)),
        keep_warm: Duration::from_secs(args.keep_warm_seconds),
        ..Settings::default()
    };
    let jobs = Arc::new(Jobs::new(hierarchy, settings));
    let service = AgentService::new(node.clone(), jobs);

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<AgentServer<AgentService>>().await;

    let mut server = Server::builder();
    let identity = if args.insecure {
        ClientIdentity::anyone()
    } else {
        ClientIdentity::require(&args.client_identity)?
    };
    if args.insecure {
        tracing::warn!(
            "--insecure: serving plaintext gRPC to any client; never do this on a real node"
        );
    } else {
        let (Some(cert), Some(key), Some(ca)) = (&args.tls_cert, &args.tls_key, &args.client_ca)
        else {
            anyhow::bail!("--tls-cert, --tls-key and --client-ca are required (or --insecure)");
        };
        server = server
            .tls_config(tls::server_config(cert, key, ca)?)
            .context("invalid TLS configuration")?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(%node, address = %local, tls = !args.insecure, "tracejob-agent serving");
    // The line tests and scripts wait for (the port when --listen asked for port 0).
    println!("listening on {local}");
    server
        .layer(InterceptorLayer::new(identity))
        .add_service(health_service)
        .add_service(
            AgentServer::new(service)
                .max_decoding_message_size(tracejob_proto::MAX_REQUEST_BYTES)
                .max_encoding_message_size(tracejob_proto::MAX_RESPONSE_BYTES),
        )
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY a reply written in two pieces waits for the client's
            // delayed ACK: StartJob measured 13 ms or 60 ms depending on the answer's size.
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown(),
        )
        .await
        .context("the gRPC server failed")?;
    Ok(())
}

async fn shutdown() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
