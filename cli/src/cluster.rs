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
    // kube's TLS uses rustls with ring; install it before the first client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::try_default()
        .await
        .context("no Kubernetes configuration found (KUBECONFIG, ~/.kube/config or in-cluster)")
}

/// `namespace`, or the context's.
pub fn namespace_or_default(client: &Client, namespace: Option<&str>) -> String {
    namespace.map_or_else(|| client.default_namespace().to_owned(), str::to_owned)
}
