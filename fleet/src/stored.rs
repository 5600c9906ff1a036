//! What a job left in object storage: every event line, counted per (node, sequence), so a
//! test can say each simulated event is stored exactly once.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::Context as _;
use tracejob_storage::{Credentials, Location, Manifest, Store, layout};

/// (node, sequence) → how many times the event is stored.
#[derive(Debug, Default)]
pub struct StoredEvents {
    pub copies: BTreeMap<(String, u64), u32>,
    pub lines: u64,
    pub manifest: Manifest,
}

impl StoredEvents {
    /// The events of one node, each counted once.
    pub fn distinct_on(&self, node: &str) -> u64 {
        self.copies.keys().filter(|(n, _)| n == node).count() as u64
    }

    /// Events stored more than once.
    pub fn duplicates(&self) -> Vec<(String, u64)> {
        self.copies
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

pub async fn read(
    url: &str,
    credentials: &[(String, String)],
    namespace: &str,
    name: &str,
    uid: &str,
) -> anyhow::Result<StoredEvents> {
    let location = Location::parse(url)?;
    let store = Store::open(&location, &Credentials::new(credentials.iter().cloned()))?
        .at(&layout::job_dir(namespace, name, uid));
    let manifest: Manifest = serde_json::from_slice(&store.get(layout::MANIFEST).await?)
        .context("manifest.json is not a manifest")?;
    let mut out = StoredEvents::default();
    for entry in manifest
        .artifacts
        .iter()
        .filter(|a| a.name.starts_with("events"))
    {
        let bytes = store.get(&entry.name).await?;
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .with_context(|| format!("{} is not gzip", entry.name))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let event: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("a line of {} is not JSON: {line}", entry.name))?;
            let node = event["node"].as_str().unwrap_or_default().to_owned();
            // The simulated agents number their events in the pid (fleet/src/service.rs).
            let seq = event["pid"].as_u64().unwrap_or(0);
            *out.copies.entry((node, seq)).or_default() += 1;
            out.lines += 1;
        }
    }
    out.manifest = manifest;
    Ok(out)
}
