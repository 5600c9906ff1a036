//! Summaries between the API's types (`tracejob_api::summary`) and their messages, both
//! ways: the node agent sends a [`Summary`] as a [`v1::JobResult`], the operator reads it
//! back. A summary's cgroup ids mean nothing off the node and are not sent (the agent
//! names their pods in `pods`).

use tracejob_api::SummaryRow;
use tracejob_api::event::PodEvents;
use tracejob_api::summary::{Latency, Summary, ToolSummary};

use crate::ConvertError;
use crate::v1::{self, tool_summary::Details};

impl From<&Summary> for v1::JobResult {
    /// The result with its summary, and one row per key the tool counts for the status.
    fn from(summary: &Summary) -> Self {
        v1::JobResult {
            tool: summary.tool.clone(),
            probe: summary.probe.clone(),
            events: summary.events,
            lost: summary.lost,
            lost_kernel: summary.lost_kernel,
            lost_user: summary.lost_user,
            duration_ms: summary.duration_ms,
            rows: rows(&summary.details),
            pods: summary.pods.iter().map(v1::PodEvents::from).collect(),
            summary: Some(v1::ToolSummary {
                details: Some(Details::from(&summary.details)),
            }),
            rows_omitted: summary.rows_omitted,
        }
    }
}

impl TryFrom<&v1::JobResult> for Summary {
    type Error = ConvertError;

    /// [`ConvertError::Missing`] when the result carries no summary (a job replaced before
    /// it had one).
    fn try_from(result: &v1::JobResult) -> Result<Self, ConvertError> {
        let details = result
            .summary
            .as_ref()
            .and_then(|s| s.details.as_ref())
            .ok_or(ConvertError::Missing("summary.details"))?;
        Ok(Summary {
            tool: result.tool.clone(),
            probe: result.probe.clone(),
            events: result.events,
            lost: result.lost,
            lost_kernel: result.lost_kernel,
            lost_user: result.lost_user,
            duration_ms: result.duration_ms,
            cgroups: Vec::new(),
            pods: result.pods.iter().map(PodEvents::from).collect(),
            rows_omitted: result.rows_omitted,
            details: ToolSummary::from(details),
        })
    }
}

impl From<&PodEvents> for v1::PodEvents {
    fn from(p: &PodEvents) -> Self {
        v1::PodEvents {
            namespace: p.namespace.clone(),
            pod: p.pod.clone().unwrap_or_default(),
            container: p.container.clone().unwrap_or_default(),
            events: p.events,
        }
    }
}

impl From<&v1::PodEvents> for PodEvents {
    /// An empty pod or container is one the agent could not name.
    fn from(p: &v1::PodEvents) -> Self {
        PodEvents {
            namespace: p.namespace.clone(),
            pod: Some(p.pod.clone()).filter(|s| !s.is_empty()),
            container: Some(p.container.clone()).filter(|s| !s.is_empty()),
            events: p.events,
        }
    }
}

impl From<v1::Row> for SummaryRow {
    fn from(row: v1::Row) -> Self {
        SummaryRow {
            key: row.key,
            count: row.count,
            errors: row.errors,
            latency_us_log2: row.latency_us_log2,
        }
    }
}

/// One row per key the tool counts (a syscall, an executable, a path, a peer, a function),
/// what the status keeps the top of.
fn rows(details: &ToolSummary) -> Vec<v1::Row> {
    match details {
        ToolSummary::Syscalls { syscalls } => syscalls
            .iter()
            .map(|s| row(&s.name, s.latency.count, s.errors, Some(&s.latency)))
            .collect(),
        ToolSummary::Exec { execs } => execs
            .iter()
            .map(|e| row(&e.filename, e.count, e.errors, None))
            .collect(),
        ToolSummary::Open { opens } => opens
            .iter()
            .map(|o| row(&o.path, o.count, o.errors, None))
            .collect(),
        ToolSummary::Runqlat { runqueue } => {
            vec![row("runqueue", runqueue.count, 0, Some(runqueue))]
        }
        ToolSummary::Blockio { devices } => devices
            .iter()
            .map(|d| row(&d.device, d.latency.count, d.errors, Some(&d.latency)))
            .collect(),
        ToolSummary::Tcp { peers, .. } => peers
            .iter()
            .map(|p| {
                row(
                    format!("{} {}", p.direction, p.peer),
                    p.connections,
                    p.failed,
                    None,
                )
            })
            .collect(),
        ToolSummary::Profile { functions, .. } => functions
            .iter()
            .map(|f| row(&f.function, f.self_samples, 0, None))
            .collect(),
        ToolSummary::Calls { functions } => functions
            .iter()
            .map(|c| row(&c.function, c.latency.count, 0, Some(&c.latency)))
            .collect(),
    }
}

