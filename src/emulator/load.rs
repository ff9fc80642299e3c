//! Tenants to start the emulator with: the sample tenant from JSON, and synthetic tenants of any
//! size for the tests and the benchmark.
//!
//! Part of `emulator/`. A loaded tenant has an empty change log: its state is where every first
//! (full) delta round starts.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::apps::{AppRole, DEFAULT_ACCESS};
use super::tenant::{Presence, Tenant};

/// The sample tenant of `entrasync demo` and the tests: `config/demo-tenant.json`.
pub const DEMO_TENANT_JSON: &str = include_str!("../../config/demo-tenant.json");

/// Why a tenant file cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("the tenant JSON does not parse: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the tenant JSON: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantFile {
    tenant_id: String,
    client_id: String,
    users: Vec<Map<String, Value>>,
    groups: Vec<GroupFile>,
    #[serde(default)]
    service_principals: Vec<ServicePrincipalFile>,
}

/// A service principal: `appId`, `displayName` and any other property, its roles and who is
/// assigned them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServicePrincipalFile {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    app_roles: Vec<AppRole>,
    #[serde(default)]
    app_role_assignments: Vec<AssignmentFile>,
    #[serde(flatten)]
    props: Map<String, Value>,
}

/// An assignment: the principal as a group's members are named; the role by `appRoleId` or
/// by `appRole` (its value), default access when neither is given.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AssignmentFile {
    principal: String,
    #[serde(default)]
    app_role_id: Option<String>,
    #[serde(default)]
    app_role: Option<String>,
    #[serde(default)]
    created_date_time: Option<String>,
}

#[derive(Deserialize)]
struct GroupFile {
    id: String,
    #[serde(flatten)]
    props: Map<String, Value>,
    #[serde(default)]
    members: Vec<String>,
}

impl Tenant {
    /// Loads a tenant: `users` carry Graph properties (`"deleted": "soft"` puts one in deleted
    /// items); a group's `members` name users by id or userPrincipalName, groups by id or
    /// displayName; optional `servicePrincipals` carry `appRoles` and `appRoleAssignments`
    /// whose `principal` is named the same way.
    pub fn from_json(text: &str) -> Result<Tenant, TenantError> {
        let file: TenantFile = serde_json::from_str(text)?;
        let mut tenant = Tenant::new(file.tenant_id, file.client_id);
        for mut props in file.users {
            let Some(Value::String(id)) = props.remove("id") else {
                return Err(TenantError::Invalid("a user has no string \"id\"".into()));
            };
            let presence = match props.remove("deleted").as_ref().and_then(Value::as_str) {
                None => Presence::Live,
                Some("soft") => Presence::SoftDeleted,
                Some(other) => {
                    return Err(TenantError::Invalid(format!(
                        "user {id}: \"deleted\" is \"{other}\"; only \"soft\" is meaningful"
                    )));
                }
            };
            tenant.insert_user(id, props, presence);
        }
        for group in &file.groups {
            tenant.insert_group(
                group.id.clone(),
                group.props.clone(),
                BTreeSet::new(),
                Presence::Live,
            );
        }
        for group in file.groups {
            let mut members = BTreeSet::new();
            for name in &group.members {
                members.insert(resolve(&tenant, name).ok_or_else(|| {
                    TenantError::Invalid(format!(
                        "group {}: no user or group is \"{name}\"",
                        group.id
                    ))
                })?);
            }
            if let Some(record) = tenant.groups.get_mut(&group.id) {
                record.members = members;
            }
        }
        for sp in file.service_principals {
            load_service_principal(&mut tenant, sp)?;
        }
        Ok(tenant)
    }

