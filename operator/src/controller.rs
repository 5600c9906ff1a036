//! The controller: `reconcile` and `error_policy`, and the watches that drive them.

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tracejob_api::TraceJob;
use tracing::{Instrument, info_span, warn};

use crate::context::Context;
use crate::error::Error;
use crate::{apply, finish, selector};

/// The finalizer that keeps a TraceJob until every agent stopped it.
pub const FINALIZER: &str = "tracejob.io/stop-agents";

/// Reconciles one TraceJob: finalizer first, then apply or clean up. A panic while
/// reconciling one job is caught and reported as that job's error: it must not stop the
/// controller for every other job.
pub async fn reconcile(job: Arc<TraceJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    std::panic::AssertUnwindSafe(reconcile_job(job, ctx))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(Error::Panicked(panic_message(panic.as_ref()))))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

async fn reconcile_job(job: Arc<TraceJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = job.namespace().ok_or(Error::MissingField("namespace"))?;
    let span = info_span!("reconcile", namespace = %namespace, name = %job.name_any());
    async {
        let _timer = ctx.metrics.reconcile_started();
        let api: Api<TraceJob> = Api::namespaced(ctx.client.clone(), &namespace);
        finalizer(&api, FINALIZER, job, |event| async {
            match event {
                Event::Apply(job) => apply::apply(&job, &ctx).await,
                Event::Cleanup(job) => finish::cleanup(&job, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    }
    .instrument(span)
    .await
}

/// Counts the failure and retries after a short pause.
pub fn error_policy(job: Arc<TraceJob>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(namespace = ?job.namespace(), name = %job.name_any(), %error, "reconcile failed");
    ctx.metrics.reconcile_failed(error.metric_label());
    Action::requeue(Duration::from_secs(5))
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "the TraceJob CRD is not installed in this cluster; install it with `kubectl apply -f crds/tracejob.io_tracejobs.yaml`"
    )]
    CrdMissing,
    #[error("cannot list TraceJobs: {0}")]
    CannotList(#[source] kube::Error),
}

/// Fails fast with a hint when the TraceJob CRD is not installed (or not readable).
pub async fn check_crd(client: &Client) -> Result<(), StartupError> {
    let api: Api<TraceJob> = Api::all(client.clone());
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(StartupError::CrdMissing),
        Err(error) => Err(StartupError::CannotList(error)),
    }
}

/// How a controller task ended without being asked to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControllerStopped {
    #[error("the controller panicked: {0}")]
    Panicked(String),
    #[error("the controller's watch stream ended")]
    Ended,
}

/// Waits for the controller task to end on its own; from then on `/healthz` fails (the
/// caller exits non-zero so the pod is restarted).
pub async fn supervise(
    task: &mut tokio::task::JoinHandle<()>,
    health: &crate::server::Health,
) -> ControllerStopped {
    let stopped = match task.await {
        Ok(()) => ControllerStopped::Ended,
        Err(error) if error.is_panic() => {
            ControllerStopped::Panicked(panic_message(error.into_panic().as_ref()))
        }
        Err(_) => ControllerStopped::Ended,
    };
    health.set_controller_stopped(&stopped);
    stopped
}

/// Runs the controller over every namespace (`None`) or one, until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let (jobs, pods): (Api<TraceJob>, Api<Pod>) = match &namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client, ns),
        ),
        None => (Api::all(client.clone()), Api::all(client)),
    };
    // One Node watch for every poll (spec.nodeSelector, lost nodes); it ends with the controller.
    let agents = ctx.agents.clone();
    let node_watch = ctx
        .nodes
        .watch(
            ctx.client.clone(),
            Box::new(move |exists| agents.forget_gone_nodes(exists)),
        )
        .map(tokio::spawn);
    let mut controller = Controller::new(jobs, watcher::Config::default().any_semantic());
    // A node's new counts (from its result stream) reconcile the job at once, paced.
    if let Some(requests) = ctx.pace.take_requests() {
        let requests = futures::stream::unfold(requests, |mut requests| async move {
            requests.recv().await.map(|job| (job, requests))
        });
        controller = controller.reconcile_on(requests);
    }
    let store = controller.store();
    let jobs_of = move |pod: Pod| {
        let labels = pod.labels().clone();
        let namespace = pod.namespace();
        store
            .state()
            .into_iter()
            .filter(|job| {
                job.namespace() == namespace
                    && selector::matches(job.spec.selector.as_ref(), &labels)
            })
            .map(|job| ObjectRef::from_obj(&*job))
            .collect::<Vec<_>>()
    };
    // One Pod watch both triggers the jobs a pod concerns and fills the cache their
    // targets are resolved from (no LIST per reconcile).
    let config = watcher::Config::default().any_semantic();
    controller = match ctx.pods.watch(pods.clone(), config.clone()) {
        Some(watch) => controller.watches_stream(watch, jobs_of),
        None => controller.watches(pods, config, jobs_of),
    };
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile loop reported");
            }
        })
        .await;
    if let Some(watch) = node_watch {
        watch.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Health;

    #[tokio::test]
    async fn a_panicking_controller_task_fails_health_and_is_reported() {
        let health = Health::default();
        let mut task = tokio::spawn(async { panic!("watch broke") });
        let stopped = supervise(&mut task, &health).await;
        assert_eq!(stopped, ControllerStopped::Panicked("watch broke".into()));
        assert!(!health.is_live());
    }

    #[tokio::test]
    async fn a_controller_stream_that_ends_fails_health_and_is_reported() {
        let health = Health::default();
        assert!(health.is_live());
        let mut task = tokio::spawn(async {});
        assert_eq!(
            supervise(&mut task, &health).await,
            ControllerStopped::Ended
        );
        assert!(!health.is_live());
    }
}
