//! What a TOML syntax or type error says: one line naming the file, the line and the key, in
//! the words of the file rather than of the parser, and never the value of a secret key (part
//! of the configuration's first phase, `raw`).

use std::path::Path;

use super::{ConfigError, printable};

/// The keys whose value is a secret written inline: a message about them never quotes it.
const INLINE_SECRET_KEYS: [&str; 2] = ["client_secret", "token"];

/// The secret key whose value follows `before` (its line up to the value), written as
/// `client_secret = `, `"token" = ` or inside an inline table, `target = { token = `.
fn secret_key_before(before: &str) -> Option<&'static str> {
    let (keys, _) = before.rsplit_once('=')?;
    let key = keys
        .rsplit(|c: char| c.is_whitespace() || c == '{' || c == ',')
        .find(|k| !k.is_empty())?;
    let key = key.rsplit('.').next()?.trim_matches(['"', '\'']);
    INLINE_SECRET_KEYS.iter().copied().find(|k| *k == key)
}

/// Turns a TOML error into `file:line:column: [table] message` on one line.
pub(super) fn syntax_error(text: &str, path: &Path, err: &toml::de::Error) -> ConfigError {
    let mut span = err.span().unwrap_or(0..0);
    let mut raw_message = err.message().trim().replace('\n', " ");
    // A multi-line string never closed runs to the end of the file, where TOML reports it:
    // point at where it was opened instead (the tables after it are inside the string).
    let at_the_end = text
        .get(span.start.min(text.len())..)
        .is_some_and(|rest| rest.trim().is_empty());
    if raw_message.contains("multi-line") && at_the_end {
        let quote = if raw_message.contains("literal") {
            "'''"
        } else {
            "\"\"\""
        };
        if let Some(opened) = text.rfind(quote) {
            span = opened..opened + 3;
            raw_message =
                format!("a multi-line string opened here is never closed; end it with {quote}");
        }
    }
    let mut offset = span.start.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let this_line = text[line_start..line_end].trim();
    // The table the error is in: a header's own line (if it is one), else the last header
    // before it.
    let header = if this_line.starts_with('[') {
        let header = this_line.split('#').next().unwrap_or(this_line).trim_end();
        header.ends_with(']').then_some(header)
    } else {
        text[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
    };
    let table = header
        .map(|l| format!("in {} ", l.split('#').next().unwrap_or(l).trim()))
        .unwrap_or_default();
    let message = in_toml_words(&raw_message);
    // A duplicate points at the key itself; a type error at the value: name the key written
    // before it on the same line.
    let spanned = text
        .get(span)
        .map(str::trim)
        .filter(|key| !key.is_empty() && !key.contains('\n') && key.chars().count() <= 100);
    let message = if message.starts_with("duplicate key") {
        let key = spanned.map(|k| format!(" `{k}`")).unwrap_or_default();
        format!("{table}duplicate key{key}: write each key, and each [table], once")
    } else {
        let before = &text[line_start..offset];
        let key = before
            .split_once('=')
            .map(|(key, _)| key.trim())
            .filter(|key| !key.is_empty());
        match (secret_key_before(before), key) {
            (Some(secret), _) => format!(
                "{table}key `{secret}`: is not a string (the value is not shown); write the secret in quotes, or better in a file named by {secret}_file"
            ),
            (None, Some(key)) => format!("{table}key `{key}`: {message}"),
            (None, None) => format!("{table}{message}{}", top_level_hint(&table, &message)),
        }
    };
    ConfigError::Syntax {
        path: path.to_owned(),
        line,
        column,
        message: printable(&message),
    }
}

/// The keys of the top level that are not tables: written after a `[table]` header, they
/// belong to that table, the commonest way to get "unknown field" for a key that exists.
const TOP_LEVEL_KEYS: [&str; 3] = ["state_dir", "schedule", "default_permission"];

/// For an unknown field inside a table that is a top-level key: where to move it.
fn top_level_hint(table: &str, message: &str) -> String {
    let key = TOP_LEVEL_KEYS
        .iter()
        .find(|key| message.starts_with(&format!("unknown field `{key}`")));
    match key {
        Some(key) if !table.is_empty() => format!(
            "; {key} belongs to the top level, and a key after a [table] header belongs to that table: move it above the first [table]"
        ),
        _ => String::new(),
    }
}

/// serde's words for types in TOML's words: "expected i64" is "expected a whole number", a
/// sequence an array, a map or `struct RawTarget` a table.
fn in_toml_words(message: &str) -> String {
    let mut text = message
        .replace("expected i64", "expected a whole number")
        .replace("a sequence", "an array")
        .replace("sequence", "array")
        .replace("invalid type: map", "invalid type: table");
    while let Some(at) = text.find("struct Raw") {
        let end = text[at + 10..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(text.len(), |i| at + 10 + i);
        text.replace_range(at..end, "a table");
    }
    text
}
