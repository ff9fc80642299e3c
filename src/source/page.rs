//! The JSON Graph sends, parsed into the source model: delta pages, directory object listings,
//! and the error envelope (with the resync codes of graph-delta.md §4).
//!
//! Part of `source/`: `http.rs` hands bodies here, `delta.rs` and `groups.rs` get typed pages.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::model::{MemberKind, Removal, User};

/// One page of any Graph collection: exactly one of the two links on a delta page.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
}

/// Parses a page body (what `http.rs` does for real, through `get_json`).
#[cfg(test)]
pub fn parse_page<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<Page<T>, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The most of a parse error's text a message carries: serde quotes the value it did not
/// expect, and a hostile or broken body can make that value megabytes long.
const MAX_DETAIL: usize = 200;

/// Why a body is not the page asked for. Each says so on one line of bounded length, without
/// the body itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadBody {
    /// Not JSON, or cut short: maybe a proxy's page or a broken connection, worth a retry.
    Unreadable(String),
    /// JSON, but not of the page's shape (a field missing or of another type): Graph answered
    /// and would answer the same again.
    Shape(String),
}

impl std::fmt::Display for BadBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadBody::Unreadable(what) | BadBody::Shape(what) => f.write_str(what),
        }
    }
}

/// Parses a body Graph sent as `T`.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, BadBody> {
    serde_json::from_slice(body).map_err(|err| {
        let detail = shorten(&err.to_string(), MAX_DETAIL);
        if err.is_eof() {
            BadBody::Unreadable(format!("a body that ends too soon ({detail})"))
        } else if err.is_syntax() {
            BadBody::Unreadable(format!("a body that is not JSON ({detail})"))
        } else {
            BadBody::Shape(format!("JSON of another shape than expected ({detail})"))
        }
    })
}

/// `text` as one printable line of at most `max` characters: what Graph (or whatever
/// answered in its place) wrote, quoted in a message.
pub fn shorten(text: &str, max: usize) -> String {
    crate::config::one_line(text, max)
}

/// Checks a link Graph sent (`which`: `@odata.nextLink` or `@odata.deltaLink`) before
/// anything follows or stores it: it must be an http(s) URL on the origin of `home` (the
/// configured `graph_url`), since the bearer token goes wherever it points. The one place that
/// decides so: for the links on a page ([`Page::next_url`], [`Page::delta_url`]) and for a
/// stored delta link before its round follows it (`delta.rs`); `http.rs` sends what it is given.
pub fn check_link(which: &str, link: &str, home: &str) -> Result<(), String> {
    let home = reqwest::Url::parse(home).map(|u| u.origin());
    let url = reqwest::Url::parse(link).map_err(|err| {
        format!(
            "an {which} that is not a URL ({err}; the bearer token goes only to [source] graph_url)"
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "an {which} with the scheme {} (the bearer token goes only to [source] graph_url)",
            shorten(url.scheme(), 20)
        ));
    }
    match home {
        Ok(home) if home == url.origin() => Ok(()),
        Ok(home) => Err(format!(
            "an {which} to {} instead of {} (the bearer token goes only to [source] graph_url)",
            shorten(&url.origin().ascii_serialization(), 100),
            home.ascii_serialization()
        )),
        Err(_) => Err(format!(
            "an {which} that cannot be checked against [source] graph_url"
        )),
    }
}

impl<T> Page<T> {
    /// The URL of the next page, if any, checked with [`check_link`]: on Graph's origin
    /// (`home`'s), and not `current`, the page just read (which would be read for ever).
    pub fn next_url(&self, current: &str, home: &str) -> Result<Option<String>, String> {
        let Some(next) = &self.next_link else {
            return Ok(None);
        };
        check_link("@odata.nextLink", next, home)?;
        if next == current {
            return Err("an @odata.nextLink to the page it is on".into());
        }
        Ok(Some(next.clone()))
    }

