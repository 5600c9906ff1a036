//! `tracejob get` / `describe` and `kubectl tracejob` against the real API server: what a
//! user reads about TraceJobs through their own kubeconfig, with no operator involved (the
//! status is written here, as the operator would).

#[allow(
    dead_code,
    reason = "the operator's test helpers; this target uses a part"
)]
#[path = "../../operator/tests/support/cluster.rs"]
mod cluster;
mod support;

use std::path::Path;

use cluster::*;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::{stderr, stdout, tracejob};
use tracejob_api::TraceJob;

async fn job_with_status(client: &kube::Client, ns: &str, name: &str, events: u64) {
    create_job(client, ns, name, json!({"tool": "exec"})).await;
    let status = json!({"status": {
        "phase": "Running",
        "message": "tracing 1 pods on 1 nodes",
        "matchedPods": 1, "matchedNodes": 1, "events": events, "lost": 0,
        "summary": {"top": [{"key": "/bin/true", "count": events, "errors": 0}]},
        "nodes": [{"node": "node-a", "pods": 1, "phase": "Running", "probe": "tp_btf",
                   "events": events, "lost": 0}]
    }});
    Api::<TraceJob>::namespaced(client.clone(), ns)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status written");
}

fn run(kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    tracejob()
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .expect("tracejob runs")
}

#[tokio::test]
async fn get_lists_a_namespaces_jobs_and_describe_shows_one_from_the_status() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let ns = namespace(&cluster.client, "cli-get").await;
    job_with_status(&cluster.client, &ns, "execs", 42).await;
    create_job(&cluster.client, &ns, "fresh", json!({"tool": "open"})).await;

    let listed = run(&cluster.kubeconfig, &["get", "-n", &ns]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let rows: Vec<Vec<String>> = stdout(&listed)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows[1][..7],
        ["execs", "exec", "Running", "1", "1", "42", "0"]
    );
    assert_eq!(rows[2][..3], ["fresh", "open", "Unknown"]);

    let all = run(&cluster.kubeconfig, &["get", "-A"]);
    assert!(
        stdout(&all)
            .lines()
            .any(|l| l.starts_with(&format!("{ns} ")) && l.contains("execs")),
        "{}",
        stdout(&all)
    );

    let described = run(&cluster.kubeconfig, &["describe", "execs", "-n", &ns]);
    assert!(described.status.success(), "{}", stderr(&described));
    let text = stdout(&described);
    assert!(text.starts_with(&format!("{ns}/execs: Running")), "{text}");
    assert!(text.contains("events 42  lost 0"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["/bin/true", "42", "0"]),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("node-a")),
        "{text}"
    );
}

#[tokio::test]
async fn a_job_that_does_not_exist_is_named_in_the_error() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let ns = namespace(&cluster.client, "cli-missing").await;
    let output = run(&cluster.kubeconfig, &["describe", "nothing", "-n", &ns]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("cannot read TraceJob {ns}/nothing")),
        "{}",
        stderr(&output)
    );
    let empty = run(&cluster.kubeconfig, &["get", "-n", &ns]);
    assert!(empty.status.success());
    assert!(stderr(&empty).contains(&format!("No TraceJobs in namespace {ns}")));
}

/// kubectl finds `kubectl-tracejob` on the PATH (what `make install` puts there) and runs it
/// with the user's kubeconfig.
#[tokio::test]
async fn kubectl_runs_tracejob_as_a_plugin() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let ns = namespace(&cluster.client, "cli-plugin").await;
    job_with_status(&cluster.client, &ns, "via-kubectl", 7).await;
    let bin = tempfile::tempdir().expect("a directory");
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_tracejob"),
        bin.path().join("kubectl-tracejob"),
    )
    .expect("the plugin link");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubectl = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .env("PATH", &path)
            .env("KUBECONFIG", &cluster.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs")
    };
    let listed = kubectl(&["plugin", "list"]);
    assert!(
        stdout(&listed).contains("kubectl-tracejob"),
        "{}",
        stdout(&listed)
    );
    let described = kubectl(&["tracejob", "describe", "via-kubectl", "-n", &ns]);
    assert!(described.status.success(), "{}", stderr(&described));
    assert!(
        stdout(&described).contains("events 7  lost 0"),
        "{}",
        stdout(&described)
    );
}
