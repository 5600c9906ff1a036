//! Waiting on a condition that nothing announces (a flush round, a file in a bucket).

use std::future::Future;
use std::time::Duration;

/// Runs `round` until it returns `Some`, every 50 ms, failing with `what` after 30 s.
pub async fn until<T, F, Fut>(what: &str, mut round: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(done) = round().await {
            return done;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
