//! The cluster as kubectl sees it: KUBECONFIG, ~/.kube/config or the in-cluster service
//! account, and the context's namespace. Shared by the verbs that read TraceJobs.

use anyhow::Context;
use kube::Client;

/// Runs `work` on a one-thread runtime (the CLI makes a few calls, one after another).
pub fn block_on<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

pub async fn client() -> anyhow::Result<Client> {
    Client::try_from(config().await?).context("cannot make a Kubernetes client")
}

/// A client whose responses may stay quiet for any time (a followed stream of events), and
/// that says at once when the stream cannot be served (kube's default retries 429 and 503
/// for minutes, in silence).
pub async fn client_for_streams() -> anyhow::Result<Client> {
    let mut config = config().await?;
    config.read_timeout = None;
    config.default_retry = false;
    Client::try_from(config).context("cannot make a Kubernetes client")
}

async fn config() -> anyhow::Result<kube::Config> {
    // kube's TLS uses rustls with ring; install it before the first client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    kube::Config::infer()
        .await
        .context("no Kubernetes configuration found (KUBECONFIG, ~/.kube/config or in-cluster)")
}

/// `namespace`, or the context's.
pub fn namespace_or_default(client: &Client, namespace: Option<&str>) -> String {
    namespace.map_or_else(|| client.default_namespace().to_owned(), str::to_owned)
}
