//! Credentials as object_store's own configuration keys (`AWS_ACCESS_KEY_ID`,
//! `GOOGLE_SERVICE_ACCOUNT_KEY`, `AZURE_STORAGE_ACCOUNT_KEY`, ...), from a Secret's data or
//! from the environment.

use std::collections::BTreeMap;

/// The key prefixes object_store's builders read from the environment.
const ENV_PREFIXES: [&str; 3] = ["AWS_", "GOOGLE_", "AZURE_"];

/// Configuration keys and values; keys are case-insensitive (kept lower case).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for Credentials {
    // Values are secrets: only the key names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Credentials {
    pub fn new<K: AsRef<str>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Credentials {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.as_ref().trim().to_ascii_lowercase(), v.into()))
                .collect(),
        }
    }

    /// The `AWS_*`, `GOOGLE_*` and `AZURE_*` variables of this process.
    pub fn from_env() -> Self {
        Self::new(std::env::vars().filter(|(k, _)| {
            ENV_PREFIXES
                .iter()
                .any(|p| k.to_ascii_uppercase().starts_with(p))
        }))
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The key names, upper case, for messages.
    pub fn key_names(&self) -> Vec<String> {
        self.values.keys().map(|k| k.to_ascii_uppercase()).collect()
    }

    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_values_never_printed() {
        let credentials =
            Credentials::new([("AWS_SECRET_ACCESS_KEY", "hunter2"), ("aws_region", "x")]);
        assert_eq!(
            credentials.key_names(),
            ["AWS_REGION", "AWS_SECRET_ACCESS_KEY"]
        );
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }
}
