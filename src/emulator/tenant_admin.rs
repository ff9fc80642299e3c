//! The admin's side of the tenant's directory: creating, changing, deleting and restoring users
//! and groups, and adding and removing members — what Entra's admin center (or Graph's POST,
//! PATCH and DELETE) does.
//!
//! Part of `emulator/`: more [`Tenant`] methods over the records of `tenant.rs`, called by tests
//! and the demo through `Emulator::mutate`, and by `load.rs` to store a loaded tenant unlogged.
//! Every change Graph's delta queries would report is appended to the change log; a change that
//! changes nothing is not logged.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::tenant::{Change, GroupRecord, Presence, Tenant, UserRecord, in_state};

impl Tenant {
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
        let Some(user) = in_state(&mut self.users, id, Presence::Live) else {
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
        if let Some(user) = in_state(&mut self.users, id, Presence::Live) {
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
        if let Some(user) = in_state(&mut self.users, id, Presence::SoftDeleted) {
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
        let Some(group) = in_state(&mut self.groups, id, Presence::Live) else {
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
        let Some(group) = in_state(&mut self.groups, id, Presence::Live) else {
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

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
