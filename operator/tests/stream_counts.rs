//! Counts reach the status from the agents' result streams, not from polling them: the
//! operator against the real local kube-apiserver with in-memory agents, its poll so long
//! that only a stream can have moved the status. Skipped with a reason when no API server
//! runs, unless `TRACEJOB_REQUIRE_ALL=1`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, WatchEvent, WatchParams};
use serde_json::json;
use support::cluster::*;
use tracejob_api::{Phase, TraceJob};
use tracejob_operator::Settings;
use tracejob_operator::agents::NodeResult;
use tracejob_operator::agents::memory::InMemoryAgents;

fn counts(events: u64) -> NodeResult {
    NodeResult {
        probe: Some("tp_btf".into()),
        events,
        ..NodeResult::default()
    }
}

fn events(job: &TraceJob) -> Option<u64> {
    job.status.as_ref().and_then(|s| s.events)
}

/// An operator that never looks at a job on its own within a test's time.
fn never_polling() -> Settings {
    Settings {
        poll_interval: Duration::from_secs(3600),
        ..Settings::default()
    }
}

#[tokio::test]
async fn a_new_pods_first_events_reach_the_status_from_its_stream_without_polling_any_agent() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "stream-counts").await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let operator = Operator::start_with(client, &agents, &ns, never_polling());
    let selector = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}});
    let api = create_job(client, &ns, "web", selector).await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    wait_for_job(&api, "web", "Running on node-a", |j| {
        j.status.as_ref().and_then(|s| s.phase) == Some(Phase::Running)
    })
    .await;

    let first = Instant::now();
    agents.set_result("node-a", counts(3));
    wait_for_job(&api, "web", "node-a's 3 events", |j| events(j) == Some(3)).await;
    let first = first.elapsed();

    // A new pod on another node whose agent counts at once: its targets and its first
    // events go out in one write.
    agents.set_result("node-b", counts(4));
    let second = Instant::now();
    running_pod(
        client,
        &ns,
        "web-2",
        "node-b",
        json!({"app": "web"}),
        "containerd://b1",
    )
    .await;
    wait_for_job(&api, "web", "node-b's events added", |j| {
        events(j) == Some(7) && j.status.as_ref().and_then(|s| s.matched_pods) == Some(2)
    })
    .await;
    let second = second.elapsed();
    eprintln!(
        "first events in the status after {first:?} (node-a), {second:?} (new pod on node-b)"
    );

    assert_eq!(
        agents.results_calls(),
        0,
        "no agent was polled for its counts"
    );
    // Each follows a write of the job less than a second earlier (Running; node-a's
    // counts), so it waits for the rest of that second, and for nothing else.
    for took in [first, second] {
        assert!(took < Duration::from_secs(2), "counts took {took:?}");
    }
    operator.stop().await;
}

#[tokio::test]
async fn a_stream_of_quick_summaries_writes_the_status_at_most_once_per_second() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "paced").await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let operator = Operator::start_with(client, &agents, &ns, never_polling());
    let selector = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}});
    let api = create_job(client, &ns, "busy", selector).await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let running = wait_for_job(&api, "busy", "Running", |j| {
        j.status.as_ref().and_then(|s| s.phase) == Some(Phase::Running)
    })
    .await;

    // Every write of the job from here on, as the API server reports it.
    let writes: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let watch = {
        let api: Api<TraceJob> = api.clone();
        let version = running
            .metadata
            .resource_version
            .clone()
            .expect("a version");
        let writes = writes.clone();
        let params = WatchParams::default().fields("metadata.name=busy");
        let mut stream = api.watch(&params, &version).await.expect("a watch").boxed();
        tokio::spawn(async move {
            while let Some(Ok(event)) = stream.next().await {
                if let WatchEvent::Modified(_) = event {
                    writes.lock().expect("writes").push(Instant::now());
                }
            }
        })
    };

    // 80 summaries, one every 50 ms: 4 s of counts changing all the time (long enough that
    // a busy machine still shows writes made while they change).
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for n in 1..=80 {
        tick.tick().await;
        agents.set_result("node-a", counts(n));
    }
    wait_for_job(&api, "busy", "the last count", |j| events(j) == Some(80)).await;
    let elapsed = started.elapsed();
    watch.abort();

    let writes = writes.lock().expect("writes").clone();
    let allowed = elapsed.as_secs() + 1;
    eprintln!("{} status writes in {elapsed:?}", writes.len());
    assert!(
        writes.len() as u64 <= allowed,
        "{} writes in {elapsed:?}: more than one per second",
        writes.len()
    );
    assert!(
        writes.len() >= 2,
        "the counts were written while they changed, not only at the end: {writes:?}"
    );
    assert_eq!(agents.results_calls(), 0);
    operator.stop().await;
}
