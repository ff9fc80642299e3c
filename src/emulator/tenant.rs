//! The emulator's directory: users, groups and direct memberships, and the change log that delta
//! tokens point into (its enterprise apps and app role assignments are in `apps.rs`).
//!
//! Part of `emulator/`. Tests and the demo change a [`Tenant`] the way admins change Entra ID
//! (through `Emulator::mutate`); every change that Graph's delta queries would report is appended
//! to the log, so a delta token — a position in the log — tells exactly what changed since.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::apps::ServicePrincipalRecord;

/// Whether a directory object exists, sits in deleted items, or is gone for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Live,
    /// In deleted items (restorable); delta reports `@removed: {"reason": "changed"}`.
    SoftDeleted,
    /// Permanently deleted; delta reports `@removed: {"reason": "deleted"}`.
    HardDeleted,
}

impl Presence {
    /// The `reason` of the `@removed` annotation, `None` while the object lives.
    pub fn removed_reason(self) -> Option<&'static str> {
        match self {
            Presence::Live => None,
            Presence::SoftDeleted => Some("changed"),
            Presence::HardDeleted => Some("deleted"),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct UserRecord {
    /// Every property but `id`, as Graph names them.
    pub props: Map<String, Value>,
    pub presence: Presence,
}

#[derive(Clone, Debug)]
pub(super) struct GroupRecord {
    /// Every property but `id` (`displayName`, `description`, ...).
    pub props: Map<String, Value>,
    pub members: BTreeSet<String>,
    pub presence: Presence,
}

/// One entry of the change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// Properties of a user changed; `None` means all of them (created or restored).
    User {
        id: String,
        props: Option<Vec<String>>,
    },
    /// A user was deleted (its presence now says how).
    UserRemoved { id: String },
    /// Properties of a group changed; `None` means all (created).
    Group {
        id: String,
        props: Option<Vec<String>>,
    },
    /// A member was added to or removed from a group.
    Member {
        group: String,
        member: String,
        added: bool,
    },
    /// A group was deleted.
    GroupRemoved { id: String },
}

/// A mutable Entra ID tenant.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub(super) tenant_id: String,
    pub(super) client_id: String,
    pub(super) users: BTreeMap<String, UserRecord>,
    pub(super) groups: BTreeMap<String, GroupRecord>,
    /// Enterprise apps, their roles and assignments (`apps.rs`; not in the change log).
    pub(super) service_principals: BTreeMap<String, ServicePrincipalRecord>,
    pub(super) log: Vec<Change>,
    /// Feeds the ids of objects created by [`Tenant::add_user`] and [`Tenant::add_group`], and
    /// of service principals, app roles and assignments (`app_admin.rs`).
    pub(super) next_id: u64,
}

impl Tenant {
    /// An empty tenant.
    pub fn new(tenant_id: impl Into<String>, client_id: impl Into<String>) -> Tenant {
        Tenant {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            service_principals: BTreeMap::new(),
            log: Vec::new(),
            next_id: 1,
        }
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The position a delta token made now would carry.
    pub(super) fn position(&self) -> u64 {
        self.log.len() as u64
    }

    /// The log between two positions (clamped to what exists).
    pub(super) fn changes(&self, since: u64, upto: u64) -> &[Change] {
        let end = (upto as usize).min(self.log.len());
        let start = (since as usize).min(end);
        &self.log[start..end]
    }

    // -- reading ---------------------------------------------------------------------------

    /// The ids of the live users, sorted.
    pub fn user_ids(&self) -> Vec<String> {
        live_ids(&self.users)
    }

    /// The ids of the live groups, sorted.
    pub fn group_ids(&self) -> Vec<String> {
        live_ids(&self.groups)
    }

    /// A live user with every property, `id` included.
    /// The live users, by id, with their properties (not `id`).
    pub fn live_users(&self) -> impl Iterator<Item = (&str, &Map<String, Value>)> {
        self.users
            .iter()
            .filter(|(_, u)| u.presence == Presence::Live)
            .map(|(id, u)| (id.as_str(), &u.props))
    }

    pub fn user(&self, id: &str) -> Option<Value> {
        live(&self.users, id)
    }

    /// A live group with every property (not its members), `id` included.
    pub fn group(&self, id: &str) -> Option<Value> {
        live(&self.groups, id)
    }

    /// The id of the live user with this userPrincipalName (any case).
    pub fn user_id_by_upn(&self, upn: &str) -> Option<String> {
        self.users
            .iter()
            .find(|(_, u)| {
                u.presence == Presence::Live
                    && u.props
                        .get("userPrincipalName")
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.eq_ignore_ascii_case(upn))
            })
            .map(|(id, _)| id.clone())
    }

