//! Requests sent to Graph and to the target, counted by HTTP status.
//!
//! Shared by the two HTTP clients (`source/http.rs`, `target/scim/client.rs`): each attempt,
//! retries included, is counted once its answer (or its failure) is known. The engine reads the
//! total for its reports; the daemon's `/metrics` reads the counts by status.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The status recorded for a request that got no HTTP answer (refused, timed out, cut off).
pub const NO_ANSWER: u16 = 0;

/// Counts of requests, in all and by HTTP status.
#[derive(Debug, Default)]
pub struct RequestCounts {
    total: AtomicU64,
    by_status: Mutex<BTreeMap<u16, u64>>,
}

impl RequestCounts {
    /// Counts one request as sent (for the total), before its answer is known.
    pub fn sent(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the answer to a request: its status, or [`NO_ANSWER`].
    pub fn answered(&self, status: u16) {
        let mut counts = self
            .by_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry(status).or_default() += 1;
    }

    /// Requests sent so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Answers so far, by status.
    pub fn by_status(&self) -> BTreeMap<u16, u64> {
        self.by_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_status() {
        let counts = RequestCounts::default();
        for status in [200, 200, 429, NO_ANSWER] {
            counts.sent();
            counts.answered(status);
        }
        counts.sent();
        assert_eq!(counts.total(), 5);
        let by_status = counts.by_status();
        assert_eq!(by_status.get(&200), Some(&2));
        assert_eq!(by_status.get(&429), Some(&1));
        assert_eq!(by_status.get(&NO_ANSWER), Some(&1));
    }
}
