//! Merging per-node results into the bounded status summary and node rows.

use std::collections::BTreeMap;

use tracejob_api::status::{HISTOGRAM_BUCKETS, MAX_NODE_ROWS, MAX_SUMMARY_ROWS};
use tracejob_api::{NodeRecord, NodeStatus, Summary, SummaryRow, TraceJobStatus};

/// Adds rows up by key across nodes and keeps the top [`MAX_SUMMARY_ROWS`] by count
/// (ties by key); the rest are counted, and every histogram has exactly
/// [`HISTOGRAM_BUCKETS`] buckets (anything beyond folds into the last).
pub fn merge<'a>(per_node: impl IntoIterator<Item = &'a [SummaryRow]>) -> Option<Summary> {
    let mut by_key: BTreeMap<&str, SummaryRow> = BTreeMap::new();
    let mut any = false;
    for rows in per_node {
        for row in rows {
            any = true;
            let merged = by_key.entry(&row.key).or_insert_with(|| SummaryRow {
                key: row.key.clone(),
                ..SummaryRow::default()
            });
            merged.count += row.count;
            merged.errors += row.errors;
            add_histogram(&mut merged.latency_us_log2, &row.latency_us_log2);
        }
    }
    if !any {
        return None;
    }
    let mut rows: Vec<SummaryRow> = by_key.into_values().collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    let rest = rows.split_off(rows.len().min(MAX_SUMMARY_ROWS));
    Some(Summary {
        top: rows,
        other_keys: rest.len() as u64,
        other_count: rest.iter().map(|r| r.count).sum(),
    })
}

fn add_histogram(into: &mut Vec<u64>, from: &[u64]) {
    if from.is_empty() {
        return;
    }
    into.resize(HISTOGRAM_BUCKETS, 0);
    for (i, n) in from.iter().enumerate() {
        into[i.min(HISTOGRAM_BUCKETS - 1)] += n;
    }
}

/// Sorts node rows busiest first (ties by name) and keeps [`MAX_NODE_ROWS`]; returns how
/// many were left out.
pub fn bound_nodes(rows: &mut Vec<NodeStatus>) -> u32 {
    rows.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.node.cmp(&b.node)));
    let omitted = rows.len().saturating_sub(MAX_NODE_ROWS);
    rows.truncate(MAX_NODE_ROWS);
    u32::try_from(omitted).unwrap_or(u32::MAX)
}

/// Puts a complete list of node rows into a status: all of them into the control record
/// (`nodeRecord`), the busiest [`MAX_NODE_ROWS`] into `nodes` for people.
pub fn set_rows(status: &mut TraceJobStatus, mut rows: Vec<NodeStatus>) {
    status.node_record = rows.iter().map(NodeRecord::from).collect();
    status.node_record.sort_by(|a, b| a.node.cmp(&b.node));
    status.omitted_nodes = bound_nodes(&mut rows);
    status.nodes = rows;
}

/// Every node row a status knows of: the control record, with the details (pods, message)
/// of the rows people see where there is one. A status written before the record existed
/// has only its visible rows.
pub fn all_rows(status: &TraceJobStatus) -> Vec<NodeStatus> {
    if status.node_record.is_empty() {
        return status.nodes.clone();
    }
    let mut rows: Vec<NodeStatus> = status
        .node_record
        .iter()
        .map(|record| {
            status
                .nodes
                .iter()
                .find(|row| row.node == record.node)
                .cloned()
                .unwrap_or_else(|| NodeStatus::from(record))
        })
        .collect();
    let recorded = |node: &str| status.node_record.iter().any(|r| r.node == node);
    rows.extend(status.nodes.iter().filter(|r| !recorded(&r.node)).cloned());
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, count: u64, histogram: &[u64]) -> SummaryRow {
        SummaryRow {
            key: key.to_owned(),
            count,
            errors: 0,
            latency_us_log2: histogram.to_vec(),
        }
    }

    #[test]
    fn rows_add_up_across_nodes_by_key() {
        let n1 = [row("read", 10, &[1, 2]), row("write", 1, &[])];
        let n2 = [row("read", 5, &[0, 1, 1])];
        let summary = merge([&n1[..], &n2[..]]).expect("a summary");
        assert_eq!(summary.top[0].key, "read");
        assert_eq!(summary.top[0].count, 15);
        assert_eq!(summary.top[0].latency_us_log2.len(), HISTOGRAM_BUCKETS);
        assert_eq!(&summary.top[0].latency_us_log2[..3], &[1, 3, 1]);
        assert_eq!(summary.top[1].key, "write");
    }

    #[test]
    fn the_summary_stays_bounded_whatever_the_result_size() {
        let many: Vec<SummaryRow> = (0..10_000u64)
            .map(|i| row(&format!("/path/{i}"), i + 1, &vec![1; 100]))
            .collect();
        let summary = merge([&many[..]]).expect("a summary");
        assert_eq!(summary.top.len(), MAX_SUMMARY_ROWS);
        assert_eq!(summary.top[0].count, 10_000);
        assert_eq!(summary.other_keys, 10_000 - MAX_SUMMARY_ROWS as u64);
        let total: u64 = (1..=10_000u64).sum();
        let kept: u64 = summary.top.iter().map(|r| r.count).sum();
        assert_eq!(kept + summary.other_count, total);
        assert!(
            summary
                .top
                .iter()
                .all(|r| r.latency_us_log2.len() == HISTOGRAM_BUCKETS)
        );
        assert_eq!(
            summary.top[0].latency_us_log2[HISTOGRAM_BUCKETS - 1],
            100 - 23
        );
    }

    #[test]
    fn node_rows_keep_the_busiest_and_count_the_rest() {
        let mut rows: Vec<NodeStatus> = (0..120u64)
            .map(|i| NodeStatus {
                node: format!("n{i}"),
                events: i,
                ..NodeStatus::default()
            })
            .collect();
        assert_eq!(bound_nodes(&mut rows), 70);
        assert_eq!(rows.len(), MAX_NODE_ROWS);
        assert_eq!(rows[0].node, "n119");
    }

    #[test]
    fn the_record_keeps_every_node_the_bounded_rows_leave_out() {
        let rows: Vec<NodeStatus> = (0..120u64)
            .map(|i| NodeStatus {
                node: format!("n{i:03}"),
                pods: 1,
                events: i,
                lost: 1,
                ..NodeStatus::default()
            })
            .collect();
        let mut status = TraceJobStatus::default();
        set_rows(&mut status, rows.clone());
        assert_eq!(status.nodes.len(), MAX_NODE_ROWS);
        assert_eq!(status.omitted_nodes, 70);
        let mut all = all_rows(&status);
        all.sort_by(|a, b| a.node.cmp(&b.node));
        assert_eq!(all.len(), 120);
        assert_eq!(
            all.iter().map(|r| r.events).sum::<u64>(),
            (0..120u64).sum::<u64>()
        );
        assert_eq!(all[119].pods, 1, "visible rows keep their details");
        assert_eq!(all[0].node, "n000");
    }

    #[test]
    fn a_status_from_before_the_record_reads_its_visible_rows() {
        let status = TraceJobStatus {
            nodes: vec![NodeStatus {
                node: "n1".into(),
                ..NodeStatus::default()
            }],
            ..TraceJobStatus::default()
        };
        assert_eq!(all_rows(&status), status.nodes);
    }

    #[test]
    fn no_rows_means_no_summary() {
        assert_eq!(merge(std::iter::empty::<&[SummaryRow]>()), None);
    }
}
