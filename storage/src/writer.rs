//! Streaming one artifact to the store: lines go through gzip (optional), a hash and a
//! counter, then into object_store's `BufWriter`, which switches to a multipart upload once
//! a part's worth is buffered. Memory stays near one part whatever the artifact's size.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::digest::hex;
use crate::error::StorageError;
use crate::manifest::ManifestEntry;

/// S3's smallest multipart part: uploads go in parts of this size.
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 2;
/// Compressed bytes gathered before they are handed to the upload.
const HAND_OVER_BYTES: usize = 256 * 1024;

pub struct ArtifactWriter {
    name: String,
    url: String,
    sink: BufWriter,
    gzip: Option<GzEncoder<Vec<u8>>>,
    pending: Vec<u8>,
    hasher: Sha256,
    bytes: u64,
    lines: u64,
}

impl std::fmt::Debug for ArtifactWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactWriter")
            .field("url", &self.url)
            .field("bytes", &self.bytes)
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

impl ArtifactWriter {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        url: String,
        name: &str,
        gzip: bool,
    ) -> Self {
        ArtifactWriter {
            name: name.to_owned(),
            url,
            sink: BufWriter::with_capacity(store, path, PART_BYTES)
                .with_max_concurrency(PARTS_IN_FLIGHT),
            gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::default())),
            pending: Vec::new(),
            hasher: Sha256::new(),
            bytes: 0,
            lines: 0,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Appends one line (a newline is added).
    pub async fn write_line(&mut self, line: &[u8]) -> Result<(), StorageError> {
        self.write_all(line).await?;
        self.write_all(b"\n").await?;
        self.lines += 1;
        Ok(())
    }

    /// Appends bytes as they are.
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), StorageError> {
        match &mut self.gzip {
            Some(encoder) => {
                encoder
                    .write_all(data)
                    .map_err(|source| StorageError::Compress {
                        url: self.url.clone(),
                        source,
                    })?;
                let compressed = std::mem::take(encoder.get_mut());
                self.pending.extend_from_slice(&compressed);
            }
            None => self.pending.extend_from_slice(data),
        }
        if self.pending.len() >= HAND_OVER_BYTES {
            self.hand_over().await?;
        }
        Ok(())
    }

    async fn hand_over(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.pending);
        self.hasher.update(&chunk);
        self.bytes += chunk.len() as u64;
        let url = &self.url;
        self.sink
            .put(Bytes::from(chunk))
            .await
            .map_err(|source| StorageError::Write {
                url: url.clone(),
                source,
            })
    }

    /// Completes the upload; the object exists (durably) once this returns. `counts` go into
    /// the manifest entry as they are.
    pub async fn finish(
        mut self,
        counts: BTreeMap<String, u64>,
    ) -> Result<ManifestEntry, StorageError> {
        if let Some(encoder) = self.gzip.take() {
            let rest = encoder.finish().map_err(|source| StorageError::Compress {
                url: self.url.clone(),
                source,
            })?;
            self.pending.extend_from_slice(&rest);
        }
        self.hand_over().await?;
        if let Err(error) = self.sink.shutdown().await {
            let source = match error.downcast::<object_store::Error>() {
                Ok(source) => source,
                Err(error) => object_store::Error::Generic {
                    store: "upload",
                    source: Box::new(error),
                },
            };
            return Err(StorageError::Write {
                url: self.url,
                source,
            });
        }
        Ok(ManifestEntry {
            name: self.name,
            bytes: self.bytes,
            sha256: hex(&self.hasher.finalize()),
            counts,
        })
    }

    /// Gives up on the upload, removing what a multipart upload left behind.
    pub async fn abort(mut self) {
        let _ = self.sink.abort().await;
    }
}
