//! What TraceJobs count, as Prometheus series beside the services they trace: per key
//! (syscall, executable, path, peer, device) and per pod, labelled with the job's namespace
//! and name. A standing job is a tracing policy; this is where its counts reach dashboards.
//!
//! Cardinality is bounded per job, whatever the workload does:
//! - keys: the status summary's top keys (at most [`MAX_SUMMARY_ROWS`]); the rest are one
//!   `tracejob_job_other_keys_events_total` series and a count of how many keys it folds;
//! - latency histograms: the [`MAX_LATENCY_KEYS`] busiest keys that have one, 25 buckets each;
//! - pods: the [`MAX_PODS`] busiest (event tools only; in-kernel aggregators count no pods);
//!   the rest, and events no pod could be named for, are one `..._other_pods_events_total`.
//!
//! The folded series are separate metrics, not a reserved label value, so no tenant's key
//! can collide with them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
    NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use tracejob_api::event::PodEvents;
use tracejob_api::status::{HISTOGRAM_BUCKETS, MAX_SUMMARY_ROWS};
use tracejob_api::{Summary, SummaryRow};

/// Latency histograms are exported for at most this many keys per job.
pub const MAX_LATENCY_KEYS: usize = 5;
/// Per-pod series are exported for at most this many pods per job.
pub const MAX_PODS: usize = 20;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    namespace: String,
    name: String,
    tool: String,
}

/// A label value a tenant controls (an executable's or a file's path): escaped as the text
/// format requires, since the encoder writes values as they are and a quote or a newline in
/// a name would end its sample and start another (or break the whole scrape).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Escaped(String);

impl EncodeLabelValue for Escaped {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    namespace: String,
    name: String,
    tool: String,
    key: Escaped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PodLabels {
    namespace: String,
    name: String,
    tool: String,
    pod: Escaped,
}

/// One job's latest counts.
#[derive(Clone, Debug, Default, PartialEq)]
struct JobCounts {
    tool: String,
    keys: Vec<SummaryRow>,
    other_keys: u64,
    other_keys_events: u64,
    /// Busiest first, at most [`MAX_PODS`].
    pods: Vec<(String, u64)>,
    other_pods_events: u64,
}

/// Every job's counts, encoded on each scrape.
#[derive(Debug, Default)]
pub struct JobSeries {
    jobs: Mutex<BTreeMap<(String, String), JobCounts>>,
}

impl JobSeries {
    /// The job's per-key counts, from the summary its status carries.
    pub fn set_keys(&self, namespace: &str, name: &str, tool: &str, summary: Option<&Summary>) {
        let mut jobs = self.lock();
        let job = jobs
            .entry((namespace.to_owned(), name.to_owned()))
            .or_default();
        job.tool = tool.to_owned();
        let summary = summary.cloned().unwrap_or_default();
        job.keys = summary.top;
        job.keys.truncate(MAX_SUMMARY_ROWS);
        job.other_keys = summary.other_keys;
        job.other_keys_events = summary.other_count;
    }

    /// The job's per-pod counts, from every node's current results.
    pub fn set_pods<'a>(
        &self,
        namespace: &str,
        name: &str,
        per_node: impl IntoIterator<Item = &'a [PodEvents]>,
    ) {
        let mut by_pod: BTreeMap<String, u64> = BTreeMap::new();
        let mut unnamed = 0u64;
        for pod in per_node.into_iter().flatten() {
            match &pod.pod {
                Some(name) => *by_pod.entry(name.clone()).or_default() += pod.events,
                None => unnamed += pod.events,
            }
        }
        let mut pods: Vec<(String, u64)> = by_pod.into_iter().collect();
        pods.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let rest = pods.split_off(pods.len().min(MAX_PODS));
        let mut jobs = self.lock();
        let job = jobs
            .entry((namespace.to_owned(), name.to_owned()))
            .or_default();
        job.pods = pods;
        job.other_pods_events = unnamed + rest.iter().map(|(_, n)| n).sum::<u64>();
    }