    /// The `@odata.deltaLink` that ends a round, checked with [`check_link`].
    pub fn delta_url(&self, home: &str) -> Result<Option<String>, String> {
        let Some(link) = &self.delta_link else {
            return Ok(None);
        };
        check_link("@odata.deltaLink", link, home)?;
        Ok(Some(link.clone()))
    }
}

/// The kinds of page Graph sends entrasync, for [`parse_graph_page`].
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphPageKind {
    /// A page of `users/delta`.
    UsersDelta,
    /// A page of `groups/delta`.
    GroupsDelta,
    /// A page of `/members`, `/transitiveMembers` or `/memberOf`.
    Members,
    /// A page of `/groups?$filter=displayName eq '…'`.
    GroupsList,
}

/// Reads `body` as a round does a page of `kind` read from `url` (the body parsed, its links
/// checked against `url`'s origin; a delta page must end in one of its two links) and returns
/// how many entries it holds. Public for the fuzz tests (`tests/fuzz_parsers.rs`), not an API.
#[doc(hidden)]
pub fn parse_graph_page(kind: GraphPageKind, body: &[u8], url: &str) -> Result<usize, String> {
    fn links<T>(page: &Page<T>, url: &str, delta: bool) -> Result<usize, String> {
        let next = page.next_url(url, url)?;
        if delta && next.is_none() && page.delta_url(url)?.is_none() {
            return Err(MISSING_LINKS.into());
        }
        Ok(page.value.len())
    }
    fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<Page<T>, String> {
        parse_body(body).map_err(|bad| bad.to_string())
    }
    let _ = GraphErrorBody::parse(body).asks_for_resync();
    match kind {
        GraphPageKind::UsersDelta => links(&parse::<UserEntry>(body)?, url, true),
        GraphPageKind::GroupsDelta => links(&parse::<GroupEntry>(body)?, url, true),
        GraphPageKind::Members => links(&parse::<MemberEntry>(body)?, url, false),
        GraphPageKind::GroupsList => links(&parse::<GroupHit>(body)?, url, false),
    }
}

/// What a delta page without either link is.
pub const MISSING_LINKS: &str = "a delta page with neither @odata.nextLink nor @odata.deltaLink";

/// `@removed: {"reason": "changed" | "deleted"}`.
#[derive(Debug, Deserialize)]
pub struct RemovedMark {
    pub reason: Option<String>,
}

impl RemovedMark {
    pub fn removal(&self) -> Removal {
        Removal::from_reason(self.reason.as_deref())
    }
}

/// An entry of `users/delta`: a user, or only its id with `@removed`.
#[derive(Debug, Deserialize)]
pub struct UserEntry {
    #[serde(rename = "@removed")]
    pub removed: Option<RemovedMark>,
    #[serde(flatten)]
    pub user: User,
}

/// An entry of `groups/delta`.
#[derive(Debug, Deserialize)]
pub struct GroupEntry {
    pub id: String,
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    #[serde(rename = "members@delta")]
    pub members_delta: Option<Vec<MemberEntry>>,
    #[serde(rename = "@removed")]
    pub removed: Option<RemovedMark>,
}

/// A member in `members@delta`, or an item of `/members` and `/transitiveMembers`.
#[derive(Debug, Deserialize)]
pub struct MemberEntry {
    pub id: String,
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
    #[serde(rename = "@removed")]
    pub removed: Option<RemovedMark>,
}

impl MemberEntry {
    pub fn kind(&self) -> MemberKind {
        MemberKind::from_odata_type(self.odata_type.as_deref())
    }
}

/// A group found by `/groups?$filter=displayName eq '…'`.
#[derive(Debug, Deserialize)]
pub struct GroupHit {
    pub id: String,
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
}

/// What an error body said: the outer code, every nested code, the message and request id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GraphErrorBody {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// The outer code and every `innerError`/`innererror` code, outermost first.
    pub codes: Vec<String>,
}

/// The codes with which Graph says a delta token is no longer usable (any case).
const RESYNC_CODES: [&str; 3] = ["syncStateNotFound", "syncStateInvalid", "resyncRequired"];

