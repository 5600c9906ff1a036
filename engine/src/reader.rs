//! The ring-buffer reader: one thread per job that sleeps in poll(2) until the kernel
//! wakes it (batched: see `submit_event` in common.bpf.h) or a short timer drains what
//! is waiting, decodes records, counts them per key and hands them to the consumer
//! through a bounded queue. A full queue drops the event and counts it as lost.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aya::maps::{MapData, RingBuf};

use crate::aggregate::KeyedCounts;
use crate::records::{Clock, Event};
use crate::tools::Decoder;

/// How long records may wait in the ring buffer below the wake-up threshold.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(20);

/// State the reader shares with the job that owns it.
#[derive(Debug)]
pub struct ReaderState {
    pub counts: Mutex<KeyedCounts>,
    /// Events per cgroup id, for at most `max_keys` cgroups (the rest under id 0).
    pub by_cgroup: Mutex<BTreeMap<u64, u64>>,
    max_cgroups: usize,
    pub events: AtomicU64,
    pub lost_user: AtomicU64,
    /// Records that could not be decoded (a layout mismatch: should never happen).
    pub malformed: AtomicU64,
    stop: AtomicBool,
}

impl ReaderState {
    pub fn new(max_keys: usize) -> Arc<Self> {
        Arc::new(ReaderState {
            counts: Mutex::new(KeyedCounts::new(max_keys)),
            by_cgroup: Mutex::default(),
            max_cgroups: max_keys.max(1),
            events: AtomicU64::new(0),
            lost_user: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        })
    }

    /// Asks the reader to drain what is left and return.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

pub fn spawn(
    ring: RingBuf<MapData>,
    tool: &str,
    decode: Decoder,
    sink: Option<SyncSender<Event>>,
    state: Arc<ReaderState>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("tracejob-{tool}-reader"))
        .spawn(move || run(ring, decode, sink, &state))
}

fn run(
    mut ring: RingBuf<MapData>,
    decode: Decoder,
    sink: Option<SyncSender<Event>>,
    state: &ReaderState,
) {
    let clock = Clock::now();
    let mut poll = libc::pollfd {
        fd: ring.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // Read the flag before draining: whatever was submitted before stop is drained below.
        let stopping = state.stop.load(Ordering::Acquire);
        drain(&mut ring, &decode, sink.as_ref(), state, clock);
        if stopping {
            return;
        }
        // SAFETY: one valid pollfd; a timeout or EINTR just means another drain round.
        unsafe { libc::poll(&mut poll, 1, DRAIN_INTERVAL.as_millis() as libc::c_int) };
    }
}

fn drain(
    ring: &mut RingBuf<MapData>,
    decode: &Decoder,
    sink: Option<&SyncSender<Event>>,
    state: &ReaderState,
    clock: Clock,
) {
    let Ok(mut counts) = state.counts.lock() else {
        return;
    };
    let Ok(mut by_cgroup) = state.by_cgroup.lock() else {
        return;
    };
    while let Some(record) = ring.next() {
        let decoded = decode(&record, clock);
        drop(record);
        let Some(decoded) = decoded else {
            state.malformed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        counts.add(&decoded.key, decoded.failed, decoded.bytes);
        count_cgroup(&mut by_cgroup, state.max_cgroups, decoded.event.cgroup_id());
        state.events.fetch_add(1, Ordering::Relaxed);
        if let Some(sink) = sink
            && let Err(TrySendError::Full(_)) = sink.try_send(decoded.event)
        {
            state.lost_user.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One more event of `cgroup`; beyond `max` cgroups, new ones count under id 0.
fn count_cgroup(by_cgroup: &mut BTreeMap<u64, u64>, max: usize, cgroup: u64) {
    let key = if by_cgroup.len() < max || by_cgroup.contains_key(&cgroup) {
        cgroup
    } else {
        0
    };
    *by_cgroup.entry(key).or_default() += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_per_cgroup_and_cgroups_past_the_bound_fold_into_zero() {
        let mut by_cgroup = BTreeMap::new();
        for cgroup in [7, 7, 8, 9, 9, 7] {
            count_cgroup(&mut by_cgroup, 2, cgroup);
        }
        assert_eq!(by_cgroup, BTreeMap::from([(0, 2), (7, 3), (8, 1)]));
    }
}
