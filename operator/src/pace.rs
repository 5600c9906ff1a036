//! Pacing a job's status: a node's new counts ask for a reconcile of the job at once, but
//! one job's status is written at most once per interval (`--status-interval-ms`, 1 s by
//! default), however often its nodes report.
//!
//! Bounded: one small entry per job that has reported, removed when the job is forgotten;
//! at most one delayed request per job is waiting at any time.

use std::collections::HashMap;
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

    /// The job's targets just changed on some node: how long its status may wait for their
    /// first counts, so that both go out in one write (the interval at most, counted from the
    /// first change not yet written; `None`: write now).
    pub fn hold(&self, uid: &str) -> Option<Duration> {
        let mut jobs = self.jobs();
        let pace = jobs.entry(uid.to_owned()).or_default();
        let since = *pace.held_since.get_or_insert_with(Instant::now);
        let wait = (since + self.interval).saturating_duration_since(Instant::now());
        (!wait.is_zero()).then_some(wait)
    }

    /// The job's status was just written.
    pub fn wrote(&self, uid: &str) {
        let mut jobs = self.jobs();
        let pace = jobs.entry(uid.to_owned()).or_default();
        pace.last_write = Some(Instant::now());
        pace.held_since = None;
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
        pace.hold("uid-1");
        pace.request(&job());
        assert!(
            requests.try_recv().is_ok(),
            "the first counts of new targets are asked for at once"
        );
    }

    #[tokio::test]
    async fn a_write_held_for_new_targets_waits_one_interval_at_most() {
        let pace = Pace::new(INTERVAL);
        let first = pace.hold("uid-1").expect("held");
        assert!(first <= INTERVAL);
        tokio::time::sleep(first).await;
        assert_eq!(pace.hold("uid-1"), None, "held long enough: written now");
        pace.wrote("uid-1");
        assert!(
            pace.hold("uid-1").is_some(),
            "the next change is held afresh"
        );
    }
}