impl GraphErrorBody {
    /// Reads `{"error": {"code", "message", "innerError": {...}}}`; anything else gives an empty
    /// body rather than an error, since the status code still says what happened.
    pub fn parse(body: &[u8]) -> Self {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return GraphErrorBody::default();
        };
        let Some(error) = value.get("error") else {
            return GraphErrorBody::default();
        };
        // What Graph (or whatever answered) wrote goes into messages: one line, bounded.
        let text = |v: &serde_json::Value, key: &str| {
            v.get(key)
                .and_then(|c| c.as_str())
                .map(|t| shorten(t, MAX_DETAIL))
        };
        let mut parsed = GraphErrorBody {
            code: text(error, "code").unwrap_or_default(),
            message: text(error, "message").unwrap_or_default(),
            ..GraphErrorBody::default()
        };
        let mut level = Some(error);
        while let Some(node) = level {
            if let Some(code) = text(node, "code") {
                parsed.codes.push(code);
            }
            parsed.request_id = parsed.request_id.or_else(|| text(node, "request-id"));
            level = node.get("innerError").or_else(|| node.get("innererror"));
        }
        parsed
    }

    /// True when Graph says the delta token must be dropped and the query started over.
    pub fn asks_for_resync(&self) -> bool {
        self.codes
            .iter()
            .any(|code| RESYNC_CODES.iter().any(|r| r.eq_ignore_ascii_case(code)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_page_reads_users_and_removals() {
        let body = br#"{"@odata.context":"x","@odata.nextLink":"http://n","value":[
            {"id":"1","userPrincipalName":"a@x","accountEnabled":false,"department":null,"businessPhones":[]},
            {"id":"2","@removed":{"reason":"deleted"}},
            {"id":"3","@removed":{"reason":"changed"}}]}"#;
        let page: Page<UserEntry> = parse_page(body).unwrap();
        assert_eq!(page.next_link.as_deref(), Some("http://n"));
        assert_eq!(page.delta_link, None);
        assert_eq!(
            page.value[0].user.user_principal_name.as_deref(),
            Some("a@x")
        );
        assert_eq!(page.value[0].user.account_enabled, Some(false));
        assert!(page.value[0].removed.is_none());
        assert_eq!(
            page.value[1].removed.as_ref().unwrap().removal(),
            Removal::HardDeleted
        );
        assert_eq!(
            page.value[2].removed.as_ref().unwrap().removal(),
            Removal::SoftDeleted
        );
    }

    #[test]
    fn a_group_page_reads_member_changes() {
        let body = br##"{"@odata.deltaLink":"http://d","value":[{"id":"g","displayName":"G",
            "members@delta":[{"@odata.type":"#microsoft.graph.user","id":"u1"},
            {"@odata.type":"#microsoft.graph.group","id":"g2"},
            {"@odata.type":"#microsoft.graph.user","id":"u2","@removed":{"reason":"deleted"}}]},
            {"id":"h","@removed":{"reason":"changed"}}]}"##;
        let page: Page<GroupEntry> = parse_page(body).unwrap();
        let members = page.value[0].members_delta.as_ref().unwrap();
        assert_eq!(members[1].kind(), MemberKind::Group);
        assert!(members[2].removed.is_some());
        assert!(page.value[1].removed.is_some() && page.value[1].members_delta.is_none());
    }

    #[test]
    fn resync_codes_are_found_at_any_depth_and_case() {
        let cases: [(&[u8], bool); 5] = [
            (
                br#"{"error":{"code":"syncStateNotFound","message":"m"}}"#,
                true,
            ),
            (
                br#"{"error":{"code":"BadRequest","innerError":{"code":"SyncStateNotFound"}}}"#,
                true,
            ),
            (
                br#"{"error":{"code":"x","innererror":{"innererror":{"code":"RESYNCREQUIRED"}}}}"#,
                true,
            ),
            (
                br#"{"error":{"code":"Request_BadRequest","message":"resyncRequired"}}"#,
                false,
            ),
            (b"<html>gateway</html>", false),
        ];
        for (body, resync) in cases {
            let parsed = GraphErrorBody::parse(body);
            assert_eq!(
                parsed.asks_for_resync(),
                resync,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let parsed = GraphErrorBody::parse(
            br#"{"error":{"code":"TooManyRequests","message":"later","innerError":{"request-id":"r1"}}}"#,
        );
        assert_eq!(parsed.code, "TooManyRequests");
        assert_eq!(parsed.request_id.as_deref(), Some("r1"));
    }

    // Regression tests for what tests/hostile_bodies.rs found (each was followed or retried).

    const HOME: &str = "https://graph.microsoft.com/v1.0/users/delta?$select=id";

    #[test]
    fn a_link_to_another_host_is_refused_before_the_token_goes_there() {
        let refused = [
            "https://evil.example/v1.0/users/delta?$deltatoken=x",
            "https://graph.microsoft.com.evil.example/v1.0/users/delta",
            "http://graph.microsoft.com/v1.0/users/delta",
            "https://graph.microsoft.com:8443/v1.0/users/delta",
            "file:///etc/passwd",
            "not a url",
            "/v1.0/users/delta?$skiptoken=relative",
        ];
        for link in refused {
            for which in ["@odata.nextLink", "@odata.deltaLink"] {
                let body = serde_json::json!({ which: link, "value": [] }).to_string();
                let err = parse_graph_page(GraphPageKind::UsersDelta, body.as_bytes(), HOME)
                    .expect_err(link);
                assert!(
                    err.contains(which) && err.contains("graph_url"),
                    "{link}: {err}"
                );
                assert!(
                    !err.contains("deltatoken"),
                    "no query in the message: {err}"
                );
            }
        }
        let fine = "https://graph.microsoft.com:443/v1.0/users/delta?$skiptoken=abc";
        let body = serde_json::json!({ "@odata.nextLink": fine, "value": [{"id": "1"}] });
        let read = parse_graph_page(GraphPageKind::UsersDelta, body.to_string().as_bytes(), HOME);
        assert_eq!(read, Ok(1), "the default port is the same origin");
    }

    #[test]
    fn a_next_link_to_the_page_itself_is_refused() {
        let body = serde_json::json!({ "@odata.nextLink": HOME, "value": [] }).to_string();
        let err =
            parse_graph_page(GraphPageKind::Members, body.as_bytes(), HOME).expect_err("a loop");
        assert!(err.contains("to the page it is on"), "{err}");
    }

    #[test]
    fn a_body_of_another_shape_says_so_on_one_short_line() {
        let huge = "x".repeat(5 << 20);
        let cases = [
            (format!(r#"{{"value": "{huge}"}}"#), "another shape"),
            (
                format!(r#"{{"value": [{{"id": "1", "department": ["{huge}"]}}]}}"#),
                "another shape",
            ),
            (
                r#"{"value": [{"userPrincipalName": "a@b"}]}"#.to_owned(),
                "missing field `id`",
            ),
            (r#"{"value": null}"#.to_owned(), "another shape"),
            (
                "<html>
<body>Sign in</body></html>"
                    .to_owned(),
                "not JSON",
            ),
            (r#"{"value": [{"id": "1""#.to_owned(), "ends too soon"),
        ];
        for (body, want) in cases {
            let err = parse_body::<Page<UserEntry>>(body.as_bytes()).expect_err(want);
            let text = err.to_string();
            assert!(text.contains(want), "{want}: {text}");
            assert!(
                text.chars().count() <= 300 && !text.contains('\n'),
                "{text}"
            );
        }
        assert!(matches!(
            parse_body::<Page<UserEntry>>(b"<html>"),
            Err(BadBody::Unreadable(_))
        ));
        assert!(matches!(
            parse_body::<Page<UserEntry>>(br#"{"value": 1}"#),
            Err(BadBody::Shape(_))
        ));
    }
}
