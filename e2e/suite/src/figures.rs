//! Measurements the suite takes, written as JSON for e2e/run.sh to merge into
//! e2e/results/figures.json.

use std::time::Duration;

/// The median of the samples (upper median for an even count).
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// Records a figure under `name` in `$TRACEJOB_E2E_FIGURES` (if set) and prints it.
pub fn record(name: &str, samples: &[Duration]) {
    let median = median(samples);
    let ms: Vec<u128> = samples.iter().map(Duration::as_millis).collect();
    println!(
        "figure {name}: median {} ms over {} runs {ms:?}",
        median.as_millis(),
        ms.len()
    );
    let Ok(path) = std::env::var("TRACEJOB_E2E_FIGURES") else {
        return;
    };
    let mut all: serde_json::Map<String, serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    all.insert(
        name.to_owned(),
        serde_json::json!({"median_ms": median.as_millis() as u64, "runs": ms.len(), "samples_ms": ms}),
    );
    let text = serde_json::to_string_pretty(&all).expect("figures serialize");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_sample_whatever_the_order() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(median(&ms(&[30, 10, 20])), Duration::from_millis(20));
        assert_eq!(median(&ms(&[40, 10, 30, 20])), Duration::from_millis(30));
        assert_eq!(median(&[]), Duration::ZERO);
    }
}
