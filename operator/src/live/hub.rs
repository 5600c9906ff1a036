//! The live events of each job, as its stream readers receive them: the last
//! [`KEPT_BYTES`] of lines for readers that come later (`tracejob logs` without `-f`, and
//! the start of `-f`), and a broadcast for readers that follow.
//!
//! Bounded: per job, the kept lines stay under [`KEPT_BYTES`] and a follower may fall at
//! most [`FOLLOW_LINES`] lines behind before it skips (and is told how many); with nobody
//! following, the broadcast holds nothing. Everything of a job goes with [`LiveHub::forget`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::broadcast;
use tracejob_api::live::{Notice, NoticeKind};

/// The most bytes of lines kept per job for readers that come later.
pub const KEPT_BYTES: usize = 256 * 1024;
/// The most lines a follower may be behind before it skips ahead.
pub const FOLLOW_LINES: usize = 1024;

/// One line of the live view (a JSON object, without its newline) and when it arrived.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    pub received: SystemTime,
    pub json: String,
}

#[derive(Debug)]
struct JobLines {
    sender: broadcast::Sender<Arc<Line>>,
    kept: VecDeque<Arc<Line>>,
    kept_bytes: usize,
    /// Lines that left `kept` to stay under the bound.
    not_kept: u64,
}

impl Default for JobLines {
    fn default() -> Self {
        JobLines {
            sender: broadcast::channel(FOLLOW_LINES).0,
            kept: VecDeque::new(),
            kept_bytes: 0,
            not_kept: 0,
        }
    }
}

/// What a reader gets: the kept lines, how many earlier ones are gone, and (for `-f`) the
/// lines from then on, with no line missed or repeated in between.
#[derive(Debug)]
pub struct Subscription {
    pub kept: Vec<Arc<Line>>,
    pub not_kept: u64,
    pub follow: broadcast::Receiver<Arc<Line>>,
}

#[derive(Debug, Default)]
pub struct LiveHub {
    /// By job uid.
    jobs: Mutex<HashMap<String, JobLines>>,
}

impl LiveHub {
    fn jobs(&self) -> MutexGuard<'_, HashMap<String, JobLines>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An event of the job, as its JSON line.
    pub fn event(&self, uid: &str, json: String) {
        self.push(uid, json);
    }

    /// The node's agent dropped `events` events of the job before they were read.
    pub fn lost(&self, uid: &str, node: &str, events: u64) {
        let notice = Notice {
            notice: NoticeKind::Lost,
            events,
            node: Some(node.to_owned()),
            message: format!(
                "the agent on {node} dropped {events} events before the operator read them (its buffer was full); they count in the job's lost"
            ),
        };
        if let Ok(json) = serde_json::to_string(&notice) {
            self.push(uid, json);
        }
    }

    fn push(&self, uid: &str, json: String) {
        let line = Arc::new(Line {
            received: SystemTime::now(),
            json,
        });
        let mut jobs = self.jobs();
        let job = jobs.entry(uid.to_owned()).or_default();
        job.kept_bytes += line.json.len();
        job.kept.push_back(line.clone());
        while job.kept_bytes > KEPT_BYTES {
            let Some(old) = job.kept.pop_front() else {
                break;
            };
            job.kept_bytes -= old.json.len();
            job.not_kept += 1;
        }
        // No follower: the line is handed back and dropped; nothing is held.
        let _ = job.sender.send(line);
    }

    /// What the job kept so far, and its lines from now on.
    pub fn subscribe(&self, uid: &str) -> Subscription {
        let mut jobs = self.jobs();
        let job = jobs.entry(uid.to_owned()).or_default();
        Subscription {
            kept: job.kept.iter().cloned().collect(),
            not_kept: job.not_kept,
            follow: job.sender.subscribe(),
        }
    }

    /// Whether anything of the job is here (it streamed, or someone reads it).
    pub fn knows(&self, uid: &str) -> bool {
        self.jobs().contains_key(uid)
    }

    /// The job is over: its lines go, and its followers' streams end.
    pub fn forget(&self, uid: &str) {
        self.jobs().remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::RecvError;

    fn json(i: usize) -> String {
        format!("{{\"i\":{i:>1000}}}")
    }

    #[test]
    fn kept_lines_stay_under_the_bound_and_the_gone_ones_are_counted() {
        let hub = LiveHub::default();
        let lines = 2 * KEPT_BYTES / json(0).len();
        for i in 0..lines {
            hub.event("u", json(i));
        }
        let seen = hub.subscribe("u");
        let bytes: usize = seen.kept.iter().map(|l| l.json.len()).sum();
        assert!(bytes <= KEPT_BYTES, "{bytes} bytes kept");
        assert_eq!(seen.kept.len() as u64 + seen.not_kept, lines as u64);
        assert_eq!(seen.kept.last().unwrap().json, json(lines - 1));
    }

    #[tokio::test]
    async fn a_follower_gets_every_line_after_the_kept_ones_once() {
        let hub = LiveHub::default();
        hub.event("u", json(0));
        let mut seen = hub.subscribe("u");
        hub.event("u", json(1));
        hub.lost("u", "n1", 7);
        hub.event("other", json(9));
        assert_eq!(seen.kept.len(), 1);
        assert_eq!(seen.follow.recv().await.unwrap().json, json(1));
        let notice: Notice = serde_json::from_str(&seen.follow.recv().await.unwrap().json).unwrap();
        assert_eq!((notice.notice, notice.events), (NoticeKind::Lost, 7));
        hub.forget("u");
        assert!(matches!(seen.follow.recv().await, Err(RecvError::Closed)));
    }

    #[tokio::test]
    async fn a_follower_that_falls_behind_is_told_how_many_it_skipped() {
        let hub = LiveHub::default();
        let mut seen = hub.subscribe("u");
        for i in 0..FOLLOW_LINES + 5 {
            hub.event("u", format!("{i}"));
        }
        assert!(matches!(
            seen.follow.recv().await,
            Err(RecvError::Lagged(5))
        ));
        assert_eq!(seen.follow.recv().await.unwrap().json, "5");
    }
}
