use super::*;

fn job() -> TraceJob {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "tracejob.io/v1alpha1",
        "kind": "TraceJob",
        "metadata": {"name": "checkout-syscalls", "namespace": "shop",
                     "creationTimestamp": "2026-12-02T08:00:00Z"},
        "spec": {"tool": "syscalls"},
        "status": {
            "phase": "Running",
            "message": "tracing 3 pods on 2 nodes",
            "matchedPods": 3,
            "matchedNodes": 2,
            "events": 1234,
            "lost": 5,
            "startTime": "2026-12-02T08:00:02Z",
            "summary": {"top": [
                {"key": "read", "count": 1000, "errors": 2},
                {"key": "getppid", "count": 234, "errors": 0}
            ], "otherKeys": 7, "otherCount": 70},
            "nodes": [
                {"node": "node-a", "pods": 2, "phase": "Running", "probe": "tp_btf", "events": 1000, "lost": 5},
                {"node": "node-b", "pods": 1, "phase": "Unavailable", "events": 234, "lost": 0,
                 "message": "agent unreachable"}
            ],
            "omittedNodes": 3,
            "conditions": [
                {"type": "ArtifactsWritten", "status": "False", "reason": "Spooling",
                 "message": "events are spooled", "lastTransitionTime": "2026-12-02T08:00:30Z"}
            ],
            "artifacts": [{"name": "events.jsonl.gz", "url": "s3://b/x/events.jsonl.gz", "bytes": 4096}]
        }
    }))
    .expect("a TraceJob")
}

fn now() -> Timestamp {
    "2026-12-02T08:05:00Z".parse().expect("a time")
}

#[test]
fn describe_shows_counts_top_keys_nodes_conditions_and_artifacts() {
    let text = describe(&job(), now());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "shop/checkout-syscalls: Running (tracing 3 pods on 2 nodes)"
    );
    assert!(text.contains("tool: syscalls\n"), "{text}");
    assert!(text.contains("(4m ago)"), "{text}");
    assert!(text.contains("events 1234  lost 5\n"), "{text}");
    let row = |key: &str| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(key))
            .copied()
    };
    let read = row("read").expect("the read row");
    assert_eq!(
        read.split_whitespace().collect::<Vec<_>>(),
        ["read", "1000", "2"]
    );
    assert!(text.contains("(7 more keys, 70 counts)"), "{text}");
    let node_b = row("node-b").expect("node-b's row");
    assert_eq!(
        node_b.split_whitespace().collect::<Vec<_>>(),
        [
            "node-b",
            "Unavailable",
            "1",
            "-",
            "234",
            "0",
            "agent",
            "unreachable"
        ]
    );
    assert!(text.contains("(3 more nodes)"), "{text}");
    let condition = row("ArtifactsWritten").expect("the condition");
    assert!(
        condition.contains("Spooling") && condition.contains("4m"),
        "{condition}"
    );
    assert!(text.contains("s3://b/x/events.jsonl.gz"), "{text}");
}

#[test]
fn columns_line_up_under_their_headers() {
    let text = describe(&job(), now());
    let header = text
        .lines()
        .find(|l| l.contains("NODE"))
        .expect("the header");
    let node_a = text.lines().find(|l| l.contains("node-a")).expect("node-a");
    assert_eq!(header.find("EVENTS"), node_a.find("1000"), "{text}");
}

#[test]
fn a_job_without_status_is_described_without_inventing_counts() {
    let mut job = job();
    job.status = None;
    let text = describe(&job, now());
    assert!(
        text.starts_with("shop/checkout-syscalls: Unknown ()"),
        "{text}"
    );
    assert!(
        !text.contains("nodes:") && !text.contains("top keys:"),
        "{text}"
    );
}

#[test]
fn list_has_one_line_per_job_and_a_namespace_column_only_when_asked() {
    let mut pending = job();
    pending.metadata.name = Some("fresh".into());
    pending.status = None;
    let jobs = [job(), pending];
    let text = list(&jobs, false, now());
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "NAME", "TOOL", "PHASE", "PODS", "NODES", "EVENTS", "LOST", "AGE"
        ]
    );
    assert_eq!(
        lines[1],
        [
            "checkout-syscalls",
            "syscalls",
            "Running",
            "3",
            "2",
            "1234",
            "5",
            "5m"
        ]
    );
    assert_eq!(
        lines[2],
        ["fresh", "syscalls", "Unknown", "-", "-", "-", "-", "5m"]
    );
    let all = list(&jobs, true, now());
    assert!(all.starts_with("NAMESPACE"), "{all}");
    assert!(
        all.lines().nth(1).is_some_and(|l| l.starts_with("shop ")),
        "{all}"
    );
}

#[test]
fn ages_read_like_kubectls() {
    let at = |s: &str| -> Timestamp { s.parse().expect("a time") };
    let now = at("2026-12-02T12:00:00Z");
    assert_eq!(age(at("2026-12-02T11:59:15Z"), now), "45s");
    assert_eq!(age(at("2026-12-02T11:48:00Z"), now), "12m");
    assert_eq!(age(at("2026-12-02T09:00:00Z"), now), "3h");
    assert_eq!(age(at("2026-11-27T12:00:00Z"), now), "5d");
    assert_eq!(
        age(at("2026-12-02T12:00:09Z"), now),
        "0s",
        "a clock ahead is not negative"
    );
}

#[test]
fn a_key_or_message_from_the_traced_system_cannot_write_to_the_terminal() {
    let mut job = job();
    let status = job.status.as_mut().expect("a status");
    status.message = Some("done\x1b]0;owned\x07".into());
    let summary = status.summary.as_mut().expect("a summary");
    summary.top[0].key = "/tmp/x\x1b[2J\nread".into();
    let text = describe(&job, now());
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(text.contains("/tmp/x\\x1b[2J\\nread"), "{text}");
    // The escaped key is one row: no forged line starts with "read".
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("read")),
        "{text}"
    );
}
