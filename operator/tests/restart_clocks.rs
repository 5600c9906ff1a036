//! The clocks of a failing job survive an operator restart, against the real local
//! kube-apiserver: a node whose agent does not answer a stop is counted lost one grace
//! period after its first failure, whichever operator process saw it. Skipped with a
//! reason when no API server runs, unless `TRACEJOB_REQUIRE_ALL=1`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;
use support::cluster::*;
use tracejob_api::{NodePhase, Phase, TraceJob};
use tracejob_operator::Settings;
use tracejob_operator::agents::NodeResult;
use tracejob_operator::agents::memory::InMemoryAgents;

const GRACE: Duration = Duration::from_secs(10);

fn settings() -> Settings {
    Settings {
        poll_interval: Duration::from_secs(1),
        node_lost_grace: GRACE,
        ..Settings::default()
    }
}

/// When the status says the node's agent first failed to answer a stop.
fn unreachable_since(job: &TraceJob, node: &str) -> Option<Timestamp> {
    let status = job.status.as_ref()?;
    let record = status.node_record.iter().find(|r| r.node == node)?;
    record.unreachable_since.as_ref().map(|t| t.0)
}

#[tokio::test]
async fn a_restarted_operator_counts_a_silent_node_lost_one_grace_period_after_its_first_failure() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "grace-restart").await;
    let silent = format!("{ns}-silent");
    // Ready: only the grace period can make the node count as lost.
    node(client, &silent, true).await;
    running_pod(
        client,
        &ns,
        "web-1",
        &silent,
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result(
        &silent,
        NodeResult {
            events: 7,
            ..NodeResult::default()
        },
    );
    let first = Operator::start_with(client, &agents, &ns, settings());
    let api = create_job(
        client,
        &ns,
        "short",
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "4s"}),
    )
    .await;
    wait_for_job(&api, "short", "7 events", |j| {
        j.status.as_ref().and_then(|s| s.events) == Some(7)
    })
    .await;
    // The agent stops answering: the end of the job cannot stop it there.
    agents.set_unavailable(&silent, true);
    let failing = wait_for_job(&api, "short", "the stop's first failure recorded", |j| {
        unreachable_since(j, &silent).is_some()
    })
    .await;
    let since = unreachable_since(&failing, &silent).expect("a first failure");

    // Half-way through the grace period the operator restarts: a new process, with none of
    // the first one's memory.
    let half_way = since
        .checked_add(SignedDuration::try_from(GRACE / 2).expect("a duration"))
        .expect("a time");
    let until = half_way.duration_since(Timestamp::now());
    tokio::time::sleep(Duration::try_from(until).unwrap_or_default()).await;
    first.stop().await;
    let second = Operator::start_with(client, &agents, &ns, settings());

    let done = wait_for_job(&api, "short", "Succeeded", |j| {
        j.status.as_ref().and_then(|s| s.phase) == Some(Phase::Succeeded)
    })
    .await;
    let status = done.status.expect("a status");
    let completed = status.completion_time.expect("a completion time").0;
    let took = Duration::try_from(completed.duration_since(since)).expect("after the failure");
    eprintln!(
        "the silent node was counted lost {took:?} after its first failure (grace {GRACE:?})"
    );
    // Counted from the restart it would be 1.5 grace periods (15 s) at least; from the first
    // failure, the grace period plus at most part of one retry (the failed stop is retried
    // every 5 s) and the status's one-second resolution.
    assert!(
        took >= GRACE - Duration::from_secs(1) && took < GRACE + Duration::from_secs(4),
        "took {took:?}"
    );
    let row = status
        .node_record
        .iter()
        .find(|r| r.node == silent)
        .expect("the node's record");
    assert_eq!(row.phase, NodePhase::Lost);
    assert_eq!(row.events, 7, "its counts at last contact");
    assert_eq!(row.unreachable_since, None, "a lost node's clock is done");
    second.stop().await;
}
