//! The storage writer: events streamed from the agents are spooled locally, then written
//! with the job's summary and a manifest to object storage — at the end of a job with a
//! duration, and every flush interval for a standing job. Failures are retried with backoff;
//! the job is not Succeeded until its artifacts are durable.

mod attempt;
pub mod config;
mod error;
mod spool;
mod upload;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::Client;
use tracejob_api::{Artifact, NodePhase, TraceJob, TraceJobStatus};
use tracejob_storage::{Manifest, ManifestEntry, layout};

pub use config::Target;
pub use error::{SpecError, WriteError};
pub use spool::{JobSpool, Losses, event_json};

use crate::agents::JobId;
use attempt::write;
use spool::Budget;

/// At most this many artifacts are listed in the status (the manifest lists them all).
pub const MAX_STATUS_ARTIFACTS: usize = 50;
const LONGEST_RETRY: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct StorageSettings {
    /// Storage for jobs whose spec names none.
    pub default: Option<Target>,
    /// How often a standing job (no duration) writes a new part.
    pub flush_interval: Duration,
    /// Where events wait for upload.
    pub spool_dir: PathBuf,
    /// The spool's bound across every job; events beyond it are counted as lost.
    pub spool_max_bytes: u64,
    /// How long the end of a job waits for each node's stream to deliver its last events.
    pub final_wait: Duration,
    /// Whether a job's spec may name `file://` storage (the operator's own filesystem).
    pub allow_file_urls: bool,
    /// Per namespace (`*`: every namespace without its own entry), the URL prefixes its jobs'
    /// specs may name; a namespace with no entry (and no `*`) may name any URL.
    pub allowed_prefixes: BTreeMap<String, Vec<String>>,
    /// How long writing a job's artifacts may keep failing before the job ends `Failed`
    /// and its spooled events are dropped (counted), so one dead bucket cannot hold the
    /// shared spool for ever.
    pub give_up_after: Duration,
}

/// The default of [`StorageSettings::give_up_after`] (`--storage-deadline-seconds`).
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(3600);

/// Writing a job's artifacts has failed for longer than the deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GaveUp {
    /// When the first of the failed attempts in a row was made.
    pub since: Timestamp,
    /// The storage's last error.
    pub error: String,
    /// Events the job counted that are in no written artifact.
    pub unwritten: u64,
}

/// Whether storage failing since `first_failure` is past the deadline.
pub fn past_deadline(first_failure: Timestamp, now: Timestamp, deadline: Duration) -> bool {
    let deadline = k8s_openapi::jiff::SignedDuration::try_from(deadline)
        .unwrap_or(k8s_openapi::jiff::SignedDuration::MAX);
    first_failure
        .checked_add(deadline)
        .is_ok_and(|end| end <= now)
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            default: None,
            flush_interval: Duration::from_secs(30),
            spool_dir: std::env::temp_dir().join("tracejob-spool"),
            spool_max_bytes: 1 << 30,
            final_wait: Duration::from_secs(15),
            allow_file_urls: false,
            allowed_prefixes: BTreeMap::new(),
            give_up_after: DEFAULT_GIVE_UP_AFTER,
        }
    }
}

/// What an attempt to write artifacts came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Written {
        artifacts: Vec<Artifact>,
        message: String,
        /// Bytes this attempt wrote.
        bytes: u64,
    },
    Failed {
        message: String,
        retry_in: Duration,
    },
}

#[derive(Debug, Default)]
struct UploadState {
    failures: u32,
    last_error: Option<String>,
    first_failure: Option<Timestamp>,
    retry_at: Option<Instant>,
    /// Parts of a standing job written by earlier flushes.
    written_parts: Vec<ManifestEntry>,
    next_part: u64,
    /// Per node, the last stream sequence whose events are written.
    sequences: BTreeMap<String, u64>,
    /// Whether what an earlier operator process wrote was read back (see [`Storage::recover`]).
    recovered: bool,
    last_flush: Option<Instant>,
    waited_for_streams: bool,
    /// A write of this process succeeded: an earlier process's failures are over.
    written_since_start: bool,
}

#[derive(Debug)]
struct JobEntry {
    spool: Arc<JobSpool>,
    upload: tokio::sync::Mutex<UploadState>,
}

