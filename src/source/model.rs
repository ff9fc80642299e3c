//! The source's own picture of Entra ID: users, groups and memberships as Microsoft Graph reports
//! them, and the result of one complete delta round.
//!
//! Flow: `source/` produces these values, the engine commits them to `snapshot/`, and `rules/`
//! reads them back. They carry no HTTP or Graph wire details beyond property names, and every id
//! is an opaque string (Graph documents GUIDs, but one of its own examples is not one).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The user properties entrasync asks Graph for (`$select` of `users/delta`): exactly what the
/// rules and the attribute expressions can use. `id` is always returned.
pub const USER_SELECT: &str = "id,userPrincipalName,mail,givenName,surname,displayName,department,\
officeLocation,userType,accountEnabled,companyName,jobTitle,employeeId,mobilePhone";

/// The group properties entrasync asks Graph for (`$select` of `groups/delta`).
pub const GROUP_SELECT: &str = "displayName,members";

/// A user as the last complete round reported it. Each delta entry carries every selected
/// property (Graph's default, not `return=minimal`), so a newer entry replaces the whole value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<String>,
}

/// A group in scope. Its members are kept apart, as [`Member`]s keyed by group id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// What kind of directory object a member is (from its `@odata.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MemberKind {
    User,
    Group,
    /// Devices, service principals, contacts: kept so a listing is complete, never provisioned.
    Other,
}

impl MemberKind {
    /// Reads an `@odata.type` such as `#microsoft.graph.user`; a missing type is a user, which is
    /// what Graph omits it for in `members@delta` of older payloads.
    pub fn from_odata_type(odata_type: Option<&str>) -> Self {
        match odata_type.map(|t| t.trim_start_matches("#microsoft.graph.")) {
            None | Some("user") => MemberKind::User,
            Some("group") => MemberKind::Group,
            Some(_) => MemberKind::Other,
        }
    }

    /// One byte for the snapshot's membership values.
    pub fn code(self) -> u8 {
        match self {
            MemberKind::User => b'u',
            MemberKind::Group => b'g',
            MemberKind::Other => b'o',
        }
    }

    /// The inverse of [`MemberKind::code`]; an unknown byte reads as `Other`.
    pub fn from_code(code: u8) -> Self {
        match code {
            b'u' => MemberKind::User,
            b'g' => MemberKind::Group,
            _ => MemberKind::Other,
        }
    }
}

/// One member of a group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub kind: MemberKind,
}

/// Why Graph reported an object as `@removed`, or why a full round dropped it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Removal {
    /// `@removed: {reason: "changed"}`: soft-deleted, restorable from deleted items for 30 days.
    SoftDeleted,
    /// `@removed: {reason: "deleted"}`: permanently deleted.
    HardDeleted,
    /// Known locally but absent from a complete full round (after a resync): gone, reason unknown.
    Absent,
}

impl Removal {
    /// Reads the `reason` of an `@removed` annotation. Graph documents `changed` and `deleted`;
    /// anything else is taken as the cautious `changed` (restorable).
    pub fn from_reason(reason: Option<&str>) -> Self {
        match reason {
            Some(r) if r.eq_ignore_ascii_case("deleted") => Removal::HardDeleted,
            _ => Removal::SoftDeleted,
        }
    }
}

/// Whether a round started from a stored delta link or from nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RoundKind {
    /// Started without a delta link (first round, after `reset`, or after Graph asked for a
    /// resync): it lists the complete current state, so absence from it is evidence of removal.
    Full,
    /// Started from a stored delta link: it lists only what changed since.
    Incremental,
}

/// Counters of one round, for reports, tests and the benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundStats {
    /// HTTP requests sent to Graph, retries included.
    pub requests: u64,
    /// Pages read (the last one carries the delta link).
    pub pages: u64,
    /// Objects read, repeats included.
    pub objects: u64,
    /// Times Graph asked for a resync and the round started over as a full round.
    pub resyncs: u64,
}

/// A complete `users/delta` round, merged: one entry per id, the last one read wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsersRound {
    pub kind: RoundKind,
    pub users: BTreeMap<String, User>,
    pub removed: BTreeMap<String, Removal>,
    /// The `@odata.deltaLink` that ended the round: where the next round starts.
    pub delta_link: String,
    pub stats: RoundStats,
}

/// How one group changed in a round. In a full round `added` is the complete member list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupChange {
    /// `None` when no page of the round carried the property.
    pub display_name: Option<String>,
    pub added: BTreeMap<String, MemberKind>,
    pub removed: BTreeSet<String>,
}

/// A complete `groups/delta` round for one chunk of at most 50 scoped group ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupsRound {
    /// The group ids this query covers (its `$filter`), sorted: the key of its delta link.
    pub ids: Vec<String>,
    pub kind: RoundKind,
    pub groups: BTreeMap<String, GroupChange>,
    pub removed: BTreeMap<String, Removal>,
    pub delta_link: String,
    pub stats: RoundStats,
}

/// The complete list of a group's members, nested groups resolved (`/transitiveMembers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitiveListing {
    pub group_id: String,
    pub members: BTreeMap<String, MemberKind>,
    pub stats: RoundStats,
}

/// A scoped group as configured, bound to its object id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopedGroup {
    /// The entry of `[source] groups` as written: a display name or an object id.
    pub configured: String,
    pub id: String,
}

/// Everything one cycle read from Graph, every round complete: what the engine commits to the
/// snapshot in one step. A cycle that fails midway produces no `Fetch`, so nothing is committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// The configured scoped groups, bound to ids (kept, so a rename keeps the binding).
    pub scoped: Vec<ScopedGroup>,
    /// One round per chunk of at most 50 scoped group ids.
    pub groups: Vec<GroupsRound>,
    pub users: UsersRound,
    /// `Some` when `members = "transitive"`: one complete listing per scoped group.
    pub transitive: Option<Vec<TransitiveListing>>,
    /// `[source] app`'s roles and every assignment, when an app is configured.
    pub app: Option<super::AppListing>,
}
