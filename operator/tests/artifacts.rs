//! The storage writer in the reconciler, against a mocked API server, the in-memory agents
//! (which stream events) and a real directory through `file://`: a finished job's events,
//! summary and manifest are written before it succeeds; a store that cannot be written keeps
//! the job Running with a condition naming the URL; no storage says so.

mod support;

use std::io::Read;
use std::sync::Arc;

use kube::runtime::controller::Action;
use serde_json::{Value, json};
use support::fixtures::*;
use support::mock::{self, ApiServer};
use support::reconcile::run;
use tracejob_operator::agents::memory::{InMemoryAgents, exec_event};
use tracejob_operator::agents::{AgentPool, ContainerTarget, JobId, NodeResult};
use tracejob_operator::metrics::Metrics;
use tracejob_operator::{Context, Settings, reconcile};
use tracejob_storage::Manifest;

/// A context whose spool is a directory of its own (every test's job has the same uid).
fn context(agents: &Arc<InMemoryAgents>, spool: &std::path::Path) -> (Arc<Context>, ApiServer) {
    let (client, server) = mock::client();
    let pool: Arc<dyn AgentPool> = agents.clone();
    let mut settings = Settings::default();
    settings.storage.spool_dir = spool.to_owned();
    // The tests write through file://, which a cluster's operator refuses by default.
    settings.storage.allow_file_urls = true;
    let ctx = Context::new(client, pool, Arc::new(Metrics::default()), settings);
    (Arc::new(ctx), server)
}

fn job_from(value: &Value) -> tracejob_api::TraceJob {
    support::fixtures::job(value)
}

fn job_key() -> JobId {
    JobId {
        namespace: NAMESPACE.into(),
        name: NAME.into(),
        uid: "uid-1".into(),
    }
}

/// Two nodes run an `exec` job; each streamed `events` events and reports that count.
async fn two_nodes_streaming(spec: &Value, events: [u64; 2]) -> Arc<InMemoryAgents> {
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let parsed = serde_json::from_value(spec.clone()).expect("spec");
    for ((node, id), count) in [("n1", "containerd://aaa"), ("n2", "containerd://bbb")]
        .into_iter()
        .zip(events)
    {
        let target = ContainerTarget {
            pod: "p".into(),
            pod_uid: "u".into(),
            container: "c".into(),
            container_id: id.into(),
        };
        agents
            .start(node, &job_key(), &parsed, &[target])
            .await
            .expect("start");
        agents.push_events(node, (0..count).map(exec_event));
        agents.set_result(
            node,
            NodeResult {
                probe: Some("tp_btf".into()),
                events: count,
                ..NodeResult::default()
            },
        );
    }
    agents
}

fn running_status(events: u64) -> Value {
    json!({
        "phase": "Running", "startTime": ago(60), "observedGeneration": 1, "matchedPods": 2, "matchedNodes": 2,
        "nodes": [
            {"node": "n1", "pods": 1, "phase": "Running", "events": 0, "lost": 0},
            {"node": "n2", "pods": 1, "phase": "Running", "events": 0, "lost": 0}
        ],
        "events": events, "lost": 0
    })
}

fn gunzip_lines(path: &std::path::Path) -> Vec<Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("events file"))
        .read_to_string(&mut text)
        .expect("gzip");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[tokio::test]
