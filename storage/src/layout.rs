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

/// The number of an events part named by [`events_part`], if `name` is one.
pub fn part_number(name: &str) -> Option<u64> {
    let stem = name.strip_prefix("events-")?.strip_suffix(".jsonl.gz")?;
    let (_, number) = stem.rsplit_once('-')?;
    number.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_name_gives_back_its_number_whatever_the_node_name() {
        assert_eq!(part_number(&events_part("node-a-1", 12)), Some(12));
        assert_eq!(part_number(EVENTS), None);
        assert_eq!(part_number(SUMMARY), None);
    }

    #[test]
    fn parts_sort_in_flush_order() {
        assert_eq!(events_part("n1", 7), "events-n1-00007.jsonl.gz");
        assert!(events_part("n1", 9) < events_part("n1", 10));
        assert_eq!(job_dir("shop", "slow-io", "u-1"), "shop/slow-io/u-1");
    }
}
