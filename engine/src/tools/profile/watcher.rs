//! Remembers each sampled process's memory maps while it still runs. The program
//! announces a process once (and again after an exec) through the ring buffer; this
//! thread reads its /proc entries at once, so its frames can be named after it exits.
//! A process that exits before the announcement is handled (a few milliseconds) keeps
//! its frames as hexadecimal addresses.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use aya::maps::{MapData, RingBuf};
use tracejob_ebpf::layout::ProfileProcess;

use crate::reader::DRAIN_INTERVAL;
use crate::symbolize::ProcessTable;

struct State {
    ring: RingBuf<MapData>,
    table: ProcessTable,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl State {
    fn drain(&mut self) {
        let mut announced = Vec::new();
        while let Some(record) = self.ring.next() {
            announced.extend(ProfileProcess::from_bytes(&record).map(|p| p.tgid));
        }
        for tgid in announced {
            self.table.remember(tgid);
        }
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

#[derive(Debug)]
pub struct Watcher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn spawn(ring: RingBuf<MapData>) -> std::io::Result<Self> {
        let fd = ring.as_raw_fd();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ring,
                table: ProcessTable::default(),
            }),
            stop: AtomicBool::new(false),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("tracejob-profile-maps".into())
            .spawn(move || run(fd, &thread_shared))?;
        Ok(Watcher {
            shared,
            thread: Some(thread),
        })
    }

    /// The processes seen so far, every announcement still waiting handled first.
    pub fn processes(&self) -> Option<MappedTable<'_>> {
        let mut state = self.shared.state.lock().ok()?;
        state.drain();
        Some(MappedTable(state))
    }
}

/// The process table, locked.
#[derive(Debug)]
pub struct MappedTable<'a>(MutexGuard<'a, State>);

impl MappedTable<'_> {
    pub fn table(&mut self) -> &mut ProcessTable {
        &mut self.0.table
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(fd: i32, shared: &Shared) {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    while !shared.stop.load(Ordering::Acquire) {
        // SAFETY: one valid pollfd (the ring buffer outlives this thread: Drop joins it
        // before the state is freed); a timeout or EINTR just means another round.
        unsafe { libc::poll(&mut poll, 1, DRAIN_INTERVAL.as_millis() as libc::c_int) };
        match shared.state.lock() {
            Ok(mut state) => state.drain(),
            Err(_) => return,
        }
    }
}
