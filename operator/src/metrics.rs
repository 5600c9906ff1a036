//! The operator's Prometheus metrics, one registry, every name prefixed `tracejob_`.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::job_metrics::JobSeries;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    /// `written` or `failed`.
    pub outcome: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub reconciles: Counter,
    pub failures: Family<FailureLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub job_events: Family<JobLabels, Gauge>,
    pub job_lost_events: Family<JobLabels, Gauge>,
    pub leader: Gauge,
    pub artifact_writes: Family<WriteLabels, Counter>,
    pub artifact_bytes: Counter,
    /// What each job counts, per key and per pod (see [`crate::job_metrics`]).
    pub jobs: Arc<JobSeries>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tracejob");
        let reconciles = Counter::default();
        registry.register(
            "reconciles",
            "Reconciliations of TraceJobs",
            reconciles.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "reconcile_failures",
            "Failed reconciliations by reason",
            failures.clone(),
        );
        let reconcile_duration = Histogram::new([0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]);
        registry.register(
            "reconcile_duration_seconds",
            "How long one reconciliation took",
            reconcile_duration.clone(),
        );
        let job_events = Family::<JobLabels, Gauge>::default();
        registry.register(
            "job_events",
            "Events a TraceJob captured so far",
            job_events.clone(),
        );
        let job_lost_events = Family::<JobLabels, Gauge>::default();
        registry.register(
            "job_lost_events",
            "Events a TraceJob lost so far, anywhere between kernel and status",
            job_lost_events.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        let artifact_writes = Family::<WriteLabels, Counter>::default();
        registry.register(
            "artifact_writes",
            "Attempts to write a job's artifacts to object storage, by outcome",
            artifact_writes.clone(),
        );
        let artifact_bytes = Counter::default();
        registry.register(
            "artifact_bytes",
            "Bytes of artifacts written to object storage",
            artifact_bytes.clone(),
        );
        let jobs = Arc::new(JobSeries::default());
        registry.register_collector(Box::new(jobs.clone()));
        Metrics {
            registry,
            jobs,
            artifact_writes,
            artifact_bytes,
            reconciles,
            failures,
            reconcile_duration,
            job_events,
            job_lost_events,
            leader,
        }
    }
}

/// Observes a reconciliation's duration when dropped.
#[derive(Debug)]
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    started: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .reconcile_duration
            .observe(self.started.elapsed().as_secs_f64());
    }
}

impl Metrics {
    pub fn reconcile_started(&self) -> ReconcileTimer<'_> {
        self.reconciles.inc();
        ReconcileTimer {
            metrics: self,
            started: Instant::now(),
        }
    }

    pub fn reconcile_failed(&self, reason: &str) {
        self.failures
            .get_or_create(&FailureLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn set_job_counts(&self, namespace: &str, name: &str, events: u64, lost: u64) {
        let labels = job_labels(namespace, name);
        self.job_events.get_or_create(&labels).set(saturate(events));
        self.job_lost_events
            .get_or_create(&labels)
            .set(saturate(lost));
    }

    /// One attempt to write artifacts; `bytes` of a successful one.
    pub fn artifacts_written(&self, written: bool, bytes: u64) {
        let outcome = if written { "written" } else { "failed" };
        self.artifact_writes
            .get_or_create(&WriteLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
        self.artifact_bytes.inc_by(bytes);
    }

    pub fn forget_job(&self, namespace: &str, name: &str) {
        let labels = job_labels(namespace, name);
        self.job_events.remove(&labels);
        self.job_lost_events.remove(&labels);
        self.jobs.forget(namespace, name);
    }

    /// The registry in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn job_labels(namespace: &str, name: &str) -> JobLabels {
    JobLabels {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

fn saturate(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_prefixed_and_job_counts_are_exported() {
        let metrics = Metrics::default();
        drop(metrics.reconcile_started());
        metrics.reconcile_failed("agent");
        metrics.set_job_counts("shop", "slow-io", 12, 3);
        metrics.artifacts_written(false, 0);
        metrics.artifacts_written(true, 4096);
        let text = metrics.encode();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            assert!(line.starts_with("tracejob_"), "unprefixed metric: {line}");
        }
        assert!(
            text.contains("tracejob_job_events{namespace=\"shop\",name=\"slow-io\"} 12"),
            "{text}"
        );
        assert!(
            text.contains("tracejob_reconcile_failures_total{reason=\"agent\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tracejob_artifact_writes_total{outcome=\"failed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tracejob_artifact_bytes_total 4096"),
            "{text}"
        );
        metrics.forget_job("shop", "slow-io");
        assert!(!metrics.encode().contains("slow-io"));
    }
}
