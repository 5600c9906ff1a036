use std::time::Duration;

use super::*;
use crate::agents::ContainerTarget;
use crate::agents::memory::InMemoryAgents;

fn job() -> JobId {
    JobId {
        namespace: "shop".into(),
        name: "slow-io".into(),
        uid: "uid-1".into(),
    }
}

fn counts(events: u64) -> NodeResult {
    NodeResult {
        probe: Some("tp_btf".into()),
        events,
        ..NodeResult::default()
    }
}

async fn started_on(nodes: &[&str]) -> Arc<InMemoryAgents> {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let spec = serde_json::from_value(serde_json::json!({"tool": "exec"})).expect("a spec");
    let target = ContainerTarget {
        pod: "p".into(),
        pod_uid: "u".into(),
        container: "c".into(),
        container_id: "containerd://aaa".into(),
    };
    for node in nodes {
        agents
            .start(node, &job(), &spec, std::slice::from_ref(&target))
            .await
            .expect("started");
    }
    agents
}

/// Waits for the pace's next reconcile request, then for `check` on what was observed.
async fn until(
    streams: &Streams,
    requests: &mut tokio::sync::mpsc::Receiver<
        kube::runtime::reflector::ObjectRef<tracejob_api::TraceJob>,
    >,
    check: impl Fn(&BTreeMap<String, Observed>) -> bool,
) -> BTreeMap<String, Observed> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let observed = streams.observe("uid-1");
        if check(&observed) {
            return observed;
        }
        tokio::time::timeout_at(deadline, requests.recv())
            .await
            .unwrap_or_else(|_| panic!("no reconcile request; observed {observed:?}"))
            .expect("the pace is alive");
    }
}

#[tokio::test]
async fn a_summary_becomes_the_nodes_result_and_asks_for_a_reconcile_without_polling_the_agent() {
    let agents = started_on(&["n1"]).await;
    let pace = Arc::new(Pace::new(Duration::ZERO));
    let mut requests = pace.take_requests().expect("the receiver");
    let streams = Streams::new(pace);
    let pool: Arc<dyn AgentPool> = agents.clone();
    streams.track(&pool, &job(), ["n1"], None, true);

    agents.set_result("n1", counts(3));
    let seen = until(&streams, &mut requests, |o| {
        o.get("n1").and_then(|n| n.result.as_ref()) == Some(&counts(3))
    })
    .await;
    assert!(!seen["n1"].finished);
    agents.set_result("n1", counts(9));
    until(&streams, &mut requests, |o| {
        o.get("n1").and_then(|n| n.result.as_ref()) == Some(&counts(9))
    })
    .await;
    assert_eq!(agents.results_calls(), 0, "counts come from the stream");
}

#[tokio::test]
async fn the_final_message_ends_the_reader_with_the_final_result() {
    let agents = started_on(&["n1"]).await;
    let pace = Arc::new(Pace::new(Duration::ZERO));
    let mut requests = pace.take_requests().expect("the receiver");
    let streams = Streams::new(pace);
    let pool: Arc<dyn AgentPool> = agents.clone();
    streams.track(&pool, &job(), ["n1"], None, true);
    agents.set_result("n1", counts(5));
    agents.stop("n1", &job()).await.expect("stopped");
    let seen = until(&streams, &mut requests, |o| {
        o.get("n1").is_some_and(|n| n.finished)
    })
    .await;
    assert_eq!(seen["n1"].result, Some(counts(5)));
    assert_eq!(agents.results_calls(), 0);
}

#[tokio::test]
async fn an_agent_that_lost_the_running_job_is_reported_once_and_read_afresh_when_started() {
    let agents = started_on(&["n1"]).await;
    let pace = Arc::new(Pace::new(Duration::ZERO));
    let mut requests = pace.take_requests().expect("the receiver");
    let streams = Streams::new(pace);
    let pool: Arc<dyn AgentPool> = agents.clone();
    agents.set_result("n1", counts(10));
    streams.track(&pool, &job(), ["n1"], None, true);
    until(&streams, &mut requests, |o| {
        o.get("n1").and_then(|n| n.result.as_ref()) == Some(&counts(10))
    })
    .await;

    agents.restart_agents();
    until(&streams, &mut requests, |o| {
        o.get("n1").is_some_and(|n| n.unknown_to_agent)
    })
    .await;

    let spec = serde_json::from_value(serde_json::json!({"tool": "exec"})).expect("a spec");
    agents
        .start("n1", &job(), &spec, &[])
        .await
        .expect("started again");
    agents.set_result("n1", counts(4));
    streams.started("uid-1", "n1", true);
    let seen = until(&streams, &mut requests, |o| {
        o.get("n1").and_then(|n| n.result.as_ref()) == Some(&counts(4))
    })
    .await;
    assert!(!seen["n1"].unknown_to_agent);
}

#[tokio::test]
async fn forgetting_a_job_stops_its_readers_and_drops_its_results() {
    let agents = started_on(&["n1", "n2"]).await;
    let streams = Streams::new(Arc::new(Pace::new(Duration::ZERO)));
    let pool: Arc<dyn AgentPool> = agents.clone();
    streams.track(&pool, &job(), ["n1", "n2"], None, true);
    assert_eq!(streams.observe("uid-1").len(), 2);
    streams.forget("uid-1");
    assert!(streams.observe("uid-1").is_empty());
    assert!(streams.jobs().is_empty());
}

// Paused time: the once-a-second polling is checked without waiting for it.
#[tokio::test(start_paused = true)]
async fn while_storage_is_unreadable_counts_are_asked_for_and_the_events_stay_with_the_agent() {
    let agents = started_on(&["n1"]).await;
    let pace = Arc::new(Pace::new(Duration::ZERO));
    let mut requests = pace.take_requests().expect("the receiver");
    let streams = Streams::new(pace);
    let pool: Arc<dyn AgentPool> = agents.clone();
    agents.push_events("n1", [crate::agents::memory::exec_event(1)]);
    agents.set_result("n1", counts(1));
    streams.count(&pool, &job(), ["n1"]);
    until(&streams, &mut requests, |o| {
        o.get("n1").and_then(|n| n.result.as_ref()) == Some(&counts(1))
    })
    .await;
    assert!(agents.results_calls() > 0);
    assert_eq!(agents.streams_opened(), 0, "the events wait for storage");

    // Storage answers: the stream takes the node over, keeping what was counted.
    streams.track(&pool, &job(), ["n1"], None, true);
    assert_eq!(
        streams.observe("uid-1")["n1"].result,
        Some(counts(1)),
        "the counts are kept"
    );
    agents.set_result("n1", counts(2));
    until(&streams, &mut requests, |o| {
        o.get("n1").and_then(|n| n.result.as_ref()) == Some(&counts(2))
    })
    .await;
    assert_eq!(agents.streams_opened(), 1);
    let calls = agents.results_calls();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(agents.results_calls(), calls, "asking for counts stopped");
}
