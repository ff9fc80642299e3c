//! When to try a request again, and how long to wait first. Pure: no I/O, no clock.
//!
//! Shared by `source/http.rs` (every Graph request of a round) and the SCIM adapter in
//! `target/` (every request to the application). Graph's guidance (graph-delta.md §5): on 429,
//! 503 and 504 wait `Retry-After` when given (decimal seconds, or an HTTP date), else back off
//! exponentially; connection errors and cut-off bodies are retried the same way. The total wait
//! of one request is bounded, so a round fails cleanly instead of hanging.

use std::time::{Duration, SystemTime};

/// How patient one request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff; it doubles on each further failure.
    pub base_delay: Duration,
    /// No single wait is longer than this, whatever `Retry-After` says.
    pub max_delay: Duration,
    /// The most one request waits in total before the round fails.
    pub max_total_wait: Duration,
    /// The most attempts for failures without `Retry-After` (connection errors, 5xx, bad bodies);
    /// throttling with `Retry-After` is bounded by `max_total_wait` alone.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// Graph SDK-like defaults (3 s first delay, 180 s cap) with the configured total bound.
    pub fn with_total_wait(max_total_wait: Duration) -> Self {
        RetryPolicy {
            base_delay: Duration::from_secs(3),
            max_delay: Duration::from_secs(180),
            max_total_wait,
            max_attempts: 6,
        }
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1), or `None` to give up.
    /// `retry_after` is the server's word; `jitter` is a number in [0, 1) spreading clients out.
    pub fn next_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        waited: Duration,
        jitter: f64,
    ) -> Option<Duration> {
        // Even a server that keeps saying "retry after 0" is not followed for ever.
        if attempt >= self.max_attempts.saturating_mul(10) {
            return None;
        }
        let delay = match retry_after {
            Some(after) => after.min(self.max_delay),
            None => {
                if attempt >= self.max_attempts {
                    return None;
                }
                let exp = self
                    .base_delay
                    .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
                    .min(self.max_delay);
                // "Equal jitter": at least half the backoff, so waits still grow.
                exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
            }
        };
        (waited + delay <= self.max_total_wait).then_some(delay)
    }
}

/// Reads a `Retry-After` header: decimal seconds (Graph sends `2.128`) or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A small, dependency-free source of jitter (splitmix64 over a counter seeded by the clock).
pub struct Jitter(std::sync::atomic::AtomicU64);

impl Jitter {
    pub fn new() -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64);
        Jitter(std::sync::atomic::AtomicU64::new(seed))
    }

    /// A number in [0, 1).
    pub fn next(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// 64 random-looking bits (not for secrets).
    pub fn next_u64(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random GUID-shaped string (`8-4-4-4-12` hex digits).
    pub fn guid(&self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            max_total_wait: Duration::from_secs(30),
            max_attempts: 4,
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = policy();
        let d = |s: f64| Some(Duration::from_secs_f64(s));
        assert_eq!(p.next_delay(1, d(2.128), Duration::ZERO, 0.9), d(2.128));
        assert_eq!(
            p.next_delay(9, d(2.0), Duration::ZERO, 0.0),
            d(2.0),
            "no attempt cap"
        );
        assert_eq!(
            p.next_delay(1, d(60.0), Duration::ZERO, 0.0),
            d(10.0),
            "capped"
        );
        assert_eq!(
            p.next_delay(1, d(5.0), Duration::from_secs(26), 0.0),
            None,
            "budget"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stops() {
        let p = policy();
        let table = [
            (1, 0.0, 500),
            (1, 0.999, 999),
            (2, 0.0, 1000),
            (3, 0.0, 2000),
        ];
        for (attempt, jitter, millis) in table {
            let got = p.next_delay(attempt, None, Duration::ZERO, jitter).unwrap();
            assert_eq!(got.as_millis(), millis, "attempt {attempt} jitter {jitter}");
        }
        assert_eq!(p.next_delay(4, None, Duration::ZERO, 0.0), None, "attempts");
    }

    #[test]
    fn reads_both_forms_of_retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("2.128", now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn jitter_stays_in_range() {
        let j = Jitter::new();
        for _ in 0..1000 {
            let x = j.next();
            assert!((0.0..1.0).contains(&x), "{x}");
        }
    }

    #[test]
    fn guids_have_the_shape_and_differ() {
        let j = Jitter::new();
        let (a, b) = (j.guid(), j.guid());
        assert_ne!(a, b);
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{a}");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{a}");
    }
}
