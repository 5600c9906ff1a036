//! Targets come from the controller's Pod watch, not a LIST per reconcile, against the real
//! local kube-apiserver: every request the operator's client makes is seen by a counting
//! layer. Skipped with a reason when no API server runs, unless `TRACEJOB_REQUIRE_ALL=1`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use kube::client::ClientBuilder;
use serde_json::json;
use support::cluster::*;
use tracejob_operator::agents::NodeResult;
use tracejob_operator::agents::memory::InMemoryAgents;

/// Counts the client's pod LISTs made for a label selector (a job's targets); the Pod
/// watch's own requests carry no selector.
#[derive(Clone, Default)]
struct CountPodLists(Arc<AtomicUsize>);

impl<S> tower_layer::Layer<S> for CountPodLists {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            lists: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    lists: Arc<AtomicUsize>,
}

impl<S, B> tower_service::Service<http::Request<B>> for Counted<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let uri = request.uri();
        let query = uri.query().unwrap_or_default();
        if request.method() == http::Method::GET
            && uri.path().ends_with("/pods")
            && query.contains("labelSelector")
            && !query.contains("watch=true")
        {
            self.lists.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.call(request)
    }
}

fn counted(events: u64) -> NodeResult {
    NodeResult {
        events,
        ..NodeResult::default()
    }
}

#[tokio::test]
async fn reconciles_read_targets_from_the_pod_watch_and_never_list_pods() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = &cluster.client;
    let ns = namespace(client, "pod-cache").await;
    running_pod(
        client,
        &ns,
        "web-1",
        "node-a",
        json!({"app": "web"}),
        "containerd://a1",
    )
    .await;
    let lists = CountPodLists::default();
    let config = config_for(&cluster.kubeconfig)
        .await
        .expect("the test kubeconfig");
    let counted_client = ClientBuilder::try_from(config)
        .expect("a client builder")
        .with_layer(&lists)
        .build();
    let agents = Arc::new(InMemoryAgents::on_every_node());
    agents.set_result("node-a", counted(1));
    let operator = Operator::start(&counted_client, &agents, &ns);
    let api = create_job(
        client,
        &ns,
        "web",
        json!({"tool": "exec", "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    wait_for_job(&api, "web", "1 event", |j| {
        j.status.as_ref().and_then(|s| s.events) == Some(1)
    })
    .await;
    // A new pod reaches the job through the watch's cache.
    running_pod(
        client,
        &ns,
        "web-2",
        "node-b",
        json!({"app": "web"}),
        "containerd://b1",
    )
    .await;
    wait_for_job(&api, "web", "2 pods on 2 nodes", |j| {
        j.status
            .as_ref()
            .is_some_and(|s| s.matched_pods == Some(2) && s.matched_nodes == Some(2))
    })
    .await;
    // Each new count is one more reconcile.
    for events in 2..=4 {
        agents.set_result("node-a", counted(events));
        wait_for_job(&api, "web", &format!("{events} events"), |j| {
            j.status.as_ref().and_then(|s| s.events) == Some(events)
        })
        .await;
    }
    assert_eq!(
        lists.0.load(Ordering::SeqCst),
        0,
        "a reconcile listed the job's pods"
    );
    operator.stop().await;
}
