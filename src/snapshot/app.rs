//! `[source] app` in the snapshot: the roles the application defines and who holds which
//! (issue 7: the stacksync and SignPath way of scoping and granting permissions).
//!
//! Part of the snapshot (`source → snapshot → rules`). Graph has no delta query for app role
//! assignments, so every cycle lists them whole; the commit compares that listing with the
//! stored one and writes only the principals whose roles changed. Those changes mark users
//! dirty, like a membership change does: a user assigned, unassigned or given another role is
//! marked, and so is every direct member of a group whose assignment changed (Entra gives a
//! group's roles to its direct members only). A change of the role definitions (a value renamed,
//! a role removed, another app) cannot be narrowed down to users: everyone is evaluated again.
//!
//! Layout (see `layout.rs`): `meta/app` → JSON [`AppRoles`], absent without an app;
//! `assignments`: `u:` or `g:` + principal id → JSON array of the sorted role ids it holds
//! (default access is the all-zero id).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sled::IVec;

use super::SnapshotError;
use super::layout::{self, TreeId};
use super::store::Store;
use super::writes::{self, WriteSet};
use crate::source::{AppListing, Fetch, MemberKind};

/// `meta`: the app's service principal and its role definitions.
pub(super) const APP_KEY: &[u8] = b"app";
const USER_PREFIX: &[u8] = b"u:";
const GROUP_PREFIX: &[u8] = b"g:";

/// A role the application defines, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRoleDefinition {
    pub id: String,
    /// What Entra sends as the role (`roles[primary eq "True"].value`); none for a role without
    /// a value.
    pub value: Option<String>,
}

/// The application's service principal and roles, kept as one value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoles {
    pub service_principal_id: String,
    /// In the order the app lists them.
    pub roles: Vec<AppRoleDefinition>,
}

/// What the rules read of the app: its roles, and the role ids each principal holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppState {
    pub definitions: AppRoles,
    /// User id → the role ids assigned to the user directly, sorted.
    pub users: BTreeMap<String, Vec<String>>,
    /// Group id → the role ids assigned to the group, sorted.
    pub groups: BTreeMap<String, Vec<String>>,
}

impl AppState {
    /// The app as a listing gives it: what a commit stores, and what provisioning on demand
    /// reads fresh.
    pub fn of(app: &AppListing) -> AppState {
        let mut state = AppState {
            definitions: definitions(app),
            ..AppState::default()
        };
        for assignment in &app.assignments {
            let principals = match assignment.principal_kind {
                MemberKind::User => &mut state.users,
                MemberKind::Group => &mut state.groups,
                // A service principal or device holding a role is not provisioned.
                _ => continue,
            };
            let roles = principals
                .entry(assignment.principal_id.clone())
                .or_default();
            roles.push(assignment.app_role_id.clone());
        }
        for roles in state.users.values_mut().chain(state.groups.values_mut()) {
            roles.sort_unstable();
            roles.dedup();
        }
        state
    }

    /// The `assignments` tree as it should hold this app: key → sorted role ids.
    fn keyed(&self) -> BTreeMap<Vec<u8>, &Vec<String>> {
        let users = self
            .users
            .iter()
            .map(|(id, roles)| (USER_PREFIX, id, roles));
        let groups = self
            .groups
            .iter()
            .map(|(id, roles)| (GROUP_PREFIX, id, roles));
        users
            .chain(groups)
            .map(|(prefix, id, roles)| (layout::prefixed(prefix, id), roles))
            .collect()
    }
}

/// The definitions a listing gives.
fn definitions(app: &AppListing) -> AppRoles {
    AppRoles {
        service_principal_id: app.service_principal_id.clone(),
        roles: app
            .roles
            .iter()
            .filter(|r| r.for_users)
            .map(|r| AppRoleDefinition {
                id: r.id.clone(),
                value: r.value.clone(),
            })
            .collect(),
    }
}

