//! The scenarios of `make bench-fleet` at one fleet size, each returning its figures:
//! idle, events into storage, churn, standing jobs at rising concurrency, and a soak.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use tracejob_api::{NodePhase, Phase, TraceJob};

use crate::apiserver::{self, Requests};
use crate::figures::{percentile, slope};
use crate::harness::Harness;
use crate::sim::Production;
use crate::stored;

/// How long a step may take before the bench reports it as not reached.
const STEP_LIMIT: Duration = Duration::from_secs(300);
const IN_FLIGHT: usize = 16;

/// The API requests of a window, per second, with the operator's usage over it.
#[derive(Clone, Debug, Default)]
pub struct Window {
    pub seconds: f64,
    pub requests: Requests,
    pub rss_mib: f64,
    /// CPU time over wall time (1.0 = one core).
    pub cpu_cores: f64,
}

impl Window {
    pub fn per_second(&self, verb: &str, resource: &str) -> f64 {
        self.requests
            .get(&(verb.to_owned(), resource.to_owned()))
            .copied()
            .unwrap_or(0.0)
            / self.seconds.max(1e-9)
    }
}

/// Measures the API requests and the operator's usage over `seconds`.
pub async fn window(harness: &Harness, seconds: u64) -> anyhow::Result<Window> {
    let before = apiserver::requests(&harness.client).await?;
    let usage_before = harness.usage().await?;
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = apiserver::requests(&harness.client).await?;
    let usage_after = harness.usage().await?;
    let elapsed = began.elapsed().as_secs_f64();
    Ok(Window {
        seconds: elapsed,
        requests: apiserver::delta(&before, &after),
        rss_mib: mib(usage_after.rss_bytes),
        cpu_cores: (usage_after.cpu_seconds - usage_before.cpu_seconds) / elapsed,
    })
}

#[allow(clippy::cast_precision_loss, reason = "memory sizes fit a double")]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The nodes whose agent still runs (churn deletes some).
fn live_nodes(harness: &Harness) -> Vec<String> {
    harness
        .cluster
        .nodes
        .iter()
        .filter(|n| harness.fleet.node(&n.name).is_some_and(|s| !s.is_dead()))
        .map(|n| n.name.clone())
        .collect()
}

/// Latency from `since` to when each live node's agent first started the job.
fn start_latencies(harness: &Harness, uid: &str, since: SystemTime) -> Vec<Duration> {
    let observed = harness.fleet.observed();
    live_nodes(harness)
        .into_iter()
        .filter_map(|n| observed.started.get(&(n, uid.to_owned())))
        .map(|at| at.duration_since(since).unwrap_or_default())
        .collect()
}

/// Waits until every live node started the job (or the limit passed); whether all did.
async fn wait_started(harness: &Harness, uid: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let live = live_nodes(harness);
    loop {
        let started = {
            let observed = harness.fleet.observed();
            live.iter()
                .filter(|n| {
                    observed
                        .started
                        .contains_key(&((*n).clone(), uid.to_owned()))
                })
                .count()
        };
        if started >= live.len() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn finished(job: &TraceJob) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(Phase::is_finished)
}

/// Events merged into storage: one job on every node, `offered` events per second across
/// the fleet for `seconds`.
#[derive(Clone, Debug, Default)]
pub struct Events {
    pub produced: u64,
    pub stored_distinct: u64,
    pub duplicates: u64,
    pub status_events: u64,
    pub status_lost: u64,
    /// Events the operator read off the streams per second while the agents produced.
    pub read_per_second: f64,
    /// Every event produced, over apply → artifacts written.
    pub merged_per_second: f64,
    pub seconds_to_succeeded: f64,
    pub succeeded: bool,
}

pub async fn events(harness: &Harness, offered: f64, seconds: u64) -> anyhow::Result<Events> {
    let nodes = harness.cluster.nodes.len();
    #[allow(clippy::cast_precision_loss, reason = "a node count")]
    let rate = offered / nodes.max(1) as f64;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an event count"
    )]
    let budget = (rate * seconds as f64) as u64;
    harness.fleet.set_production(Production {
        rate,
        budget,
        tick: Duration::from_millis(20),
    });
    let streamed_before = harness.fleet.streamed();
    let applied = Instant::now();
    let job = harness
        .apply_job("events", Some(&format!("{}s", seconds + 10)), true)
        .await?;
    let uid = Harness::uid(&job);
    wait_started(harness, &uid, STEP_LIMIT).await;
    let first = Instant::now();
    let total = budget * nodes as u64;
    // Until the operator read every event, or gave up on them (the job ended first).
    let deadline = Instant::now() + STEP_LIMIT;
    let mut checks = 0u32;
    while harness.fleet.streamed() - streamed_before < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        checks += 1;
        if checks.is_multiple_of(20)
            && harness
                .jobs()
                .get_opt("events")
                .await?
                .is_some_and(|j| finished(&j))
        {
            break;
        }
    }
    let read_seconds = first.elapsed().as_secs_f64();
    let streamed = harness.fleet.streamed() - streamed_before;
    let done = harness.wait_job("events", STEP_LIMIT, finished).await?;
    let status = done.status.clone().unwrap_or_default();
    let mut out = Events {
        #[allow(clippy::cast_precision_loss, reason = "an event count")]
        read_per_second: streamed as f64 / read_seconds.max(1e-9),
        seconds_to_succeeded: applied.elapsed().as_secs_f64(),
        succeeded: status.phase == Some(Phase::Succeeded),
        status_events: status.events.unwrap_or(0),
        status_lost: status.lost.unwrap_or(0),
        ..Events::default()
    };
    for node in &harness.cluster.nodes {
        out.produced += harness
            .fleet
            .count(&node.name, &uid)
            .map_or(0, |c| c.events);
    }
    if let Some((url, credentials)) = &harness.storage {
        let stored =
            stored::read(url, credentials, &harness.cluster.namespace, "events", &uid).await?;
        out.stored_distinct = stored.copies.len() as u64;
        out.duplicates = stored.duplicates().len() as u64;
    }
    #[allow(clippy::cast_precision_loss, reason = "an event count")]
    {
        out.merged_per_second = out.stored_distinct as f64 / out.seconds_to_succeeded.max(1e-9);
    }
    Ok(out)
}

