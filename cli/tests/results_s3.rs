//! Full results in a real S3 server: the operator (in this process, against the local
//! kube-apiserver, with the in-memory agents streaming a known number of events) writes a
//! finished job's artifacts to a Garage the test starts, lists them in the status, and
//! `tracejob results --dir` downloads them; `events.jsonl.gz` holds exactly as many events as
//! the summary counts. A storage outage in the middle of a job ends with complete artifacts
//! and the outage in the conditions.

#[allow(
    dead_code,
    reason = "the operator's test helpers; this target uses a part"
)]
#[path = "../../operator/tests/support/cluster.rs"]
mod cluster;
mod support;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cluster::*;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use support::{stderr, stdout, tracejob};
use tracejob_api::event::EventLine;
use tracejob_api::{Phase, TraceJob};
use tracejob_operator::agents::NodeResult;
use tracejob_operator::agents::memory::{InMemoryAgents, exec_event};
use tracejob_testkit::garage::{BUCKET, Garage};

fn phase(job: &TraceJob) -> Option<Phase> {
    job.status.as_ref().and_then(|s| s.phase)
}

fn artifacts_condition(job: &TraceJob) -> Option<(String, String, String)> {
    let status = job.status.as_ref()?;
    tracejob_operator::conditions::find(&status.conditions, "ArtifactsWritten")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn ready_condition(job: &TraceJob) -> Option<(String, String)> {
    let status = job.status.as_ref()?;
    tracejob_operator::conditions::find(&status.conditions, "Ready")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// The local API server and a fresh Garage, or None when the test cannot run (it says why).
async fn cluster_and_garage(test: &str) -> Option<(Cluster, Garage)> {
    let cluster = cluster().await?;
    if !tracejob_testkit::garage::can_use_s3(test) {
        return None;
    }
    Some((cluster, Garage::start()))
}

/// A running `app: web` pod on node-a, and in-memory agents with `count` of its events queued.
async fn web_pod_streaming(client: &kube::Client, ns: &str, count: u64) -> Arc<InMemoryAgents> {
    running_pod(
        client,
        ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.push_events("node-a", events(count, 0));
    agents
}

async fn credentials_secret(client: &kube::Client, namespace: &str, garage: &Garage) {
    let data: serde_json::Map<String, Value> = garage
        .credentials()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s3-creds"}, "stringData": data}))
            .expect("a Secret");
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("the Secret is created");
}

fn events(count: u64, from: u64) -> impl Iterator<Item = EventLine> {
    (from..from + count).map(exec_event)
}

fn result(events: u64) -> NodeResult {
    NodeResult {
        probe: Some("tp_btf".into()),
        events,
        ..NodeResult::default()
    }
}

/// `tracejob results NAME -n NS --dir DIR` as a user runs it; returns its stdout.
fn results_command(kubeconfig: &Path, namespace: &str, name: &str, dir: &Path) -> String {
    let output = results_with_env(kubeconfig, namespace, name, dir, &[]);
    assert!(
        stderr(&output).contains(&format!("credentials: Secret {namespace}/s3-creds")),
        "{}",
        stderr(&output)
    );
    stdout(&output)
}

fn results_with_env(
    kubeconfig: &Path,
    namespace: &str,
    name: &str,
    dir: &Path,
    env: &[(String, String)],
) -> std::process::Output {
    let output = tracejob()
        .env("KUBECONFIG", kubeconfig)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["results", name, "-n", namespace, "--dir"])
        .arg(dir)
        .output()
        .expect("tracejob results runs");
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

fn downloaded_events(dir: &Path) -> Vec<Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(dir.join("events.jsonl.gz")).expect("file"))
        .read_to_string(&mut text)
        .expect("gzip");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_jobs_artifacts_are_in_s3_listed_in_its_status_and_downloadable() {
    let Some((cluster, garage)) = cluster_and_garage("artifacts_in_s3").await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "s3").await;
    credentials_secret(client, &ns, &garage).await;
    let agents = web_pod_streaming(client, &ns, 1234).await;
    agents.set_result("node-a", result(1234));
    let operator = Operator::start(client, &agents, &ns);
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "2s",
        "output": {"storage": {"url": format!("s3://{BUCKET}/runs"), "secretRef": {"name": "s3-creds"}}}});
    let api = create_job(client, &ns, "execs", spec).await;
    // What a person or a GitOps tool waits on: the kstatus-style Ready condition.
    let (ready, waited) = kubectl(
        &cluster.kubeconfig,
        &[
            "wait",
            "-n",
            &ns,
            "--for=condition=Ready",
            "tracejob/execs",
            "--timeout=30s",
        ],
        None,
    );
    assert!(ready, "{waited}");
    let job = wait_for_job(&api, "execs", "Succeeded", |j| {
        phase(j) == Some(Phase::Succeeded)
    })
    .await;
    operator.stop().await;
    assert_eq!(
        ready_condition(&job),
        Some(("True".to_owned(), "Finished".to_owned()))
    );

    let status = job.status.clone().expect("status");
    assert_eq!(status.events, Some(1234));
    let (written, reason, message) = artifacts_condition(&job).expect("ArtifactsWritten");
    assert_eq!(
        (written.as_str(), reason.as_str()),
        ("True", "Written"),
        "{message}"
    );
    let uid = job.metadata.uid.clone().expect("uid");
    let names: Vec<&str> = status.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["events.jsonl.gz", "summary.json", "manifest.json"]);
    assert_eq!(
        status.artifacts[0].url,
        format!("s3://{BUCKET}/runs/{ns}/execs/{uid}/events.jsonl.gz")
    );
    assert!(status.artifacts.iter().all(|a| a.bytes > 0));

    let dir = tempfile::tempdir().expect("temp dir");
    let printed = results_command(&cluster.kubeconfig, &ns, "execs", dir.path());
    assert!(printed.contains("Succeeded"), "{printed}");
    assert!(printed.contains("sha256 ok"), "{printed}");
    let downloaded = downloaded_events(dir.path());
    assert_eq!(
        downloaded.len() as u64,
        status.events.unwrap_or(0),
        "events.jsonl.gz holds as many events as the summary counts"
    );
    assert!(downloaded.iter().all(|e| e["node"] == "node-a"));
    let sizes: Vec<u64> = status
        .artifacts
        .iter()
        .map(|a| {
            std::fs::metadata(dir.path().join(&a.name))
                .expect("downloaded")
                .len()
        })
        .collect();
    assert_eq!(
        sizes,
        status.artifacts.iter().map(|a| a.bytes).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_outage_mid_job_ends_with_complete_artifacts_and_the_outage_recorded() {
    let Some((cluster, mut garage)) = cluster_and_garage("storage_outage").await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "outage").await;
    credentials_secret(client, &ns, &garage).await;
    let agents = web_pod_streaming(client, &ns, 500).await;
    let operator = Operator::start(client, &agents, &ns);
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "3s",
        "output": {"storage": {"url": format!("s3://{BUCKET}/runs"), "secretRef": {"name": "s3-creds"}}}});
    let api = create_job(client, &ns, "outage", spec).await;
    wait_for_job(&api, "outage", "Running", |j| {
        phase(j) == Some(Phase::Running)
    })
    .await;

    garage.stop();
    // Events keep coming while storage is down: they wait in the spool.
    agents.push_events("node-a", events(700, 500));
    agents.set_result("node-a", result(1200));
    let failing = wait_for_job(&api, "outage", "a storage failure condition", |j| {
        artifacts_condition(j).is_some_and(|(_, reason, _)| reason == "StorageUnavailable")
    })
    .await;
    assert_eq!(
        phase(&failing),
        Some(Phase::Running),
        "not Succeeded while storage is down"
    );
    let (_, _, message) = artifacts_condition(&failing).expect("condition");
    assert!(
        message.contains(&format!("s3://{BUCKET}/runs")) && message.contains("Connection refused"),
        "{message}"
    );
    assert_eq!(
        failing.status.as_ref().and_then(|s| s.events),
        Some(1200),
        "the summary is kept"
    );

    garage.resume();
    // The operator's backoff reaches 30 s between attempts: allow for two.
    let job = tokio::time::timeout(
        Duration::from_secs(90),
        kube::runtime::wait::await_condition(api.clone(), "outage", |j: Option<&TraceJob>| {
            j.is_some_and(|j| phase(j) == Some(Phase::Succeeded))
        }),
    )
    .await
    .expect("Succeeded within 90 s of storage coming back")
    .expect("the watch works")
    .expect("the job");
    operator.stop().await;
    let (written, reason, message) = artifacts_condition(&job).expect("ArtifactsWritten");
    assert_eq!((written.as_str(), reason.as_str()), ("True", "Written"));
    assert!(
        message.contains("failed attempts (storage unavailable since"),
        "{message}"
    );
    assert!(
        message.contains("Connection refused"),
        "the outage's error is kept: {message}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    results_command(&cluster.kubeconfig, &ns, "outage", dir.path());
    let downloaded = downloaded_events(dir.path());
    assert_eq!(
        downloaded.len(),
        1200,
        "every event, including those of the outage"
    );
    let pids: std::collections::BTreeSet<u64> = downloaded
        .iter()
        .filter_map(|e| e["pid"].as_u64())
        .collect();
    assert_eq!(pids.len(), 1200, "each event once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standing_job_flushes_numbered_parts_and_its_last_events_when_deleted() {
    let Some((cluster, garage)) = cluster_and_garage("standing_job_flushes").await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "standing").await;
    credentials_secret(client, &ns, &garage).await;
    let agents = web_pod_streaming(client, &ns, 100).await;
    let mut settings = tracejob_operator::Settings {
        poll_interval: Duration::from_secs(1),
        ..tracejob_operator::Settings::default()
    };
    settings.storage.flush_interval = Duration::from_secs(1);
    let operator = Operator::start_with(client, &agents, &ns, settings);
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}},
        "output": {"storage": {"url": format!("s3://{BUCKET}/standing"), "secretRef": {"name": "s3-creds"}}}});
    let api = create_job(client, &ns, "policy", spec).await;
    let has_part = |job: &TraceJob, name: &str| {
        job.status
            .as_ref()
            .is_some_and(|s| s.artifacts.iter().any(|a| a.name == name))
    };
    let first = wait_for_job(&api, "policy", "a first part", |j| {
        has_part(j, "events-node-a-00000.jsonl.gz")
    })
    .await;
    assert_eq!(phase(&first), Some(Phase::Running));
    let (written, reason, _) = artifacts_condition(&first).expect("condition");
    assert_eq!((written.as_str(), reason.as_str()), ("True", "Flushed"));
    agents.push_events("node-a", events(50, 100));
    wait_for_job(&api, "policy", "a second part", |j| {
        has_part(j, "events-node-a-00001.jsonl.gz")
    })
    .await;
    agents.push_events("node-a", events(25, 150));
    let uid = first.metadata.uid.clone().expect("uid");
    api.delete("policy", &Default::default())
        .await
        .expect("delete");
    wait_for(
        api.clone(),
        "policy",
        kube::runtime::wait::conditions::is_deleted(&uid),
    )
    .await;
    operator.stop().await;

    // Every part the manifest lists, read back from S3: each event once, none missing.
    let store = tracejob_storage::Store::open(
        &tracejob_storage::Location::parse(&format!("s3://{BUCKET}/standing")).expect("url"),
        &tracejob_storage::Credentials::new(garage.credentials()),
    )
    .expect("open")
    .at(&format!("{ns}/policy/{uid}"));
    let manifest: tracejob_storage::Manifest =
        serde_json::from_slice(&store.get("manifest.json").await.expect("manifest")).expect("json");
    assert_eq!(manifest.events(), 175, "{manifest:#?}");
    let mut pids = std::collections::BTreeSet::new();
    for entry in manifest
        .artifacts
        .iter()
        .filter(|a| a.name.starts_with("events-node-a-"))
    {
        let bytes = store.get(&entry.name).await.expect("part");
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_ref())
            .read_to_string(&mut text)
            .expect("gzip");
        for line in text.lines() {
            let event: Value = serde_json::from_str(line).expect("JSON");
            assert!(
                pids.insert(event["pid"].as_u64().expect("pid")),
                "once: {line}"
            );
        }
    }
    assert_eq!(pids.len(), 175);
    assert!(
        manifest
            .artifacts
            .iter()
            .filter(|a| a.name.starts_with("events-"))
            .count()
            >= 3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_wrong_credentials_and_a_missing_secret_are_named_in_the_condition() {
    let Some((cluster, garage)) = cluster_and_garage("storage_errors_in_conditions").await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "bad-storage").await;
    credentials_secret(client, &ns, &garage).await;
    let mut wrong: serde_json::Map<String, Value> = garage
        .credentials()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    wrong.insert(
        "AWS_SECRET_ACCESS_KEY".into(),
        Value::String("0".repeat(64)),
    );
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "wrong-creds"}, "stringData": wrong}))
            .expect("a Secret");
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("created");
    let agents = web_pod_streaming(client, &ns, 10).await;
    agents.set_result("node-a", result(10));
    let operator = Operator::start(client, &agents, &ns);
    let cases = [
        (
            "no-bucket",
            "s3://no-such-bucket/x",
            "s3-creds",
            "NoSuchBucket",
        ),
        (
            "wrong-key",
            &format!("s3://{BUCKET}/x") as &str,
            "wrong-creds",
            "403 Forbidden",
        ),
        (
            "no-secret",
            &format!("s3://{BUCKET}/x"),
            "absent",
            "cannot read the credentials Secret",
        ),
    ];
    for (name, url, secret, _) in &cases {
        // Still running when checked: its counts cannot come from a final stop.
        let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "1h",
            "output": {"storage": {"url": url, "secretRef": {"name": secret}}}});
        create_job(client, &ns, name, spec).await;
    }
    let api: Api<TraceJob> = Api::namespaced(client.clone(), &ns);
    for (name, url, _, expected) in cases {
        // The counts do not wait for storage: they are asked for while it cannot be read.
        let job = wait_for_job(
            &api,
            name,
            "a storage failure condition and the counts",
            |j| {
                artifacts_condition(j).is_some_and(|(_, reason, _)| reason == "StorageUnavailable")
                    && j.status.as_ref().and_then(|s| s.events) == Some(10)
            },
        )
        .await;
        let (_, _, message) = artifacts_condition(&job).expect("condition");
        assert!(message.contains(url), "{name}: {message}");
        assert!(
            message.contains(expected),
            "{name}: expected {expected:?} in {message}"
        );
        assert_eq!(phase(&job), Some(Phase::Running), "{name}");
        assert_eq!(
            ready_condition(&job),
            Some(("False".to_owned(), "StorageFailing".to_owned())),
            "{name}"
        );
    }
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_without_storage_in_its_spec_uses_the_operators_default_and_results_reads_the_environment()
 {
    let Some((cluster, garage)) = cluster_and_garage("operator_default_storage").await else {
        return;
    };
    let client = &cluster.client;
    // The operator's own namespace holds the default storage's Secret.
    let operator_ns = namespace(client, "operator").await;
    credentials_secret(client, &operator_ns, &garage).await;
    let ns = namespace(client, "default-storage").await;
    let agents = web_pod_streaming(client, &ns, 42).await;
    agents.set_result("node-a", result(42));
    let mut settings = tracejob_operator::Settings {
        poll_interval: Duration::from_secs(1),
        ..tracejob_operator::Settings::default()
    };
    settings.storage.default = Some(tracejob_operator::storage::Target {
        location: tracejob_storage::Location::parse(&format!("s3://{BUCKET}/default"))
            .expect("url"),
        secret: Some((operator_ns.clone(), "s3-creds".to_owned())),
        source: "the operator's default storage",
    });
    let operator = Operator::start_with(client, &agents, &ns, settings);
    let spec =
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "1s"});
    let api = create_job(client, &ns, "plain", spec).await;
    let job = wait_for_job(&api, "plain", "Succeeded", |j| {
        phase(j) == Some(Phase::Succeeded)
    })
    .await;
    operator.stop().await;
    let status = job.status.clone().expect("status");
    assert!(
        status.artifacts[0]
            .url
            .starts_with(&format!("s3://{BUCKET}/default/{ns}/plain/")),
        "{:?}",
        status.artifacts
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let output = results_with_env(
        &cluster.kubeconfig,
        &ns,
        "plain",
        dir.path(),
        &garage.credentials(),
    );
    assert!(
        stderr(&output).contains("credentials: the environment"),
        "{}",
        stderr(&output)
    );
    assert_eq!(downloaded_events(dir.path()).len(), 42);
}
