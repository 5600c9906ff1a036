//! The bounded, sequenced buffer between a job and its result streams. Every event gets
//! the next sequence number; the oldest are dropped when the buffer is over its bytes (or
//! messages) bound, so a consumer that stops reading costs bounded memory, and one that
//! comes back learns how many events it missed. Only events are queued: the latest summary
//! and the final result are kept aside (one each), so a loss is always a count of events.

use std::collections::VecDeque;
use std::sync::Mutex;

use prost::Message as _;
use tokio::sync::watch;
use tracejob_api::event::EventLine;
use tracejob_api::summary::Summary;
use tracejob_proto::v1::result_message::Body;
use tracejob_proto::v1::{Event, JobResult, Lost, ResultMessage};

use crate::convert;

/// How much a ring may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Events at most.
    pub messages: usize,
    /// Encoded bytes of the queued events at most.
    pub bytes: usize,
}

#[derive(Debug)]
struct Inner {
    bounds: Bounds,
    /// The sequence the next event (or the final message) gets (the first is 1).
    next: u64,
    buffer: VecDeque<ResultMessage>,
    /// Encoded size of `buffer`.
    bytes: usize,
    /// The latest summary and how many were set (a stream sends each new one once).
    summary: Option<JobResult>,
    summaries: u64,
    /// The final message, once the job stopped.
    last: Option<ResultMessage>,
}

/// What a consumer reads from `from` on.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    pub messages: Vec<ResultMessage>,
    /// The sequence to ask for next.
    pub next: u64,
    /// No message will ever follow.
    pub finished: bool,
}

/// What a waiting consumer watches: the last sequence, the summaries set, closed.
pub type Tail = (u64, u64, bool);

#[derive(Debug)]
pub struct Ring {
    inner: Mutex<Inner>,
    tail: watch::Sender<Tail>,
}

