//! App roles: which roles of `[source] app` a user holds — assigned to the user directly, or to a
//! group the user is a direct member of (Entra gives a group's roles to its direct members
//! only, nested groups not) — and whether the user is assigned at all (`scope = "assigned"`).
//!
//! Part of `rules/` (pure). Default access (the all-zero role id) puts a user in the assigned
//! scope but gives no role value, so no permission by itself; a role the app no longer defines
//! gives nothing either. A disabled role still counts while it is assigned (Entra keeps the
//! assignments made before it was disabled); removing the role from the app ends it.

use std::collections::BTreeMap;

use crate::snapshot::{AppState, SourceState};
use crate::source::MemberKind;

/// The app's assignments, as the rules ask about them.
#[derive(Default)]
pub struct Roles<'a> {
    app: Option<&'a AppState>,
    /// User id → the role ids the user holds through assigned groups.
    through_groups: BTreeMap<&'a str, Vec<&'a str>>,
    /// Role id → value, for the roles that have one.
    values: BTreeMap<&'a str, &'a str>,
}

impl<'a> Roles<'a> {
    /// Walks the member lists of the assigned groups once (for a cycle that evaluates a few
    /// users, the snapshot's lists hold only those users).
    pub fn new(state: &'a SourceState) -> Roles<'a> {
        let Some(app) = &state.app else {
            return Roles::default();
        };
        let mut through_groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (group, roles) in &app.groups {
            let members = state.members.get(group).into_iter().flatten();
            for member in members.filter(|m| m.kind == MemberKind::User) {
                let held = through_groups.entry(member.id.as_str()).or_default();
                held.extend(roles.iter().map(String::as_str));
            }
        }
        let values = app.definitions.roles.iter();
        let values = values.filter_map(|r| Some((r.id.as_str(), r.value.as_deref()?)));
        Roles {
            app: Some(app),
            through_groups,
            values: values.collect(),
        }
    }

    /// True when the user is assigned to the app, directly or through a group, with any role
    /// or default access.
    pub fn is_assigned(&self, user: &str) -> bool {
        self.app.is_some_and(|app| app.users.contains_key(user))
            || self.through_groups.contains_key(user)
    }

    /// The values of every role the app defines.
    pub fn defined_values(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.values.values().copied()
    }

    /// The values of the roles the user holds (each once, in no particular order).
    pub fn values_of(&self, user: &str) -> Vec<&'a str> {
        let direct = self.app.and_then(|app| app.users.get(user)).into_iter();
        let direct = direct.flatten().map(String::as_str);
        let grouped = self.through_groups.get(user).into_iter().flatten().copied();
        let mut values: Vec<&str> = direct
            .chain(grouped)
            .filter_map(|id| self.values.get(id).copied())
            .collect();
        values.sort_unstable();
        values.dedup();
        values
    }
}
