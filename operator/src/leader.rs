//! Leader election through a `coordination.k8s.io/v1` Lease, so two replicas never both act.
//!
//! It follows client-go's leaderelection:
//! - every write is a compare-and-swap on the Lease's resourceVersion: of two replicas racing
//!   for an expired lease, the API server lets exactly one write win;
//! - expiry is judged on this replica's own clock, from when it last saw the lease record
//!   change, never by comparing another replica's `renewTime` with the local clock (clocks
//!   skew; a holder whose clock runs behind would otherwise lose its lease to every peer);
//! - every call to the API server has a timeout, and the leader stops acting once it has not
//!   renewed for the renew deadline, which is shorter than the lease: it has stepped down
//!   before any peer can judge the lease expired.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::time::Instant;

/// How long a lease lasts, how long a leader keeps trying to renew, and how often it tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long peers wait, after the lease record last changed, before taking it.
    pub lease: Duration,
    /// A leader that has not renewed for this long steps down; shorter than `lease`.
    pub renew_deadline: Duration,
    /// Time between attempts, and the most any one call to the API server may take while
    /// acquiring (a renewal may take what is left of the renew deadline).
    pub retry: Duration,
}

impl LeaseTiming {
    /// client-go's proportions: 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn for_lease(lease: Duration) -> Self {
        LeaseTiming {
            lease,
            renew_deadline: lease * 2 / 3,
            retry: lease * 2 / 15,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("the API server did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Api(#[from] kube::Error),
}

/// The parts of a lease record whose change shows that its holder is alive.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    acquire_time: Option<MicroTime>,
    transitions: Option<i32>,
    duration_seconds: Option<i32>,
}

impl Record {
    fn of(spec: &LeaseSpec) -> Self {
        Record {
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            renew_time: spec.renew_time.clone(),
            acquire_time: spec.acquire_time.clone(),
            transitions: spec.lease_transitions,
            duration_seconds: spec.lease_duration_seconds,
        }
    }

    /// The lease duration the holder asked for (peers must honour the holder's, not theirs).
    fn duration(&self, fallback: Duration) -> Duration {
        self.duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(fallback, Duration::from_secs)
    }
}

/// The record as last seen, and when (on this replica's clock) it was first seen so.
#[derive(Debug)]
struct Observed {
    record: Record,
    at: Instant,
}

#[derive(Debug)]
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
    observed: Mutex<Option<Observed>>,
}

