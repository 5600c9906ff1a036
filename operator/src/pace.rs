//! Pacing a job's status: a node's new counts ask for a reconcile of the job at once, but
//! one job's status is written at most once per interval (`--status-interval-ms`, 1 s by
//! default), however often its nodes report.
//!
//! Bounded: one small entry per job that has reported, removed when the job is forgotten;
//! at most one delayed request per job is waiting at any time.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracejob_api::TraceJob;

use crate::agents::JobId;

/// The default of [`crate::Settings::status_interval`].
pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// Reconcile requests waiting for the controller; beyond this they are dropped (the job's
/// next poll catches up).
const QUEUED_REQUESTS: usize = 1024;

#[derive(Debug, Default)]
struct JobPace {
    last_write: Option<Instant>,
    last_request: Option<Instant>,
    /// A delayed request is waiting to be sent.
    pending: bool,
    /// Since when a write is held for the first counts of newly applied targets.
    held_since: Option<Instant>,
    /// The new pods whose first counts the held write waits for.
    awaited: BTreeSet<String>,
}

/// Which pods the nodes' latest results have counted events of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    pods: BTreeSet<String>,
    /// Some result counts events but not per pod (a tool that aggregates in the kernel):
    /// a pod's first counts cannot be told apart, any counts release a held write.
    per_pod: bool,
}

impl Counted {
    pub fn of(results: &[crate::agents::NodeResult]) -> Self {
        Counted {
            pods: results
                .iter()
                .flat_map(|r| &r.pods)
                .filter(|p| p.events > 0)
                .filter_map(|p| p.pod.clone())
                .collect(),
            per_pod: !results.iter().any(|r| r.events > 0 && r.pods.is_empty()),
        }
    }

    pub fn has(&self, pod: &str) -> bool {
        self.pods.contains(pod)
    }
}

/// Whether the job's status waits for new pods' first counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// Nothing is held: the interval alone paces the write.
    No,
    /// At most this long more.
    For(Duration),
    /// The awaited pods were just counted: the held write goes out now, whatever the
    /// interval (one write per change of targets, on top of the paced ones).
    Released,
}

#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    jobs: Mutex<HashMap<String, JobPace>>,
    requests: mpsc::Sender<ObjectRef<TraceJob>>,
    receiver: Mutex<Option<mpsc::Receiver<ObjectRef<TraceJob>>>>,
}

impl Pace {
    pub fn new(interval: Duration) -> Self {
        let (requests, receiver) = mpsc::channel(QUEUED_REQUESTS);
        Pace {
            interval,
            jobs: Mutex::default(),
            requests,
            receiver: Mutex::new(Some(receiver)),
        }
    }

