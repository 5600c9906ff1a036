//! `tracejob logs` through the real API server: the operator's live API registered as an
//! `APIService` (served in this process, reached by the API server's aggregator through an
//! ExternalName Service on localhost), read by two users of the control plane's token file.
//! alice may get the TraceJob and streams its events; bob may not and is refused; headers
//! that name a user without the front proxy's certificate are not believed. Skipped with a
//! reason when no API server runs, unless `TRACEJOB_REQUIRE_ALL=1`.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::json;
use support::cluster::*;
use support::poll;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracejob_api::live::{GROUP, LiveLine, NoticeKind, VERSION, log_path};
use tracejob_operator::agents::memory::{InMemoryAgents, exec_event};
use tracejob_operator::live::{self, LiveApi, LiveHub, front_proxy::FrontProxy};

const APISERVICE: &str = "v1alpha1.live.tracejob.io";
const SERVICE: &str = "tracejob-live";

/// The live API served in this process with a certificate for `SERVICE` in `namespace`.
struct LiveServer {
    port: u16,
    ca_pem: String,
    server_name: String,
}

async fn serve_live(client: &Client, hub: Arc<LiveHub>, namespace: &str) -> LiveServer {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("test set-up");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "live-test-ca");
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("test set-up"))
        .expect("test set-up");
    let server_name = format!("{SERVICE}.{namespace}.svc");
    let key = KeyPair::generate().expect("test set-up");
    let cert = CertificateParams::new(vec![server_name.clone()])
        .expect("test set-up")
        .signed_by(&key, &issuer)
        .expect("test set-up");
    let proxy = FrontProxy::from_cluster(client.clone())
        .await
        .expect("the API server names its front proxy (control-plane.sh sets --requestheader-*)");
    let tls = live::tls_config(
        cert.pem().as_bytes(),
        key.serialize_pem().as_bytes(),
        &proxy.ca_pem,
    )
    .expect("the live API's TLS");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("test set-up");
    let port = listener.local_addr().expect("test set-up").port();
    // One event stream at a time: the test's second reader is refused.
    let api = Arc::new(LiveApi::new(client.clone(), hub, proxy).with_max_readers(1));
    tokio::spawn(live::serve(listener, tls, api));
    LiveServer {
        port,
        ca_pem: issuer.pem(),
        server_name,
    }
}

/// Removes the APIService however the test ends: a registered group that does not answer
/// would trouble every later discovery on this control plane.
struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = kubectl(
            &self.0,
            &["delete", "apiservice", APISERVICE, "--ignore-not-found"],
            None,
        );
    }
}

async fn apply<K>(api: &Api<K>, name: &str, object: serde_json::Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply("live-test").force(),
        &Patch::Apply(object),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

/// The chart's way: the APIService, and the right to ask for any job's log given to every
/// authenticated user (the operator then checks `get` on the job itself).
async fn register(cluster: &Cluster, namespace: &str, live: &LiveServer) -> Registered {
    let client = &cluster.client;
    let guard = Registered(cluster.kubeconfig.clone());
    apply(
        &Api::<Service>::namespaced(client.clone(), namespace),
        SERVICE,
        json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE},
            "spec": {"type": "ExternalName", "externalName": "localhost",
                     "ports": [{"name": "https", "port": live.port, "protocol": "TCP"}]}
        }),
    )
    .await;
    let ca_bundle = serde_json::to_value(k8s_openapi::ByteString(live.ca_pem.clone().into_bytes()))
        .expect("test set-up");
    // Created, not applied: this API server's aggregator has no server-side apply.
    let apiservices = Api::<APIService>::all(client.clone());
    let _ = apiservices
        .delete(APISERVICE, &DeleteParams::default())
        .await;
    let apiservice: APIService = serde_json::from_value(json!({
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": APISERVICE},
        "spec": {"group": GROUP, "version": VERSION, "groupPriorityMinimum": 1000,
                 "versionPriority": 15, "caBundle": ca_bundle,
                 "service": {"namespace": namespace, "name": SERVICE, "port": live.port}}
    }))
    .expect("test set-up");
    apiservices
        .create(&kube::api::PostParams::default(), &apiservice)
        .await
        .expect("the APIService is created");
    apply(
        &Api::<ClusterRole>::all(client.clone()),
        "live-test-log-reader",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "live-test-log-reader"},
            "rules": [{"apiGroups": [GROUP], "resources": ["tracejobs/log"], "verbs": ["get"]}]
        }),
    )
    .await;
    apply(&Api::<ClusterRoleBinding>::all(client.clone()), "live-test-log-reader", json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "live-test-log-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "live-test-log-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]
    }))
    .await;
    // The aggregator marks the APIService Available once our discovery answers it.
    let discovery = format!("/apis/{GROUP}/{VERSION}");
    poll::until("the live APIService is available", || async {
        let request = http::Request::get(discovery.as_str())
            .body(Vec::new())
            .expect("test set-up");
        let answer = tokio::time::timeout(Duration::from_secs(5), client.request_text(request));
        answer.await.ok()?.ok().map(drop)
    })
    .await;
    guard
}

