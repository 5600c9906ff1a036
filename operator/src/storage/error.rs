//! What can go wrong choosing a job's storage and writing to it.

use tracejob_storage::StorageError;

/// The job's `spec.output.storage` cannot be used as written: the job ends `Failed`.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("spec.output.storage.url: {0}")]
    Url(#[source] Box<StorageError>),
    #[error(
        "spec.output.storage.url: {0}: file:// would write into the operator's own \
         filesystem and is refused in the cluster (the operator runs without \
         --allow-file-storage); use s3://, gs:// or az://"
    )]
    FileRefused(String),
    #[error(
        "spec.output.storage.url: {location} is not under a storage URL namespace \
         {namespace} may use ({allowed})"
    )]
    NotAllowed {
        location: String,
        namespace: String,
        /// The namespace's prefixes, comma-separated.
        allowed: String,
    },
    #[error(
        "spec.output.storage.secretRef: {location} needs the job's own credentials (a \
         Secret in namespace {namespace}); only the operator's default storage is written \
         with the operator's"
    )]
    NeedsSecret { location: String, namespace: String },
}

/// An attempt to read or write a job's artifacts failed: retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "{source_name} {location}: cannot read the credentials Secret {namespace}/{name}: {error}"
    )]
    Secret {
        source_name: &'static str,
        location: String,
        namespace: String,
        name: String,
        #[source]
        error: kube::Error,
    },
    #[error(
        "{source_name} {location}: the credentials Secret {namespace}/{name} has a non-UTF-8 \
         value for {key}"
    )]
    SecretNotUtf8 {
        source_name: &'static str,
        location: String,
        namespace: String,
        name: String,
        key: String,
    },
    /// The store refused or failed (shown with its causes on one line).
    #[error("{}", .0.one_line())]
    Store(#[from] StorageError),
    #[error("cannot read {url}: {error}")]
    Manifest {
        url: String,
        #[source]
        error: serde_json::Error,
    },
}