impl LeaseLock {
    /// A lock with client-go's proportions for this lease duration.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        lease: Duration,
    ) -> Self {
        Self::with_timing(
            client,
            namespace,
            name,
            identity,
            LeaseTiming::for_lease(lease),
        )
    }

    pub fn with_timing(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timing: LeaseTiming,
    ) -> Self {
        LeaseLock {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            timing,
            observed: Mutex::new(None),
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// Takes the lease if it is free, expired (unchanged for a whole lease duration as this
    /// replica saw it) or already ours (renewing it); `false` when another replica holds it
    /// or won the race. Each call to the API server may take at most the retry period.
    pub async fn try_acquire(&self) -> Result<bool, LeaseError> {
        self.acquire_or_renew(None).await
    }

    /// [`LeaseLock::try_acquire`], with every call to the API server ending by `until` when
    /// given: a renewal may be slow (a busy API server, a saturated node) as long as it lands
    /// before the renew deadline.
    async fn acquire_or_renew(&self, until: Option<Instant>) -> Result<bool, LeaseError> {
        let existing = self.call(self.api.get_opt(&self.name), until).await?;
        let now = Timestamp::now();
        let seconds = i32::try_from(self.timing.lease.as_secs()).unwrap_or(i32::MAX);
        let Some(existing) = existing else {
            let spec = LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            };
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec.clone()),
            };
            let won = conflict_is_false(
                self.call(self.api.create(&PostParams::default(), &lease), until)
                    .await,
            )?;
            if won {
                self.observe(Record::of(&spec), true);
            }
            return Ok(won);
        };
        let spec = existing.spec.clone().unwrap_or_default();
        let record = Record::of(&spec);
        let mine = record.holder.as_deref() == Some(self.identity.as_str());
        let seen_for = self.observe(record.clone(), false);
        if record.holder.is_some() && !mine && seen_for < record.duration(self.timing.lease) {
            return Ok(false);
        }
        let mut lease = existing;
        let next = LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(seconds),
            renew_time: Some(MicroTime(now)),
            acquire_time: if mine {
                spec.acquire_time.clone()
            } else {
                Some(MicroTime(now))
            },
            lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!mine)),
            ..spec
        };
        lease.spec = Some(next.clone());
        let won = conflict_is_false(
            self.call(
                self.api.replace(&self.name, &PostParams::default(), &lease),
                until,
            )
            .await,
        )?;
        if won {
            self.observe(Record::of(&next), true);
        }
        Ok(won)
    }

    /// Gives the lease up if this replica holds it, so another can take over at once.
    pub async fn release(&self) -> Result<(), LeaseError> {
        let Some(mut lease) = self.call(self.api.get_opt(&self.name), None).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        conflict_is_false(
            self.call(
                self.api.replace(&self.name, &PostParams::default(), &lease),
                None,
            )
            .await,
        )
        .map(|_| ())
    }

    /// Waits until this replica holds the lease, trying every retry period.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire().await {
                Ok(true) => return,
                Ok(false) => tracing::debug!(lease = %self.name, "another replica leads"),
                Err(error) => {
                    tracing::warn!(%error, lease = %self.name, "failed to take the lease")
                }
            }
            tokio::time::sleep(self.timing.retry).await;
        }
    }

    /// Renews the lease every retry period; returns as soon as another replica took it or it
    /// could not be renewed for the renew deadline: leadership is lost, stop acting at once.
    /// Called right after [`LeaseLock::acquire`] succeeded.
    pub async fn hold(&self) {
        // The last renewal that succeeded, dated from when it was sent (the server may have
        // written it at any moment after that).
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(self.timing.retry).await;
            let sent = Instant::now();
            // A slow answer still counts if it lands before the deadline: cutting each call at
            // the retry period made a busy API server cost the lease (the 500-node fleet run).
            let deadline = renewed + self.timing.renew_deadline;
            match self.acquire_or_renew(Some(deadline)).await {
                Ok(true) => renewed = sent,
                Ok(false) => {
                    tracing::warn!(lease = %self.name, "another replica took the lease");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, lease = %self.name, "failed to renew the lease")
                }
            }
            if renewed.elapsed() + self.timing.retry >= self.timing.renew_deadline {
                // The next attempt could end past the deadline: step down now.
                tracing::warn!(lease = %self.name, "could not renew the lease in time");
                return;
            }
        }
    }

    /// Remembers `record`; returns how long (on this replica's clock) it has been unchanged.
    /// `ours` marks a record this replica just wrote: it counts as new.
    fn observe(&self, record: Record, ours: bool) -> Duration {
        let now = Instant::now();
        let mut observed = self
            .observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match observed.as_ref() {
            Some(seen) if !ours && seen.record == record => now - seen.at,
            _ => {
                *observed = Some(Observed { record, at: now });
                Duration::ZERO
            }
        }
    }

    /// One call to the API server, ending by `until`, else within the retry period.
    async fn call<T>(
        &self,
        request: impl Future<Output = Result<T, kube::Error>>,
        until: Option<Instant>,
    ) -> Result<T, LeaseError> {
        let limit = until.map_or(self.timing.retry, |until| {
            until.saturating_duration_since(Instant::now())
        });
        tokio::time::timeout(limit, request)
            .await
            .map_err(|_| LeaseError::Timeout(limit))?
            .map_err(LeaseError::Api)
    }
}

fn conflict_is_false<T>(result: Result<T, LeaseError>) -> Result<bool, LeaseError> {
    match result {
        Ok(_) => Ok(true),
        Err(LeaseError::Api(kube::Error::Api(status))) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_follows_client_go_proportions() {
        let timing = LeaseTiming::for_lease(Duration::from_secs(15));
        assert_eq!(timing.renew_deadline, Duration::from_secs(10));
        assert_eq!(timing.retry, Duration::from_secs(2));
        assert!(timing.renew_deadline < timing.lease);
    }

    #[test]
    fn a_record_names_its_own_duration_else_ours_applies() {
        let mut record = Record::of(&LeaseSpec::default());
        assert_eq!(
            record.duration(Duration::from_secs(15)),
            Duration::from_secs(15)
        );
        record.duration_seconds = Some(4);
        assert_eq!(
            record.duration(Duration::from_secs(15)),
            Duration::from_secs(4)
        );
        record.duration_seconds = Some(-1);
        assert_eq!(
            record.duration(Duration::from_secs(15)),
            Duration::from_secs(15)
        );
    }
}
