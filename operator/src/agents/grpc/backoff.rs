//! Exponential backoff per node: after a transport failure, calls to that node fail fast
//! until the wait is over; a success resets it.

use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_millis(200);
const MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
    until: Option<Instant>,
    last_error: String,
}

impl Backoff {
    pub fn failed(&mut self, error: &str) {
        self.failures = self.failures.saturating_add(1);
        let wait = FIRST
            .saturating_mul(1 << self.failures.min(8).saturating_sub(1))
            .min(MAX);
        self.until = Some(Instant::now() + wait);
        error.clone_into(&mut self.last_error);
    }

    pub fn succeeded(&mut self) {
        *self = Backoff::default();
    }

    /// How long calls still fail fast.
    pub fn waiting(&self) -> Option<Duration> {
        self.until
            .map(|until| until.saturating_duration_since(Instant::now()))
            .filter(|wait| !wait.is_zero())
    }

    pub fn last_error(&self) -> &str {
        &self.last_error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_doubles_the_wait_up_to_a_cap_and_a_success_clears_it() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.waiting(), None);
        backoff.failed("refused");
        let first = backoff.waiting().expect("waiting");
        assert!(first <= FIRST);
        backoff.failed("refused");
        assert!(backoff.waiting().expect("waiting") > first);
        (0..20).for_each(|_| backoff.failed("refused"));
        assert!(backoff.waiting().expect("waiting") <= MAX);
        backoff.succeeded();
        assert_eq!(backoff.waiting(), None);
    }
}
