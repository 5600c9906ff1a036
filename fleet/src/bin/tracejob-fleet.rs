//! `make bench-fleet`: the real operator against simulated fleets of each size, writing
//! `bench/results/fleet.md` (rewritten after every size, so a partial run keeps its figures).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use tracejob_fleet::harness::{Harness, Settings};
use tracejob_fleet::report::{Header, SizeRun, render};
use tracejob_fleet::sim::Production;
use tracejob_fleet::{kubeconfig, operator, scenarios};

#[derive(Debug, Parser)]
#[command(about = "The real tracejob-operator against simulated fleets (issue #14)")]
struct Args {
    /// Fleet sizes to run, in nodes.
    #[arg(long, value_delimiter = ',', default_value = "50,200,500")]
    nodes: Vec<usize>,
    #[arg(long, default_value_t = 20)]
    pods_per_node: usize,
    /// Concurrent standing jobs, level by level.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    jobs: Vec<usize>,
    /// Seconds of the soak with the standing jobs (the full run: 600).
    #[arg(long, default_value_t = 600)]
    soak_seconds: u64,
    /// Seconds of each window in which API requests and operator CPU are measured.
    #[arg(long, default_value_t = 15)]
    window_seconds: u64,
    /// Events per second offered across the fleet in the events scenario (the goal:
    /// 200,000 merged per second), spread evenly over the nodes.
    #[arg(long, default_value_t = 200_000.0)]
    events_per_second: f64,
    /// Seconds each node produces in the events scenario.
    #[arg(long, default_value_t = 10)]
    events_seconds: u64,
    /// The operator's seconds between result polls (its default: 10).
    #[arg(long, default_value_t = 10)]
    poll_seconds: u64,
    #[arg(long, default_value = "bench/results/fleet.md")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    let binary = operator::binary()
        .context("no tracejob-operator binary next to this one; build it (make bench-fleet does) or set TRACEJOB_OPERATOR_BIN")?;
    let (client, kubeconfig) = kubeconfig::connect().await.map_err(anyhow::Error::msg)?;
    let header = Header {
        command: format!(
            "tracejob-fleet {}",
            std::env::args().skip(1).collect::<Vec<_>>().join(" ")
        ),
        date: k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string(),
        machine: machine(),
        soak_seconds: args.soak_seconds,
    };
    let mut runs = Vec::new();
    for &nodes in &args.nodes {
        eprintln!("== {nodes} nodes × {} pods", args.pods_per_node);
        let run = size(&args, &binary, client.clone(), kubeconfig.clone(), nodes).await;
        runs.push(run);
        if let Some(dir) = args.out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&args.out, render(&header, &runs))
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        eprintln!("   wrote {}", args.out.display());
    }
    Ok(())
}

async fn size(
    args: &Args,
    binary: &std::path::Path,
    client: kube::Client,
    kubeconfig: PathBuf,
    nodes: usize,
) -> SizeRun {
    let mut run = SizeRun {
        nodes,
        pods_per_node: args.pods_per_node,
        ..SizeRun::default()
    };
    let began = Instant::now();
    let settings = Settings {
        nodes,
        pods_per_node: args.pods_per_node,
        production: Production::default(),
        poll_seconds: args.poll_seconds,
        node_lost_grace_seconds: 120,
        flush_seconds: 30,
        storage: true,
    };
    let harness = match Harness::start(client, kubeconfig, binary, &settings).await {
        Ok(harness) => harness,
        Err(error) => {
            run.errors
                .push(format!("the fleet did not start: {error:#}"));
            return run;
        }
    };
    run.setup_seconds = began.elapsed().as_secs_f64();
    eprintln!("   fleet up in {:.0} s; idle window", run.setup_seconds);
    run.idle = record(
        &mut run.errors,
        "idle",
        scenarios::window(&harness, args.window_seconds).await,
    );
    eprintln!("   events");
    run.events = record(
        &mut run.errors,
        "events",
        scenarios::events(&harness, args.events_per_second, args.events_seconds).await,
    );
    eprintln!("   churn");
    run.churn = record(
        &mut run.errors,
        "churn",
        scenarios::churn(&harness, "churn").await,
    );
    let mut running = 0;
    for &jobs in &args.jobs {
        eprintln!("   {jobs} standing jobs");
        match scenarios::level(&harness, running, jobs, args.window_seconds).await {
            Ok(level) => run.levels.push(level),
            Err(error) => {
                run.errors.push(format!("{jobs} standing jobs: {error:#}"));
                break;
            }
        }
        running = jobs;
    }
    eprintln!("   soak {} s", args.soak_seconds);
    run.soak = record(
        &mut run.errors,
        "soak",
        scenarios::soak(&harness, args.soak_seconds).await,
    );
    run.operator_restarts = harness.restart_reasons();
    let stopping = tokio::time::timeout(Duration::from_secs(120), harness.stop()).await;
    if stopping.is_err() {
        run.errors
            .push("stopping the fleet took over 120 s".to_owned());
    }
    run
}

fn record<T>(errors: &mut Vec<String>, what: &str, result: anyhow::Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            eprintln!("   {what} failed: {error:#}");
            errors.push(format!("{what}: {error:#}"));
            None
        }
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} CPUs, Linux {}", kernel.trim())
}