    fn jobs(&self) -> MutexGuard<'_, HashMap<String, JobPace>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The jobs to reconcile because their counts changed; the controller takes them once.
    pub fn take_requests(&self) -> Option<mpsc::Receiver<ObjectRef<TraceJob>>> {
        self.receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// A node's result for the job changed: asks for a reconcile now, or, if the job was
    /// written or asked for less than an interval ago, once the interval is up (one request
    /// stands for every change until then).
    pub fn request(self: &Arc<Self>, job: &JobId) {
        let now = Instant::now();
        let wait = {
            let mut jobs = self.jobs();
            let pace = jobs.entry(job.uid.clone()).or_default();
            if pace.held_since.is_some() {
                // A write held for new targets waits for their first counts: these may be
                // them. Asked at once; the write itself still keeps to the interval.
                pace.last_request = Some(now);
                Duration::ZERO
            } else if pace.pending {
                return;
            } else {
                let ready_at = [pace.last_write, pace.last_request]
                    .into_iter()
                    .flatten()
                    .max()
                    .map_or(now, |last| last + self.interval);
                let wait = ready_at.saturating_duration_since(now);
                if wait.is_zero() {
                    pace.last_request = Some(now);
                } else {
                    pace.pending = true;
                }
                wait
            }
        };
        if wait.is_zero() {
            self.send(job);
            return;
        }
        let pace = self.clone();
        let job = job.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let still_known = match pace.jobs().get_mut(&job.uid) {
                Some(entry) => {
                    entry.pending = false;
                    entry.last_request = Some(Instant::now());
                    true
                }
                None => false,
            };
            if still_known {
                pace.send(&job);
            }
        });
    }

    fn send(&self, job: &JobId) {
        let object = ObjectRef::new(&job.name).within(&job.namespace);
        if let Err(error) = self.requests.try_send(object) {
            tracing::debug!(job = %job.name, %error, "a reconcile request was dropped");
        }
    }

    /// How long until the job's status may be written again (`None`: now).
    pub fn too_soon(&self, uid: &str) -> Option<Duration> {
        let last = self.jobs().get(uid)?.last_write?;
        let wait = (last + self.interval).saturating_duration_since(Instant::now());
        (!wait.is_zero()).then_some(wait)
    }

    /// The job's targets just changed on some node: how long its status may wait for the
    /// first counts of `pods` (the new ones not counted yet), so that both go out in one
    /// write (the interval at most, counted from the first change not yet written; `None`:
    /// write now).
    pub fn hold(&self, uid: &str, pods: impl IntoIterator<Item = String>) -> Option<Duration> {
        let mut jobs = self.jobs();
        let pace = jobs.entry(uid.to_owned()).or_default();
        let since = *pace.held_since.get_or_insert_with(Instant::now);
        pace.awaited.extend(pods);
        let wait = (since + self.interval).saturating_duration_since(Instant::now());
        (!wait.is_zero()).then_some(wait)
    }

    /// A later look at a held write: still waiting while some awaited pod has no counts
    /// (and the interval since the hold is not up), released once all have.
    pub fn held(&self, uid: &str, counted: &Counted) -> Held {
        let mut jobs = self.jobs();
        let Some(pace) = jobs.get_mut(uid) else {
            return Held::No;
        };
        let Some(since) = pace.held_since else {
            return Held::No;
        };
        if pace.awaited.is_empty() {
            return Held::No;
        }
        if !counted.per_pod {
            pace.awaited.clear();
            return Held::Released;
        }
        pace.awaited.retain(|pod| !counted.has(pod));
        if pace.awaited.is_empty() {
            return Held::Released;
        }
        let wait = (since + self.interval).saturating_duration_since(Instant::now());
        if wait.is_zero() {
            pace.awaited.clear();
            Held::No
        } else {
            Held::For(wait)
        }
    }

    /// The job's status was just written.
    pub fn wrote(&self, uid: &str) {
        let mut jobs = self.jobs();
        let pace = jobs.entry(uid.to_owned()).or_default();
        pace.last_write = Some(Instant::now());
        pace.held_since = None;
        pace.awaited.clear();
    }

    pub fn forget(&self, uid: &str) {
        self.jobs().remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobId {
        JobId {
            namespace: "shop".into(),
            name: "slow-io".into(),
            uid: "uid-1".into(),
        }
    }

    const INTERVAL: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn many_changes_within_an_interval_ask_for_one_reconcile_after_the_first() {
        let pace = Arc::new(Pace::new(INTERVAL));
        let mut requests = pace.take_requests().expect("the receiver");
        let started = Instant::now();
        for _ in 0..50 {
            pace.request(&job());
        }
        let first = requests.recv().await.expect("a request");
        assert_eq!(
            (first.name.as_str(), first.namespace.as_deref()),
            ("slow-io", Some("shop"))
        );
        assert!(
            requests.try_recv().is_err(),
            "the rest wait for the interval"
        );
        requests.recv().await.expect("one delayed request");
        assert!(started.elapsed() >= INTERVAL);
        assert!(
            requests.try_recv().is_err(),
            "one request stands for all of them"
        );
        assert!(!pace.jobs()["uid-1"].pending);
    }

    #[tokio::test]
    async fn a_status_written_a_moment_ago_is_not_written_again_before_the_interval() {
        let pace = Pace::new(INTERVAL);
        assert_eq!(pace.too_soon("uid-1"), None);
        pace.wrote("uid-1");
        let wait = pace.too_soon("uid-1").expect("too soon");
        assert!(wait <= INTERVAL);
        tokio::time::sleep(wait).await;
        assert_eq!(pace.too_soon("uid-1"), None);
        pace.forget("uid-1");
        assert!(pace.jobs().is_empty());
    }

    #[tokio::test]
    async fn a_change_while_a_write_is_held_for_new_targets_asks_for_a_reconcile_at_once() {
        let pace = Arc::new(Pace::new(Duration::from_secs(3600)));
        let mut requests = pace.take_requests().expect("the receiver");
        pace.request(&job());
        requests.recv().await.expect("the first request");
        pace.request(&job());
        assert!(
            requests.try_recv().is_err(),
            "the next waits for the interval"
        );
        pace.hold("uid-1", []);
        pace.request(&job());
        assert!(
            requests.try_recv().is_ok(),
            "the first counts of new targets are asked for at once"
        );
    }

    #[tokio::test]
    async fn a_write_held_for_new_targets_waits_one_interval_at_most() {
        let pace = Pace::new(INTERVAL);
        let first = pace.hold("uid-1", []).expect("held");
        assert!(first <= INTERVAL);
        tokio::time::sleep(first).await;
        assert_eq!(
            pace.hold("uid-1", []),
            None,
            "held long enough: written now"
        );
        pace.wrote("uid-1");
        assert!(
            pace.hold("uid-1", []).is_some(),
            "the next change is held afresh"
        );
    }

    fn result(events: u64, pods: &[(&str, u64)]) -> crate::agents::NodeResult {
        crate::agents::NodeResult {
            events,
            pods: pods
                .iter()
                .map(|&(pod, events)| tracejob_api::event::PodEvents {
                    namespace: "shop".into(),
                    pod: Some(pod.into()),
                    container: Some("c".into()),
                    events,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_held_write_waits_for_the_new_pods_first_counts_not_for_any_counts() {
        // The write for a new pod waited for the next counts, which other pods' events
        // sent first; the pod's own counts then waited out a whole interval after it.
        let pace = Pace::new(Duration::from_secs(3600));
        pace.hold("uid-1", ["new".to_owned()]).expect("held");
        let others_only = Counted::of(&[result(5, &[("old", 5)])]);
        assert!(matches!(pace.held("uid-1", &others_only), Held::For(_)));
        pace.wrote("uid-1");
        assert_eq!(
            pace.held("uid-1", &others_only),
            Held::No,
            "written: nothing held"
        );

        pace.hold("uid-1", ["new".to_owned()]);
        let with_new = Counted::of(&[result(6, &[("old", 5), ("new", 1)])]);
        assert_eq!(pace.held("uid-1", &with_new), Held::Released);
        assert_eq!(pace.held("uid-1", &with_new), Held::No, "released once");
    }

    #[test]
    fn counts_that_are_not_per_pod_release_a_held_write() {
        let pace = Pace::new(Duration::from_secs(3600));
        pace.hold("uid-1", ["new".to_owned()]);
        let aggregated = Counted::of(&[result(9, &[])]);
        assert_eq!(pace.held("uid-1", &aggregated), Held::Released);
    }

    #[tokio::test]
    async fn a_pod_that_is_never_counted_is_waited_for_one_interval_at_most() {
        let pace = Pace::new(INTERVAL);
        let first = pace.hold("uid-1", ["quiet".to_owned()]).expect("held");
        tokio::time::sleep(first).await;
        assert_eq!(pace.held("uid-1", &Counted::of(&[])), Held::No);
    }
}
