//! The tenant's enterprise applications: service principals, the app roles they expose and the
//! app role assignments of users and groups to them (graph-delta.md §8).
//!
//! Part of `emulator/`: the records and the [`Tenant`] methods that read them; tests and the demo
//! change them through the methods of `app_admin.rs`, as an admin does in Entra's Enterprise
//! applications blade; `app_reads.rs` serves them. Graph offers no delta of assignments, so
//! nothing here goes into the change log. A deleted user or group keeps its assignments while it
//! sits in deleted items (they are not listed) and loses them when deleted for good, as it does
//! its memberships. An assignment's id is shaped like Graph's: base64url of the principal's GUID
//! bytes and 16 more.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::load::SplitMix;
use super::tenant::{Presence, Tenant};

/// The `appRoleId` of an assignment to the app itself, with no specific role ("Default Access").
pub const DEFAULT_ACCESS: &str = "00000000-0000-0000-0000-000000000000";

/// A role an application exposes (`servicePrincipal.appRoles[]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    /// A GUID; empty: the tenant makes one when the role is added.
    #[serde(default)]
    pub id: String,
    /// What goes into the `roles` claim.
    pub value: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "enabled")]
    pub is_enabled: bool,
    /// `User` (users and groups) and/or `Application`.
    #[serde(default = "users_only")]
    pub allowed_member_types: Vec<String>,
}

fn enabled() -> bool {
    true
}

fn users_only() -> Vec<String> {
    vec!["User".to_owned()]
}

impl AppRole {
    /// An enabled role for users and groups, its description its display name; the tenant gives
    /// it an id.
    pub fn new(value: &str, display_name: &str) -> AppRole {
        AppRole {
            id: String::new(),
            value: value.to_owned(),
            display_name: display_name.to_owned(),
            description: display_name.to_owned(),
            is_enabled: true,
            allowed_member_types: users_only(),
        }
    }

    /// The same role with this id.
    pub fn with_id(self, id: &str) -> AppRole {
        AppRole {
            id: id.to_owned(),
            ..self
        }
    }

    /// As Graph writes it in `appRoles`.
    pub fn to_json(&self) -> Value {
        json!({
            "allowedMemberTypes": self.allowed_member_types,
            "description": self.description,
            "displayName": self.display_name,
            "id": self.id,
            "isEnabled": self.is_enabled,
            "origin": "Application",
            "value": self.value,
        })
    }
}

/// An app role assignment as [`Tenant::app_role_assignments`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRoleAssignment {
    pub id: String,
    /// [`DEFAULT_ACCESS`] or the id of one of the app's roles (perhaps removed since).
    pub app_role_id: String,
    pub principal_id: String,
    /// `User` or `Group`.
    pub principal_type: &'static str,
    /// ISO 8601, UTC.
    pub created_date_time: String,
}

/// Why the tenant refuses a change to an app (Graph would answer 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("no service principal is {0}")]
    NoServicePrincipal(String),
    #[error("a service principal for appId {0} exists already")]
    AppIdTaken(String),
    #[error("the object id {0} is taken")]
    IdTaken(String),
    #[error("no live user or group is {0}")]
    NoPrincipal(String),
    #[error("permission being assigned was not found on application: {0}")]
    NoRole(String),
    #[error("app role {0} is disabled")]
    RoleDisabled(String),
    #[error("app role {0} is not for users and groups (allowedMemberTypes)")]
    NotForUsers(String),
    #[error("app role {0} must be disabled before it is removed")]
    RoleEnabled(String),
    #[error("an app role's id must be a GUID other than the default access one: {0}")]
    BadRoleId(String),
    #[error("app role {0} is defined twice (same id or value)")]
    DuplicateRole(String),
    #[error("permission being assigned already exists on the object")]
    AlreadyAssigned,
}

#[derive(Clone, Debug)]
pub(super) struct ServicePrincipalRecord {
    /// Every property but `id` and `appRoles`.
    pub props: Map<String, Value>,
    pub roles: Vec<AppRole>,
    /// By assignment id.
    pub assignments: BTreeMap<String, AssignmentRecord>,
}

#[derive(Clone, Debug)]
pub(super) struct AssignmentRecord {
    pub app_role_id: String,
    pub principal_id: String,
    pub created_date_time: String,
}

impl Tenant {
    // -- reading ---------------------------------------------------------------------------

