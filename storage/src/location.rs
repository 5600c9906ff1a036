//! Storage URLs: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`,
//! `file:///absolute/path`.

use object_store::path::Path;
use url::Url;

use crate::error::StorageError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    S3,
    Gcs,
    Azure,
    File,
}

/// A parsed storage URL: where a store is and the prefix inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    url: Url,
    scheme: Scheme,
    prefix: Path,
}

impl Location {
    pub fn parse(text: &str) -> Result<Self, StorageError> {
        let invalid = |reason: &str| StorageError::InvalidUrl {
            url: text.to_owned(),
            reason: reason.to_owned(),
        };
        let url = Url::parse(text.trim()).map_err(|e| invalid(&e.to_string()))?;
        let scheme = match url.scheme() {
            "s3" => Scheme::S3,
            "gs" => Scheme::Gcs,
            "az" => Scheme::Azure,
            "file" => Scheme::File,
            other => {
                return Err(invalid(&format!(
                    "unsupported scheme {other:?}: use s3://, gs://, az:// or file://"
                )));
            }
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a storage URL takes no query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "credentials do not belong in the URL: put them in the Secret",
            ));
        }
        let host = url.host_str().unwrap_or("");
        match scheme {
            Scheme::File if !host.is_empty() => {
                return Err(invalid(
                    "a file:// URL names a local absolute path: file:///path (three slashes)",
                ));
            }
            Scheme::File if url.path().trim_matches('/').is_empty() => {
                return Err(invalid("a file:// URL needs a directory, not /"));
            }
            Scheme::S3 | Scheme::Gcs | Scheme::Azure if host.is_empty() => {
                return Err(invalid("the URL names no bucket (container for az://)"));
            }
            _ => {}
        }
        if url.port().is_some() {
            return Err(invalid(
                "a storage URL has no port: set the endpoint in the credentials (AWS_ENDPOINT)",
            ));
        }
        let prefix = Path::from_url_path(url.path()).map_err(|e| invalid(&e.to_string()))?;
        Ok(Location {
            url,
            scheme,
            prefix,
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The URL as written, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// The prefix inside the store (the bucket's key prefix, or the absolute local path).
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The object path of `relative` (slash-separated) under this location.
    pub fn path_of(&self, relative: &str) -> Path {
        self.prefix
            .parts()
            .chain(
                relative
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(Into::into),
            )
            .collect()
    }

    /// The URL of `relative` under this location.
    pub fn url_of(&self, relative: &str) -> String {
        format!("{}/{}", self.as_str(), relative.trim_start_matches('/'))
    }

    /// The location `relative` below this one.
    pub fn join(&self, relative: &str) -> Location {
        let mut url = self.url.clone();
        let path = self.path_of(relative);
        url.set_path(&format!("/{path}"));
        Location {
            url,
            scheme: self.scheme,
            prefix: path,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        match Location::parse(text) {
            Err(StorageError::InvalidUrl { url, reason }) => {
                assert_eq!(url, text);
                reason
            }
            other => panic!("{text}: expected an invalid URL, got {other:?}"),
        }
    }

    #[test]
    fn each_scheme_parses_into_its_bucket_and_prefix() {
        let s3 = Location::parse("s3://traces/prod/").expect("s3");
        assert_eq!(s3.scheme(), Scheme::S3);
        assert_eq!(s3.prefix().as_ref(), "prod");
        assert_eq!(s3.as_str(), "s3://traces/prod");
        assert_eq!(
            s3.url_of("ns/job/uid/summary.json"),
            "s3://traces/prod/ns/job/uid/summary.json"
        );
        assert_eq!(
            s3.path_of("ns/job/uid/summary.json").as_ref(),
            "prod/ns/job/uid/summary.json"
        );
        assert_eq!(Location::parse("gs://b").expect("gs").scheme(), Scheme::Gcs);
        assert_eq!(
            Location::parse("az://container/p").expect("az").scheme(),
            Scheme::Azure
        );
        let file = Location::parse("file:///var/lib/traces").expect("file");
        assert_eq!(file.prefix().as_ref(), "var/lib/traces");
        assert_eq!(
            file.join("ns/a").url_of("summary.json"),
            "file:///var/lib/traces/ns/a/summary.json"
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        assert!(reason("http://example/x").contains("unsupported scheme \"http\""));
        assert!(reason("s3:///prefix").contains("no bucket"));
        assert!(reason("file://host/x").contains("three slashes"));
        assert!(reason("file:///").contains("needs a directory"));
        assert!(reason("s3://key:secret@bucket/x").contains("Secret"));
        assert!(reason("s3://bucket:9000/x").contains("AWS_ENDPOINT"));
        assert!(reason("s3://bucket/x?region=y").contains("no query"));
        assert!(reason("not a url").contains("relative URL without a base"));
    }
}
