//! `tracejob results NAME [-n NS] [--dir DIR]`: a TraceJob's status summary and artifacts,
//! read through the kubeconfig like kubectl; with --dir, the artifacts are downloaded and
//! checked against the manifest.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::{Client, ResourceExt};
use tracejob_api::{Artifact, TraceJob};
use tracejob_storage::{Credentials, HashingWriter, Location, Manifest, Store, layout};

use crate::args::ResultsArgs;
use crate::{cluster, view};

pub fn results(args: ResultsArgs) -> anyhow::Result<()> {
    cluster::block_on(run(args))
}

async fn run(args: ResultsArgs) -> anyhow::Result<()> {
    let client = cluster::client().await?;
    let namespace = cluster::namespace_or_default(&client, args.namespace.as_deref());
    let api: Api<TraceJob> = Api::namespaced(client.clone(), &namespace);
    let job = api
        .get(&args.name)
        .await
        .with_context(|| format!("cannot read TraceJob {namespace}/{}", args.name))?;
    let status = job.status.clone().unwrap_or_default();
    print!("{}", view::describe(&job, Timestamp::now()));
    let Some(dir) = &args.dir else {
        return Ok(());
    };
    if status.artifacts.is_empty() {
        bail!(
            "TraceJob {namespace}/{} lists no artifacts yet{}",
            args.name,
            artifacts_condition(&job)
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
    }
    let (credentials, from) = credentials(&client, &job).await;
    eprintln!("credentials: {from}");
    let store = open_job_dir(&status.artifacts, &credentials)?;
    download(&store, dir).await
}

fn artifacts_condition(job: &TraceJob) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "ArtifactsWritten")
        .map(|c| format!("{} ({})", c.message, c.reason))
}

/// The Secret named by the spec when this user may read it, else the environment.
async fn credentials(client: &Client, job: &TraceJob) -> (Credentials, String) {
    let secret = job
        .spec
        .output
        .storage
        .as_ref()
        .and_then(|s| s.secret_ref.as_ref());
    let namespace = job.namespace().unwrap_or_default();
    if let Some(secret) = secret {
        let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        match api.get(&secret.name).await {
            Ok(found) => {
                let pairs = found
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| {
                        String::from_utf8(v.0)
                            .ok()
                            .map(|v| (k, v.trim_end_matches('\n').to_owned()))
                    });
                return (
                    Credentials::new(pairs),
                    format!("Secret {namespace}/{}", secret.name),
                );
            }
            Err(error) => {
                return (
                    Credentials::from_env(),
                    format!(
                        "the environment (Secret {namespace}/{} is not readable: {error})",
                        secret.name
                    ),
                );
            }
        }
    }
    (
        Credentials::from_env(),
        "the environment (AWS_*, GOOGLE_*, AZURE_*)".to_owned(),
    )
}

/// The job's directory: every artifact URL is `<dir>/<name>`.
fn open_job_dir(artifacts: &[Artifact], credentials: &Credentials) -> anyhow::Result<Store> {
    let manifest = artifacts
        .iter()
        .find(|a| a.name == layout::MANIFEST)
        .context("the status lists no manifest.json")?;
    let dir = manifest
        .url
        .strip_suffix(&format!("/{}", layout::MANIFEST))
        .with_context(|| format!("unexpected artifact URL {}", manifest.url))?;
    let location = Location::parse(dir)?;
    Ok(Store::open(&location, credentials)?)
}

/// Every file the manifest lists, then the manifest; each checked against its SHA-256.
async fn download(store: &Store, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bytes = store.get(layout::MANIFEST).await?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a manifest", store.url_of(layout::MANIFEST)))?;
    for entry in &manifest.artifacts {
        let path = dir.join(&entry.name);
        let mut file = HashingWriter::new(std::io::BufWriter::new(
            std::fs::File::create(&path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        ));
        let mut stream = store.get_stream(&entry.name).await?;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.with_context(|| format!("cannot read {}", store.url_of(&entry.name)))?;
            file.write_all(&chunk)?;
        }
        let (mut inner, size, sha256) = file.finish();
        inner.flush()?;
        if sha256 != entry.sha256 || size != entry.bytes {
            bail!(
                "{} does not match manifest.json: {size} bytes, sha256 {sha256}; expected {} bytes, sha256 {}",
                store.url_of(&entry.name),
                entry.bytes,
                entry.sha256
            );
        }
        println!("{}  {size} B  sha256 ok", path.display());
    }
    let path = dir.join(layout::MANIFEST);
    std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}