    /// A tenant of `users` users and `groups` groups holding about `memberships` memberships,
    /// the same for the same `seed`. Group sizes follow Zipf's law, as in real tenants: a few
    /// large groups (larger than one delta page) and many small ones.
    pub fn synthetic(users: usize, groups: usize, memberships: usize, seed: u64) -> Tenant {
        let mut rng = SplitMix::new(seed);
        let mut tenant = Tenant::new(
            "synthetic.onmicrosoft.com",
            "5e1f0c2a-7d3b-4c8e-9f60-1a2b3c4d5e6f",
        );
        let departments = [
            "Sales",
            "Finance",
            "Engineering",
            "Support",
            "Marketing",
            "Legal",
            "Operations",
        ];
        let offices = ["Oslo", "Bergen", "Stockholm", "London", "Berlin"];
        let mut ids = Vec::with_capacity(users);
        for i in 0..users {
            let id = guid(rng.next_u64(), i as u64);
            let mut props = Map::new();
            let upn = format!("user{i:06}@synthetic.example");
            props.insert("userPrincipalName".into(), upn.clone().into());
            props.insert("mail".into(), upn.into());
            props.insert("givenName".into(), format!("Given{i}").into());
            props.insert("surname".into(), format!("Surname{i}").into());
            props.insert("displayName".into(), format!("User {i}").into());
            props.insert(
                "department".into(),
                departments[i % departments.len()].into(),
            );
            props.insert("officeLocation".into(), offices[i % offices.len()].into());
            props.insert(
                "userType".into(),
                if i % 50 == 49 { "Guest" } else { "Member" }.into(),
            );
            props.insert("accountEnabled".into(), (i % 97 != 0).into());
            props.insert("jobTitle".into(), "Employee".into());
            props.insert("employeeId".into(), format!("S{i:06}").into());
            tenant.insert_user(id.clone(), props, Presence::Live);
            ids.push(id);
        }
        let harmonic: f64 = (1..=groups).map(|k| 1.0 / k as f64).sum();
        for g in 0..groups {
            let mut props = Map::new();
            props.insert("displayName".into(), format!("Synthetic Group {g}").into());
            let want =
                ((memberships as f64 / harmonic / (g + 1) as f64).round() as usize).min(users);
            let mut members = BTreeSet::new();
            while members.len() < want {
                members.insert(ids[(rng.next_u64() % users as u64) as usize].clone());
            }
            tenant.insert_group(synthetic_group_id(g), props, members, Presence::Live);
        }
        tenant
    }
}

/// The object id of group `index` of a synthetic tenant (shaped like a GUID, as Entra's are, so
/// a config may name it directly).
pub fn synthetic_group_id(index: usize) -> String {
    format!("5a5e0000-0000-4000-a000-{index:012x}")
}

fn load_service_principal(
    tenant: &mut Tenant,
    sp: ServicePrincipalFile,
) -> Result<(), TenantError> {
    let name = match (sp.props.get("appId"), sp.props.get("displayName")) {
        (Some(Value::String(_)), Some(Value::String(name))) => name.clone(),
        _ => {
            return Err(TenantError::Invalid(
                "a service principal needs a string \"appId\" and \"displayName\"".into(),
            ));
        }
    };
    let invalid = |what: String| TenantError::Invalid(format!("service principal {name}: {what}"));
    let id = tenant
        .insert_service_principal(sp.id, sp.props, sp.app_roles)
        .map_err(|err| invalid(err.to_string()))?;
    for assignment in sp.app_role_assignments {
        let principal = resolve(tenant, &assignment.principal)
            .ok_or_else(|| invalid(format!("no user or group is \"{}\"", assignment.principal)))?;
        let role = match (assignment.app_role_id, assignment.app_role) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "an assignment names both appRoleId and appRole".into(),
                ));
            }
            (Some(role_id), None) => role_id,
            (None, Some(value)) => tenant
                .app_roles(&id)
                .into_iter()
                .find(|r| r.value == value)
                .map(|r| r.id)
                .ok_or_else(|| invalid(format!("no app role has the value \"{value}\"")))?,
            (None, None) => DEFAULT_ACCESS.to_owned(),
        };
        tenant
            .assign_app_role_at(&id, &principal, &role, assignment.created_date_time)
            .map_err(|err| invalid(format!("{}: {err}", assignment.principal)))?;
    }
    Ok(())
}

/// A user, by id or userPrincipalName, or a group, by id or displayName.
fn resolve(tenant: &Tenant, name: &str) -> Option<String> {
    if tenant.users.contains_key(name) || tenant.groups.contains_key(name) {
        return Some(name.to_owned());
    }
    let by = |props: &Map<String, Value>, key: &str| {
        props.get(key).and_then(Value::as_str) == Some(name)
    };
    tenant
        .users
        .iter()
        .find(|(_, u)| by(&u.props, "userPrincipalName"))
        .map(|(id, _)| id.clone())
        .or_else(|| tenant.group_id_by_name(name))
}

