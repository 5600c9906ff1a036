//! One attempt to write a job's artifacts: every spooled part, the summary, then the
//! manifest; nothing leaves the spool unless all of it was written.

use std::collections::BTreeMap;

use kube::Client;
use tracejob_api::{Artifact, TraceJob, TraceJobStatus};
use tracejob_storage::{Manifest, ManifestEntry, Resume, Store, layout};

use super::spool::Part;
use super::{
    JobEntry, Losses, MAX_STATUS_ARTIFACTS, Target, UploadState, WriteError, config, upload,
};
use crate::agents::JobId;

/// One attempt: every spooled part, the summary, then the manifest. Nothing is removed
/// from the spool unless all of it was written.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site per phase, all of it needed"
)]
pub(super) async fn write(
    client: &Client,
    target: &Target,
    job: &TraceJob,
    id: &JobId,
    status: &TraceJobStatus,
    entry: &JobEntry,
    upload: &mut UploadState,
    last: bool,
) -> Result<(Vec<Artifact>, String, u64), WriteError> {
    let store =
        config::open(client, target)
            .await?
            .at(&layout::job_dir(&id.namespace, &id.name, &id.uid));
    let rotated = entry.spool.rotate();
    let parts = &rotated.parts;
    let one_file = last && job.spec.duration.is_some() && upload.written_parts.is_empty();
    let mut entries = upload.written_parts.clone();
    let earlier = entries.len();
    let mut new_parts = Vec::new();
    if one_file {
        let all: Vec<&Part> = parts.values().flatten().collect();
        entries.push(upload::events(&store, layout::EVENTS, &all).await?);
    } else {
        for (node, node_parts) in parts.iter().filter(|(_, p)| !p.is_empty()) {
            let name = layout::events_part(node, upload.next_part);
            let refs: Vec<&Part> = node_parts.iter().collect();
            let written = upload::events(&store, &name, &refs).await?;
            entries.push(written.clone());
            new_parts.push(written);
        }
    }
    let losses = entry.spool.losses();
    let events_written: u64 = entries.iter().filter_map(|e| e.counts.get("events")).sum();
    let engine = entry.spool.final_summaries();
    let kept = Kept {
        written: events_written,
        not_kept: rotated.not_kept,
    };
    let summary = summary_json(job, status, losses, kept, last, engine);
    let counts = BTreeMap::from([
        ("events".to_owned(), status.events.unwrap_or(0)),
        ("lost".to_owned(), status.lost.unwrap_or(0)),
        ("eventsNotKept".to_owned(), rotated.not_kept),
    ]);
    entries.push(upload::summary(&store, &summary, counts).await?);
    let next_part = upload.next_part + u64::from(!new_parts.is_empty());
    let mut sequences = upload.sequences.clone();
    sequences.extend(rotated.sequences.clone());
    let mut manifest = Manifest::new(job.spec.tool.name());
    manifest.job = Some(format!("{}/{}", id.namespace, id.name));
    manifest.uid = Some(id.uid.clone());
    manifest.artifacts = entries.clone();
    manifest.resume = Some(Resume {
        next_part,
        sequences: sequences.clone(),
        not_kept: rotated.not_kept,
    });
    let manifest_bytes = upload::manifest(&store, &manifest).await?;

    for (node, node_parts) in parts {
        entry.spool.uploaded(node, node_parts);
    }
    upload.written_parts.extend(new_parts);
    upload.next_part = next_part;
    upload.sequences = sequences;
    let bytes = entries[earlier..].iter().map(|e| e.bytes).sum::<u64>() + manifest_bytes;
    let artifacts = status_artifacts(&store, &entries, manifest_bytes);
    let message = format!(
        "{} artifacts ({} events) written to {}",
        entries.len() + 1,
        events_written,
        store.location()
    );
    Ok((artifacts, message, bytes))
}

/// The summary, the manifest, and the newest event files, bounded.
fn status_artifacts(
    store: &Store,
    entries: &[ManifestEntry],
    manifest_bytes: u64,
) -> Vec<Artifact> {
    let mut artifacts: Vec<Artifact> = entries
        .iter()
        .rev()
        .map(|e| Artifact {
            name: e.name.clone(),
            url: store.url_of(&e.name),
            bytes: e.bytes,
        })
        .take(MAX_STATUS_ARTIFACTS - 1)
        .collect();
    artifacts.reverse();
    artifacts.push(Artifact {
        name: layout::MANIFEST.to_owned(),
        url: store.url_of(layout::MANIFEST),
        bytes: manifest_bytes,
    });
    artifacts
}

/// What storage holds of the job's events, and what `maxEvents` left out.
struct Kept {
    written: u64,
    not_kept: u64,
}

fn summary_json(
    job: &TraceJob,
    status: &TraceJobStatus,
    losses: Losses,
    kept: Kept,
    last: bool,
    engine: BTreeMap<String, serde_json::Value>,
) -> serde_json::Value {
    serde_json::json!({
        "tool": job.spec.tool.name(),
        "final": last,
        "events": status.events.unwrap_or(0),
        "lost": status.lost.unwrap_or(0),
        "eventsWritten": kept.written,
        "eventsNotKept": kept.not_kept,
        "maxEvents": job.spec.output.max_events,
        "streamLost": losses.stream_lost,
        "spoolDropped": losses.dropped,
        "startTime": status.start_time,
        "completionTime": status.completion_time,
        "nodes": status.nodes,
        "omittedNodes": status.omitted_nodes,
        "summary": status.summary,
        "nodeSummaries": engine,
    })
}
