//! `tracejob logs`: a running job's events, live, through the Kubernetes API server.
//!
//! The operator serves the aggregated API `live.tracejob.io/v1alpha1` (an `APIService` in
//! the chart points the API server at it). The API server authenticates the user and
//! forwards the request with who they are ([`front_proxy`]); the operator shows a job's
//! events to exactly the users who may `get` that TraceJob ([`authorize`]). The events come
//! from the stream readers the operator already runs ([`hub`]). Only the leader serves: it
//! is the replica that reads the streams.

mod authorize;
mod cert_name;
pub mod front_proxy;
pub mod hub;
pub mod leader_label;
mod routes;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::net::TcpListener;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use front_proxy::FrontProxy;
pub use hub::LiveHub;
pub use serve::{LiveApi, serve};

/// The live API's TLS: `cert_pem`/`key_pem` for the service name the APIService uses, and
/// client certificates verified against the front proxy's CA (a connection without one is
/// accepted, and its requests are refused with 401).
pub fn tls_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    front_proxy_ca_pem: &str,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the live API certificate: {e}"))?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("the live API key: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(front_proxy_ca_pem.as_bytes()) {
        let ca = ca.map_err(|e| format!("the front proxy's CA: {e}"))?;
        roots
            .add(ca)
            .map_err(|e| format!("the front proxy's CA: {e}"))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("the front proxy's CA: {e}"))?;
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map(Arc::new)
        .map_err(|e| format!("the live API certificate and key: {e}"))
}

/// Where and as what the live API listens (`--live-addr`, `--live-tls-cert`, `--live-tls-key`).
#[derive(Clone, Debug)]
pub struct LiveSettings {
    pub addr: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `--watch-namespace`: jobs elsewhere have no live view.
    pub watching: Option<String>,
    /// Labelled once listening, so the live Service reaches this process (in a pod).
    pub pod: Option<leader_label::OwnPod>,
}

/// Serves the live API until the process ends: reads the front proxy's settings from the
/// cluster (retrying while the API server has none, saying why), then listens.
pub async fn run(settings: LiveSettings, client: Client, hub: Arc<LiveHub>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let read = |path: &PathBuf| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let (cert, key) = (read(&settings.cert)?, read(&settings.key)?);
    let proxy = loop {
        match FrontProxy::from_cluster(client.clone()).await {
            Ok(proxy) => break proxy,
            Err(problem) => {
                tracing::warn!(%problem, "tracejob logs is not served yet");
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        }
    };
    let tls = tls_config(&cert, &key, &proxy.ca_pem).map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    tracing::info!(addr = %settings.addr, "serving live.tracejob.io (tracejob logs)");
    if let Some(pod) = &settings.pod {
        leader_label::label(client.clone(), pod, true).await;
    }
    let api = LiveApi::new(client, hub, proxy).watching(settings.watching.clone());
    serve(listener, tls, Arc::new(api))
        .await
        .context("the live API's listener failed")
}