    /// The job is gone: its series go with it.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.lock().remove(&(namespace.to_owned(), name.to_owned()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), JobCounts>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Collector for JobSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A copy, so a slow scrape never holds up a reconcile.
        let jobs = self.lock().clone();
        let key = |(namespace, name): &(String, String), job: &JobCounts, key: &str| KeyLabels {
            namespace: namespace.clone(),
            name: name.clone(),
            tool: job.tool.clone(),
            key: Escaped(key.to_owned()),
        };
        let whole = |(namespace, name): &(String, String), job: &JobCounts| JobLabels {
            namespace: namespace.clone(),
            name: name.clone(),
            tool: job.tool.clone(),
        };

        counters(
            &mut encoder,
            "job_key_events",
            "Events per key (syscall, executable, path, peer, device) of a TraceJob's top keys",
            jobs.iter().flat_map(|(id, job)| {
                job.keys
                    .iter()
                    .map(move |r| (key(id, job, &r.key), r.count))
            }),
        )?;
        counters(
            &mut encoder,
            "job_key_errors",
            "Failed calls per key of a TraceJob's top keys (syscalls, opens, execs)",
            jobs.iter().flat_map(|(id, job)| {
                let failing = job.keys.iter().filter(|r| r.errors > 0);
                failing.map(move |r| (key(id, job, &r.key), r.errors))
            }),
        )?;
        counters(
            &mut encoder,
            "job_other_keys_events",
            "Events of a TraceJob's keys beyond its top keys, summed",
            jobs.iter()
                .map(|(id, job)| (whole(id, job), job.other_keys_events)),
        )?;
        let mut family = encoder.encode_descriptor(
            "job_other_keys",
            "How many keys a TraceJob's other_keys series folds",
            None,
            MetricType::Gauge,
        )?;
        for (id, job) in &jobs {
            let keys = i64::try_from(job.other_keys).unwrap_or(i64::MAX);
            ConstGauge::new(keys).encode(family.encode_family(&whole(id, job))?)?;
        }
        let mut family = encoder.encode_descriptor(
            "job_key_latency_seconds",
            "Latency per key of a TraceJob's busiest keys (_sum estimated from bucket midpoints)",
            None,
            MetricType::Histogram,
        )?;
        for (id, job) in &jobs {
            let timed = job
                .keys
                .iter()
                .filter(|r| r.latency_us_log2.iter().any(|&n| n > 0));
            for row in timed.take(MAX_LATENCY_KEYS) {
                let (sum, count, buckets) = histogram(&row.latency_us_log2);
                family
                    .encode_family(&key(id, job, &row.key))?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        counters(
            &mut encoder,
            "job_pod_events",
            "Events per pod of a TraceJob's busiest pods (event tools)",
            jobs.iter().flat_map(|((namespace, name), job)| {
                job.pods.iter().map(move |(pod, events)| {
                    let labels = PodLabels {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        tool: job.tool.clone(),
                        pod: Escaped(pod.clone()),
                    };
                    (labels, *events)
                })
            }),
        )?;
        counters(
            &mut encoder,
            "job_other_pods_events",
            "Events of a TraceJob's pods beyond its busiest, and of cgroups no pod was named for",
            jobs.iter()
                .map(|(id, job)| (whole(id, job), job.other_pods_events)),
        )?;
        Ok(())
    }
}

/// One counter family: its descriptor, then one sample per labels and value.
fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One µs in the agents' histograms is 1024 ns (they shift nanoseconds by 10).
const MICROSECOND: f64 = 1024e-9;

/// A status histogram (bucket 0: under 1 µs; bucket `i`: `[2^(i-1), 2^i)` µs; the last:
/// everything above) as Prometheus buckets in seconds, with the count and an estimated sum
/// (the kernel keeps no exact one: each bucket counts at its midpoint, the last at its floor).
fn histogram(log2: &[u64]) -> (f64, u64, Vec<(f64, u64)>) {
    let mut buckets = Vec::with_capacity(HISTOGRAM_BUCKETS);
    let mut sum = 0.0;
    let last = HISTOGRAM_BUCKETS - 1;
    for i in 0..HISTOGRAM_BUCKETS {
        let n = log2.get(i).copied().unwrap_or(0);
        let upper = MICROSECOND * f64::from(1u32 << i);
        let lower = if i == 0 { 0.0 } else { upper / 2.0 };
        if i == last {
            sum += n as f64 * lower;
            buckets.push((f64::MAX, n));
        } else {
            sum += n as f64 * (lower + upper) / 2.0;
            buckets.push((upper, n));
        }
    }
    let count = log2.iter().take(HISTOGRAM_BUCKETS).sum();
    (sum, count, buckets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    fn row(key: &str, count: u64, errors: u64, latency: &[u64]) -> SummaryRow {
        SummaryRow {
            key: key.into(),
            count,
            errors,
            latency_us_log2: latency.to_vec(),
        }
    }

    fn pod(name: Option<&str>, events: u64) -> PodEvents {
        PodEvents {
            namespace: "shop".into(),
            pod: name.map(str::to_owned),
            container: Some("app".into()),
            events,
        }
    }

    fn scrape(series: JobSeries) -> (String, std::sync::Arc<JobSeries>) {
        let series = std::sync::Arc::new(series);
        let mut registry = Registry::with_prefix("tracejob");
        registry.register_collector(Box::new(series.clone()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        (text, series)
    }

    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn keys_pods_and_the_folded_rest_are_exported_with_exact_values() {
        let series = JobSeries::default();
        let summary = Summary {
            top: vec![row("/bin/true", 25, 0, &[]), row("/bin/nope", 3, 3, &[])],
            other_keys: 7,
            other_count: 9,
        };
        series.set_keys("shop", "execs", "exec", Some(&summary));
        let per_node = [
            vec![pod(Some("web-1"), 20), pod(None, 2)],
            vec![pod(Some("web-1"), 5), pod(Some("web-2"), 10)],
        ];
        series.set_pods("shop", "execs", per_node.iter().map(Vec::as_slice));
        let (text, _) = scrape(series);
        let lines = samples(&text);
        for expected in [
            r#"tracejob_job_key_events_total{namespace="shop",name="execs",tool="exec",key="/bin/true"} 25"#,
            r#"tracejob_job_key_events_total{namespace="shop",name="execs",tool="exec",key="/bin/nope"} 3"#,
            r#"tracejob_job_key_errors_total{namespace="shop",name="execs",tool="exec",key="/bin/nope"} 3"#,
            r#"tracejob_job_other_keys_events_total{namespace="shop",name="execs",tool="exec"} 9"#,
            r#"tracejob_job_other_keys{namespace="shop",name="execs",tool="exec"} 7"#,
            r#"tracejob_job_pod_events_total{namespace="shop",name="execs",tool="exec",pod="web-1"} 25"#,
            r#"tracejob_job_pod_events_total{namespace="shop",name="execs",tool="exec",pod="web-2"} 10"#,
            r#"tracejob_job_other_pods_events_total{namespace="shop",name="execs",tool="exec"} 2"#,
        ] {
            assert!(lines.contains(&expected), "missing {expected} in\n{text}");
        }
        let errors_of_true = r#"tracejob_job_key_errors_total{namespace="shop",name="execs",tool="exec",key="/bin/true"}"#;
        assert!(
            !text.contains(errors_of_true),
            "a key without errors has no error series:\n{text}"
        );
    }

    #[test]
    fn a_key_with_quotes_and_newlines_cannot_end_its_sample_or_add_one() {
        let series = JobSeries::default();
        let hostile = "/tmp/x\"} 1\nfake_metric 9\\";
        let summary = Summary {
            top: vec![row(hostile, 4, 0, &[])],
            ..Summary::default()
        };
        series.set_keys("shop", "execs", "exec", Some(&summary));
        let (text, _) = scrape(series);
        let escaped = r#"tracejob_job_key_events_total{namespace="shop",name="execs",tool="exec",key="/tmp/x\"} 1\nfake_metric 9\\"} 4"#;
        assert!(samples(&text).contains(&escaped), "{text}");
        assert!(
            !text.lines().any(|l| l.starts_with("fake_metric")),
            "a key added a sample:\n{text}"
        );
    }

    #[test]
    fn whatever_the_workload_each_job_exports_a_bounded_number_of_series() {
        let series = JobSeries::default();
        let full = vec![1u64; HISTOGRAM_BUCKETS];
        let summary = Summary {
            top: (0..MAX_SUMMARY_ROWS + 50)
                .map(|i| row(&format!("key-{i}"), 100, 1, &full))
                .collect(),
            other_keys: 1_000_000,
            other_count: 5,
        };
        series.set_keys("shop", "wide", "syscalls", Some(&summary));
        let pods: Vec<PodEvents> = (0..10_000)
            .map(|i| pod(Some(&format!("pod-{i}")), 1 + i as u64))
            .collect();
        series.set_pods("shop", "wide", [pods.as_slice()]);
        let (text, _) = scrape(series);
        let count = |prefix: &str| {
            samples(&text)
                .iter()
                .filter(|l| l.starts_with(prefix))
                .count()
        };
        assert_eq!(count("tracejob_job_key_events_total{"), MAX_SUMMARY_ROWS);
        assert_eq!(count("tracejob_job_key_errors_total{"), MAX_SUMMARY_ROWS);
        assert_eq!(
            count("tracejob_job_key_latency_seconds_bucket{"),
            MAX_LATENCY_KEYS * HISTOGRAM_BUCKETS
        );
        assert_eq!(count("tracejob_job_pod_events_total{"), MAX_PODS);
        // The busiest pods are kept; the rest add up in one series.
        assert!(samples(&text).contains(&r#"tracejob_job_pod_events_total{namespace="shop",name="wide",tool="syscalls",pod="pod-9999"} 10000"#));
        let kept: u64 = (9980..10_000).map(|i| 1 + i as u64).sum();
        let all: u64 = (0..10_000).map(|i| 1 + i as u64).sum();
        let other = format!(
            r#"tracejob_job_other_pods_events_total{{namespace="shop",name="wide",tool="syscalls"}} {}"#,
            all - kept
        );
        assert!(samples(&text).contains(&other.as_str()), "{other}");
    }

    #[test]
    fn a_histogram_is_cumulative_in_seconds_and_a_forgotten_job_leaves_no_series() {
        let series = JobSeries::default();
        let mut latency = vec![0u64; HISTOGRAM_BUCKETS];
        latency[0] = 2; // under 1 µs
        latency[3] = 5; // [4, 8) µs
        latency[HISTOGRAM_BUCKETS - 1] = 1; // over 4 s
        let summary = Summary {
            top: vec![row("read", 8, 0, &latency)],
            ..Summary::default()
        };
        series.set_keys("shop", "reads", "syscalls", Some(&summary));
        let (text, series) = scrape(series);
        let lines = samples(&text);
        let bucket = |le: &str, n: u64| {
            // The encoder puts `le` first.
            format!(
                r#"tracejob_job_key_latency_seconds_bucket{{le="{le}",namespace="shop",name="reads",tool="syscalls",key="read"}} {n}"#
            )
        };
        for line in [
            bucket("0.000001024", 2),
            bucket("0.000004096", 2),
            bucket("0.000008192", 7),
            bucket("+Inf", 8),
            r#"tracejob_job_key_latency_seconds_count{namespace="shop",name="reads",tool="syscalls",key="read"} 8"#.to_owned(),
        ] {
            assert!(lines.contains(&line.as_str()), "missing {line} in\n{text}");
        }
        series.forget("shop", "reads");
        let mut registry = Registry::with_prefix("tracejob");
        registry.register_collector(Box::new(series));
        let mut after = String::new();
        prometheus_client::encoding::text::encode(&mut after, &registry).expect("encodes");
        assert!(!after.contains("reads"), "{after}");
    }

    #[test]
    fn every_metric_the_example_dashboard_queries_is_exported() {
        let dashboard = include_str!("../../charts/tracejob/dashboards/tracejob-jobs.json");
        let metrics = crate::metrics::Metrics::default();
        metrics.set_job_counts("shop", "execs", 1, 0);
        let mut latency = vec![0; HISTOGRAM_BUCKETS];
        latency[1] = 1;
        let summary = Summary {
            top: vec![row("read", 1, 1, &latency)],
            other_keys: 1,
            other_count: 1,
        };
        metrics
            .jobs
            .set_keys("shop", "execs", "syscalls", Some(&summary));
        metrics
            .jobs
            .set_pods("shop", "execs", [[pod(Some("web-1"), 1)].as_slice()]);
        let text = metrics.encode();
        let exported: Vec<&str> = samples(&text)
            .iter()
            .filter_map(|l| l.split(['{', ' ']).next())
            .collect();
        let queried: Vec<&str> = dashboard
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("tracejob_"))
            .collect();
        assert!(queried.len() >= 6, "{queried:?}");
        for name in queried {
            assert!(
                exported.contains(&name),
                "the dashboard queries {name}, never exported"
            );
        }
    }
}
