//! `spec.output.maxEvents` in the cluster, across an operator restart, through a real
//! directory (`file://`): the restarted writer keeps only what the bound leaves, and the
//! not-kept count carries on from `manifest.json`'s resume record.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tracejob_api::{TraceJob, TraceJobStatus};
use tracejob_operator::agents::memory::{InMemoryAgents, exec_event};
use tracejob_operator::agents::{AgentPool, ContainerTarget, JobId};
use tracejob_operator::pace::Pace;
use tracejob_operator::storage::{Outcome, Storage, StorageSettings, Target};
use tracejob_operator::streams::Streams;
use tracejob_storage::{Credentials, Location, Manifest, Store, layout};

const NODES: [&str; 2] = ["n1", "n2"];
const MAX_EVENTS: u64 = 150;

fn job() -> TraceJob {
    serde_json::from_value(json!({
        "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
        "metadata": {"name": "bounded", "namespace": "shop", "uid": "uid-bounded"},
        "spec": {"tool": "exec", "output": {"maxEvents": MAX_EVENTS}}
    }))
    .expect("a TraceJob")
}

fn id() -> JobId {
    JobId {
        namespace: "shop".into(),
        name: "bounded".into(),
        uid: "uid-bounded".into(),
    }
}

fn storage(spool: &std::path::Path) -> Storage {
    Storage::new(StorageSettings {
        flush_interval: Duration::ZERO,
        spool_dir: spool.to_owned(),
        allow_file_urls: true,
        ..StorageSettings::default()
    })
}

fn push(agents: &InMemoryAgents, from: u64, to: u64) {
    for node in NODES {
        agents.push_events(node, (from..to).map(exec_event));
    }
}

async fn manifest(store: &Store) -> Option<Manifest> {
    let bytes = store.get(layout::MANIFEST).await.ok()?;
    Some(serde_json::from_slice(&bytes).expect("a manifest"))
}

fn not_kept(manifest: &Manifest) -> u64 {
    manifest.resume.as_ref().map_or(0, |r| r.not_kept)
}

/// Flushes (always due) until the manifest accounts for `read` events, kept or not.
async fn flush_until(
    agents: &Arc<InMemoryAgents>,
    storage: &Storage,
    target: &Target,
    store: &Store,
    read: u64,
) -> Manifest {
    let (client, _server) = support::mock::client();
    let job = job();
    let status = TraceJobStatus::default();
    // This process's readers: they stop when it returns (a restart).
    let streams = Streams::new(Arc::new(Pace::new(Duration::ZERO)));
    let what = format!("the manifest never accounted for {read} events");
    support::poll::until(&what, || async {
        storage
            .recover(&client, target, &id())
            .await
            .expect("the manifest is read back");
        storage.keep_at_most(&id().uid, job.spec.output.max_events);
        let pool: Arc<dyn AgentPool> = agents.clone();
        streams.track(&pool, &id(), NODES, Some(&storage.spool(&id().uid)), true);
        if let Some(Outcome::Failed { message, .. }) = storage
            .flush_if_due(&client, target, &job, &id(), &status)
            .await
        {
            panic!("a flush failed: {message}");
        }
        manifest(store)
            .await
            .filter(|manifest| manifest.events() + not_kept(manifest) >= read)
    })
    .await
}

#[tokio::test]
async fn a_restarted_operator_keeps_no_more_than_max_events_and_carries_the_not_kept_count_on() {
    let dir = tempfile::tempdir().expect("a directory");
    let target = Target {
        location: Location::parse(&format!("file://{}", dir.path().display())).expect("a URL"),
        secret: None,
        source: "the test's storage",
    };
    let store = Store::open(
        &target.location,
        &Credentials::new(Vec::<(String, String)>::new()),
    )
    .expect("the store")
    .at(&layout::job_dir("shop", "bounded", "uid-bounded"));
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let spec = job().spec;
    for node in NODES {
        let container = ContainerTarget {
            pod: "p".into(),
            pod_uid: "u".into(),
            container: "c".into(),
            container_id: format!("containerd://{node}"),
        };
        agents
            .start(node, &id(), &spec, &[container])
            .await
            .expect("start");
    }
    let spools = tempfile::tempdir().expect("a spool directory");

    push(&agents, 0, 100);
    let before = storage(&spools.path().join("before"));
    let first = flush_until(&agents, &before, &target, &store, 200).await;
    assert_eq!((first.events(), not_kept(&first)), (MAX_EVENTS, 50));
    // The restart: this process's readers, spool and counters are gone.
    before.forget(&id().uid);
    drop(before);
    push(&agents, 100, 150);
    let after = storage(&spools.path().join("after"));
    let last = flush_until(&agents, &after, &target, &store, 300).await;

    assert_eq!(last.events(), MAX_EVENTS, "storage holds exactly maxEvents");
    assert_eq!(not_kept(&last), 150, "every event past the bound, once");
    let summary: serde_json::Value =
        serde_json::from_slice(&store.get(layout::SUMMARY).await.expect("summary.json"))
            .expect("summary json");
    assert_eq!(summary["eventsNotKept"], 150);
    assert_eq!(summary["eventsWritten"], MAX_EVENTS);
    assert_eq!(summary["maxEvents"], MAX_EVENTS);
    assert_eq!(after.not_kept(&id().uid), 150);
}
