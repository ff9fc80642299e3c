//! The JSON Graph sends, parsed into the source model: delta pages, directory object listings,
//! and the error envelope (with the resync codes of graph-delta.md §4).
//!
//! Part of `source/`: `http.rs` hands bodies here, `delta.rs` and `groups.rs` get typed pages.

use serde::Deserialize;

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
        let text = |v: &serde_json::Value, key: &str| {
            v.get(key).and_then(|c| c.as_str()).map(str::to_owned)
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
}