#[derive(Debug)]
pub struct Storage {
    pub settings: StorageSettings,
    budget: Arc<Budget>,
    jobs: Mutex<HashMap<String, Arc<JobEntry>>>,
}

impl Storage {
    pub fn new(settings: StorageSettings) -> Self {
        Storage {
            budget: Arc::new(Budget::new(settings.spool_max_bytes)),
            settings,
            jobs: Mutex::default(),
        }
    }

    fn jobs(&self) -> MutexGuard<'_, HashMap<String, Arc<JobEntry>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry(&self, uid: &str) -> Arc<JobEntry> {
        self.jobs()
            .entry(uid.to_owned())
            .or_insert_with(|| {
                Arc::new(JobEntry {
                    spool: Arc::new(JobSpool::new(
                        self.settings.spool_dir.join(uid),
                        self.budget.clone(),
                    )),
                    upload: tokio::sync::Mutex::default(),
                })
            })
            .clone()
    }

    /// Where the job's streamed events wait for upload (see [`crate::streams::Streams::track`]).
    pub fn spool(&self, uid: &str) -> Arc<JobSpool> {
        self.entry(uid).spool.clone()
    }

    /// At most `max` events of the job are kept in storage (`spec.output.maxEvents`),
    /// across every node and part; the rest are counted as not kept.
    pub fn keep_at_most(&self, uid: &str, max: Option<u64>) {
        self.entry(uid).spool.set_max_events(max);
    }

    /// Events not kept because `spec.output.maxEvents` was reached, earlier processes'
    /// included.
    pub fn not_kept(&self, uid: &str) -> u64 {
        self.jobs().get(uid).map_or(0, |e| e.spool.not_kept())
    }

    /// Reads back, once per process, where an earlier operator process left the job's
    /// artifacts (`manifest.json`): its parts, the next part's number and each node's last
    /// written stream sequence, so that a restart neither overwrites a part nor uploads an
    /// event twice. Must succeed before the job's streams are read.
    pub async fn recover(
        &self,
        client: &Client,
        target: &Target,
        id: &JobId,
    ) -> Result<(), Outcome> {
        let entry = self.entry(&id.uid);
        let mut upload = entry.upload.lock().await;
        if upload.recovered {
            return Ok(());
        }
        if let Some(retry_at) = upload.retry_at
            && retry_at > Instant::now()
        {
            return Err(Outcome::Failed {
                message: failure_message(target, &upload),
                retry_in: retry_at - Instant::now(),
            });
        }
        match read_manifest(client, target, id).await {
            Ok(found) => {
                if let Some(manifest) = found {
                    resume(&entry, &mut upload, manifest, id);
                }
                upload.recovered = true;
                // Storage answers again: the failures before (this process's or, from the
                // status, an earlier one's) no longer count towards the deadline.
                upload.first_failure = None;
                upload.failures = 0;
                upload.written_since_start = true;
                Ok(())
            }
            Err(error) => Err(self.outcome(target, &mut upload, Err(error))),
        }
    }

    /// The node's agent lost the job and runs it afresh (a gap): its stream is read from 1
    /// again, whatever an earlier reader or `manifest.json` recorded.
    pub fn stream_restarted(&self, uid: &str, node: &str) {
        self.entry(uid).spool.stream_restarted(node);
    }

    /// Events lost between the agents and storage so far.
    pub fn losses(&self, uid: &str) -> Losses {
        self.jobs()
            .get(uid)
            .map(|e| e.spool.losses())
            .unwrap_or_default()
    }

    /// Whether writing the job's artifacts has failed past the deadline; `counted` is the
    /// events the job's status counts.
    pub fn gave_up(&self, uid: &str, counted: u64, now: Timestamp) -> Option<GaveUp> {
        let entry = self.jobs().get(uid)?.clone();
        let upload = entry.upload.try_lock().ok()?;
        let since = upload.first_failure?;
        if !past_deadline(since, now, self.settings.give_up_after) {
            return None;
        }
        let written: u64 = upload
            .written_parts
            .iter()
            .filter_map(|e| e.counts.get("events"))
            .sum();
        Some(GaveUp {
            since,
            error: upload.last_error.clone().unwrap_or_default(),
            // Events not kept (maxEvents) were never to be written: they are not lost.
            unwritten: counted
                .saturating_sub(written)
                .saturating_sub(entry.spool.not_kept()),
        })
    }

    /// Continues the storage deadline of an earlier operator process: writing the job's
    /// artifacts has been failing since `since` (its status says so), unless this process
    /// saw a failure of its own first or a write succeeded since.
    pub async fn failing_since_before(&self, uid: &str, since: Timestamp) {
        let entry = self.entry(uid);
        let mut upload = entry.upload.lock().await;
        if upload.first_failure.is_none() && !upload.written_since_start {
            upload.first_failure = Some(since);
        }
    }

    /// Since when writing the job's artifacts keeps failing (`None`: the last write worked,
    /// or none failed yet).
    pub fn failing_since(&self, uid: &str) -> Option<Timestamp> {
        let entry = self.jobs().get(uid)?.clone();
        let upload = entry.upload.try_lock().ok()?;
        upload.first_failure
    }

    /// Deletes the job's spool (its readers are stopped by [`crate::streams::Streams::forget`]).
    pub fn forget(&self, uid: &str) {
        if let Some(entry) = self.jobs().remove(uid) {
            entry.spool.remove();
        }
    }

    /// A standing job's periodic flush: `None` when it is not due yet.
    pub async fn flush_if_due(
        &self,
        client: &Client,
        target: &Target,
        job: &TraceJob,
        id: &JobId,
        status: &TraceJobStatus,
    ) -> Option<Outcome> {
        let entry = self.entry(&id.uid);
        let mut upload = entry.upload.lock().await;
        let due = match (upload.retry_at, upload.last_flush) {
            (Some(retry_at), _) => retry_at <= Instant::now(),
            (None, Some(last)) => last.elapsed() >= self.settings.flush_interval,
            (None, None) => true,
        };
        if !due {
            return None;
        }
        let result = write(client, target, job, id, status, &entry, &mut upload, false).await;
        upload.last_flush = Some(Instant::now());
        Some(self.outcome(target, &mut upload, result))
    }

    /// The job ended: waits (boundedly) for every node's last events, then writes
    /// everything spooled, the final summary and the manifest.
    pub async fn finish(
        &self,
        client: &Client,
        target: &Target,
        job: &TraceJob,
        id: &JobId,
        status: &TraceJobStatus,
    ) -> Outcome {
        let entry = self.entry(&id.uid);
        let mut upload = entry.upload.lock().await;
        if let Some(retry_at) = upload.retry_at
            && retry_at > Instant::now()
        {
            return Outcome::Failed {
                message: failure_message(target, &upload),
                retry_in: retry_at - Instant::now(),
            };
        }
        if !upload.waited_for_streams {
            // A lost node's agent is gone: its final message never comes.
            let lost = lost_nodes(status);
            wait_for_streams(&entry.spool, &lost, self.settings.final_wait).await;
            upload.waited_for_streams = true;
        }
        let result = write(client, target, job, id, status, &entry, &mut upload, true).await;
        self.outcome(target, &mut upload, result)
    }

    fn outcome(
        &self,
        target: &Target,
        upload: &mut UploadState,
        result: Result<(Vec<Artifact>, String, u64), WriteError>,
    ) -> Outcome {
        match result {
            Ok((artifacts, mut message, bytes)) => {
                if upload.failures > 0 {
                    message.push_str(&format!(
                        " after {} failed attempts (storage unavailable since {}: {})",
                        upload.failures,
                        upload
                            .first_failure
                            .map_or_else(|| "?".to_owned(), |t| t.to_string()),
                        upload.last_error.as_deref().unwrap_or("?")
                    ));
                }
                upload.failures = 0;
                upload.written_since_start = true;
                upload.retry_at = None;
                upload.first_failure = None;
                upload.last_error = None;
                Outcome::Written {
                    artifacts,
                    message,
                    bytes,
                }
            }
            Err(error) => {
                upload.failures += 1;
                upload.first_failure.get_or_insert_with(Timestamp::now);
                upload.last_error = Some(error.to_string());
                let retry_in = Duration::from_secs(1 << upload.failures.min(5)).min(LONGEST_RETRY);
                upload.retry_at = Some(Instant::now() + retry_in);
                Outcome::Failed {
                    message: failure_message(target, upload),
                    retry_in,
                }
            }
        }
    }
}