/// Makes the stored app equal to `fetch.app` (none: no app configured any more), marking the
/// users whose roles or assignment changed.
pub(super) fn write(
    store: &Store,
    fetch: &Fetch,
    writes: &mut WriteSet,
) -> Result<(), SnapshotError> {
    let app = fetch.app.as_ref().map(AppState::of);
    let defined = app.as_ref().map(|app| &app.definitions);
    let stored: Option<AppRoles> = stored_definitions(store)?;
    if stored.as_ref() != defined {
        match defined {
            Some(defined) => writes.put(TreeId::Meta, APP_KEY, layout::json(defined)),
            None => writes.remove(TreeId::Meta, APP_KEY),
        }
        // Which users a renamed or removed role concerns is not worth working out: everyone.
        writes.evaluate_all();
    }
    let listed = app.as_ref().map(AppState::keyed).unwrap_or_default();
    let mut seen: BTreeSet<IVec> = BTreeSet::new();
    for entry in store.entries(TreeId::Assignments) {
        let (key, value) = entry?;
        let now = listed.get(key.as_ref());
        let same = now.is_some_and(|roles| *value == *layout::json(roles));
        if !same {
            match now {
                Some(roles) => writes.put(TreeId::Assignments, key.clone(), layout::json(roles)),
                None => writes.remove(TreeId::Assignments, key.clone()),
            }
            mark(store, &key, writes)?;
        }
        seen.insert(key);
    }
    for (key, roles) in listed {
        if !seen.contains(key.as_slice()) {
            mark(store, &key, writes)?;
            writes.put(TreeId::Assignments, key, layout::json(roles));
        }
    }
    Ok(())
}

/// Marks the users whose roles an assignment of the principal under `key` gives: the user
/// itself, or a group's direct members as stored (members this commit adds or removes are
/// marked by the member list's own change).
fn mark(store: &Store, key: &[u8], writes: &mut WriteSet) -> Result<(), SnapshotError> {
    let id = |prefix: &[u8]| {
        layout::decode_id(&key[prefix.len()..]).map_err(|e| store.damaged("assignments key", e))
    };
    if key.starts_with(USER_PREFIX) {
        writes.dirty(&id(USER_PREFIX)?);
    } else if key.starts_with(GROUP_PREFIX) {
        let group = id(GROUP_PREFIX)?;
        let members = store.get(TreeId::Members, group.as_bytes())?;
        writes::mark_changed(members.as_deref(), None, writes);
    }
    Ok(())
}

fn stored_definitions(store: &Store) -> Result<Option<AppRoles>, SnapshotError> {
    store
        .get(TreeId::Meta, APP_KEY)?
        .map(|value| {
            layout::decode_json(&value).map_err(|e| store.damaged("meta entry \"app\"", e))
        })
        .transpose()
}

/// The app as the rules read it: every group's assignments, and the direct assignments of the
/// users `only` names (all of them for `None`). `None` when no app is stored.
pub(super) fn read(
    store: &Store,
    only: Option<&BTreeSet<String>>,
) -> Result<Option<AppState>, SnapshotError> {
    let Some(definitions) = stored_definitions(store)? else {
        return Ok(None);
    };
    let mut state = AppState {
        definitions,
        ..AppState::default()
    };
    let tree = store.tree(TreeId::Assignments);
    let decode = |key: &[u8], value: &[u8]| -> Result<Vec<String>, SnapshotError> {
        layout::decode_json(value).map_err(|e| {
            store.damaged(
                format!("assignments entry {:?}", String::from_utf8_lossy(key)),
                e,
            )
        })
    };
    let principal = |key: &[u8], prefix: &[u8]| -> Result<String, SnapshotError> {
        layout::decode_id(&key[prefix.len()..]).map_err(|e| store.damaged("assignments key", e))
    };
    for entry in tree.scan_prefix(GROUP_PREFIX) {
        let (key, value) = entry.map_err(store.storage("read"))?;
        let group = principal(&key, GROUP_PREFIX)?;
        state.groups.insert(group, decode(&key, &value)?);
    }
    match only {
        None => {
            for entry in tree.scan_prefix(USER_PREFIX) {
                let (key, value) = entry.map_err(store.storage("read"))?;
                let user = principal(&key, USER_PREFIX)?;
                state.users.insert(user, decode(&key, &value)?);
            }
        }
        Some(ids) => {
            for id in ids {
                let key = layout::prefixed(USER_PREFIX, id);
                if let Some(value) = store.get(TreeId::Assignments, &key)? {
                    state.users.insert(id.clone(), decode(&key, &value)?);
                }
            }
        }
    }
    Ok(Some(state))
}
