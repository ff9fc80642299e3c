//! Requests sent to Graph and to the target, counted by HTTP status, and their bodies read
//! within a size limit.
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

/// Why a response's body was not read whole.
#[derive(Debug)]
pub enum BodyError {
    /// The connection failed or was cut off.
    Transport(reqwest::Error),
    /// The body is, or announces it is, larger than the limit.
    TooLarge { limit: usize },
}

impl BodyError {
    /// "larger than 16 MiB", for messages.
    pub fn too_large(limit: usize) -> String {
        format!("larger than {} MiB", limit >> 20)
    }
}

/// Reads a response's body, at most `limit` bytes: a server that announces or sends more
/// (a broken proxy, an endless stream) is refused before it fills the memory.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let announced = response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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

    fn response(body: Vec<u8>, announced: Option<u64>) -> reqwest::Response {
        let mut builder = axum::http::Response::builder().status(200);
        if let Some(length) = announced {
            builder = builder.header("content-length", length);
        }
        reqwest::Response::from(builder.body(body).expect("a response"))
    }

    /// Found by tests/hostile_bodies.rs: bodies were read whole, however large, so an endless
    /// stream filled the memory.
    #[tokio::test]
    async fn a_body_larger_than_the_limit_is_refused_before_it_is_read_whole() {
        let read = read_body(response(vec![b'x'; 100], None), 100).await;
        assert_eq!(read.expect("at the limit").len(), 100);
        let read = read_body(response(vec![b'x'; 101], None), 100).await;
        assert!(matches!(read, Err(BodyError::TooLarge { limit: 100 })));
        let read = read_body(response(Vec::new(), Some(2 << 30)), 100).await;
        assert!(
            matches!(read, Err(BodyError::TooLarge { limit: 100 })),
            "announced"
        );
        assert_eq!(BodyError::too_large(16 << 20), "larger than 16 MiB");
    }
}
