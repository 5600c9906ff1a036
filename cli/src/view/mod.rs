//! TraceJobs as a person reads them: `tracejob get` (one line per job, like `kubectl get`)
//! and `tracejob describe` (one job's counts, top keys, nodes, conditions and artifacts).
//! Pure functions of the objects and the current time, so they are tested without a cluster.

use std::borrow::Cow;
use std::fmt::Write as _;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use tracejob_api::{TraceJob, TraceJobStatus};

use crate::output::shown::shown;

/// The `tracejob get` table; with `namespaces` a NAMESPACE column first.
pub fn list(jobs: &[TraceJob], namespaces: bool, now: Timestamp) -> String {
    let mut rows = vec![
        [
            "NAMESPACE",
            "NAME",
            "TOOL",
            "PHASE",
            "PODS",
            "NODES",
            "EVENTS",
            "LOST",
            "AGE",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for job in jobs {
        let status = job.status.clone().unwrap_or_default();
        rows.push(vec![
            job.namespace().unwrap_or_default(),
            job.name_any(),
            job.spec.tool.name().to_owned(),
            phase(&status).to_owned(),
            number(status.matched_pods.map(u64::from)),
            number(status.matched_nodes.map(u64::from)),
            number(status.events),
            number(status.lost),
            job.creation_timestamp()
                .map_or_else(|| "-".to_owned(), |t| age(t.0, now)),
        ]);
    }
    let skip = usize::from(!namespaces);
    let rows: Vec<Vec<String>> = rows.into_iter().map(|r| r[skip..].to_vec()).collect();
    columns(&rows)
}

/// The `tracejob describe` text of one job.
pub fn describe(job: &TraceJob, now: Timestamp) -> String {
    let status = job.status.clone().unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}/{}: {} ({})",
        job.namespace().unwrap_or_default(),
        job.name_any(),
        phase(&status),
        shown(status.message.as_deref().unwrap_or(""))
    );
    let _ = writeln!(out, "tool: {}", job.spec.tool.name());
    if let Some(start) = &status.start_time {
        let _ = writeln!(
            out,
            "tracing since: {} ({} ago)",
            start.0,
            age(start.0, now)
        );
    }
    let _ = write!(
        out,
        "events {}  lost {}",
        status.events.unwrap_or(0),
        status.lost.unwrap_or(0)
    );
    if let Some(not_kept) = status.events_not_kept {
        let _ = write!(out, "  not kept (maxEvents) {not_kept}");
    }
    out.push('\n');
    top_keys(&mut out, &status);
    nodes(&mut out, &status);
    conditions(&mut out, &status, now);
    artifacts(&mut out, &status);
    out
}

fn top_keys(out: &mut String, status: &TraceJobStatus) {
    let Some(summary) = &status.summary else {
        return;
    };
    if summary.top.is_empty() {
        return;
    }
    out.push_str("\ntop keys:\n");
    let mut rows = vec![["KEY", "COUNT", "ERRORS"].map(str::to_owned).to_vec()];
    rows.extend(summary.top.iter().map(|row| {
        vec![
            row.key.clone(),
            row.count.to_string(),
            row.errors.to_string(),
        ]
    }));
    indent(out, &columns(&rows));
    if summary.other_keys > 0 {
        let _ = writeln!(
            out,
            "  ({} more keys, {} counts)",
            summary.other_keys, summary.other_count
        );
    }
}

fn nodes(out: &mut String, status: &TraceJobStatus) {
    if status.nodes.is_empty() {
        return;
    }
    out.push_str("\nnodes:\n");
    let mut rows = vec![
        [
            "NODE", "PHASE", "PODS", "PROBE", "EVENTS", "LOST", "MESSAGE",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    rows.extend(status.nodes.iter().map(|node| {
        vec![
            node.node.clone(),
            node.phase.as_str().to_owned(),
            node.pods.to_string(),
            node.probe.clone().unwrap_or_else(|| "-".to_owned()),
            node.events.to_string(),
            node.lost.to_string(),
            node.message.clone().unwrap_or_default(),
        ]
    }));
    indent(out, &columns(&rows));
    if status.omitted_nodes > 0 {
        let _ = writeln!(out, "  ({} more nodes)", status.omitted_nodes);
    }
}

fn conditions(out: &mut String, status: &TraceJobStatus, now: Timestamp) {
    if status.conditions.is_empty() {
        return;
    }
    out.push_str("\nconditions:\n");
    let mut rows = vec![
        ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"]
            .map(str::to_owned)
            .to_vec(),
    ];
    rows.extend(status.conditions.iter().map(|c| {
        vec![
            c.type_.clone(),
            c.status.clone(),
            c.reason.clone(),
            age(c.last_transition_time.0, now),
            c.message.clone(),
        ]
    }));
    indent(out, &columns(&rows));
}

fn artifacts(out: &mut String, status: &TraceJobStatus) {
    if status.artifacts.is_empty() {
        return;
    }
    out.push_str("\nartifacts:\n");
    let mut rows = vec![["NAME", "BYTES", "URL"].map(str::to_owned).to_vec()];
    rows.extend(
        status
            .artifacts
            .iter()
            .map(|a| vec![a.name.clone(), a.bytes.to_string(), a.url.clone()]),
    );
    indent(out, &columns(&rows));
}

fn phase(status: &TraceJobStatus) -> &'static str {
    status.phase.map_or("Unknown", |p| p.as_str())
}

fn number(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `kubectl`'s short ages: 45s, 12m, 3h, 5d.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    let seconds = now.as_second().saturating_sub(since.as_second()).max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Left-aligned columns, three spaces apart, like `kubectl get`; the last column is not
/// padded.
fn columns(rows: &[Vec<String>]) -> String {
    // Cells hold keys, messages and names from the cluster: escaped, then measured.
    let rows: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| shown(cell)).collect())
        .collect();
    let width = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..width)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}   ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn indent(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "  {line}");
    }
}

#[cfg(test)]
mod tests;
