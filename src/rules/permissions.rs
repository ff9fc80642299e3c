//! Permissions: every Entra group of the user that matches an alias, and every app role the user
//! holds that matches an `app_roles` value, gives that permission group; ordered by priority (1
//! is the highest) the first is the primary permission, the rest are additional — Stratsys's
//! Anna, in "Full User" and "Member", gets "Full User" as primary. Two exclusive permissions are
//! a conflict (SignPath: "at most one role other than Regular User").
//!
//! Part of `rules/` (pure). The configuration keeps permission groups sorted by priority and
//! every alias unique, so the result is the same whatever order Graph listed groups in.

use std::collections::BTreeSet;

use crate::config::RulesConfig;

use super::AliasStatus;
use super::roles::Roles;
use super::scope::Groups;

/// The user's permission groups, primary first; `default_permission` when no alias or app role
/// maps any of the user's groups and roles; `None` when there is neither (the rule error "no
/// main membership"). With no `[[permission_groups]]` configured, nobody needs one.
pub fn of(
    user: &str,
    groups: &Groups<'_>,
    roles: &Roles<'_>,
    config: &RulesConfig,
) -> Option<Vec<String>> {
    // Without permission groups (Syncro, SignPath's plain sync) permissions are not managed.
    if config.permission_groups.is_empty() {
        return Some(config.default_permission.iter().cloned().collect());
    }
    let held = roles.values_of(user);
    let granted: Vec<String> = config
        .permission_groups
        .iter()
        .filter(|p| {
            p.aliases.iter().any(|alias| groups.has_member(alias, user))
                || p.app_roles
                    .iter()
                    .any(|role| held.iter().any(|h| h.eq_ignore_ascii_case(role)))
        })
        .map(|p| p.name.clone())
        .collect();
    if !granted.is_empty() {
        return Some(granted);
    }
    config.default_permission.clone().map(|d| vec![d])
}

/// The first two exclusive permission groups among `granted`, if there are two.
pub fn conflict<'p>(granted: &'p [String], config: &RulesConfig) -> Option<(&'p str, &'p str)> {
    let exclusive = |name: &&String| {
        config
            .permission_groups
            .iter()
            .any(|p| p.exclusive && &p.name == *name)
    };
    let mut exclusive = granted.iter().filter(exclusive);
    Some((exclusive.next()?.as_str(), exclusive.next()?.as_str()))
}

/// The display names of scoped Entra groups that no permission alias maps.
pub fn unmapped_groups(groups: &Groups<'_>, config: &RulesConfig) -> BTreeSet<String> {
    let mapped: BTreeSet<&str> = config
        .permission_groups
        .iter()
        .flat_map(|p| &p.aliases)
        .filter_map(|alias| groups.id_of(alias))
        .collect();
    config
        .scope_groups
        .iter()
        .filter_map(|entry| groups.id_of(entry))
        .filter(|id| !mapped.contains(id))
        .map(|id| groups.name_of(id).unwrap_or(id).to_owned())
        .collect()
}

/// The values of the app's roles that no `app_roles` maps, when any permission group is given
/// by app roles (with none, roles are not how permissions are granted: nothing to report).
pub fn unmapped_roles(roles: &Roles<'_>, config: &RulesConfig) -> BTreeSet<String> {
    let mapped: Vec<&String> = config
        .permission_groups
        .iter()
        .flat_map(|p| &p.app_roles)
        .collect();
    if mapped.is_empty() {
        return BTreeSet::new();
    }
    roles
        .defined_values()
        .filter(|value| !mapped.iter().any(|m| m.eq_ignore_ascii_case(value)))
        .map(str::to_owned)
        .collect()
}

/// Where each alias points now.
pub fn alias_status(groups: &Groups<'_>, config: &RulesConfig) -> Vec<AliasStatus> {
    config
        .permission_groups
        .iter()
        .flat_map(|p| {
            p.aliases.iter().map(|alias| {
                let id = groups.id_of(alias);
                AliasStatus {
                    alias: alias.clone(),
                    permission_group: p.name.clone(),
                    group_id: id.map(str::to_owned),
                    current_name: id.and_then(|id| groups.name_of(id)).map(str::to_owned),
                }
            })
        })
        .collect()
}