/// `user` may get the TraceJobs of `namespace`.
async fn grant_get_jobs(client: &Client, namespace: &str, user: &str) {
    apply(
        &Api::<Role>::namespaced(client.clone(), namespace),
        "job-reader",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "job-reader"},
            "rules": [{"apiGroups": ["tracejob.io"], "resources": ["tracejobs"], "verbs": ["get"]}]
        }),
    )
    .await;
    apply(
        &Api::<RoleBinding>::namespaced(client.clone(), namespace),
        "reads-jobs",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "reads-jobs"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "job-reader"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
        }),
    )
    .await;
}

/// A tenant of the control plane's token file.
async fn tenant(cluster: &Cluster, name: &str) -> Client {
    let path = cluster
        .kubeconfig
        .with_file_name(format!("{name}.kubeconfig"));
    assert!(
        path.exists(),
        "{} is missing: this control plane predates the users alice and bob; restart it (make control-plane-down control-plane-up)",
        path.display()
    );
    let mut config = config_for(&path).await.expect("test set-up");
    config.read_timeout = None;
    // As `tracejob logs`: a refusal is an answer, not something to retry for minutes.
    config.default_retry = false;
    Client::try_from(config).expect("test set-up")
}

fn log_request(namespace: &str, name: &str, follow: bool) -> http::Request<Vec<u8>> {
    let mut path = log_path(namespace, name);
    if follow {
        path.push_str("?follow=true");
    }
    http::Request::get(path)
        .body(Vec::new())
        .expect("test set-up")
}

