//! Object storage for tracejob's artifacts.
//!
//! A [`Location`] is a parsed `s3://`, `gs://`, `az://` or `file://` URL; a [`Store`] opens it
//! with credentials given as object_store configuration keys ([`Credentials`]); an
//! [`ArtifactWriter`] streams one artifact (gzip optional) through a multipart upload while
//! hashing and counting it, so memory does not grow with its size. [`layout`] names the files
//! of a job and [`manifest`] describes them.

mod credentials;
mod digest;
mod error;
pub mod layout;
mod location;
pub mod manifest;
mod store;
mod writer;

pub use credentials::Credentials;
pub use digest::HashingWriter;
pub use error::StorageError;
pub use location::{Location, Scheme};
pub use manifest::{Manifest, ManifestEntry, Resume};
pub use store::Store;
pub use writer::ArtifactWriter;