impl Ring {
    pub fn new(bounds: Bounds) -> Self {
        Ring {
            inner: Mutex::new(Inner {
                bounds: Bounds {
                    messages: bounds.messages.max(1),
                    bytes: bounds.bytes.max(1),
                },
                next: 1,
                buffer: VecDeque::new(),
                bytes: 0,
                summary: None,
                summaries: 0,
                last: None,
            }),
            tail: watch::channel((0, 0, false)).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self, inner: &Inner) {
        self.tail
            .send_replace((inner.next - 1, inner.summaries, inner.last.is_some()));
    }

    /// Appends one event line (see [`Ring::push_event`]); the job registry's way in,
    /// converted here at the stream's edge.
    pub fn push_line(&self, line: EventLine) {
        self.push_event(Event::from(line));
    }

    /// Sets the latest summary (see [`Ring::set_summary`]), its pods named.
    pub fn set_result(&self, summary: &Summary) {
        self.set_summary(convert::job_result(summary));
    }

    /// Ends the stream with the job's final summary (see [`Ring::finish`]); none for a
    /// job replaced or forgotten before it had one.
    pub fn finish_with(&self, summary: Option<&Summary>) {
        self.finish(summary.map(convert::job_result).unwrap_or_default());
    }

    /// Appends one event, dropping the oldest beyond the bounds.
    /// Ignored once the final message is set.
    pub fn push_event(&self, event: Event) {
        let mut inner = self.lock();
        if inner.last.is_some() {
            return;
        }
        let message = ResultMessage {
            sequence: inner.next,
            body: Some(Body::Event(event)),
        };
        inner.next += 1;
        inner.bytes += message.encoded_len();
        inner.buffer.push_back(message);
        while inner.bytes > inner.bounds.bytes || inner.buffer.len() > inner.bounds.messages {
            let Some(dropped) = inner.buffer.pop_front() else {
                break;
            };
            inner.bytes -= dropped.encoded_len();
        }
        self.notify(&inner);
    }

    /// Replaces the summary streams send next; nothing queues.
    pub fn set_summary(&self, summary: JobResult) {
        let mut inner = self.lock();
        if inner.last.is_some() {
            return;
        }
        inner.summary = Some(summary);
        inner.summaries += 1;
        self.notify(&inner);
    }

    /// The job's final message (sequenced after every event); nothing follows it.
    pub fn finish(&self, result: JobResult) {
        let mut inner = self.lock();
        if inner.last.is_some() {
            return;
        }
        let sequence = inner.next;
        inner.next += 1;
        inner.last = Some(ResultMessage {
            sequence,
            body: Some(Body::Final(result)),
        });
        inner.summary = None;
        self.notify(&inner);
    }

    /// Drops the queued events and the summary (the job stopped and its final message was
    /// read, or nobody read it in time); the final message stays. A later read from before
    /// it learns how many events it missed.
    pub fn free(&self) {
        let mut inner = self.lock();
        inner.buffer = VecDeque::new();
        inner.bytes = 0;
        inner.summary = None;
    }

    /// True when `from` lies after the final message: whoever asks has read it.
    pub fn read_past_end(&self, from: u64) -> bool {
        self.lock()
            .last
            .as_ref()
            .is_some_and(|last| from > last.sequence)
    }

    /// Encoded bytes of the queued events.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// The latest summary if more than `seen` were set, with how many were.
    pub fn summary_after(&self, seen: u64) -> Option<(u64, JobResult)> {
        let inner = self.lock();
        match &inner.summary {
            Some(summary) if inner.summaries > seen => Some((inner.summaries, summary.clone())),
            _ => None,
        }
    }

    /// Up to `max` messages from sequence `from` on; a gap (events dropped) comes first as
    /// one `Lost` message numbered as the last event missed.
    pub fn read(&self, from: u64, max: usize) -> Batch {
        let inner = self.lock();
        let from = from.max(1);
        let end = inner.last.as_ref().map_or(inner.next, |m| m.sequence);
        let oldest = inner.buffer.front().map_or(end, |m| m.sequence);
        let mut messages = Vec::new();
        let mut start = from;
        if from < oldest {
            messages.push(ResultMessage {
                sequence: oldest - 1,
                body: Some(Body::Lost(Lost {
                    messages: oldest - from,
                })),
            });
            start = oldest;
        }
        let skip = usize::try_from(start - oldest).unwrap_or(usize::MAX);
        messages.extend(inner.buffer.iter().skip(skip).take(max).cloned());
        if messages.len() < max
            && let Some(last) = &inner.last
            && last.sequence >= start
        {
            messages.push(last.clone());
        }
        let next = messages.last().map_or(from, |m| m.sequence + 1);
        Batch {
            finished: inner.last.is_some() && next >= inner.next,
            next,
            messages,
        }
    }

    /// Changes whenever an event, a summary or the final message arrives.
    pub fn subscribe(&self) -> watch::Receiver<Tail> {
        self.tail.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(messages: usize) -> Ring {
        Ring::new(Bounds {
            messages,
            bytes: usize::MAX,
        })
    }

    /// An event whose size grows with `pod`.
    fn ev(pod: impl Into<String>) -> Event {
        Event {
            origin: Some(tracejob_proto::v1::Origin {
                pod: pod.into(),
                ..Default::default()
            }),
            record: None,
        }
    }

    fn sequences(batch: &Batch) -> Vec<u64> {
        batch.messages.iter().map(|m| m.sequence).collect()
    }

    #[test]
    fn events_are_numbered_from_one_and_read_from_any_sequence() {
        let ring = ring(10);
        (0..5).for_each(|n| ring.push_event(ev(n.to_string())));
        assert_eq!(sequences(&ring.read(0, 100)), [1, 2, 3, 4, 5]);
        let resumed = ring.read(4, 100);
        assert_eq!(sequences(&resumed), [4, 5]);
        assert_eq!(resumed.next, 6);
        assert!(!resumed.finished);
    }

    #[test]
    fn a_consumer_behind_the_buffer_is_told_how_many_events_it_missed() {
        let ring = ring(3);
        (0..10).for_each(|n| ring.push_event(ev(n.to_string())));
        let batch = ring.read(2, 100);
        assert_eq!(
            batch.messages[0].body,
            Some(Body::Lost(Lost { messages: 6 })),
            "2..=7 were dropped"
        );
        assert_eq!(sequences(&batch), [7, 8, 9, 10]);
    }

    #[test]
    fn the_buffer_never_holds_more_bytes_than_its_bound() {
        let ring = Ring::new(Bounds {
            messages: usize::MAX,
            bytes: 10_000,
        });
        let event = "x".repeat(1000);
        (0..1000).for_each(|_| ring.push_event(ev(event.clone())));
        assert!(ring.bytes() <= 10_000, "{}", ring.bytes());
        assert!(ring.bytes() > 8_000, "it keeps what fits: {}", ring.bytes());
        let batch = ring.read(1, 10_000);
        let Some(Body::Lost(lost)) = &batch.messages[0].body else {
            panic!("a Lost first: {:?}", batch.messages[0]);
        };
        let kept = batch.messages.len() as u64 - 1;
        assert_eq!(
            lost.messages + kept,
            1000,
            "every event kept or counted lost"
        );
    }

    #[test]
    fn an_event_bigger_than_the_whole_bound_is_counted_lost_not_kept() {
        let ring = Ring::new(Bounds {
            messages: 100,
            bytes: 100,
        });
        ring.push_event(ev("y".repeat(1000)));
        assert_eq!(ring.bytes(), 0);
        ring.push_event(ev("small"));
        let batch = ring.read(1, 10);
        assert_eq!(
            batch.messages[0].body,
            Some(Body::Lost(Lost { messages: 1 }))
        );
        assert_eq!(sequences(&batch), [1, 2]);
    }

    #[test]
    fn summaries_are_kept_aside_the_latest_replacing_the_last_and_never_counted_lost() {
        let ring = ring(2);
        for n in 0..100 {
            ring.set_summary(JobResult {
                events: n,
                ..JobResult::default()
            });
        }
        ring.push_event(ev("a"));
        ring.push_event(ev("b"));
        let (seen, summary) = ring.summary_after(0).expect("a summary");
        assert_eq!((seen, summary.events), (100, 99));
        assert!(ring.summary_after(seen).is_none(), "sent once per change");
        assert_eq!(
            sequences(&ring.read(1, 10)),
            [1, 2],
            "no loss: no event dropped"
        );
    }

    #[test]
    fn the_final_message_follows_every_event_and_survives_freeing_the_buffer() {
        let ring = ring(4);
        ring.push_event(ev("1"));
        ring.finish(JobResult {
            events: 1,
            ..JobResult::default()
        });
        ring.push_event(ev("ignored"));
        let batch = ring.read(1, 1);
        assert_eq!(sequences(&batch), [1]);
        assert!(!batch.finished);
        let batch = ring.read(batch.next, 10);
        assert_eq!(sequences(&batch), [2]);
        assert!(matches!(batch.messages[0].body, Some(Body::Final(_))));
        assert!(batch.finished);
        assert!(!ring.read_past_end(2) && ring.read_past_end(3));
        ring.free();
        assert_eq!(ring.bytes(), 0);
        let again = ring.read(1, 10);
        assert_eq!(
            again.messages[0].body,
            Some(Body::Lost(Lost { messages: 1 }))
        );
        assert!(matches!(again.messages[1].body, Some(Body::Final(_))));
    }
}