/// The job's `manifest.json`, if an earlier flush wrote one.
async fn read_manifest(
    client: &Client,
    target: &Target,
    id: &JobId,
) -> Result<Option<Manifest>, WriteError> {
    let store =
        config::open(client, target)
            .await?
            .at(&layout::job_dir(&id.namespace, &id.name, &id.uid));
    let bytes = match store.get(layout::MANIFEST).await {
        Ok(bytes) => bytes,
        Err(error) if error.is_not_found() => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| WriteError::Manifest {
            url: store.url_of(layout::MANIFEST),
            error,
        })
}

/// Continues after what an earlier process wrote: its parts stay listed, the next part gets
/// a new number, each node's stream is read after its last written sequence.
fn resume(entry: &JobEntry, upload: &mut UploadState, manifest: Manifest, id: &JobId) {
    let parts: Vec<ManifestEntry> = manifest
        .artifacts
        .into_iter()
        .filter(|a| a.name != layout::SUMMARY)
        .collect();
    let after_names = parts
        .iter()
        .filter_map(|a| layout::part_number(&a.name))
        .max()
        .map_or(0, |n| n + 1);
    let resume = manifest.resume.unwrap_or_default();
    for (node, sequence) in &resume.sequences {
        entry.spool.resume_after(node, *sequence);
    }
    let kept = parts.iter().filter_map(|a| a.counts.get("events")).sum();
    entry.spool.resume_counts(kept, resume.not_kept);
    upload.next_part = resume.next_part.max(after_names);
    tracing::info!(job = %id.name, parts = parts.len(), next_part = upload.next_part, "resuming the job's artifacts");
    upload.sequences = resume.sequences;
    upload.written_parts = parts;
}