async fn an_ended_job_writes_every_streamed_event_its_summary_and_manifest_before_it_succeeds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}/results", dir.path().display());
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "30s",
                      "output": {"storage": {"url": url}}});
    let agents = two_nodes_streaming(&spec, [1200, 34]).await;
    let spool = tempfile::tempdir().expect("spool dir");
    let (ctx, server) = context(&agents, spool.path());
    let job = job_json(spec, Some(running_status(0)));
    let answer = job.clone();
    let expected_url = url.clone();
    let action = run(&job, ctx, server, |mut server| async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        assert_eq!(status["phase"], "Succeeded");
        assert_eq!(status["events"], 1234);
        let written = condition(&status, "ArtifactsWritten");
        assert_eq!(written["status"], "True", "{written}");
        assert_eq!(written["reason"], "Written");
        let names: Vec<&str> = status["artifacts"]
            .as_array()
            .expect("artifacts")
            .iter()
            .map(|a| a["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, ["events.jsonl.gz", "summary.json", "manifest.json"]);
        assert_eq!(
            status["artifacts"][0]["url"],
            format!("{expected_url}/shop/slow-io/uid-1/events.jsonl.gz")
        );
        patch.respond_with_status(&answer);
        server.expect_event("Completed").await;
    })
    .await;
    assert_eq!(action, Action::await_change());

    let job_dir = dir.path().join("results/shop/slow-io/uid-1");
    let events = gunzip_lines(&job_dir.join("events.jsonl.gz"));
    assert_eq!(
        events.len(),
        1234,
        "every streamed event, as many as the summary counts"
    );
    assert_eq!(events.iter().filter(|e| e["node"] == "n1").count(), 1200);
    assert_eq!(events.iter().filter(|e| e["node"] == "n2").count(), 34);
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(job_dir.join("manifest.json")).expect("manifest"))
            .expect("a manifest");
    assert_eq!(manifest.job.as_deref(), Some("shop/slow-io"));
    assert_eq!(manifest.events(), 1234);
    let events_entry = &manifest.artifacts[0];
    assert_eq!(
        events_entry.bytes,
        std::fs::metadata(job_dir.join("events.jsonl.gz"))
            .expect("size")
            .len()
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(job_dir.join("summary.json")).expect("summary"))
            .expect("summary json");
    assert_eq!(summary["events"], 1234);
    assert_eq!(summary["eventsWritten"], 1234);
    assert_eq!(manifest.artifacts[1].counts["events"], 1234);
}

#[tokio::test]
async fn a_job_keeps_at_most_max_events_in_storage_and_counts_the_rest_as_not_kept_not_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}/results", dir.path().display());
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "30s",
                      "output": {"maxEvents": 100, "storage": {"url": url}}});
    let agents = two_nodes_streaming(&spec, [120, 34]).await;
    let spool = tempfile::tempdir().expect("spool dir");
    let (ctx, server) = context(&agents, spool.path());
    let job = job_json(spec, Some(running_status(0)));
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        assert_eq!(status["phase"], "Succeeded");
        assert_eq!(status["events"], 154);
        assert_eq!(status["eventsNotKept"], 54);
        assert_eq!(status["lost"], 0, "not kept is not lost");
        patch.respond_with_status(&answer);
        server.expect_event("Completed").await;
    })
    .await;

    let job_dir = dir.path().join("results/shop/slow-io/uid-1");
    let events = gunzip_lines(&job_dir.join("events.jsonl.gz"));
    assert_eq!(events.len(), 100, "storage holds exactly maxEvents events");
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(job_dir.join("manifest.json")).expect("manifest"))
            .expect("a manifest");
    assert_eq!(manifest.events(), 100);
    assert_eq!(manifest.resume.expect("a resume record").not_kept, 54);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(job_dir.join("summary.json")).expect("summary"))
            .expect("summary json");
    assert_eq!(summary["events"], 154);
    assert_eq!(summary["eventsWritten"], 100);
    assert_eq!(summary["eventsNotKept"], 54);
    assert_eq!(summary["lost"], 0);
}

