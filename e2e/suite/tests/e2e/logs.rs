//! `tracejob logs -f`, as a user runs it: the CLI follows a running job's events through
//! the API server (the chart's APIService, the leading operator's pod), and what it prints
//! equals what the workload did.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use tracejob_api::event::Event;
use tracejob_api::live::{LiveLine, NoticeKind};
use tracejob_e2e::cluster::{apply, client, fresh_namespace};
use tracejob_e2e::jobs::{self, count, exec_job, wait_for};
use tracejob_e2e::workload::Counter;

const NS: &str = "e2e-logs";

fn cli() -> String {
    std::env::var("TRACEJOB_E2E_CLI")
        .expect("TRACEJOB_E2E_CLI names the tracejob binary (make e2e builds it)")
}

#[tokio::test]
#[ignore = "needs a cluster with the chart installed: make e2e"]
async fn tracejob_logs_follows_a_jobs_events_live_and_they_equal_the_workloads() {
    let client = client().await;
    fresh_namespace(&client, NS).await;
    let pod = Counter {
        namespace: NS,
        name: "followed",
        app: "followed",
        heartbeat: Some("/bin/uname"),
        program: "/bin/true",
        count: 20,
    };
    pod.create();
    pod.wait_running(&client).await;
    apply(&exec_job(NS, "live", "followed", None)).expect("apply the job");
    let api = jobs::api(&client, NS);
    wait_for(&api, "live", "the pod traced", |job| {
        count(job, "/bin/uname") > 0
    })
    .await;

    let mut follower = Command::new(cli())
        .args(["logs", "live", "-n", NS, "-f", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tracejob logs starts");
    let stdout = follower.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // The follower is connected once it prints the heartbeat's events.
    let mut seen: Vec<LiveLine> = Vec::new();
    let read = |seen: &mut Vec<LiveLine>, until: &dyn Fn(&[LiveLine]) -> bool| {
        while !until(seen) {
            let line = lines
                .recv_timeout(tracejob_e2e::WAIT)
                .expect("tracejob logs -f prints the next line in time");
            seen.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    };
    read(&mut seen, &|s| execs(s, "/bin/uname") > 0);
    pod.go_and_wait().await;
    read(&mut seen, &|s| execs(s, "/bin/true") >= 20);

    // Deleting the job ends the stream, and the CLI, with it.
    api.delete("live", &Default::default())
        .await
        .expect("delete the job");
    read(
        &mut seen,
        &|s| matches!(s.last(), Some(LiveLine::Notice(n)) if n.notice == NoticeKind::End),
    );
    // Its standard output closes when it exits: waited for on the channel, with a deadline.
    match lines.recv_timeout(tracejob_e2e::WAIT) {
        Err(mpsc::RecvTimeoutError::Disconnected) => {}
        Ok(line) => panic!("tracejob logs -f printed after the end: {line}"),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = follower.kill();
            panic!("tracejob logs -f did not exit after its job ended");
        }
    }
    let status = follower.wait().expect("wait for tracejob logs");
    assert!(status.success(), "tracejob logs -f exited with {status}");
    assert_eq!(
        execs(&seen, "/bin/true"),
        20,
        "every exec of the workload, once"
    );
    let notices: Vec<_> = seen
        .iter()
        .filter_map(|l| match l {
            LiveLine::Notice(n) if n.notice != NoticeKind::End => Some(n),
            _ => None,
        })
        .collect();
    assert!(
        notices.is_empty(),
        "nothing lost, skipped or gone: {notices:?}"
    );
    for line in &seen {
        if let LiveLine::Event(event) = line {
            assert_eq!(event.origin.pod.as_deref(), Some("followed"), "{event:?}");
            assert_eq!(event.origin.namespace.as_deref(), Some(NS));
        }
    }
}

/// Exec events of `filename` among the lines.
fn execs(lines: &[LiveLine], filename: &str) -> usize {
    lines
        .iter()
        .filter(|l| matches!(l, LiveLine::Event(e) if matches!(&e.event, Event::Exec(x) if x.filename == filename)))
        .count()
}