fn failure_message(target: &Target, upload: &UploadState) -> String {
    format!(
        "cannot write the artifacts to {} ({}): {}; attempt {}, retrying with backoff; events stay spooled meanwhile",
        target.location,
        target.source,
        upload.last_error.as_deref().unwrap_or("?"),
        upload.failures
    )
}

/// The nodes the job's record counts as lost.
fn lost_nodes(status: &TraceJobStatus) -> BTreeSet<String> {
    status
        .node_record
        .iter()
        .filter(|record| record.phase == NodePhase::Lost)
        .map(|record| record.node.clone())
        .collect()
}

/// Waits, at most `limit`, until every node but the `lost` ones delivered its final message.
async fn wait_for_streams(spool: &JobSpool, lost: &BTreeSet<String>, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let notified = spool.finished.notified();
        let mut waiting = spool.unfinished();
        waiting.retain(|node| !lost.contains(node));
        if waiting.is_empty() {
            return;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            tracing::warn!(nodes = ?waiting, "result streams did not deliver their final message in time");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_final_write_does_not_wait_for_the_streams_of_lost_nodes() {
        let dir = std::env::temp_dir().join(format!("tracejob-lost-wait-{}", std::process::id()));
        let spool = JobSpool::new(dir, Arc::new(Budget::new(1 << 20)));
        spool.add_node("alive");
        spool.add_node("gone");
        spool.finish("alive", None);
        let lost = BTreeSet::from(["gone".to_owned()]);
        // An hour's limit: returning within a minute means it did not wait for "gone".
        tokio::time::timeout(
            Duration::from_secs(60),
            wait_for_streams(&spool, &lost, Duration::from_secs(3600)),
        )
        .await
        .expect("waited for a lost node's stream");
    }

    #[test]
    fn storage_is_given_up_on_only_once_it_failed_for_the_whole_deadline() {
        let at = |s: i64| Timestamp::from_second(s).expect("a time");
        let hour = Duration::from_secs(3600);
        assert!(!past_deadline(at(1000), at(1000 + 3599), hour));
        assert!(past_deadline(at(1000), at(1000 + 3600), hour));
        assert!(past_deadline(at(1000), at(1000), Duration::ZERO));
        assert!(!past_deadline(at(1000), at(2000), Duration::MAX));
    }
}
