//! The local spool: each node's streamed events appended to a file under the spool
//! directory until they are uploaded. One byte budget bounds every job's spool together,
//! shared fairly: with N jobs spooling, none may hold more than 1/N of it, so one job whose
//! storage is down cannot make the others drop events;
//! an event that does not fit is counted as dropped, never silently lost.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tracejob_api::event::EventLine;

/// Bytes spooled across every job, against the configured bound.
#[derive(Debug)]
pub struct Budget {
    used: AtomicU64,
    max: u64,
    /// Jobs with a spool: each may hold at most `max / jobs`.
    jobs: AtomicU64,
}

impl Budget {
    pub fn new(max: u64) -> Self {
        Budget {
            used: AtomicU64::new(0),
            max,
            jobs: AtomicU64::new(0),
        }
    }

    /// One job's fair share of the bound.
    fn share(&self) -> u64 {
        self.max / self.jobs.load(Ordering::Acquire).max(1)
    }

    fn take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + bytes <= self.max).then_some(used + bytes)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

/// A closed spool file waiting for upload.
#[derive(Clone, Debug)]
pub struct Part {
    pub path: PathBuf,
    pub lines: u64,
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct NodeSpool {
    writer: Option<BufWriter<File>>,
    current: Option<Part>,
    /// Rotated parts not yet uploaded, oldest first.
    closed: Vec<Part>,
    /// The stream's final message arrived: every event of the node is here.
    finished: bool,
    stream_lost: u64,
    dropped: u64,
    /// Events past `spec.output.maxEvents`: read, counted, not kept.
    not_kept: u64,
    rotations: u64,
    /// The engine's full summary from the final message.
    final_summary: Option<tracejob_api::summary::Summary>,
    /// The sequence of the last stream message handled (0: none since the stream began).
    sequence: u64,
    /// Where the first reader of this process resumes, as recovered from storage.
    resume_after: Option<u64>,
    /// The agent lost the job and runs it afresh: its stream numbers from 1 again.
    restarted: bool,
}

/// What [`JobSpool::rotate`] hands to an upload.
#[derive(Debug, Default)]
pub struct Rotated {
    /// Per node, every part not yet uploaded, oldest first.
    pub parts: BTreeMap<String, Vec<Part>>,
    /// Per node, the last stream sequence whose events are in those parts (or earlier ones).
    pub sequences: BTreeMap<String, u64>,
    /// Events not kept (maxEvents) up to those sequences, earlier processes' included.
    pub not_kept: u64,
}

/// One job's spool.
#[derive(Debug)]
pub struct JobSpool {
    dir: PathBuf,
    budget: Arc<Budget>,
    /// Bytes this job holds of the budget.
    used: AtomicU64,
    unregistered: std::sync::atomic::AtomicBool,
    nodes: Mutex<BTreeMap<String, NodeSpool>>,
    /// `spec.output.maxEvents` (`u64::MAX`: none): events kept across every node and part.
    max_events: AtomicU64,
    /// Events kept so far: written by earlier processes, then spooled by this one.
    kept: AtomicU64,
    /// Events not kept by earlier processes (recovered from storage).
    not_kept_before: AtomicU64,
    /// Woken when a node finishes.
    pub finished: Notify,
}

/// Totals of a job's spool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Messages the agents' stream buffers dropped before the operator read them.
    pub stream_lost: u64,
    /// Events that did not fit in the spool's bound.
    pub dropped: u64,
}

impl Losses {
    pub fn total(&self) -> u64 {
        self.stream_lost + self.dropped
    }
}

/// The event's JSON line, naming `node` when the agent did not.
pub fn event_json(node: &str, event: &EventLine) -> serde_json::Result<String> {
    if event.origin.node.is_some() {
        serde_json::to_string(event)
    } else {
        let mut named = event.clone();
        named.origin.node = Some(node.to_owned());
        serde_json::to_string(&named)
    }
}

