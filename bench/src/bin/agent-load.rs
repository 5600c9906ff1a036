//! Drives a running `tracejob-agent` the way the operator does, over gRPC, and reports its
//! start latency and memory:
//!
//!   agent-load ADDRESS AGENT_PID CGROUP [JOBS] [STARTS] [IDLE_SECONDS]
//!
//! ADDRESS is the agent's plaintext address (`http://127.0.0.1:PORT`: the agent runs with
//! `--insecure`, so the figures leave out the TLS handshake, which happens once per
//! connection, not per job). CGROUP is the target's cgroup v2 directory relative to the
//! mount, below a pod as kubelet lays it out (`kubepods/besteffort/pod<uid>/<hex id>`).
//! Prints one JSON line per phase on stdout:
//! - "idle": the agent's memory before any job;
//! - "start latency" (one line per tool): StartJob sent → reply received, which the agent
//!   sends once the programs are attached, STARTS times (the first is the process's first
//!   job of that tool, later ones reuse what the agent keeps);
//! - "jobs started": JOBS jobs running (syscalls, open and exec in turn; the event tools'
//!   events drained from StreamResults as the operator would);
//! - then, after a line on stdin (the harness runs a workload in CGROUP meanwhile),
//!   "jobs under load", "jobs stopped" and "jobs forgotten";
//! - "idle again": IDLE_SECONDS later (when given: the agent's `--keep-warm-seconds` plus
//!   a margin), once the agent has given its kernel BTF back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};
use tonic::transport::Channel;
use tracejob_bench::process_memory;
use tracejob_proto::v1::agent_client::AgentClient;
use tracejob_proto::v1::result_message::Body;
use tracejob_proto::v1::{JobRef, StartJobRequest, StreamResultsRequest, Target};

const TOOLS: [&str; 3] = ["syscalls", "open", "exec"];

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [address, pid, cgroup, ..] = args.as_slice() else {
        anyhow::bail!("usage: agent-load ADDRESS AGENT_PID CGROUP [JOBS] [STARTS] [IDLE_SECONDS]");
    };
    let jobs: usize = args.get(3).map_or(Ok(10), |n| n.parse())?;
    let starts: usize = args.get(4).map_or(Ok(7), |n| n.parse())?;
    let idle_seconds: Option<u64> = args.get(5).map(|n| n.parse()).transpose()?;
    let mut client = AgentClient::new(
        Channel::from_shared(address.clone())?
            .connect()
            .await
            .with_context(|| format!("cannot connect to the agent at {address}"))?,
    );
    phase(pid, json!({"phase": "idle"}))?;

    for tool in TOOLS {
        let mut runs_ms = Vec::new();
        for run in 0..starts {
            let job = job_ref(&format!("latency-{tool}-{run}"));
            let began = Instant::now();
            client
                .start_job(request(&job, tool, cgroup))
                .await
                .with_context(|| format!("StartJob {tool}"))?;
            runs_ms.push(began.elapsed().as_secs_f64() * 1e3);
            client.stop_job(job.clone()).await?;
            client.forget_job(job).await?;
        }
        println!(
            "{}",
            json!({"phase": "start latency", "tool": tool, "runs_ms": runs_ms})
        );
    }

    let delivered = Arc::new(AtomicU64::new(0));
    let mut running = Vec::new();
    let mut drains = Vec::new();
    for index in 0..jobs {
        let tool = TOOLS[index % TOOLS.len()];
        let job = job_ref(&format!("memory-{index}"));
        client
            .start_job(request(&job, tool, cgroup))
            .await
            .with_context(|| format!("StartJob {tool} (job {index})"))?;
        if tool != "syscalls" {
            drains.push(tokio::spawn(drain(
                client.clone(),
                job.uid.clone(),
                Arc::clone(&delivered),
            )));
        }
        running.push(job);
    }
    phase(pid, json!({"phase": "jobs started", "jobs": jobs}))?;

    tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await??;
    let under_load = delivered.load(Ordering::Relaxed);
    phase(
        pid,
        json!({"phase": "jobs under load", "jobs": jobs, "events_delivered": under_load}),
    )?;

    let mut counted = 0;
    for job in &running {
        let state = client.stop_job(job.clone()).await?.into_inner();
        counted += state.result.map_or(0, |result| result.events);
    }
    for drain in drains {
        drain.await??;
    }
    phase(
        pid,
        json!({"phase": "jobs stopped", "events_counted": counted,
               "events_delivered": delivered.load(Ordering::Relaxed)}),
    )?;
    for job in running {
        client.forget_job(job).await?;
    }
    phase(pid, json!({"phase": "jobs forgotten"}))?;
    if let Some(seconds) = idle_seconds {
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
        phase(pid, json!({"phase": "idle again"}))?;
    }
    Ok(())
}

/// Reads a job's stream to its end, counting events.
async fn drain(
    mut client: AgentClient<Channel>,
    uid: String,
    delivered: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let mut stream = client
        .stream_results(StreamResultsRequest {
            job_uid: uid,
            from_sequence: 1,
        })
        .await?
        .into_inner();
    while let Some(message) = stream.message().await? {
        if let Some(Body::Event(_)) = message.body {
            delivered.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn job_ref(uid: &str) -> JobRef {
    JobRef {
        uid: uid.into(),
        namespace: "bench".into(),
        name: uid.into(),
    }
}

/// The pod uid and container id kubelet's cgroupfs path `kubepods/<qos>/pod<uid>/<id>` names
/// (the agent checks both, and that the path lies below a pod).
fn target(cgroup: &str) -> Target {
    let mut parts = cgroup.rsplit('/');
    let id = parts.next().unwrap_or_default();
    let pod_uid = parts
        .next()
        .and_then(|pod| pod.strip_prefix("pod"))
        .unwrap_or_default();
    Target {
        pod_uid: pod_uid.into(),
        container_id: format!("containerd://{id}"),
        cgroup_path: cgroup.into(),
        ..Target::default()
    }
}

fn request(job: &JobRef, tool: &str, cgroup: &str) -> StartJobRequest {
    StartJobRequest {
        job: Some(job.clone()),
        tool: tool.into(),
        events: tool != "syscalls",
        targets: vec![target(cgroup)],
        ..StartJobRequest::default()
    }
}

/// Prints `fields` with the agent's memory added.
fn phase(pid: &str, mut fields: Value) -> anyhow::Result<()> {
    fields["memory"] = process_memory::of(pid)?;
    println!("{fields}");
    Ok(())
}
