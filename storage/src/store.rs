//! Opening a [`Location`] with [`Credentials`], and the small whole-object operations.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

use crate::credentials::Credentials;
use crate::error::StorageError;
use crate::location::{Location, Scheme};
use crate::writer::ArtifactWriter;

/// Builds a cloud store: the three object_store builders share these methods but no trait.
macro_rules! cloud_store {
    ($builder:ident, $url:expr, $retry:expr, $client:expr, $credentials:expr, $error:expr) => {{
        // Client options first: with_client_options replaces them all (allow_http too).
        let mut builder = $builder::new()
            .with_url($url)
            .with_retry($retry)
            .with_client_options($client);
        for (key, value) in $credentials.pairs() {
            if let Ok(key) = key.parse() {
                builder = builder.with_config(key, value);
            }
        }
        builder.build().map_err($error)?
    }};
}

/// How long one request may retry before its error is reported: short, because the caller
/// (the operator) keeps its own retry with backoff and reports the error meanwhile.
const RETRY_TIMEOUT: Duration = Duration::from_secs(15);

/// An opened storage location.
#[derive(Clone, Debug)]
pub struct Store {
    store: Arc<dyn ObjectStore>,
    location: Location,
}

impl Store {
    /// Opens the location; nothing is contacted until the first request.
    pub fn open(location: &Location, credentials: &Credentials) -> Result<Self, StorageError> {
        install_crypto_provider();
        let url = location.url().as_str();
        let error = |source| StorageError::Open {
            url: location.as_str().to_owned(),
            source,
        };
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: RETRY_TIMEOUT,
        };
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(120));
        let store: Arc<dyn ObjectStore> = match location.scheme() {
            Scheme::File => Arc::new(LocalFileSystem::new()),
            Scheme::S3 => Arc::new(cloud_store!(
                AmazonS3Builder,
                url,
                retry,
                client,
                credentials,
                error
            )),
            Scheme::Gcs => Arc::new(cloud_store!(
                GoogleCloudStorageBuilder,
                url,
                retry,
                client,
                credentials,
                error
            )),
            Scheme::Azure => Arc::new(cloud_store!(
                MicrosoftAzureBuilder,
                url,
                retry,
                client,
                credentials,
                error
            )),
        };
        Ok(Store {
            store,
            location: location.clone(),
        })
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The same store, at `relative` below this location.
    pub fn at(&self, relative: &str) -> Store {
        Store {
            store: self.store.clone(),
            location: self.location.join(relative),
        }
    }

    pub fn url_of(&self, relative: &str) -> String {
        self.location.url_of(relative)
    }

    /// Writes a small object in one request.
    pub async fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let path = self.location.path_of(relative);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|source| StorageError::Write {
                url: self.url_of(relative),
                source,
            })?;
        Ok(())
    }

    /// Reads a whole object.
    pub async fn get(&self, relative: &str) -> Result<Bytes, StorageError> {
        let error = |source| StorageError::Read {
            url: self.url_of(relative),
            source,
        };
        let path = self.location.path_of(relative);
        self.store
            .get(&path)
            .await
            .map_err(error)?
            .bytes()
            .await
            .map_err(error)
    }

    /// An object's byte stream, for downloads that should not sit in memory.
    pub async fn get_stream(
        &self,
        relative: &str,
    ) -> Result<futures::stream::BoxStream<'static, Result<Bytes, object_store::Error>>, StorageError>
    {
        let path = self.location.path_of(relative);
        let result = self
            .store
            .get(&path)
            .await
            .map_err(|source| StorageError::Read {
                url: self.url_of(relative),
                source,
            })?;
        Ok(result.into_stream())
    }

    /// Starts streaming an artifact to `relative`; `gzip` compresses it on the way.
    pub fn writer(&self, relative: &str, gzip: bool) -> ArtifactWriter {
        ArtifactWriter::new(
            self.store.clone(),
            self.location.path_of(relative),
            self.url_of(relative),
            relative,
            gzip,
        )
    }
}

/// reqwest is built without a default TLS provider: use ring, as the rest of tracejob does.
fn install_crypto_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
