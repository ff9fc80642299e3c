//! The emulator's directory: users, groups and direct memberships, and the change log that delta
//! tokens point into (its enterprise apps and app role assignments are in `apps.rs`).
//!
//! Part of `emulator/`: the records and the [`Tenant`] methods that read them. Tests and the demo
//! change a [`Tenant`] the way admins change Entra ID (through `Emulator::mutate`, with the
//! methods of `tenant_admin.rs`); every change that Graph's delta queries would report is
//! appended to the log, so a delta token — a position in the log — tells exactly what changed
//! since.

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

    /// The live users, by id, with their properties (not `id`).
    pub fn live_users(&self) -> impl Iterator<Item = (&str, &Map<String, Value>)> {
        self.users
            .iter()
            .filter(|(_, u)| u.presence == Presence::Live)
            .map(|(id, u)| (id.as_str(), &u.props))
    }

    /// A live user with every property, `id` included.
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
}

/// What users and groups have in common here.
pub(super) trait Record {
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

/// The record of `id` if it is `presence` (Live, SoftDeleted), to change it.
pub(super) fn in_state<'a, R: Record>(
    records: &'a mut BTreeMap<String, R>,
    id: &str,
    presence: Presence,
) -> Option<&'a mut R> {
    records.get_mut(id).filter(|r| r.presence() == presence)
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