    /// The id of the live group with this display name, if exactly one has it.
    pub fn group_id_by_name(&self, name: &str) -> Option<String> {
        let mut hits = self.groups.iter().filter(|(_, g)| {
            g.presence == Presence::Live
                && g.props.get("displayName").and_then(Value::as_str) == Some(name)
        });
        let (id, _) = hits.next()?;
        hits.next().is_none().then(|| id.clone())
    }

    /// The direct members of a live group (users, soft-deleted ones included, and groups), sorted.
    pub fn members(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .filter(|g| g.presence == Presence::Live)
            .map(|g| g.members.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every member reached through nested groups, the nested groups themselves included.
    pub fn transitive_members(&self, group: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue = vec![group.to_owned()];
        while let Some(next) = queue.pop() {
            for member in self.members(&next) {
                if member != group
                    && seen.insert(member.clone())
                    && self.groups.contains_key(&member)
                {
                    queue.push(member);
                }
            }
        }
        seen
    }

    /// True when `id` names a group (any presence): members are typed by this.
    pub fn is_group(&self, id: &str) -> bool {
        self.groups.contains_key(id)
    }

    /// The live groups `user` is a direct member of, sorted.
    pub fn member_of(&self, user: &str) -> Vec<String> {
        self.groups
            .iter()
            .filter(|(_, g)| g.presence == Presence::Live && g.members.contains(user))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Live users, live groups, and memberships of live groups.
    pub fn counts(&self) -> (usize, usize, usize) {
        let users = self
            .users
            .values()
            .filter(|u| u.presence == Presence::Live)
            .count();
        let live = self
            .groups
            .values()
            .filter(|g| g.presence == Presence::Live);
        let (groups, memberships) = live.fold((0, 0), |(n, m), g| (n + 1, m + g.members.len()));
        (users, groups, memberships)
    }

    // -- changing ----------------------------------------------------------------------------

    pub(super) fn fresh_id(&mut self, kind: u16) -> String {
        loop {
            let n = self.next_id;
            self.next_id += 1;
            let id = format!("{:08x}-{kind:04x}-4000-8000-{n:012x}", 0x0e17_a000_u32);
            if !self.users.contains_key(&id)
                && !self.groups.contains_key(&id)
                && !self.service_principals.contains_key(&id)
            {
                return id;
            }
        }
    }

    /// Creates a user from its properties (an `id` in them is used if given); returns its id.
    pub fn add_user(&mut self, props: Value) -> String {
        let mut props = into_map(props);
        let id = match props.remove("id") {
            Some(Value::String(id)) => id,
            _ => self.fresh_id(0x0005),
        };
        self.insert_user(id.clone(), props, Presence::Live);
        self.log.push(Change::User {
            id: id.clone(),
            props: None,
        });
        id
    }

    /// Stores a user without logging it (loading a tenant).
    pub(super) fn insert_user(
        &mut self,
        id: String,
        props: Map<String, Value>,
        presence: Presence,
    ) {
        self.users.insert(id, UserRecord { props, presence });
    }

    /// Changes some properties of a live user (`null` clears one). Only properties whose value
    /// really changes are logged; a patch that changes nothing is not a change.
    pub fn update_user(&mut self, id: &str, patch: Value) {
        let Some(user) = self
            .users
            .get_mut(id)
            .filter(|u| u.presence == Presence::Live)
        else {
            return;
        };
        let mut changed = Vec::new();
        for (key, value) in into_map(patch) {
            if key != "id" && user.props.get(&key) != Some(&value) {
                user.props.insert(key.clone(), value);
                changed.push(key);
            }
        }
        if !changed.is_empty() {
            self.log.push(Change::User {
                id: id.to_owned(),
                props: Some(changed),
            });
        }
    }

    /// Moves a user to deleted items: it keeps its memberships, as in Entra.
    pub fn soft_delete_user(&mut self, id: &str) {
        if let Some(user) = self
            .users
            .get_mut(id)
            .filter(|u| u.presence == Presence::Live)
        {
            user.presence = Presence::SoftDeleted;
            self.log.push(Change::UserRemoved { id: id.to_owned() });
        }
    }

    /// Deletes a user for good (also from deleted items): its memberships and app role
    /// assignments go with it.
    pub fn hard_delete_user(&mut self, id: &str) {
        let Some(user) = self
            .users
            .get_mut(id)
            .filter(|u| u.presence != Presence::HardDeleted)
        else {
            return;
        };
        user.presence = Presence::HardDeleted;
        self.log.push(Change::UserRemoved { id: id.to_owned() });
        for group in self.groups_holding(id) {
            self.remove_member(&group, id);
        }
        self.drop_app_role_assignments(id);
    }

    /// Restores a soft-deleted user from deleted items.
    pub fn restore_user(&mut self, id: &str) {
        if let Some(user) = self
            .users
            .get_mut(id)
            .filter(|u| u.presence == Presence::SoftDeleted)
        {
            user.presence = Presence::Live;
            self.log.push(Change::User {
                id: id.to_owned(),
                props: None,
            });
        }
    }

    /// Creates a group; returns its id.
    pub fn add_group(&mut self, display_name: &str) -> String {
        let id = self.fresh_id(0x0006);
        let mut props = Map::new();
        props.insert("displayName".into(), Value::String(display_name.to_owned()));
        self.insert_group(id.clone(), props, BTreeSet::new(), Presence::Live);
        self.log.push(Change::Group {
            id: id.clone(),
            props: None,
        });
        id
    }

    /// Stores a group without logging it (loading a tenant).
    pub(super) fn insert_group(
        &mut self,
        id: String,
        props: Map<String, Value>,
        members: BTreeSet<String>,
        presence: Presence,
    ) {
        self.groups.insert(
            id,
            GroupRecord {
                props,
                members,
                presence,
            },
        );
    }

    pub fn rename_group(&mut self, id: &str, display_name: &str) {
        let name = Value::String(display_name.to_owned());
        let Some(group) = self
            .groups
            .get_mut(id)
            .filter(|g| g.presence == Presence::Live)
        else {
            return;
        };
        if group.props.get("displayName") != Some(&name) {
            group.props.insert("displayName".into(), name);
            self.log.push(Change::Group {
                id: id.to_owned(),
                props: Some(vec!["displayName".into()]),
            });
        }
    }

    /// Deletes a group: `soft` as a Microsoft 365 group goes to deleted items, else for good
    /// (security groups). It leaves every group it was a member of; deleted for good, it loses
    /// its app role assignments.
    pub fn delete_group(&mut self, id: &str, soft: bool) {
        let Some(group) = self
            .groups
            .get_mut(id)
            .filter(|g| g.presence == Presence::Live)
        else {
            return;
        };
        group.presence = if soft {
            Presence::SoftDeleted
        } else {
            Presence::HardDeleted
        };
        self.log.push(Change::GroupRemoved { id: id.to_owned() });
        for holder in self.groups_holding(id) {
            self.remove_member(&holder, id);
        }
        if !soft {
            self.drop_app_role_assignments(id);
        }
    }

    /// Adds a user or group to a live group; adding a present member changes nothing.
    pub fn add_member(&mut self, group: &str, member: &str) {
        let exists = self
            .users
            .get(member)
            .is_some_and(|u| u.presence != Presence::HardDeleted)
            || self
                .groups
                .get(member)
                .is_some_and(|g| g.presence == Presence::Live);
        let Some(record) = self
            .groups
            .get_mut(group)
            .filter(|g| g.presence == Presence::Live)
        else {
            return;
        };
        if exists && member != group && record.members.insert(member.to_owned()) {
            self.log.push(Change::Member {
                group: group.to_owned(),
                member: member.to_owned(),
                added: true,
            });
        }
    }

    pub fn remove_member(&mut self, group: &str, member: &str) {
        if let Some(record) = self.groups.get_mut(group) {
            if record.members.remove(member) {
                self.log.push(Change::Member {
                    group: group.to_owned(),
                    member: member.to_owned(),
                    added: false,
                });
            }
        }
    }

    fn groups_holding(&self, member: &str) -> Vec<String> {
        self.groups
            .iter()
            .filter(|(_, g)| g.members.contains(member))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// What users and groups have in common here.
trait Record {
    fn presence(&self) -> Presence;
    fn props(&self) -> &Map<String, Value>;
}

impl Record for UserRecord {
    fn presence(&self) -> Presence {
        self.presence
    }
    fn props(&self) -> &Map<String, Value> {
        &self.props
    }
}

impl Record for GroupRecord {
    fn presence(&self) -> Presence {
        self.presence
    }
    fn props(&self) -> &Map<String, Value> {
        &self.props
    }
}

fn live_ids<R: Record>(records: &BTreeMap<String, R>) -> Vec<String> {
    records
        .iter()
        .filter(|(_, r)| r.presence() == Presence::Live)
        .map(|(id, _)| id.clone())
        .collect()
}

fn live<R: Record>(records: &BTreeMap<String, R>, id: &str) -> Option<Value> {
    let record = records.get(id).filter(|r| r.presence() == Presence::Live)?;
    Some(with_id(id, record.props()))
}

fn with_id(id: &str, props: &Map<String, Value>) -> Value {
    let mut object = Map::with_capacity(props.len() + 1);
    object.insert("id".into(), Value::String(id.to_owned()));
    object.extend(props.iter().map(|(k, v)| (k.clone(), v.clone())));
    Value::Object(object)
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant() -> (Tenant, String, String) {
        let mut t = Tenant::new("t", "c");
        let u = t.add_user(json!({"userPrincipalName": "a@x", "department": "A"}));
        let g = t.add_group("G");
        t.add_member(&g, &u);
        (t, u, g)
    }

    #[test]
    fn only_real_changes_are_logged() {
        let (mut t, u, g) = tenant();
        let before = t.position();
        t.update_user(&u, json!({"department": "A"}));
        t.add_member(&g, &u);
        t.rename_group(&g, "G");
        assert_eq!(t.position(), before, "no-op mutations log nothing");
        t.update_user(&u, json!({"department": "B", "mail": null}));
        assert_eq!(
            t.changes(before, t.position()),
            [Change::User {
                id: u.clone(),
                props: Some(vec!["department".into(), "mail".into()])
            }]
        );
    }

    #[test]
    fn soft_deleted_users_keep_their_memberships_hard_deleted_do_not() {
        let (mut t, u, g) = tenant();
        t.soft_delete_user(&u);
        assert!(t.user(&u).is_none());
        assert_eq!(t.members(&g), std::slice::from_ref(&u));
        t.restore_user(&u);
        assert!(t.user(&u).is_some());
        t.hard_delete_user(&u);
        assert!(t.members(&g).is_empty());
        assert_eq!(t.counts(), (0, 1, 0));
    }

    #[test]
    fn nested_groups_reach_transitively_without_looping() {
        let (mut t, u, g) = tenant();
        let outer = t.add_group("Outer");
        t.add_member(&outer, &g);
        t.add_member(&g, &outer);
        let reached = t.transitive_members(&outer);
        assert!(reached.contains(&u) && reached.contains(&g) && !reached.contains(&outer));
    }
}