impl JobSpool {
    pub fn new(dir: PathBuf, budget: Arc<Budget>) -> Self {
        budget.jobs.fetch_add(1, Ordering::AcqRel);
        JobSpool {
            dir,
            used: AtomicU64::new(0),
            unregistered: std::sync::atomic::AtomicBool::new(false),
            budget,
            nodes: Mutex::default(),
            max_events: AtomicU64::new(u64::MAX),
            kept: AtomicU64::new(0),
            not_kept_before: AtomicU64::new(0),
            finished: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, NodeSpool>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// At most `max` events of the job are kept (`spec.output.maxEvents`); the rest are
    /// counted as not kept.
    pub fn set_max_events(&self, max: Option<u64>) {
        self.max_events
            .store(max.unwrap_or(u64::MAX), Ordering::Release);
    }

    /// What earlier processes kept (the events in the written parts) and did not keep.
    pub fn resume_counts(&self, kept: u64, not_kept: u64) {
        self.kept.store(kept, Ordering::Release);
        self.not_kept_before.store(not_kept, Ordering::Release);
    }

    /// Events not kept because `spec.output.maxEvents` was reached.
    pub fn not_kept(&self) -> u64 {
        let nodes = self.lock();
        self.not_kept_before.load(Ordering::Acquire)
            + nodes.values().map(|s| s.not_kept).sum::<u64>()
    }

    /// A node whose stream is (again) being read.
    pub fn add_node(&self, node: &str) {
        self.lock().entry(node.to_owned()).or_default().finished = false;
    }

    /// Where a new reader of the node's stream starts: after the sequence recovered from
    /// storage the first time (each later reader follows a new stream, from 1).
    pub fn start_sequence(&self, node: &str) -> u64 {
        let mut nodes = self.lock();
        let spool = nodes.entry(node.to_owned()).or_default();
        let resume = spool.resume_after.take();
        if std::mem::take(&mut spool.restarted) {
            return 1;
        }
        resume.map_or(1, |last| last + 1)
    }

    /// The node's agent lost the job (it restarted) and was given it again: whatever the
    /// reader or storage knew of the old stream's numbers no longer applies.
    pub fn stream_restarted(&self, node: &str) {
        let mut nodes = self.lock();
        let spool = nodes.entry(node.to_owned()).or_default();
        spool.restarted = true;
        spool.sequence = 0;
    }

    /// Whether a reader must start the node's stream from 1 again (once).
    pub fn take_restart(&self, node: &str) -> bool {
        let mut nodes = self.lock();
        nodes
            .get_mut(node)
            .is_some_and(|spool| std::mem::take(&mut spool.restarted))
    }

    /// The stream up to `sequence` is in storage already (recovered after a restart).
    pub fn resume_after(&self, node: &str, sequence: u64) {
        let mut nodes = self.lock();
        let spool = nodes.entry(node.to_owned()).or_default();
        spool.resume_after = Some(sequence);
        if !spool.restarted {
            spool.sequence = sequence;
        }
    }

    /// A message without events was handled; an agent that lost the job restarts at 0.
    pub fn handled(&self, node: &str, sequence: u64) {
        self.lock().entry(node.to_owned()).or_default().sequence = sequence;
    }

    /// Appends one event of `node` (stream message `sequence`) as its event line, which
    /// names the node (the agent client fills it in; here if it did not).
    /// Spools the event; returns its line (for the live view), kept in the spool or not.
    pub fn append(&self, node: &str, sequence: u64, event: &EventLine) -> Option<String> {
        match event_json(node, event) {
            Ok(line) => {
                self.append_line(node, sequence, &line);
                Some(line)
            }
            Err(error) => {
                tracing::warn!(%node, %error, "cannot serialise an event");
                self.lock().entry(node.to_owned()).or_default().dropped += 1;
                None
            }
        }
    }

    fn append_line(&self, node: &str, sequence: u64, line: &str) {
        let bytes = line.len() as u64 + 1;
        let mut nodes = self.lock();
        let spool = nodes.entry(node.to_owned()).or_default();
        spool.sequence = sequence;
        // Under the nodes' lock: every node's appends count against one bound.
        if self.kept.load(Ordering::Acquire) >= self.max_events.load(Ordering::Acquire) {
            spool.not_kept += 1;
            return;
        }
        if self.used.load(Ordering::Acquire) + bytes > self.budget.share()
            || !self.budget.take(bytes)
        {
            spool.dropped += 1;
            return;
        }
        self.used.fetch_add(bytes, Ordering::AcqRel);
        if let Err(error) = self.write(node, spool, line) {
            tracing::warn!(%node, %error, "cannot spool an event");
            self.release(bytes);
            spool.dropped += 1;
            return;
        }
        self.kept.fetch_add(1, Ordering::AcqRel);
    }

    /// Gives bytes back to the job's share and the shared budget.
    fn release(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
        self.budget.give_back(bytes);
    }

    fn write(&self, node: &str, spool: &mut NodeSpool, line: &str) -> std::io::Result<()> {
        if spool.writer.is_none() {
            std::fs::create_dir_all(&self.dir)?;
            let path = self
                .dir
                .join(format!("{}-{:05}.jsonl", safe(node), spool.rotations));
            spool.writer = Some(BufWriter::new(File::create(&path)?));
            spool.current = Some(Part {
                path,
                lines: 0,
                bytes: 0,
            });
        }
        if let (Some(writer), Some(current)) = (spool.writer.as_mut(), spool.current.as_mut()) {
            writer.write_all(line.as_bytes())?;
            writer.write_all(b"\n")?;
            current.lines += 1;
            current.bytes += line.len() as u64 + 1;
        }
        Ok(())
    }

    pub fn stream_lost(&self, node: &str, sequence: u64, messages: u64) {
        let mut nodes = self.lock();
        let spool = nodes.entry(node.to_owned()).or_default();
        spool.stream_lost += messages;
        spool.sequence = sequence;
    }

    pub fn finish(&self, node: &str, summary: Option<tracejob_api::summary::Summary>) {
        {
            let mut nodes = self.lock();
            let spool = nodes.entry(node.to_owned()).or_default();
            spool.finished = true;
            spool.final_summary = summary;
        }
        self.finished.notify_waiters();
    }

    /// Each finished node's full engine summary.
    pub fn final_summaries(&self) -> BTreeMap<String, serde_json::Value> {
        self.lock()
            .iter()
            .filter_map(|(node, s)| {
                let summary = s.final_summary.as_ref()?;
                Some((node.clone(), serde_json::to_value(summary).ok()?))
            })
            .collect()
    }

    /// Nodes whose stream has not delivered its final message.
    pub fn unfinished(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, s)| !s.finished)
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub fn losses(&self) -> Losses {
        let nodes = self.lock();
        Losses {
            stream_lost: nodes.values().map(|s| s.stream_lost).sum(),
            dropped: nodes.values().map(|s| s.dropped).sum(),
        }
    }

    /// Closes every node's current file and returns, per node, every part not yet uploaded,
    /// oldest first, with the stream sequence they reach. New events go to new files.
    pub fn rotate(&self) -> Rotated {
        let mut nodes = self.lock();
        let mut out = Rotated::default();
        for (node, spool) in nodes.iter_mut() {
            if let Some(mut writer) = spool.writer.take() {
                if let Err(error) = writer.flush() {
                    tracing::warn!(%node, %error, "cannot flush the spool");
                }
                spool.rotations += 1;
            }
            if let Some(current) = spool.current.take() {
                spool.closed.push(current);
            }
            out.parts.insert(node.clone(), spool.closed.clone());
            out.sequences.insert(node.clone(), spool.sequence);
        }
        out.not_kept = self.not_kept_before.load(Ordering::Acquire)
            + nodes.values().map(|s| s.not_kept).sum::<u64>();
        out
    }

    /// The parts were uploaded: delete them and free their share of the budget.
    pub fn uploaded(&self, node: &str, parts: &[Part]) {
        let mut nodes = self.lock();
        let Some(spool) = nodes.get_mut(node) else {
            return;
        };
        spool
            .closed
            .retain(|kept| !parts.iter().any(|p| p.path == kept.path));
        for part in parts {
            let _ = std::fs::remove_file(&part.path);
            self.release(part.bytes);
        }
    }

    /// Removes every file and frees the budget.
    pub fn remove(&self) {
        let mut nodes = self.lock();
        for spool in nodes.values_mut() {
            spool.writer = None;
            for part in spool.closed.drain(..).chain(spool.current.take()) {
                self.release(part.bytes);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        self.unregister();
    }

    /// This job no longer counts for the fair share (once).
    fn unregister(&self) {
        if !self.unregistered.swap(true, Ordering::AcqRel) {
            self.budget.jobs.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for JobSpool {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// A node name as a file name.
fn safe(node: &str) -> String {
    node.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_spooled_as_its_event_line_naming_the_node() {
        use tracejob_api::event::{Event, OpenRecord, Origin};
        let dir = std::env::temp_dir().join(format!("tracejob-line-test-{}", std::process::id()));
        let spool = JobSpool::new(dir.clone(), Arc::new(Budget::new(1 << 20)));
        let event = EventLine::new(
            Origin {
                namespace: Some("shop".into()),
                pod: Some("web-0".into()),
                container: Some("app".into()),
                ..Origin::default()
            },
            Event::Open(OpenRecord {
                timestamp_ns: 1,
                cgroup_id: 2,
                pid: 3,
                tid: 3,
                uid: 0,
                comm: "cat".into(),
                path: "/etc/hosts".into(),
                flags: "O_RDONLY".into(),
                ret: 3,
            }),
        );
        spool.append("n1", 1, &event);
        let rotated = spool.rotate();
        let part = &rotated.parts["n1"][0];
        let text = std::fs::read_to_string(&part.path).expect("spooled");
        let line: EventLine = serde_json::from_str(text.trim()).expect("an event line");
        assert_eq!(line.origin.node.as_deref(), Some("n1"));
        assert_eq!(line.origin.pod.as_deref(), Some("web-0"));
        assert_eq!(line.event, event.event);
        spool.remove();
    }

    #[test]
    fn events_past_the_bound_are_counted_as_dropped_and_uploads_free_the_budget() {
        let dir = std::env::temp_dir().join(format!("tracejob-spool-test-{}", std::process::id()));
        let spool = JobSpool::new(dir.clone(), Arc::new(Budget::new(100)));
        for sequence in 1..=10 {
            spool.append_line("n1", sequence, r#"{"node":"n1","x":"0123456789"}"#);
        }
        // Each line is 30 bytes with its tag and newline: 3 fit in 100.
        assert_eq!(spool.losses().dropped, 7);
        let rotated = spool.rotate();
        let parts = &rotated.parts;
        assert_eq!(parts["n1"].iter().map(|p| p.lines).sum::<u64>(), 3);
        assert_eq!(rotated.sequences["n1"], 10);
        spool.uploaded("n1", &parts["n1"]);
        spool.append_line("n1", 11, r#"{"node":"n1","x":"0123456789"}"#);
        assert_eq!(spool.losses().dropped, 7, "the budget is free again");
        spool.remove();
        assert!(!dir.exists());
    }

    #[test]
    fn at_most_max_events_are_kept_across_nodes_and_a_restart_the_rest_counted_not_kept() {
        let dir = std::env::temp_dir().join(format!("tracejob-max-test-{}", std::process::id()));
        let spool = JobSpool::new(dir.clone(), Arc::new(Budget::new(1 << 20)));
        spool.set_max_events(Some(5));
        for sequence in 1..=4 {
            spool.append_line("n1", sequence, "{}");
            spool.append_line("n2", sequence, "{}");
        }
        let rotated = spool.rotate();
        let kept: u64 = rotated.parts.values().flatten().map(|p| p.lines).sum();
        assert_eq!((kept, rotated.not_kept, spool.not_kept()), (5, 3, 3));
        assert_eq!(spool.losses(), Losses::default(), "not kept is not lost");
        spool.remove();
        // A restarted operator carries on from what storage recorded.
        let again = JobSpool::new(dir.clone(), Arc::new(Budget::new(1 << 20)));
        again.set_max_events(Some(5));
        again.resume_counts(5, 3);
        again.append_line("n1", 5, "{}");
        assert_eq!(again.not_kept(), 4);
        assert!(again.rotate().parts["n1"].is_empty());
        again.remove();
    }

    #[test]
    fn a_restarted_agents_stream_is_read_from_1_whatever_storage_recorded() {
        let dir = std::env::temp_dir().join(format!("tracejob-resume-test-{}", std::process::id()));
        let spool = JobSpool::new(dir.clone(), Arc::new(Budget::new(1000)));
        spool.resume_after("n1", 40);
        spool.resume_after("n2", 7);
        // The agent on n1 restarted (the operator saw a gap) before its reader began.
        spool.stream_restarted("n1");
        assert_eq!(spool.start_sequence("n1"), 1);
        assert_eq!(spool.start_sequence("n2"), 8);
        assert_eq!(
            spool.start_sequence("n2"),
            1,
            "only the first reader resumes"
        );
        // A reader already running is told once.
        spool.stream_restarted("n2");
        assert!(spool.take_restart("n2"));
        assert!(!spool.take_restart("n2"));
        assert_eq!(spool.rotate().sequences["n2"], 0);
        spool.remove();
    }

    #[test]
    fn a_job_whose_storage_is_down_cannot_take_the_other_jobs_share_of_the_spool() {
        let dir = std::env::temp_dir().join(format!("tracejob-fair-test-{}", std::process::id()));
        let budget = Arc::new(Budget::new(310));
        let stuck = JobSpool::new(dir.join("stuck"), budget.clone());
        let other = JobSpool::new(dir.join("other"), budget.clone());
        // 31 bytes a line: the stuck job (never uploaded) keeps at most half, 5 lines.
        for sequence in 1..=100 {
            stuck.append_line("n1", sequence, r#"{"node":"n1","x":"0123456789"}"#);
        }
        assert_eq!(stuck.losses().dropped, 95);
        for sequence in 1..=5 {
            other.append_line("n1", sequence, r#"{"node":"n1","x":"0123456789"}"#);
        }
        assert_eq!(
            other.losses().dropped,
            0,
            "the other job's half is still there"
        );
        other.remove();
        // Alone again, the stuck job may use the whole spool.
        stuck.append_line("n1", 101, r#"{"node":"n1","x":"0123456789"}"#);
        assert_eq!(stuck.losses().dropped, 95);
        stuck.remove();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
