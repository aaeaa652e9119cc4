//! Waiting on a condition with a deadline, never sleeping a fixed time and hoping.

use std::time::{Duration, Instant};

/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(20);

/// Checks `check` until it holds; panics naming `what` after `limit`. Returns how
/// long it took.
pub fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !check() {
        assert!(t0.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(POLL);
    }
    t0.elapsed()
}

/// [`eventually`] for async tests: sleeps on the runtime between checks.
pub async fn eventually_async(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> Duration {
    let t0 = Instant::now();
    while !check() {
        assert!(t0.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(POLL).await;
    }
    t0.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_once_the_condition_holds() {
        let mut n = 0;
        eventually(Duration::from_secs(5), "three checks", || {
            n += 1;
            n == 3
        });
        assert_eq!(n, 3);
    }

    #[test]
    #[should_panic(expected = "not within")]
    fn names_what_did_not_happen() {
        eventually(Duration::from_millis(50), "never", || false);
    }
}
