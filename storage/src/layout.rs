//! Where a job's artifacts go: `<prefix>/<namespace>/<name>/<uid>/` holding `summary.json`,
//! `events.jsonl.gz` (or per-node numbered parts) and `manifest.json`. `tracejob run
//! --output DIR` writes the same files into DIR.

/// The merged summary, as JSON.
pub const SUMMARY: &str = "summary.json";
/// Every event, one JSON object a line, gzip-compressed.
pub const EVENTS: &str = "events.jsonl.gz";
/// What the directory holds: each artifact's size, SHA-256 and counts.
pub const MANIFEST: &str = "manifest.json";

/// The directory of one job, relative to the storage URL.
pub fn job_dir(namespace: &str, name: &str, uid: &str) -> String {
    format!("{namespace}/{name}/{uid}")
}

/// One node's numbered part of the events, written by each periodic flush.
pub fn events_part(node: &str, part: u64) -> String {
    format!("events-{node}-{part:05}.jsonl.gz")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_sort_in_flush_order() {
        assert_eq!(events_part("n1", 7), "events-n1-00007.jsonl.gz");
        assert!(events_part("n1", 9) < events_part("n1", 10));
        assert_eq!(job_dir("shop", "slow-io", "u-1"), "shop/slow-io/u-1");
    }
}
