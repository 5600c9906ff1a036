//! Renewing the leader lease from a thread of its own, with its own runtime and its own
//! connection to the API server. At 500 nodes × 100 jobs the controller kept the shared
//! runtime's workers and its connection busy, renewals queued behind it past their deadline,
//! and the operator gave up a lease nobody else wanted (the fleet run). The OS schedules this
//! thread apart from the controller, so only the API server itself can make a renewal late.

use std::thread::JoinHandle;

use kube::{Client, Config};
use tokio::sync::oneshot;

use crate::leader::{LeaseLock, LeaseTiming};

/// Which lease, and whose.
#[derive(Clone, Debug)]
pub struct LeaseName {
    pub namespace: String,
    pub name: String,
    pub identity: String,
}

/// Renews a lease this replica holds until it is lost or [`Renewer::stop`] is called.
#[derive(Debug)]
pub struct Renewer {
    stop: Option<oneshot::Sender<()>>,
    lost: oneshot::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Renewer {
    /// Starts renewing the lease just acquired; `config` makes the thread's own client.
    pub fn start(config: Config, lease: LeaseName, timing: LeaseTiming) -> std::io::Result<Self> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (lost_tx, lost) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("lease-renewer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let client = match Client::try_from(config) {
                        Ok(client) => client,
                        Err(error) => {
                            tracing::warn!(%error, "cannot make the lease renewer's client");
                            let _ = lost_tx.send(());
                            return;
                        }
                    };
                    let lock = LeaseLock::with_timing(
                        client,
                        &lease.namespace,
                        &lease.name,
                        &lease.identity,
                        timing,
                    );
                    tokio::select! {
                        () = lock.hold() => { let _ = lost_tx.send(()); }
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Renewer {
            stop: Some(stop),
            lost,
            thread: Some(thread),
        })
    }

    /// Resolves once the lease is lost: another replica took it, it could not be renewed
    /// in time, or the renewing thread died.
    pub async fn lost(&mut self) {
        let _ = (&mut self.lost).await;
    }

    /// Stops renewing (so a release that follows is not undone by a late renewal).
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