    /// The ids of the service principals, sorted.
    pub fn service_principal_ids(&self) -> Vec<String> {
        self.service_principals.keys().cloned().collect()
    }

    /// The id of the service principal of this application (client) id (any case).
    pub fn service_principal_id(&self, app_id: &str) -> Option<String> {
        self.service_principals
            .iter()
            .find(|(_, sp)| {
                sp.props
                    .get("appId")
                    .and_then(Value::as_str)
                    .is_some_and(|a| a.eq_ignore_ascii_case(app_id))
            })
            .map(|(id, _)| id.clone())
    }

    /// A service principal as Graph returns it (every property, `id` and `appRoles` included).
    pub fn service_principal(&self, id: &str) -> Option<Value> {
        let sp = self.service_principals.get(id)?;
        let mut object = Map::with_capacity(sp.props.len() + 2);
        object.insert("id".into(), Value::String(id.to_owned()));
        object.extend(sp.props.iter().map(|(k, v)| (k.clone(), v.clone())));
        let roles = sp.roles.iter().map(AppRole::to_json).collect();
        object.insert("appRoles".into(), Value::Array(roles));
        Some(Value::Object(object))
    }

    /// The roles a service principal exposes (none if it does not exist).
    pub fn app_roles(&self, sp: &str) -> Vec<AppRole> {
        self.service_principals
            .get(sp)
            .map(|sp| sp.roles.clone())
            .unwrap_or_default()
    }

    /// The assignments to a service principal of live users and groups, by assignment id.
    pub fn app_role_assignments(&self, sp: &str) -> Vec<AppRoleAssignment> {
        let Some(record) = self.service_principals.get(sp) else {
            return Vec::new();
        };
        record
            .assignments
            .iter()
            .filter_map(|(id, a)| {
                Some(AppRoleAssignment {
                    id: id.clone(),
                    app_role_id: a.app_role_id.clone(),
                    principal_id: a.principal_id.clone(),
                    principal_type: self.live_principal_type(&a.principal_id)?,
                    created_date_time: a.created_date_time.clone(),
                })
            })
            .collect()
    }

    /// `User` or `Group` for a live user or group.
    pub(super) fn live_principal_type(&self, id: &str) -> Option<&'static str> {
        if self
            .users
            .get(id)
            .is_some_and(|u| u.presence == Presence::Live)
        {
            Some("User")
        } else if self
            .groups
            .get(id)
            .is_some_and(|g| g.presence == Presence::Live)
        {
            Some("Group")
        } else {
            None
        }
    }
}

/// True for `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits.
pub(super) fn is_guid(text: &str) -> bool {
    guid_bytes(text).is_some()
}

/// A GUID's 16 bytes in .NET's order (the first three fields little-endian), as Graph encodes
/// it in an assignment's id.
fn guid_bytes(text: &str) -> Option<[u8; 16]> {
    let fields: Vec<&str> = text.split('-').collect();
    let shaped = fields.len() == 5
        && fields
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(f, len)| f.len() == len && f.bytes().all(|c| c.is_ascii_hexdigit()));
    if !shaped {
        return None;
    }
    let hex = fields.concat();
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    bytes[0..4].reverse();
    bytes[4..6].reverse();
    bytes[6..8].reverse();
    Some(bytes)
}

/// The id of the `serial`th assignment, to `principal_id`: the principal's GUID bytes (any other
/// id hashed to 16 bytes) and 16 bytes from the serial, base64url without padding (43 chars).
pub(super) fn assignment_id(principal_id: &str, serial: u64) -> String {
    let head = guid_bytes(principal_id).unwrap_or_else(|| {
        let seed = principal_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        let mut rng = SplitMix::new(seed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        bytes
    });
    let mut rng = SplitMix::new(serial ^ 0xa55a_0000_0000_0000);
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(&head);
    bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_id_starts_with_the_principals_guid_as_graph_s_do() {
        // Graph's documented example: principal cdb555e3-… ⇒ id 41W1zT6z1U-kJxf62svfp1…
        let id = assignment_id("cdb555e3-b33e-4fd5-a427-17fadacbdfa7", 1);
        assert_eq!(id.len(), 43);
        assert!(id.starts_with("41W1zT6z1U-kJxf62svfp"), "{id}");
        assert_ne!(id, assignment_id("cdb555e3-b33e-4fd5-a427-17fadacbdfa7", 2));
        assert_eq!(assignment_id("u1", 3).len(), 43, "a non-GUID id is hashed");
    }
}
