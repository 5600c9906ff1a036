//! From the kernel to object storage: the real agent (over mutual TLS) streams the events of
//! a known workload to the operator's pool, the operator's storage writer spools and writes
//! them through `file://`, and `events.jsonl.gz` holds exactly the count the final summary
//! reports.

mod support;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use support::certs::{AGENT_NAME, AgentFiles, Ca};
use support::process::AgentProcess;
use support::workload::FakeContainer;
use tracejob_api::{NodePhase, NodeStatus, TraceJob, TraceJobStatus};
use tracejob_operator::agents::grpc::{Addresses, ClientTls, GrpcAgents};
use tracejob_operator::agents::{AgentPool, ContainerTarget, JobId};
use tracejob_operator::pace::Pace;
use tracejob_operator::storage::{Outcome, Storage, StorageSettings, Target};
use tracejob_operator::streams::Streams;
use tracejob_storage::{Location, Manifest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_the_kernel_saw_reaches_events_jsonl_gz() {
    if !tracejob_testkit::can_trace("every_event_the_kernel_saw_reaches_events_jsonl_gz") {
        return;
    }
    let ca = Ca::new("tracejob test CA");
    let files = AgentFiles::write(&ca, "storage");
    let agent = AgentProcess::start("node-a", &files.args());
    let operator = ca.client();
    let pool: Arc<dyn AgentPool> = Arc::new(GrpcAgents::new(
        Addresses::Fixed(BTreeMap::from([(
            "node-a".to_owned(),
            format!("https://127.0.0.1:{}", agent.port()),
        )])),
        Some(ClientTls {
            ca_pem: ca.pem().into_bytes(),
            cert_pem: operator.cert.into_bytes(),
            key_pem: operator.key.into_bytes(),
            domain: Some(AGENT_NAME.to_owned()),
        }),
    ));
    let out = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}/results", out.path().display());
    let job: TraceJob = serde_json::from_value(serde_json::json!({
        "apiVersion": "tracejob.io/v1alpha1", "kind": "TraceJob",
        "metadata": {"name": "opens", "namespace": "default", "uid": "storage-uid"},
        "spec": {"tool": "open", "duration": "10s", "output": {"storage": {"url": url}}}
    }))
    .expect("a TraceJob");
    let id = JobId {
        namespace: "default".into(),
        name: "opens".into(),
        uid: "storage-uid".into(),
    };
    let container = FakeContainer::new();
    let target = ContainerTarget {
        pod: "p".into(),
        pod_uid: container.pod_uid.clone(),
        container: "c".into(),
        container_id: container.container_id.clone(),
    };
    pool.start("node-a", &id, &job.spec, &[target])
        .await
        .expect("start");

    let spool = tempfile::tempdir().expect("spool dir");
    let storage = Storage::new(StorageSettings {
        spool_dir: spool.path().to_owned(),
        final_wait: Duration::from_secs(20),
        ..StorageSettings::default()
    });
    // Reading while the workload runs, as the operator does.
    let streams = Streams::new(Arc::new(Pace::new(Duration::ZERO)));
    streams.track(&pool, &id, ["node-a"], Some(&storage.spool(&id.uid)), true);
    let path = CString::new("/dev/null").expect("path");
    container.opens(&path, 1234);
    let result = pool.stop("node-a", &id).await.expect("stop");
    assert_eq!(
        (result.events, result.lost),
        (1234, 0),
        "the kernel saw every open"
    );

    let status = TraceJobStatus {
        events: Some(result.events),
        lost: Some(result.lost),
        nodes: vec![NodeStatus {
            node: "node-a".into(),
            pods: 1,
            phase: NodePhase::Stopped,
            events: result.events,
            ..NodeStatus::default()
        }],
        ..TraceJobStatus::default()
    };
    let target = Target {
        location: Location::parse(&url).expect("url"),
        secret: None,
        source: "spec.output.storage",
    };
    // The file:// store reads no Secret: this client is never used.
    let client = kube::Client::try_from(kube::Config::new(
        "http://127.0.0.1:9".parse().expect("uri"),
    ))
    .expect("a client");
    let outcome = storage.finish(&client, &target, &job, &id, &status).await;
    let Outcome::Written { artifacts, .. } = outcome else {
        panic!("the artifacts are written: {outcome:?}");
    };
    assert_eq!(artifacts.len(), 3);

    let dir = out.path().join("results/default/opens/storage-uid");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(dir.join("events.jsonl.gz")).expect("events"))
        .read_to_string(&mut text)
        .expect("gzip");
    let opens: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(
        opens.len() as u64,
        result.events,
        "as many events as the summary counts"
    );
    assert!(opens.iter().all(|e| e["node"] == "node-a"));
    assert_eq!(
        opens.iter().filter(|e| e["path"] == "/dev/null").count(),
        1234,
        "each one an open of /dev/null: {}",
        opens[0]
    );
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("a manifest");
    assert_eq!(manifest.events(), 1234);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary"))
            .expect("JSON");
    assert_eq!(summary["events"], 1234);
    assert_eq!(
        summary["nodeSummaries"]["node-a"]["events"], 1234,
        "the engine's full summary of the node: {summary}"
    );
    assert_eq!(summary["nodeSummaries"]["node-a"]["tool"], "open");
}
