//! Counts with log2 latency histograms, as the kernel keeps them per CPU
//! (`struct latency_stats`), summed and summarised.

use aya::Ebpf;
use aya::maps::PerCpuArray;
use tracejob_ebpf::layout::LatencyStats;

use crate::error::EngineError;
use crate::histogram;
use crate::maps::map_ref;

/// A latency distribution as every summary reports it (an API type).
pub use tracejob_api::summary::Latency;

/// Adds up the per-CPU copies of one entry.
pub fn sum<'a>(per_cpu: impl IntoIterator<Item = &'a LatencyStats>) -> LatencyStats {
    let mut total = LatencyStats::default();
    for stats in per_cpu {
        total.count += stats.count;
        total.errors += stats.errors;
        total.total_ns += stats.total_ns;
        total.max_ns = total.max_ns.max(stats.max_ns);
        for (sum, bucket) in total.hist.iter_mut().zip(stats.hist) {
            *sum += bucket;
        }
    }
    total
}

/// Reads a one-entry per-CPU `latency_stats` array map (one histogram per job).
pub fn read_single(ebpf: &Ebpf, map: &'static str) -> Result<Latency, EngineError> {
    let array: PerCpuArray<_, LatencyStats> = map_ref(ebpf, map)?;
    let per_cpu = array.get(&0, 0).map_err(|source| EngineError::Map {
        action: "read a latency histogram",
        source,
    })?;
    Ok(from_stats(&sum(per_cpu.iter())))
}

/// The distribution the kernel's summed counters describe.
pub fn from_stats(stats: &LatencyStats) -> Latency {
    let timed: u64 = stats.hist.iter().sum();
    Latency {
        count: stats.count,
        total_ns: stats.total_ns,
        avg_ns: stats.total_ns.checked_div(timed).unwrap_or(0),
        max_ns: stats.max_ns,
        p50_ns: histogram::quantile_bound(&stats.hist, 0.5),
        p99_ns: histogram::quantile_bound(&stats.hist, 0.99),
        histogram: histogram::non_empty(&stats.hist),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_copies_add_up_and_the_max_is_the_largest() {
        let mut a = LatencyStats {
            count: 2,
            errors: 1,
            total_ns: 300,
            max_ns: 200,
            ..LatencyStats::default()
        };
        a.hist[7] = 1;
        a.hist[8] = 1;
        let mut b = LatencyStats {
            count: 1,
            total_ns: 1000,
            max_ns: 1000,
            ..LatencyStats::default()
        };
        b.hist[10] = 1;
        let total = sum([&a, &b]);
        assert_eq!(
            (total.count, total.errors, total.total_ns, total.max_ns),
            (3, 1, 1300, 1000)
        );
        let latency = from_stats(&total);
        assert_eq!(latency.avg_ns, 433);
        assert_eq!(latency.p50_ns, 256);
        assert_eq!(latency.histogram.len(), 3);
    }
}