fn lines(text: &str) -> Vec<LiveLine> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn pids(lines: &[LiveLine]) -> Vec<u32> {
    lines
        .iter()
        .filter_map(|line| match line {
            LiveLine::Event(event) => match &event.event {
                tracejob_api::event::Event::Exec(exec) => Some(exec.pid),
                _ => None,
            },
            LiveLine::Notice(_) => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_get_the_job_streams_its_events_and_nobody_else_does() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "live").await;
    let agents = Arc::new(InMemoryAgents::on_every_node());
    let operator = Operator::start(client, &agents, &ns);
    let live = serve_live(client, operator.ctx.streams.live.clone(), &ns).await;
    let _registered = register(&cluster, &ns, &live).await;
    // alice may get the jobs of her namespace; bob those of his own, and nothing of hers.
    let bobs = namespace(client, "live-bob").await;
    for (namespace, user) in [(&ns, "alice"), (&bobs, "bob")] {
        grant_get_jobs(client, namespace, user).await;
    }
    let (alice, bob) = (
        tenant(&cluster, "alice").await,
        tenant(&cluster, "bob").await,
    );

    let jobs = create_job(
        client,
        &ns,
        "web",
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    wait_for_job(&jobs, "web", "Running", |j| {
        j.status.as_ref().and_then(|s| s.phase) == Some(tracejob_api::Phase::Running)
    })
    .await;
    agents.push_events("node-a", (1..=5).map(exec_event));

    // What is kept so far, then the end of the response.
    let kept = poll::until("alice sees the 5 kept events", || async {
        let text = alice
            .request_text(log_request(&ns, "web", false))
            .await
            .ok()?;
        let seen = lines(&text);
        (pids(&seen).len() == 5).then_some(seen)
    })
    .await;
    assert_eq!(pids(&kept), [1, 2, 3, 4, 5]);
    let LiveLine::Event(first) = &kept[0] else {
        panic!("an event first: {kept:?}")
    };
    assert_eq!(first.origin.node.as_deref(), Some("node-a"));

    // bob is authenticated, may read his own namespace's jobs, and the API server lets him
    // ask; the operator refuses him alice's.
    match bob.request_text(log_request(&ns, "web", false)).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status
                    .message
                    .contains("user \"bob\" cannot get tracejobs.tracejob.io \"web\""),
                "{}",
                status.message
            );
        }
        other => panic!("bob was not refused: {other:?}"),
    }
    // A job alice may get but that does not exist: not found, after authorization.
    match alice.request_text(log_request(&ns, "nothere", false)).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 404, "{status:?}"),
        other => panic!("a missing job was not 404: {other:?}"),
    }

    // Following: the kept events, each new one once, then the end when the job goes.
    let stream = alice
        .request_stream(log_request(&ns, "web", true))
        .await
        .expect("alice follows");
    let mut followed = stream.lines();
    let mut seen = Vec::new();
    while pids(&seen).len() < 5 {
        seen.push(
            serde_json::from_str::<LiveLine>(
                &followed
                    .next()
                    .await
                    .expect("test set-up")
                    .expect("test set-up"),
            )
            .expect("test set-up"),
        );
    }
    // The live API serves one stream at a time here: a second reader waits its turn.
    match alice.request_text(log_request(&ns, "web", false)).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 429, "{status:?}"),
        other => panic!("a reader past the limit was not refused: {other:?}"),
    }
    agents.push_events("node-a", (6..=8).map(exec_event));
    while pids(&seen).len() < 8 {
        let line = tokio::time::timeout(WAIT, followed.next())
            .await
            .expect("the new events arrive");
        seen.push(
            serde_json::from_str(&line.expect("test set-up").expect("test set-up"))
                .expect("test set-up"),
        );
    }
    assert_eq!(pids(&seen), [1, 2, 3, 4, 5, 6, 7, 8]);
    jobs.delete("web", &DeleteParams::default())
        .await
        .expect("test set-up");
    let mut rest = Vec::new();
    while let Some(line) = tokio::time::timeout(WAIT, followed.next())
        .await
        .expect("the stream ends with the job")
    {
        rest.push(
            serde_json::from_str::<LiveLine>(&line.expect("test set-up")).expect("test set-up"),
        );
    }
    assert!(pids(&rest).is_empty(), "nothing repeated: {rest:?}");
    assert!(
        matches!(rest.last(), Some(LiveLine::Notice(n)) if n.notice == NoticeKind::End),
        "the stream says the job ended: {rest:?}"
    );
    operator.stop().await;
}

/// What the live API answers a direct connection that presents `identity` (none, or a
/// certificate from another CA) and claims to come from the API server for `system:admin`.
async fn forged(live: &LiveServer, identity: Option<(String, String)>) -> Result<String, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(live.ca_pem.as_bytes()).expect("test set-up"))
        .expect("test set-up");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("test set-up")
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("test set-up")],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("test set-up"),
            )
            .expect("test set-up"),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", live.port))
        .await
        .expect("test set-up");
    let name = ServerName::try_from(live.server_name.clone()).expect("test set-up");
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nX-Remote-User: system:admin\r\nX-Remote-Group: system:masters\r\nConnection: close\r\n\r\n",
        log_path("kube-system", "any")
    );
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    tls.read_to_string(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response)
}

#[tokio::test]
async fn user_headers_without_the_front_proxys_certificate_are_not_believed() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "live-forged").await;
    let live = serve_live(client, Arc::default(), &ns).await;

    let answer = forged(&live, None)
        .await
        .expect("a connection without a certificate is answered");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.contains("no client certificate from the front proxy"),
        "{answer}"
    );

    // A certificate named like the front proxy, from a CA the API server did not configure.
    let key = KeyPair::generate().expect("test set-up");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("test set-up");
    params
        .distinguished_name
        .push(DnType::CommonName, "front-proxy-client");
    let cert = params.self_signed(&key).expect("test set-up");
    let answer = forged(&live, Some((cert.pem(), key.serialize_pem()))).await;
    assert!(
        answer.as_ref().is_err() || answer.as_ref().is_ok_and(|a| !a.starts_with("HTTP/1.1 2")),
        "a certificate from another CA was believed: {answer:?}"
    );
}
