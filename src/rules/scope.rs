//! Who is in scope: a member of a scoped group (or everyone, when no group is scoped), a user
//! assigned to the app (`scope = "assigned"`) or everyone (`scope = "all"`); enabled, and
//! passing every `[filter]` criterion — Syncro's semantics: all listed criteria must match, an
//! omitted one matches everyone.
//!
//! Part of `rules/` (pure). Groups are named in the config by display name or object id; the
//! snapshot keeps which id each entry was bound to, so a group renamed in Entra stays the group
//! the operator meant.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{RulesConfig, ScopeBy};
use crate::snapshot::SourceState;
use crate::source::{Member, User};

use super::Membership;
use super::roles::Roles;

/// The groups of the source state, as the rules ask about them.
pub struct Groups<'a> {
    state: &'a SourceState,
    /// Group id → its members (users and groups) sorted by id, as `membership` counts them.
    members: &'a BTreeMap<String, Vec<Member>>,
    /// The members of the scoped groups, once `scope` is called.
    scoped: Option<BTreeSet<&'a str>>,
    /// How many users are evaluated.
    evaluated: usize,
}

impl<'a> Groups<'a> {
    pub fn new(state: &'a SourceState, membership: Membership, evaluated: usize) -> Groups<'a> {
        let lists = match membership {
            Membership::Direct => &state.members,
            Membership::Transitive => &state.transitive,
        };
        Groups {
            state,
            members: lists,
            scoped: None,
            evaluated,
        }
    }

    /// Gathers the members of the scoped groups once when many users are evaluated, so each
    /// user's scope is one lookup (a tenant of 100,000 users in 1,000 scoped groups would
    /// otherwise cost 10^8 steps). A cycle that evaluates a few changed users asks each scoped
    /// group instead, which costs nothing up front.
    pub fn scope(&mut self, entries: &[String]) {
        if self.evaluated < GATHER_FROM {
            return;
        }
        let mut scoped = BTreeSet::new();
        for entry in entries {
            if let Some(members) = self.id_of(entry).and_then(|id| self.members.get(id)) {
                scoped.extend(members.iter().map(|m| m.id.as_str()));
            }
        }
        self.scoped = Some(scoped);
    }

    /// The group id a configured entry (display name or object id) stands for, if the group
    /// is known.
    pub fn id_of(&self, entry: &str) -> Option<&'a str> {
        if let Some(id) = self.state.bindings.get(entry) {
            return Some(id.as_str());
        }
        self.state
            .groups
            .get_key_value(entry)
            .map(|(id, _)| id.as_str())
    }

    /// The group's current display name in Entra.
    pub fn name_of(&self, id: &str) -> Option<&'a str> {
        self.state.groups.get(id)?.display_name.as_deref()
    }

    /// True when `user` is a member of the group a configured entry stands for.
    pub fn has_member(&self, entry: &str, user: &str) -> bool {
        self.id_of(entry)
            .and_then(|id| self.members.get(id))
            .is_some_and(|members| {
                members
                    .binary_search_by(|m| m.id.as_str().cmp(user))
                    .is_ok()
            })
    }
}

/// How many users make gathering the scoped groups' members worth it.
const GATHER_FROM: usize = 1_000;

/// True when `user` is in scope.
pub fn in_scope(user: &User, groups: &Groups<'_>, roles: &Roles<'_>, config: &RulesConfig) -> bool {
    if user.account_enabled == Some(false) {
        return false;
    }
    let scoped = match config.scope {
        ScopeBy::All => true,
        ScopeBy::Assigned => roles.is_assigned(&user.id),
        ScopeBy::Groups if config.scope_groups.is_empty() => true,
        ScopeBy::Groups => match &groups.scoped {
            Some(scoped) => scoped.contains(user.id.as_str()),
            None => config
                .scope_groups
                .iter()
                .any(|entry| groups.has_member(entry, &user.id)),
        },
    };
    scoped && passes_filter(user, groups, config)
}

fn passes_filter(user: &User, groups: &Groups<'_>, config: &RulesConfig) -> bool {
    let filter = &config.filter;
    let one_of = |allowed: &Option<Vec<String>>, value: Option<&str>| {
        allowed.as_ref().is_none_or(|allowed| {
            value.is_some_and(|v| allowed.iter().any(|a| a.eq_ignore_ascii_case(v.trim())))
        })
    };
    // Entra gives every user a type; a missing one is the default, Member.
    let user_type = user.user_type.as_deref().or(Some("Member"));
    let domain = user
        .user_principal_name
        .as_deref()
        .and_then(|upn| upn.rsplit_once('@'))
        .map(|(_, domain)| domain);
    one_of(&filter.user_types, user_type)
        && one_of(&filter.domains, domain)
        && one_of(&filter.departments, user.department.as_deref())
        && one_of(&filter.office_locations, user.office_location.as_deref())
        && filter.groups.as_ref().is_none_or(|entries| {
            entries
                .iter()
                .any(|entry| groups.has_member(entry, &user.id))
        })
}
