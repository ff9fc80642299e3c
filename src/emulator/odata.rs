//! How the emulator reads a request's text as Graph does: path segments percent-decoded, query
//! strings and the token request's body form-decoded, OData options with their keys in any case,
//! and OData string literals.
//!
//! Part of `emulator/`: `server.rs` decodes every request with these, `auth.rs` the token form,
//! and the `$filter` readers (`delta_request.rs`, `directory.rs`, `app_reads.rs`) take their
//! quoted values apart with [`odata_string`].

/// A path segment, percent-decoded (`+` and `&` stay themselves, as in a path).
pub(super) fn decode(segment: &str) -> String {
    // Form decoding turns `+` into a space, which a path does not, and splits at `&`: keep
    // both as themselves first.
    let escaped = segment.replace('+', "%2B").replace('&', "%26");
    decode_form(&format!("s={escaped}"))
        .into_iter()
        .next()
        .map_or_else(|| segment.to_owned(), |(_, value)| value)
}

/// An OData string literal at the start of `text` (`'…'`, quotes doubled inside), and the rest.
pub fn odata_string(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('\'')?.char_indices().peekable();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
                value.push('\'');
            } else {
                return Some((value, &text[i + 2..]));
            }
        } else {
            value.push(c);
        }
    }
    None
}

/// The query string's options, decoded, keys lower-cased (OData options are case-insensitive).
pub(super) fn parse_query(query: &str) -> Vec<(String, String)> {
    let mut pairs = decode_form(query);
    pairs.iter_mut().for_each(|(k, _)| *k = k.to_lowercase());
    pairs
}

/// Decodes `a=b&c=d` as `application/x-www-form-urlencoded` (`+` is a space), as both query
/// strings and the token request's body are.
pub fn decode_form(text: &str) -> Vec<(String, String)> {
    // The URL parser's query decoding is exactly form decoding.
    match reqwest::Url::parse(&format!("http://form/?{text}")) {
        Ok(url) => url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        Err(_) => Vec::new(),
    }
}
