//! The 20-node churn scenario of issue #14, on the real API server with the real operator
//! binary and a real S3 server: 10 % of the nodes are deleted and 30 % of the pods replaced
//! while a job runs; the job still ends, names its lost nodes, counts every surviving node
//! exactly and stores each of their events exactly once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tracejob_api::{NodePhase, Phase};
use tracejob_fleet::harness::{Harness, Settings};
use tracejob_fleet::sim::Production;
use tracejob_fleet::{kubeconfig, operator, stored};

const NODES: usize = 20;
const PODS_PER_NODE: usize = 5;
/// Events each node produces for the job: 100 per second for 8 s, well inside its duration.
const BUDGET: u64 = 800;

/// The control plane, the operator binary and Garage, or why the test cannot run.
async fn prerequisites() -> Option<(kube::Client, std::path::PathBuf, std::path::PathBuf)> {
    let test = "the churn scenario";
    if !tracejob_testkit::garage::can_use_s3(test) {
        return None;
    }
    let binary = operator::binary();
    let missing = binary.is_none().then_some(
        "needs the tracejob-operator binary (cargo build -p tracejob-operator, or TRACEJOB_OPERATOR_BIN)",
    );
    if !tracejob_testkit::can_run(test, missing) {
        return None;
    }
    let connected = kubeconfig::connect().await;
    let reason = connected.as_ref().err().map(String::as_str);
    if !tracejob_testkit::can_run(test, reason) {
        return None;
    }
    let (client, path) = connected.ok()?;
    Some((client, path, binary?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_node_loss_and_pod_churn_with_exact_counts_and_every_event_stored_once() {
    let Some((client, kubeconfig, binary)) = prerequisites().await else {
        return;
    };
    let began = Instant::now();
    let settings = Settings {
        nodes: NODES,
        pods_per_node: PODS_PER_NODE,
        production: Production {
            rate: 100.0,
            budget: BUDGET,
            tick: Duration::from_millis(50),
        },
        poll_seconds: 1,
        node_lost_grace_seconds: 10,
        flush_seconds: 30,
        storage: true,
    };
    let fleet = Harness::start(client, kubeconfig, &binary, &settings)
        .await
        .expect("the fleet starts");
    let job = fleet
        .apply_job("churn", Some("15s"), true)
        .await
        .expect("applied");
    let uid = Harness::uid(&job);
    fleet
        .wait_job("churn", Duration::from_secs(30), |j| {
            j.status
                .as_ref()
                .is_some_and(|s| s.matched_nodes == Some(NODES as u32))
        })
        .await
        .expect("the job runs on every node");

    // Mid-job: 2 nodes (10 %) go away, 30 of the 100 pods are replaced on surviving nodes.
    let lost: Vec<String> = fleet.cluster.nodes[..NODES / 10]
        .iter()
        .map(|n| n.name.clone())
        .collect();
    for node in &lost {
        fleet.lose_node(node).await.expect("the node is deleted");
    }
    let replaced: Vec<(String, String)> = fleet
        .cluster
        .pods()
        .into_iter()
        .filter(|(_, p)| !lost.contains(&p.node))
        .take(NODES * PODS_PER_NODE * 3 / 10)
        .map(|(name, p)| (name, p.node))
        .collect();
    assert_eq!(replaced.len(), 30);
    let mut new_containers = Vec::new();
    for (pod, node) in &replaced {
        fleet.cluster.delete_pod(pod).await.expect("pod deleted");
        let id = fleet
            .cluster
            .add_pod(node, &format!("{pod}-r"))
            .await
            .expect("replacement created");
        new_containers.push(id);
    }

    let done = fleet
        .wait_job("churn", Duration::from_secs(75), |j| {
            j.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(Phase::is_finished)
        })
        .await
        .expect("the job ends");
    let status = done.status.clone().expect("a status");
    assert_eq!(status.phase, Some(Phase::Succeeded), "{status:#?}");

    // The lost nodes are named.
    let node_lost = status
        .conditions
        .iter()
        .find(|c| c.type_ == "NodeLost")
        .unwrap_or_else(|| panic!("no NodeLost condition: {:#?}", status.conditions));
    assert_eq!(node_lost.status, "True");
    for node in &lost {
        assert!(
            node_lost.message.contains(node.as_str()),
            "{node} not named in {:?}",
            node_lost.message
        );
    }

    // Every replacement pod was handed to its node's agent before the job ended.
    {
        let observed = fleet.fleet.observed();
        let missed: Vec<&String> = new_containers
            .iter()
            .filter(|id| !observed.targeted.contains_key(*id))
            .collect();
        assert!(missed.is_empty(), "never targeted: {missed:?}");
    }

    // Every surviving node: stopped, its count exactly what its agent produced (all of it).
    let survivors: Vec<String> = fleet
        .cluster
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .filter(|n| !lost.contains(n))
        .collect();
    for node in &survivors {
        let row = status
            .nodes
            .iter()
            .find(|r| &r.node == node)
            .unwrap_or_else(|| panic!("no row for {node}"));
        let produced = fleet
            .fleet
            .count(node, &uid)
            .expect("the agent knows the job");
        assert!(produced.stopped, "{node} was not stopped");
        assert_eq!(produced.events, BUDGET, "{node} did not produce its budget");
        assert_eq!(row.phase, NodePhase::Stopped, "{row:?}");
        assert_eq!((row.events, row.lost), (BUDGET, 0), "{row:?}");
    }
    for node in &lost {
        let row = status.nodes.iter().find(|r| &r.node == node);
        assert_eq!(row.map(|r| r.phase), Some(NodePhase::Lost), "{row:?}");
    }
    assert_eq!(status.lost, Some(0));

    // Storage: every surviving node's events exactly once, nothing stored twice anywhere.
    let (url, credentials) = fleet.storage.clone().expect("storage");
    let events = stored::read(&url, &credentials, &fleet.cluster.namespace, "churn", &uid)
        .await
        .expect("the job's artifacts are readable");
    assert!(
        events.duplicates().is_empty(),
        "stored twice: {:?}",
        &events.duplicates()[..events.duplicates().len().min(10)]
    );
    for node in &survivors {
        let seqs: BTreeSet<u64> = events
            .copies
            .keys()
            .filter(|(n, _)| n == node)
            .map(|(_, s)| *s)
            .collect();
        let expected: BTreeSet<u64> = (1..=BUDGET).collect();
        let missing: Vec<&u64> = expected.difference(&seqs).take(10).collect();
        let extra: Vec<&u64> = seqs.difference(&expected).take(10).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{node}'s stored events: missing {missing:?}, unexpected {extra:?} (first 10)"
        );
    }
    for node in &lost {
        let produced = fleet.fleet.count(node, &uid).map_or(0, |c| c.events);
        assert!(
            events.distinct_on(node) <= produced,
            "{node} stored more than it produced"
        );
    }
    assert_eq!(events.manifest.events(), events.lines);

    eprintln!("churn scenario took {:?}", began.elapsed());
    fleet.stop().await;
}
