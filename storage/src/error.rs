//! Every storage error names the URL it is about and carries the storage's own error.

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid storage URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot open storage {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot write {url}: {source}")]
    Write {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot read {url}: {source}")]
    Read {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot compress {url}: {source}")]
    Compress {
        url: String,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// The URL the error is about.
    pub fn url(&self) -> &str {
        match self {
            StorageError::InvalidUrl { url, .. }
            | StorageError::Open { url, .. }
            | StorageError::Write { url, .. }
            | StorageError::Read { url, .. }
            | StorageError::Compress { url, .. } => url,
        }
    }

    /// Whether the object read does not exist. A missing bucket is not that: it is a
    /// misconfiguration to report at once, not "nothing written yet".
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StorageError::Read {
                source: object_store::Error::NotFound { .. },
                ..
            }
        ) && !self.one_line().contains("NoSuchBucket")
    }

    /// The error and its causes on one line, the way a status condition shows it.
    pub fn one_line(&self) -> String {
        let mut line = self.to_string();
        let mut source = std::error::Error::source(self).and_then(std::error::Error::source);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            source = cause.source();
        }
        line
    }
}
