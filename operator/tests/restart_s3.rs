//! A standing job's artifacts across an operator restart, against a real S3 server (Garage,
//! started by the test) and a local directory: the restarted writer reads back where the last flush ended, so no
//! part is overwritten, `manifest.json` lists every part, and every event is stored once.

mod support;

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tracejob_api::{TraceJob, TraceJobStatus};
use tracejob_operator::agents::memory::{InMemoryAgents, exec_event};
use tracejob_operator::agents::{AgentPool, ContainerTarget, JobId};
use tracejob_operator::pace::Pace;
use tracejob_operator::storage::{Outcome, Storage, StorageSettings, Target};
use tracejob_operator::streams::Streams;
use tracejob_storage::{Credentials, Location, Manifest, Store, layout};
use tracejob_testkit::garage::{BUCKET, Garage};

const NODES: [&str; 2] = ["n1", "n2"];

fn job() -> TraceJob {
    serde_json::from_value(json!({
        "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
        "metadata": {"name": "standing", "namespace": "shop", "uid": "uid-restart"},
        "spec": {"tool": "exec"}
    }))
    .expect("a TraceJob")
}

fn id() -> JobId {
    JobId {
        namespace: "shop".into(),
        name: "standing".into(),
        uid: "uid-restart".into(),
    }
}

/// The operator's storage state, as a fresh process has it.
fn storage(spool: &std::path::Path) -> Storage {
    Storage::new(StorageSettings {
        flush_interval: Duration::ZERO,
        spool_dir: spool.to_owned(),
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

/// Flushes (the writer is always due) until the manifest counts `events`.
async fn flush_until(
    agents: &Arc<InMemoryAgents>,
    storage: &Storage,
    target: &Target,
    store: &Store,
    events: u64,
) -> Manifest {
    // No Secret is read: the credentials come from the environment.
    let (client, _server) = support::mock::client();
    let job = job();
    let status = TraceJobStatus::default();
    // This process's readers: they stop when it returns (a restart).
    let streams = Streams::new(Arc::new(Pace::new(Duration::ZERO)));
    let what = format!("the parts never held {events} events");
    support::poll::until(&what, || async {
        storage
            .recover(&client, target, &id())
            .await
            .expect("the manifest is read back");
        let pool: Arc<dyn AgentPool> = agents.clone();
        streams.track(&pool, &id(), NODES, Some(&storage.spool(&id().uid)), true);
        match storage
            .flush_if_due(&client, target, &job, &id(), &status)
            .await
        {
            Some(Outcome::Written { .. }) | None => {}
            Some(Outcome::Failed { message, .. }) => panic!("a flush failed: {message}"),
        }
        manifest(store)
            .await
            .filter(|manifest| manifest.events() >= events)
    })
    .await
}

fn gunzip_lines(bytes: &[u8]) -> Vec<Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("gzip");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// One test, so that setting Garage's credentials in the environment races nothing: first
/// through `file://` (no server needed), then against Garage.
#[test]
fn a_restarted_operator_continues_a_standing_jobs_parts_with_every_event_exactly_once() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    };
    let dir = tempfile::tempdir().expect("a directory");
    runtime().block_on(restart_scenario(
        &format!("file://{}", dir.path().display()),
        Vec::new(),
    ));
    if !tracejob_testkit::garage::can_use_s3(
        "a_restarted_operator_continues_a_standing_jobs_parts_with_every_event_exactly_once",
    ) {
        return;
    }
    let garage = Garage::start();
    for (key, value) in garage.credentials() {
        // SAFETY: no runtime runs now, and this test binary has only this test.
        unsafe { std::env::set_var(key, value) };
    }
    runtime().block_on(restart_scenario(
        &format!("s3://{BUCKET}/runs"),
        garage.credentials(),
    ));
}

async fn restart_scenario(url: &str, credentials: Vec<(String, String)>) {
    let target = Target {
        location: Location::parse(url).expect("a URL"),
        secret: None,
        source: "the test's storage",
    };
    let store = Store::open(&target.location, &Credentials::new(credentials))
        .expect("the store")
        .at(&layout::job_dir("shop", "standing", "uid-restart"));
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
    // The restart: the process's readers and its spool are gone; the agents still buffer
    // every event from the first.
    before.forget(&id().uid);
    drop(before);
    push(&agents, 100, 150);
    let after = storage(&spools.path().join("after"));
    let last = flush_until(&agents, &after, &target, &store, 300).await;

    let names: Vec<&str> = last.artifacts.iter().map(|a| a.name.as_str()).collect();
    for earlier in first.artifacts.iter().filter(|a| a.name != layout::SUMMARY) {
        assert!(
            last.artifacts.contains(earlier),
            "{} is still listed, unchanged (not overwritten): {names:?}",
            earlier.name
        );
    }
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "no part listed twice: {names:?}");

    let mut seen = Vec::new();
    for part in last
        .artifacts
        .iter()
        .filter(|a| a.name.starts_with("events-"))
    {
        let bytes = store.get(&part.name).await.expect("a listed part exists");
        assert_eq!(
            bytes.len() as u64,
            part.bytes,
            "{} was not overwritten",
            part.name
        );
        for line in gunzip_lines(&bytes) {
            seen.push((
                line["node"].as_str().unwrap_or("?").to_owned(),
                line["pid"].as_u64(),
            ));
        }
    }
    seen.sort();
    let expected: Vec<(String, Option<u64>)> = NODES
        .iter()
        .flat_map(|node| (0..150).map(move |i| ((*node).to_owned(), Some(i))))
        .collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(seen.len(), 300, "every event exactly once");
    assert_eq!(seen, expected);
    assert_eq!(last.events(), 300);
}
