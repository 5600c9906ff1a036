//! `manifest.json`: what a job's directory holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const MANIFEST_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub version: u32,
    /// `namespace/name` of the TraceJob, absent for `tracejob run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub tool: String,
    /// Every other file of the directory.
    pub artifacts: Vec<ManifestEntry>,
    /// Where a restarted writer of a standing job carries on, so that no part is written
    /// twice and no event is uploaded twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

/// The writer's position when this manifest was written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resume {
    /// The number the next events part gets.
    pub next_part: u64,
    /// Per node, the last sequence of its result stream whose events are in the parts
    /// listed here: reading resumes after it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sequences: BTreeMap<String, u64>,
    /// Events read from those streams but not kept because `spec.output.maxEvents` was
    /// reached; the kept ones are the events of the parts listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_kept: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One file: its name in the directory, size, content hash and what it counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestEntry {
    pub name: String,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the file as stored (compressed, for `.gz`).
    pub sha256: String,
    /// What the file holds, e.g. `events` (lines of an events file) or `events` and `lost`
    /// (of the summary).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
}

impl Manifest {
    pub fn new(tool: &str) -> Self {
        Manifest {
            version: MANIFEST_VERSION,
            tool: tool.to_owned(),
            ..Manifest::default()
        }
    }

    /// Events across every events file.
    pub fn events(&self) -> u64 {
        self.artifacts
            .iter()
            .filter(|a| a.name.starts_with("events"))
            .filter_map(|a| a.counts.get("events"))
            .sum()
    }
}
