//! Latency histograms as BCC prints them: one row per power-of-two bucket with a bar.

use std::io::Write;

use tracejob_engine::latency::Latency;

const BAR_WIDTH: u64 = 40;

pub fn print(out: &mut impl Write, title: &str, latency: &Latency) -> std::io::Result<()> {
    writeln!(
        out,
        "{title}: {} samples, avg {}, p50 < {}, p99 < {}, max {}",
        latency.count,
        human(latency.avg_ns),
        human(latency.p50_ns),
        human(latency.p99_ns),
        human(latency.max_ns)
    )?;
    let peak = latency.histogram.iter().map(|b| b.count).max().unwrap_or(0);
    for bucket in &latency.histogram {
        let low = if bucket.lt_ns <= 1 {
            0
        } else {
            bucket.lt_ns / 2
        };
        let bar = (bucket.count * BAR_WIDTH).div_ceil(peak.max(1)) as usize;
        writeln!(
            out,
            "  {:>10} -> {:<10} : {:<8} |{:<width$}|",
            human(low),
            human(bucket.lt_ns),
            bucket.count,
            "*".repeat(bar),
            width = BAR_WIDTH as usize
        )?;
    }
    Ok(())
}

/// Nanoseconds in the largest unit that keeps them readable.
pub fn human(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}us", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}ms", ns as f64 / 1e6),
        _ => format!("{:.2}s", ns as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_readable_unit() {
        assert_eq!(human(999), "999ns");
        assert_eq!(human(1_500), "1.5us");
        assert_eq!(human(2_000_000), "2.0ms");
        assert_eq!(human(3_000_000_000), "3.00s");
    }
}
