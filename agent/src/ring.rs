//! The bounded, sequenced buffer between a job and its result streams. Every message gets
//! the next sequence number; the oldest are dropped when it is full, so a consumer that
//! stops reading costs no memory, and one that comes back learns how many it missed.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::watch;
use tracejob_proto::v1::result_message::Body;
use tracejob_proto::v1::{Lost, ResultMessage};

#[derive(Debug)]
struct Inner {
    capacity: usize,
    /// The sequence the next message gets (the first is 1).
    next: u64,
    buffer: VecDeque<ResultMessage>,
    closed: bool,
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

#[derive(Debug)]
pub struct Ring {
    inner: Mutex<Inner>,
    /// The last sequence pushed (and whether the ring closed), for waiting consumers.
    tail: watch::Sender<(u64, bool)>,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        Ring {
            inner: Mutex::new(Inner {
                capacity: capacity.max(1),
                next: 1,
                buffer: VecDeque::new(),
                closed: false,
            }),
            tail: watch::channel((0, false)).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a message; `last` closes the ring after it. Ignored once closed.
    pub fn push(&self, body: Body, last: bool) {
        let (sequence, closed) = {
            let mut inner = self.lock();
            if inner.closed {
                return;
            }
            let sequence = inner.next;
            inner.next += 1;
            if inner.buffer.len() == inner.capacity {
                inner.buffer.pop_front();
            }
            inner.buffer.push_back(ResultMessage {
                sequence,
                body: Some(body),
            });
            inner.closed = last;
            (sequence, last)
        };
        self.tail.send_replace((sequence, closed));
    }

    /// Up to `max` messages from sequence `from` on; a gap (dropped or never seen) comes
    /// first as one `Lost` message numbered as the last message missed.
    pub fn read(&self, from: u64, max: usize) -> Batch {
        let inner = self.lock();
        let from = from.max(1);
        let oldest = inner.buffer.front().map_or(inner.next, |m| m.sequence);
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
        let next = messages.last().map_or(from, |m| m.sequence + 1);
        Batch {
            finished: inner.closed && next >= inner.next,
            next,
            messages,
        }
    }

    /// Waits until a message after `seen` exists or the ring closes.
    pub fn subscribe(&self) -> watch::Receiver<(u64, bool)> {
        self.tail.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> Body {
        Body::EventJson(n.to_string())
    }

    fn sequences(batch: &Batch) -> Vec<u64> {
        batch.messages.iter().map(|m| m.sequence).collect()
    }

    #[test]
    fn messages_are_numbered_from_one_and_read_from_any_sequence() {
        let ring = Ring::new(10);
        (0..5).for_each(|n| ring.push(event(n), false));
        assert_eq!(sequences(&ring.read(0, 100)), [1, 2, 3, 4, 5]);
        let resumed = ring.read(4, 100);
        assert_eq!(sequences(&resumed), [4, 5]);
        assert_eq!(resumed.next, 6);
        assert!(!resumed.finished);
    }

    #[test]
    fn a_consumer_behind_the_buffer_is_told_how_many_messages_it_missed() {
        let ring = Ring::new(3);
        (0..10).for_each(|n| ring.push(event(n), false));
        let batch = ring.read(2, 100);
        assert_eq!(
            batch.messages[0].body,
            Some(Body::Lost(Lost { messages: 6 })),
            "2..=7 were dropped"
        );
        assert_eq!(sequences(&batch), [7, 8, 9, 10]);
    }

    #[test]
    fn the_buffer_never_holds_more_than_its_capacity() {
        let ring = Ring::new(4);
        (0..1000).for_each(|n| ring.push(event(n), false));
        assert_eq!(ring.lock().buffer.len(), 4);
    }

    #[test]
    fn a_closed_ring_finishes_once_read_to_the_end() {
        let ring = Ring::new(4);
        ring.push(event(1), false);
        ring.push(event(2), true);
        ring.push(event(3), false);
        let batch = ring.read(1, 1);
        assert!(!batch.finished);
        let batch = ring.read(batch.next, 10);
        assert_eq!(sequences(&batch), [2]);
        assert!(batch.finished);
    }
}