#[tokio::test]
async fn storage_that_cannot_be_written_keeps_the_job_running_with_a_condition_naming_the_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A regular file where the store needs a directory.
    std::fs::write(dir.path().join("blocked"), b"").expect("a file");
    let url = format!("file://{}/blocked/results", dir.path().display());
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "30s",
                      "output": {"storage": {"url": url}}});
    let agents = two_nodes_streaming(&spec, [5, 5]).await;
    let spool = tempfile::tempdir().expect("spool dir");
    let (ctx, server) = context(&agents, spool.path());
    let job = job_json(spec, Some(running_status(0)));
    let answer = job.clone();
    let expected_url = url.clone();
    let action = run(&job, ctx, server, |mut server| async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        assert_eq!(
            status["phase"], "Running",
            "not Succeeded before the artifacts are durable"
        );
        assert!(status["completionTime"].is_null());
        assert_eq!(status["events"], 10, "the summary is kept");
        assert!(status["artifacts"].is_null());
        let written = condition(&status, "ArtifactsWritten");
        assert_eq!(written["status"], "False");
        assert_eq!(written["reason"], "StorageUnavailable");
        let message = written["message"].as_str().expect("message");
        assert!(
            // Reading back an earlier process's manifest.json is what fails first.
            message.contains(&format!("cannot read {expected_url}/shop/slow-io/uid-1/")),
            "{message}"
        );
        assert!(message.contains("attempt 1"), "{message}");
        assert_eq!(condition(&status, "Complete")["reason"], "WritingArtifacts");
        patch.respond_with_status(&answer);
        let event = server.expect_event("StorageUnavailable").await;
        assert!(event.to_string().contains(&expected_url), "{event}");
    })
    .await;
    assert_ne!(action, Action::await_change(), "it retries");
    assert!(
        agents.running_jobs().is_empty(),
        "the trace itself is stopped"
    );
}

#[tokio::test]
async fn a_job_without_storage_succeeds_saying_only_the_summary_is_kept() {
    let spec =
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "30s"});
    let agents = two_nodes_streaming(&spec, [3, 4]).await;
    let spool = tempfile::tempdir().expect("spool dir");
    let (ctx, server) = context(&agents, spool.path());
    let job = job_json(spec, Some(running_status(0)));
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        assert_eq!(status["phase"], "Succeeded");
        let written = condition(&status, "ArtifactsWritten");
        assert_eq!(written["reason"], "NoStorage");
        assert!(
            written["message"]
                .as_str()
                .is_some_and(|m| m.contains("only the summary")),
            "{written}"
        );
        patch.respond_with_status(&answer);
        server.expect_event("Completed").await;
    })
    .await;
}

#[tokio::test]
async fn a_malformed_storage_url_fails_the_job_naming_the_field() {
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}},
                      "output": {"storage": {"url": "s3:///no-bucket"}}});
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let spool = tempfile::tempdir().expect("spool dir");
    let (ctx, server) = context(&agents, spool.path());
    let job = job_json(spec, None);
    let answer = job.clone();
    run(&job, ctx, server, |mut server| async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        assert_eq!(status["phase"], "Failed");
        let message = status["message"].as_str().expect("message");
        assert!(
            message.starts_with("spec.output.storage.url: invalid storage URL \"s3:///no-bucket\""),
            "{message}"
        );
        patch.respond_with_status(&answer);
        server.expect_event("InvalidSpec").await;
    })
    .await;
}