/// A GUID-shaped id from two numbers.
fn guid(random: u64, n: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        random >> 32,
        (random >> 16) & 0xffff,
        random & 0xfff,
        (n >> 48) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

/// splitmix64: a small deterministic generator, enough for test data and opaque tokens (and for
/// the tests' seeded rounds).
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_tenant_loads_with_a_nested_group() {
        let t = Tenant::from_json(DEMO_TENANT_JSON).expect("the demo tenant parses");
        let (users, groups, _) = t.counts();
        assert_eq!((users, groups), (50, 6));
        let readers = t.group_id_by_name("Stratsys Readers").expect("Readers");
        let finance = t.group_id_by_name("Finance Controllers").expect("Finance");
        assert!(t.members(&readers).contains(&finance));
    }

    #[test]
    fn synthetic_tenants_have_the_asked_size_and_are_reproducible() {
        let a = Tenant::synthetic(1_000, 20, 3_000, 5);
        let b = Tenant::synthetic(1_000, 20, 3_000, 5);
        let (users, groups, memberships) = a.counts();
        assert_eq!((users, groups), (1_000, 20));
        assert!((2_900..=3_100).contains(&memberships), "{memberships}");
        assert_eq!(a.user_ids(), b.user_ids());
        assert!(a.members(&synthetic_group_id(0)).len() > a.members(&synthetic_group_id(19)).len());
        assert!(crate::source::looks_like_object_id(&synthetic_group_id(7)));
        assert!(crate::source::looks_like_object_id(&a.user_ids()[0]));
    }

    #[test]
    fn an_unknown_member_is_named() {
        let text = r#"{"tenantId":"t","clientId":"c","users":[],"groups":[{"id":"g","members":["nobody"]}]}"#;
        let err = Tenant::from_json(text).expect_err("unknown member");
        assert!(err.to_string().contains("nobody"), "{err}");
    }

    #[test]
    fn the_tenant_file_names_what_it_cannot_load() {
        let with = |sp: &str| {
            format!(
                r#"{{"tenantId":"t","clientId":"c",
                "users":[{{"id":"u1","userPrincipalName":"a@x","displayName":"A"}}],
                "groups":[{{"id":"g1","displayName":"G"}}],
                "servicePrincipals":[{sp}]}}"#
            )
        };
        let loaded = Tenant::from_json(&with(
            r#"{"appId":"a1","displayName":"App","appRoles":[{"value":"R","displayName":"R"}],
            "appRoleAssignments":[{"principal":"a@x","appRole":"R"},{"principal":"G"},{"principal":"u1"}]}"#,
        ))
        .expect("loads");
        let sp = loaded.service_principal_id("a1").expect("the app");
        let assigned = loaded.app_role_assignments(&sp);
        assert_eq!(assigned.len(), 3);
        assert_eq!(
            assigned
                .iter()
                .filter(|a| a.principal_type == "Group")
                .count(),
            1
        );
        for (sp, says) in [
            (
                r#"{"appId":"a1","displayName":"App","appRoleAssignments":[{"principal":"nobody"}]}"#,
                "nobody",
            ),
            (
                r#"{"appId":"a1","displayName":"App","appRoleAssignments":[{"principal":"a@x","appRole":"Missing"}]}"#,
                "Missing",
            ),
            (
                r#"{"appId":"a1","displayName":"App","appRoles":[{"value":"R","displayName":"R"}],
                "appRoleAssignments":[{"principal":"a@x","appRole":"R","appRoleId":"x"}]}"#,
                "both",
            ),
            (
                r#"{"appId":"a1","displayName":"App","appRoleAssignments":[{"principal":"a@x","role":"R"}]}"#,
                "unknown field",
            ),
            (r#"{"displayName":"App"}"#, "appId"),
            (
                r#"{"appId":"a1","displayName":"App","appRoles":[{"id":"not-a-guid","value":"R","displayName":"R"}]}"#,
                "not-a-guid",
            ),
            (
                r#"{"appId":"a1","displayName":"App"},{"appId":"A1","displayName":"Again"}"#,
                "exists already",
            ),
        ] {
            let err = Tenant::from_json(&with(sp)).expect_err(sp);
            assert!(err.to_string().contains(says), "{sp}: {err}");
        }
        let demo = Tenant::from_json(DEMO_TENANT_JSON).expect("the demo");
        assert!(
            demo.service_principal_ids().is_empty(),
            "the demo has no apps"
        );
    }
}
