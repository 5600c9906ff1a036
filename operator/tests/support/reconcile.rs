//! One reconciliation of a job while a scenario plays the mocked API server.

use std::future::Future;
use std::sync::Arc;

use kube::runtime::controller::Action;
use serde_json::Value;
use tracejob_operator::agents::AgentPool;
use tracejob_operator::agents::memory::InMemoryAgents;
use tracejob_operator::metrics::Metrics;
use tracejob_operator::{Context, Settings, reconcile};

use super::mock::{self, ApiServer};

/// Reconciles `job` with `ctx` while `scenario` answers on `server`.
pub async fn run<F>(
    job: &Value,
    ctx: Arc<Context>,
    server: ApiServer,
    scenario: impl FnOnce(ApiServer) -> F,
) -> Action
where
    F: Future<Output = ()> + Send + 'static,
{
    let scenario = tokio::spawn(scenario(server));
    let action = reconcile(Arc::new(super::fixtures::job(job)), ctx)
        .await
        .expect("reconcile succeeds");
    scenario.await.expect("the API server scenario completes");
    action
}

/// Reconciles `job` against `agents` with default settings and a fresh mocked API server.
pub async fn run_on<F>(
    job: &Value,
    agents: &Arc<InMemoryAgents>,
    scenario: impl FnOnce(ApiServer) -> F,
) -> Action
where
    F: Future<Output = ()> + Send + 'static,
{
    let (client, server) = mock::client();
    let pool: Arc<dyn AgentPool> = agents.clone();
    let ctx = Context::new(
        client,
        pool,
        Arc::new(Metrics::default()),
        Settings::default(),
    );
    run(job, Arc::new(ctx), server, scenario).await
}
