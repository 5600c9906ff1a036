//! Log2 latency histograms as the kernel fills them: bucket 0 holds 0 ns, bucket i
//! holds latencies in [2^(i-1), 2^i) ns.

pub use tracejob_api::summary::Bucket;

/// The exclusive upper bound of bucket `index`.
pub fn bucket_bound(index: usize) -> u64 {
    if index >= 63 { u64::MAX } else { 1u64 << index }
}

/// The non-empty buckets, in ascending order.
pub fn non_empty(hist: &[u64]) -> Vec<Bucket> {
    hist.iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(index, count)| Bucket {
            lt_ns: bucket_bound(index),
            count: *count,
        })
        .collect()
}

/// The upper bound of the bucket holding the `quantile` (0..=1) of the samples, or 0
/// when there are none. The true value is at most this and at least half of it.
pub fn quantile_bound(hist: &[u64], quantile: f64) -> u64 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((total as f64) * quantile).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (index, count) in hist.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return bucket_bound(index);
        }
    }
    bucket_bound(hist.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_in_the_bucket_that_holds_the_rank() {
        // 90 samples in [512, 1024), 10 in [65536, 131072)
        let mut hist = [0u64; 32];
        hist[10] = 90;
        hist[17] = 10;
        assert_eq!(quantile_bound(&hist, 0.5), 1024);
        assert_eq!(quantile_bound(&hist, 0.9), 1024);
        assert_eq!(quantile_bound(&hist, 0.99), 131072);
        assert_eq!(quantile_bound(&[0; 32], 0.5), 0);
    }

    #[test]
    fn only_non_empty_buckets_are_listed() {
        let mut hist = [0u64; 32];
        hist[0] = 1;
        hist[3] = 2;
        assert_eq!(
            non_empty(&hist),
            vec![Bucket { lt_ns: 1, count: 1 }, Bucket { lt_ns: 8, count: 2 }]
        );
    }
}