/// 10 % of the nodes deleted and 30 % of the pods replaced mid-job.
#[derive(Clone, Debug, Default)]
pub struct Churn {
    pub nodes_lost: usize,
    pub pods_replaced: usize,
    pub ended: bool,
    pub seconds_to_end: f64,
    /// Lost nodes named in the NodeLost condition's message.
    pub named: usize,
    /// Lost nodes recorded as Lost in the status's node record.
    pub recorded_lost: usize,
    pub survivors: usize,
    /// Survivors whose recorded count equals what their agent produced.
    pub survivors_exact: usize,
    /// Survivors whose every event is stored exactly once.
    pub survivors_stored_once: usize,
    pub replacements_traced: usize,
}

pub async fn churn(harness: &Harness, name: &str) -> anyhow::Result<Churn> {
    let nodes = harness.cluster.nodes.len();
    let budget = 200;
    harness.fleet.set_production(Production {
        rate: 20.0,
        budget,
        tick: Duration::from_millis(50),
    });
    let duration = 30 + nodes / 10;
    let applied = Instant::now();
    let job = harness
        .apply_job(name, Some(&format!("{duration}s")), true)
        .await?;
    let uid = Harness::uid(&job);
    wait_started(harness, &uid, STEP_LIMIT).await;
    let lost: Vec<String> = harness.cluster.nodes[..nodes / 10]
        .iter()
        .map(|n| n.name.clone())
        .collect();
    for node in &lost {
        harness.lose_node(node).await?;
    }
    let pods = harness.cluster.pods();
    let replace: Vec<(String, String)> = pods
        .iter()
        .filter(|(_, p)| !lost.contains(&p.node))
        .take(pods.len() * 3 / 10)
        .map(|(name, p)| (name.clone(), p.node.clone()))
        .collect();
    let new_ids: Vec<String> = futures::stream::iter(replace.iter())
        .map(|(pod, node)| async move {
            harness.cluster.delete_pod(pod).await?;
            harness
                .cluster
                .add_pod(node, &format!("{pod}-{name}"))
                .await
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let done = harness.wait_job(name, STEP_LIMIT, finished).await;
    let mut out = Churn {
        nodes_lost: lost.len(),
        pods_replaced: new_ids.len(),
        ended: done.is_ok(),
        seconds_to_end: applied.elapsed().as_secs_f64(),
        survivors: nodes - lost.len(),
        ..Churn::default()
    };
    let Ok(done) = done else { return Ok(out) };
    let status = done.status.clone().unwrap_or_default();
    let message = status
        .conditions
        .iter()
        .find(|c| c.type_ == "NodeLost")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    out.named = lost.iter().filter(|n| message.contains(n.as_str())).count();
    out.recorded_lost = status
        .node_record
        .iter()
        .filter(|r| r.phase == NodePhase::Lost && lost.contains(&r.node))
        .count();
    let stored = match &harness.storage {
        Some((url, credentials)) => {
            Some(stored::read(url, credentials, &harness.cluster.namespace, name, &uid).await?)
        }
        None => None,
    };
    for node in harness
        .cluster
        .nodes
        .iter()
        .filter(|n| !lost.contains(&n.name))
    {
        let produced = harness
            .fleet
            .count(&node.name, &uid)
            .map_or(0, |c| c.events);
        let exact = status
            .node_record
            .iter()
            .any(|r| r.node == node.name && r.phase == NodePhase::Stopped && r.events == produced);
        out.survivors_exact += usize::from(exact && produced == budget);
        if let Some(stored) = &stored {
            let seqs: BTreeSet<u64> = stored
                .copies
                .iter()
                .filter(|((n, _), copies)| *n == node.name && **copies == 1)
                .map(|((_, s), _)| *s)
                .collect();
            out.survivors_stored_once += usize::from(
                seqs.len() as u64 == produced && stored.distinct_on(&node.name) == produced,
            );
        }
    }
    let observed = harness.fleet.observed();
    out.replacements_traced = new_ids
        .iter()
        .filter(|id| observed.targeted.contains_key(*id))
        .count();
    Ok(out)
}

/// Standing jobs (no duration, counts only) at one concurrency level.
#[derive(Clone, Debug, Default)]
pub struct Level {
    pub jobs: usize,
    /// Apply → the node's agent started it, over every node of the jobs applied at this level.
    pub start_p50: Option<Duration>,
    pub start_p99: Option<Duration>,
    /// Jobs applied at this level that reached every node.
    pub jobs_everywhere: usize,
    pub jobs_applied: usize,
    /// New pod (Running written) → its node's agent traces it.
    pub pod_p50: Option<Duration>,
    pub pod_p99: Option<Duration>,
    pub pods_traced: usize,
    pub pods_added: usize,
    pub busy: Window,
}

pub async fn level(
    harness: &Harness,
    from: usize,
    to: usize,
    window_seconds: u64,
) -> anyhow::Result<Level> {
    let live = live_nodes(harness);
    harness.fleet.set_production(Production {
        rate: 10.0,
        budget: 20,
        tick: Duration::from_millis(100),
    });
    let jobs: Vec<(String, SystemTime)> = futures::stream::iter(from..to)
        .map(|i| async move {
            let at = SystemTime::now();
            let job = harness
                .apply_job(&format!("standing-{i:03}"), None, false)
                .await?;
            anyhow::Ok((Harness::uid(&job), at))
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let mut out = Level {
        jobs: to,
        jobs_applied: jobs.len(),
        ..Level::default()
    };
    let mut latencies = Vec::new();
    let deadline = Instant::now() + STEP_LIMIT;
    for (uid, at) in &jobs {
        let left = deadline.saturating_duration_since(Instant::now());
        if wait_started(harness, uid, left).await {
            out.jobs_everywhere += 1;
        }
        latencies.extend(start_latencies(harness, uid, *at));
    }
    out.start_p50 = percentile(&latencies, 50.0);
    out.start_p99 = percentile(&latencies, 99.0);

    // New pods while the jobs stand: each traced by its node's agent how soon?
    let mut new = Vec::new();
    for i in 0..live.len().min(20) {
        let node = &live[(i * 7919) % live.len()];
        let id = harness
            .cluster
            .add_pod(node, &format!("{node}-new-{to}-{i}"))
            .await?;
        new.push((id, SystemTime::now()));
    }
    out.pods_added = new.len();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pod_latencies = Vec::new();
    loop {
        pod_latencies.clear();
        {
            let observed = harness.fleet.observed();
            for (id, running_at) in &new {
                if let Some(at) = observed.targeted.get(id) {
                    pod_latencies.push(at.duration_since(*running_at).unwrap_or_default());
                }
            }
        }
        if pod_latencies.len() == new.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out.pods_traced = pod_latencies.len();
    out.pod_p50 = percentile(&pod_latencies, 50.0);
    out.pod_p99 = percentile(&pod_latencies, 99.0);
    out.busy = window(harness, window_seconds).await?;
    Ok(out)
}

/// Resident memory sampled while the standing jobs run.
#[derive(Clone, Debug, Default)]
pub struct Soak {
    pub seconds: f64,
    pub first_mib: f64,
    pub last_mib: f64,
    pub max_mib: f64,
    pub slope_mib_per_minute: Option<f64>,
}

pub async fn soak(harness: &Harness, seconds: u64) -> anyhow::Result<Soak> {
    let began = Instant::now();
    let mut points = Vec::new();
    let every = Duration::from_secs((seconds / 30).clamp(1, 10));
    while began.elapsed() < Duration::from_secs(seconds) {
        let rss = mib(harness.usage().await?.rss_bytes);
        points.push((began.elapsed().as_secs_f64() / 60.0, rss));
        tokio::time::sleep(every).await;
    }
    Ok(Soak {
        seconds: began.elapsed().as_secs_f64(),
        first_mib: points.first().map_or(0.0, |p| p.1),
        last_mib: points.last().map_or(0.0, |p| p.1),
        max_mib: points.iter().map(|p| p.1).fold(0.0, f64::max),
        slope_mib_per_minute: slope(&points),
    })
}
