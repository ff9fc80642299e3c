//! A secret value (client secret, access token, bearer token) that cannot be printed by accident.
//!
//! Invariant 6: secrets never reach logs, the snapshot, plans or errors. `Secret` has no
//! `Display`, its `Debug` prints a placeholder, and it is not `Serialize`; the only way to the
//! value is [`Secret::expose`], called where the value goes on the wire.

use std::fmt;

/// A string that must never be logged, stored or shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2-very-secret");
        let shown = format!("{secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }
}