fn row(key: impl Into<String>, count: u64, errors: u64, latency: Option<&Latency>) -> v1::Row {
    v1::Row {
        key: key.into(),
        count,
        errors,
        latency_us_log2: latency.map(histogram_us).unwrap_or_default(),
    }
}

/// Log2 nanosecond buckets (`< 2^i ns`) → log2 microsecond buckets: bucket 0 holds
/// < 1 µs, bucket j holds [2^(j-1), 2^j) µs.
fn histogram_us(latency: &Latency) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for bucket in &latency.histogram {
        let log2_ns = 63 - bucket.lt_ns.max(1).leading_zeros() as usize;
        let index = log2_ns.saturating_sub(10);
        if out.len() <= index {
            out.resize(index + 1, 0);
        }
        out[index] += bucket.count;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracejob_api::summary::samples::every_tool;
    use tracejob_api::summary::{Bucket, CgroupEvents};

    fn summary(details: ToolSummary) -> Summary {
        Summary {
            tool: "t".into(),
            probe: "tp_btf".into(),
            events: 3,
            lost: 3,
            lost_kernel: 1,
            lost_user: 2,
            duration_ms: 10,
            cgroups: Vec::new(),
            pods: vec![
                PodEvents {
                    namespace: "shop".into(),
                    pod: Some("web-0".into()),
                    container: Some("app".into()),
                    events: 2,
                },
                PodEvents {
                    namespace: "shop".into(),
                    pod: None,
                    container: None,
                    events: 1,
                },
            ],
            rows_omitted: 6,
            details,
        }
    }

    #[test]
    fn every_tool_s_summary_comes_back_from_its_message_unchanged() {
        for details in every_tool() {
            let sent = summary(details);
            let message = v1::JobResult::from(&sent);
            let encoded = prost::Message::encode_to_vec(&message);
            let decoded: v1::JobResult =
                prost::Message::decode(encoded.as_slice()).expect("decodes");
            let back = Summary::try_from(&decoded).expect("a summary");
            assert_eq!(back, sent);
        }
    }

    #[test]
    fn cgroup_ids_stay_on_the_node() {
        let mut sent = summary(every_tool().swap_remove(1));
        sent.cgroups = vec![CgroupEvents {
            cgroup_id: 7,
            events: 3,
        }];
        let back = Summary::try_from(&v1::JobResult::from(&sent)).expect("a summary");
        assert!(back.cgroups.is_empty());
        assert_eq!(back.pods, sent.pods);
    }

    #[test]
    fn a_result_without_a_summary_says_which_field_is_missing() {
        let error = Summary::try_from(&v1::JobResult::default()).expect_err("no summary");
        assert_eq!(error.to_string(), "summary.details is missing");
    }

    #[test]
    fn each_counted_key_becomes_a_status_row_with_microsecond_buckets() {
        let message = v1::JobResult::from(&summary(every_tool().swap_remove(0)));
        assert_eq!(
            message.rows,
            [v1::Row {
                key: "read".into(),
                count: 3,
                errors: 1,
                latency_us_log2: vec![2, 1],
            }]
        );
        let tcp = v1::JobResult::from(&summary(every_tool().swap_remove(5)));
        assert_eq!(tcp.rows[0].key, "connect 10.0.0.1:80");
    }

    #[test]
    fn nanosecond_buckets_fold_into_microsecond_buckets() {
        let bucket = |lt_ns, count| Bucket { lt_ns, count };
        let latency = Latency {
            histogram: vec![
                bucket(512, 1),
                bucket(1024, 2),
                bucket(2048, 3),
                bucket(8192, 4),
            ],
            ..Latency::default()
        };
        assert_eq!(histogram_us(&latency), [3, 3, 0, 4]);
    }
}
