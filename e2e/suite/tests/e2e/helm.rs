//! The chart's life cycle under running jobs: upgrade keeps results and certificates,
//! uninstall keeps the CRD and users' TraceJobs.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ListParams};
use tracejob_api::Phase;
use tracejob_e2e::cluster::{apply, client, fresh_namespace};
use tracejob_e2e::helm;
use tracejob_e2e::jobs::{self, count, describe, exec_job, wait_for, wait_phase};
use tracejob_e2e::workload::Counter;

async fn tls_secrets(client: &Client) -> BTreeMap<String, BTreeMap<String, ByteString>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &helm::namespace());
    api.list(&ListParams::default())
        .await
        .expect("list the release's secrets")
        .items
        .into_iter()
        .filter(|s| s.type_.as_deref() == Some("kubernetes.io/tls"))
        .map(|s| {
            (
                s.metadata.name.unwrap_or_default(),
                s.data.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs a cluster with the chart installed: make e2e"]
async fn helm_upgrade_keeps_running_jobs_results_and_the_certificates() {
    const NS: &str = "e2e-upgrade";
    let client = client().await;
    fresh_namespace(&client, NS).await;
    let before_upgrade = Counter {
        namespace: NS,
        name: "before",
        app: "upgraded",
        heartbeat: None,
        program: "/bin/true",
        count: 20,
    };
    let after_upgrade = Counter {
        name: "after",
        heartbeat: Some("/bin/uname"),
        program: "/bin/hostname",
        count: 10,
        ..before_upgrade.clone()
    };
    before_upgrade.create();
    before_upgrade.wait_running(&client).await;
    apply(&exec_job(NS, "survivor", "upgraded", None)).expect("apply the job");
    let api = jobs::api(&client, NS);
    wait_phase(&api, "survivor", Phase::Running).await;
    before_upgrade.go_and_wait().await;
    wait_for(&api, "survivor", "20 execs counted", |job| {
        count(job, "/bin/true") == 20
    })
    .await;
    let certificates = tls_secrets(&client).await;
    assert!(!certificates.is_empty(), "the release has TLS secrets");

    // A changed value rolls the operator's pods: the new leader must pick the job up.
    helm::upgrade(&["--set", "operator.logLevel=debug"]);
    assert_eq!(
        tls_secrets(&client).await,
        certificates,
        "helm upgrade kept every certificate"
    );

    after_upgrade.create();
    after_upgrade.wait_running(&client).await;
    // Told to go only once its heartbeat shows it is traced.
    wait_for(&api, "survivor", "the new pod traced", |job| {
        count(job, "/bin/uname") > 0
    })
    .await;
    after_upgrade.go_and_wait().await;
    let job = wait_for(&api, "survivor", "the new pod's 10 execs counted", |job| {
        count(job, "/bin/hostname") == 10
    })
    .await;
    assert_eq!(
        count(&job, "/bin/true"),
        20,
        "results from before the upgrade kept, not doubled: {}",
        describe(&job)
    );
    jobs::delete_and_wait(&api, "survivor").await;
    helm::upgrade(&[]);
}

#[tokio::test]
#[ignore = "needs a cluster with the chart installed: make e2e"]
async fn helm_uninstall_leaves_the_crd_and_users_tracejobs() {
    const NS: &str = "e2e-uninstall";
    let client = client().await;
    fresh_namespace(&client, NS).await;
    apply(&exec_job(NS, "kept", "nobody", Some("10m"))).expect("apply the job");
    let api = jobs::api(&client, NS);
    wait_phase(&api, "kept", Phase::Pending).await;

    helm::uninstall();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    assert!(
        crds.get_opt("tracejobs.tracejob.io")
            .await
            .expect("read CRD")
            .is_some(),
        "the CRD outlives the release"
    );
    assert!(
        api.get_opt("kept").await.expect("read job").is_some(),
        "the user's TraceJob outlives the release"
    );

    // Installed again, the operator takes the job over (and can finish deleting it).
    helm::upgrade(&[]);
    wait_for(&api, "kept", "seen by the reinstalled operator", |job| {
        jobs::phase(job) == Some(Phase::Pending)
    })
    .await;
    jobs::delete_and_wait(&api, "kept").await;
}
