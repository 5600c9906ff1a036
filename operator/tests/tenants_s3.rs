//! Two tenants share the operator's spool, against a real S3 server (Garage, started by the
//! test): one whose bucket does not exist cannot make the other drop events.

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
use tracejob_testkit::garage::{BUCKET, Garage};

mod support;

/// A standing job of its own namespace, on its own node.
struct Tenant {
    job: TraceJob,
    id: JobId,
    node: &'static str,
    target: Target,
}

fn tenant(name: &'static str, node: &'static str, url: &str) -> Tenant {
    let uid = format!("uid-{name}");
    let job = serde_json::from_value(json!({
        "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
        "metadata": {"name": name, "namespace": name, "uid": uid},
        "spec": {"tool": "exec"}
    }))
    .expect("a TraceJob");
    Tenant {
        job,
        id: JobId {
            namespace: name.into(),
            name: name.into(),
            uid,
        },
        node,
        target: Target {
            location: Location::parse(url).expect("a URL"),
            secret: None,
            source: "the test's storage",
        },
    }
}

#[test]
fn a_tenant_whose_bucket_is_missing_cannot_make_another_tenant_drop_events() {
    if !tracejob_testkit::garage::can_use_s3(
        "a_tenant_whose_bucket_is_missing_cannot_make_another_tenant_drop_events",
    ) {
        return;
    }
    let garage = Garage::start();
    for (key, value) in garage.credentials() {
        // SAFETY: no runtime runs yet, and this test binary has only this test.
        unsafe { std::env::set_var(key, value) };
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(two_tenants(&garage));
}

async fn two_tenants(garage: &Garage) {
    let dead = tenant("dead", "node-dead", "s3://no-such-bucket/traces");
    let live = tenant("live", "node-live", &format!("s3://{BUCKET}/traces"));
    let agents = Arc::new(InMemoryAgents::on_every_node());
    for t in [&dead, &live] {
        let container = ContainerTarget {
            pod: "p".into(),
            pod_uid: "u".into(),
            container: "c".into(),
            container_id: format!("containerd://{}", t.node),
        };
        agents
            .start(t.node, &t.id, &t.job.spec, &[container])
            .await
            .expect("start");
    }
    // The dead tenant is busy (10,000 events), the live one quiet (100); each line is
    // about 230 bytes, the spool holds 60,000: without a fair share the busy tenant, read
    // first, takes all of it.
    agents.push_events(dead.node, (0..10_000).map(exec_event));
    agents.push_events(live.node, (0..100).map(exec_event));
    let spool = tempfile::tempdir().expect("a spool directory");
    let storage = Storage::new(StorageSettings {
        flush_interval: Duration::ZERO,
        spool_dir: spool.path().to_owned(),
        spool_max_bytes: 60_000,
        ..StorageSettings::default()
    });
    let (client, _server) = support::mock::client();
    let pool: Arc<dyn AgentPool> = agents.clone();
    let streams = Streams::new(Arc::new(Pace::new(Duration::ZERO)));
    let status = TraceJobStatus::default();
    let store = Store::open(
        &live.target.location,
        &Credentials::new(garage.credentials()),
    )
    .expect("the store")
    .at(&layout::job_dir("live", "live", "uid-live"));
    // Both tenants' streams are read into the spool (as after an operator whose dead
    // tenant's bucket went away once its manifest was read back). Reading the manifest back
    // from the missing bucket fails, naming it.
    let mut recovered = Vec::new();
    for t in [&dead, &live] {
        recovered.push(storage.recover(&client, &t.target, &t.id).await);
        streams.track(
            &pool,
            &t.id,
            [t.node],
            Some(&storage.spool(&t.id.uid)),
            true,
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let written = loop {
        let outcome = storage
            .flush_if_due(&client, &live.target, &live.job, &live.id, &status)
            .await;
        if let Some(Outcome::Failed { message, .. }) = outcome {
            panic!("the live tenant's flush failed: {message}");
        }
        let manifest: Option<Manifest> = match store.get(layout::MANIFEST).await {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(_) => None,
        };
        let events = manifest.map_or(0, |m| m.events());
        if events >= 100 || tokio::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        storage.losses(&live.id.uid).dropped,
        0,
        "the live tenant dropped nothing"
    );
    assert_eq!(written, 100, "every event of the live tenant is written");

    assert!(
        matches!(&recovered[0], Err(Outcome::Failed { message, .. }) if message.contains("no-such-bucket")),
        "{:?}",
        recovered[0]
    );
    assert_eq!(
        recovered[1],
        Ok(()),
        "the live tenant's storage is read back"
    );
    assert!(
        storage.losses(&dead.id.uid).dropped > 9_000,
        "the dead tenant's events beyond its share are counted as dropped"
    );
}