#[tokio::test]
async fn storage_failing_past_the_deadline_fails_the_job_counting_the_events_not_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("blocked"), b"").expect("a file");
    let url = format!("file://{}/blocked/results", dir.path().display());
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "30s",
                      "output": {"storage": {"url": url}}});
    let agents = two_nodes_streaming(&spec, [5, 5]).await;
    let spool = tempfile::tempdir().expect("spool dir");
    let (client, mut server) = mock::client();
    let pool: Arc<dyn AgentPool> = agents.clone();
    let mut settings = Settings::default();
    settings.storage.spool_dir = spool.path().to_owned();
    settings.storage.allow_file_urls = true;
    // Any failure that lasts into the next attempt is past the deadline.
    settings.storage.give_up_after = std::time::Duration::ZERO;
    let ctx = Arc::new(Context::new(
        client,
        pool,
        Arc::new(Metrics::default()),
        settings,
    ));

    // First attempt: storage fails, the job waits (Running) and retries.
    let job = job_json(spec.clone(), Some(running_status(0)));
    let answer = job.clone();
    let api = tokio::spawn(async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        patch.respond_with_status(&answer);
        server.expect_event("StorageUnavailable").await;
        (server, status)
    });
    reconcile(Arc::new(job_from(&job)), ctx.clone())
        .await
        .expect("reconcile succeeds");
    let (mut server, status) = api.await.expect("the first round");
    assert_eq!(status["phase"], "Running");
    assert!(
        status["storageFailingSince"].is_string(),
        "the first failure is kept for a restarted operator: {status}"
    );

    // The next attempt is past the deadline: Failed, the events counted as not written.
    let job = job_json(spec, Some(status));
    let answer = job.clone();
    let api = tokio::spawn(async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        patch.respond_with_status(&answer);
        server.expect_event("StorageDeadlineExceeded").await;
        status
    });
    let action = reconcile(Arc::new(job_from(&job)), ctx)
        .await
        .expect("reconcile succeeds");
    let status = api.await.expect("the second round");
    assert_eq!(status["phase"], "Failed");
    let written = condition(&status, "ArtifactsWritten");
    assert_eq!(written["reason"], "StorageDeadlineExceeded");
    let message = written["message"].as_str().expect("a message");
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("10 events were not written"), "{message}");
    assert_eq!(
        condition(&status, "Complete")["reason"],
        "ArtifactsNotWritten"
    );
    assert_eq!(status["lost"], 10, "the events not written count as lost");
    assert_eq!(action, Action::await_change());
}

/// A whole second, `seconds` ago, as the status writes times.
fn second_ago(seconds: i64) -> String {
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    k8s_openapi::jiff::Timestamp::from_second(now - seconds)
        .expect("a time")
        .to_string()
}

/// A restarted operator on a job whose storage has been failing: the status says since when.
async fn restarted_on_failing_storage(failing_since: &str, event: &'static str) -> (Value, Action) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("blocked"), b"").expect("a file");
    let url = format!("file://{}/blocked/results", dir.path().display());
    let spec = json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}, "duration": "30s",
                      "output": {"storage": {"url": url}}});
    let agents = two_nodes_streaming(&spec, [5, 5]).await;
    let spool = tempfile::tempdir().expect("spool dir");
    let (client, mut server) = mock::client();
    let pool: Arc<dyn AgentPool> = agents.clone();
    let mut settings = Settings::default();
    settings.storage.spool_dir = spool.path().to_owned();
    settings.storage.allow_file_urls = true;
    settings.storage.give_up_after = std::time::Duration::from_secs(3600);
    let ctx = Arc::new(Context::new(
        client,
        pool,
        Arc::new(Metrics::default()),
        settings,
    ));
    let mut status = running_status(0);
    status["storageFailingSince"] = json!(failing_since);
    let job = job_json(spec, Some(status));
    let answer = job.clone();
    let api = tokio::spawn(async move {
        let patch = server.expect("PATCH", &format!("{JOB_PATH}/status")).await;
        let status = patch.status_after(&answer);
        patch.respond_with_status(&answer);
        server.expect_event(event).await;
        status
    });
    let action = reconcile(Arc::new(job_from(&job)), ctx)
        .await
        .expect("reconcile succeeds");
    (api.await.expect("the round"), action)
}

#[tokio::test]
async fn a_restarted_operator_continues_the_storage_deadline_from_the_first_failure() {
    // Failing for a minute of the hour: the job waits, and the clock is not started again.
    let minute_ago = second_ago(60);
    let (status, _) = restarted_on_failing_storage(&minute_ago, "StorageUnavailable").await;
    assert_eq!(status["phase"], "Running");
    assert_eq!(
        condition(&status, "ArtifactsWritten")["reason"],
        "StorageUnavailable"
    );
    assert_eq!(status["storageFailingSince"], json!(minute_ago));

    // Failing for two hours: the restarted operator gives up at once.
    let (status, action) =
        restarted_on_failing_storage(&second_ago(7200), "StorageDeadlineExceeded").await;
    assert_eq!(status["phase"], "Failed");
    assert_eq!(
        condition(&status, "ArtifactsWritten")["reason"],
        "StorageDeadlineExceeded"
    );
    assert_eq!(action, Action::await_change());
}
