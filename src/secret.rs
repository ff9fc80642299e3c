//! A secret value (client secret, access token, bearer token) that cannot be printed by accident.
//!
//! Invariant 6: secrets never reach logs, the snapshot, plans or errors. `Secret` has no
//! `Display`, its `Debug` prints a placeholder, and it is not `Serialize`; the only way to the
//! value is [`Secret::expose`], called where the value goes on the wire.

use std::borrow::Cow;
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

impl Secret {
    /// `text` with the value replaced by `<redacted>` wherever it appears — as is, JSON-escaped,
    /// percent-encoded (a form body) or in base64 (HTTP Basic) — for what a server says back
    /// in an error, which entrasync shows and records: some quote the request they refused.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.0.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut text = Cow::Borrowed(text);
        for form in self.forms() {
            if !text.contains(form.as_str()) {
                continue;
            }
            text = Cow::Owned(if form.len() >= WHOLE_WORDS_BELOW {
                text.replace(form.as_str(), REDACTED)
            } else {
                replace_standalone(&text, &form)
            });
        }
        text
    }

    /// The value as it may travel, longest first (so a form holding another goes whole).
    fn forms(&self) -> Vec<String> {
        use base64::Engine as _;
        let value = &self.0;
        let mut encoded = String::with_capacity(value.len());
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || b"*-._".contains(&byte) {
                encoded.push(char::from(byte));
            } else if byte == b' ' {
                encoded.push('+');
            } else {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
        let json = serde_json::to_string(value).unwrap_or_default();
        let json = json
            .strip_prefix('"')
            .and_then(|j| j.strip_suffix('"'))
            .unwrap_or(value);
        let mut forms = vec![
            value.clone(),
            json.to_owned(),
            encoded,
            base64::engine::general_purpose::STANDARD.encode(value),
        ];
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        forms
    }
}

/// What replaces a secret in text that is shown.
pub const REDACTED: &str = "<redacted>";

/// A value shorter than this is redacted only where it stands alone (no letter or digit right
/// before or after it): a secret `x` must not turn "proxy" into "pro<redacted>y".
const WHOLE_WORDS_BELOW: usize = 8;

/// `text` with each occurrence of `needle` that no ASCII letter or digit touches replaced.
fn replace_standalone(text: &str, needle: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(needle) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + needle.len()..].chars().next();
        let touches = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        out.push_str(&rest[..at]);
        if touches(before) || touches(after) {
            out.push_str(needle);
        } else {
            out.push_str(REDACTED);
        }
        rest = &rest[at + needle.len()..];
    }
    out.push_str(rest);
    out
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

    #[test]
    fn redact_replaces_every_form_of_the_value_and_nothing_else() {
        let secret = Secret::new("s3cret~value \"x\"");
        let text = "raw s3cret~value \"x\", form s3cret%7Evalue+%22x%22, json s3cret~value \\\"x\\\", basic czNjcmV0fnZhbHVlICJ4Ig==.";
        assert_eq!(
            secret.redact(text),
            "raw <redacted>, form <redacted>, json <redacted>, basic <redacted>."
        );
        assert!(matches!(secret.redact("nothing here"), Cow::Borrowed(_)));
        assert_eq!(
            Secret::new("").redact("empty secrets redact nothing"),
            "empty secrets redact nothing"
        );
    }

    #[test]
    fn a_short_secret_is_redacted_only_where_it_stands_alone() {
        let secret = Secret::new("x");
        assert_eq!(
            secret.redact("check the proxy; the secret 'x' (x) is wrong: x"),
            "check the proxy; the secret '<redacted>' (<redacted>) is wrong: <redacted>"
        );
        let secret = Secret::new("abc123~");
        assert_eq!(
            secret.redact("client_secret=abc123%7E&x=1 abc123~ zabc123~"),
            "client_secret=<redacted>&x=1 <redacted> zabc123~"
        );
    }
}
