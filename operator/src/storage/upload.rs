//! Writing a job's artifacts: the events from the spool (streamed, gzip, multipart),
//! `summary.json`, and `manifest.json` last, so a manifest means the rest is durable.

use std::collections::BTreeMap;

use tokio::io::AsyncBufReadExt;
use tracejob_storage::{ArtifactWriter, Manifest, ManifestEntry, StorageError, Store, layout};

use super::spool::Part;

/// Streams the parts, in order, into one gzip artifact named `name`.
pub async fn events(
    store: &Store,
    name: &str,
    parts: &[&Part],
) -> Result<ManifestEntry, StorageError> {
    let mut writer = store.writer(name, true);
    match copy_lines(&mut writer, parts).await {
        Ok(lines) => {
            writer
                .finish(BTreeMap::from([("events".to_owned(), lines)]))
                .await
        }
        Err(error) => {
            writer.abort().await;
            Err(error)
        }
    }
}

async fn copy_lines(writer: &mut ArtifactWriter, parts: &[&Part]) -> Result<u64, StorageError> {
    let mut lines = 0;
    for part in parts {
        let file = tokio::fs::File::open(&part.path)
            .await
            .map_err(|source| spool_error(writer, source))?;
        let mut reader = tokio::io::BufReader::new(file).lines();
        while let Some(line) = reader
            .next_line()
            .await
            .map_err(|source| spool_error(writer, source))?
        {
            writer.write_line(line.as_bytes()).await?;
            lines += 1;
        }
    }
    Ok(lines)
}

fn spool_error(writer: &ArtifactWriter, source: std::io::Error) -> StorageError {
    StorageError::Compress {
        url: writer.url().to_owned(),
        source: std::io::Error::new(source.kind(), format!("cannot read the spool: {source}")),
    }
}

/// Writes `summary.json` with its counts.
pub async fn summary(
    store: &Store,
    summary: &serde_json::Value,
    counts: BTreeMap<String, u64>,
) -> Result<ManifestEntry, StorageError> {
    let bytes = serde_json::to_vec_pretty(summary).unwrap_or_default();
    let mut writer = store.writer(layout::SUMMARY, false);
    writer.write_all(&bytes).await?;
    writer.finish(counts).await
}

/// Writes `manifest.json` listing `entries`; returns its size.
pub async fn manifest(store: &Store, manifest: &Manifest) -> Result<u64, StorageError> {
    let bytes = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    let size = bytes.len() as u64;
    store.put(layout::MANIFEST, bytes).await?;
    Ok(size)
}
