//! The provisioning rules: the third stage of the flow (`source → snapshot → rules → plan →
//! target`). Pure functions, no I/O: from the source state the snapshot holds and the validated
//! configuration, [`evaluate`] computes the desired target user of every user in scope, the rule
//! errors of those who cannot be provisioned, and the Entra departments and groups that no alias
//! maps.
//!
//! The five vendor guides in `shared/seeds/` are the specification:
//! - scope (`scope.rs`): a member of a scoped group, or everyone when none is scoped (Syncro's
//!   filter-only mode), or a user assigned to the app (`roles.rs`), passing every `[filter]`
//!   criterion; a disabled account is out of scope;
//! - permissions (`permissions.rs`): every group that matches an alias, and every app role that
//!   matches an `app_roles` value, gives its permission group, ordered by priority — the first
//!   is primary, the rest additional (Stratsys's Anna); none gives `default_permission`
//!   (stacksync's "viewer") or the rule error; two exclusive ones are a rule error (SignPath);
//! - department (`department.rs`): by alias, else the fallback of the primary permission group,
//!   else "No standard department defined" and the user is not created;
//! - attributes (`attributes.rs`, `expr/`): the `[attributes]` expressions over Entra properties.
//!
//! Everything is keyed and ordered by id, so the outcome does not depend on the order in which
//! Graph listed users, groups or members.

mod attributes;
mod department;
pub mod expr;
mod permissions;
mod roles;
mod scope;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::RulesConfig;
use crate::snapshot::SourceState;

/// Which memberships count: direct members only (as Entra's provisioning) or nested ones too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Direct,
    Transitive,
}

/// The department a desired user gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from", content = "name")]
pub enum DepartmentChoice {
    /// Entra's department matched this department's alias (or is sent as it is, when no
    /// `[[departments]]` are configured).
    Mapped(String),
    /// No alias matched: the fallback department of the primary permission group.
    Fallback(String),
    /// No alias matched and no fallback exists: a user the target already has keeps its
    /// department; a new one is not created (see [`RuleError`]).
    Unchanged,
    /// Nothing to send: the department attribute is mapped to `none`, or Entra has no value and
    /// no departments are configured.
    NotSent,
}

/// The canonical, target-agnostic user that should exist in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct DesiredUser {
    /// The Entra object id: the identity that never changes.
    pub id: String,
    /// The target's user name (the `userName` attribute), for matching and messages.
    pub user_name: String,
    /// Target attribute (SCIM path) → value; attributes whose expression gave null are absent.
    pub attributes: BTreeMap<String, String>,
    /// Permission group names, primary first, then the additional ones by priority.
    pub permissions: Vec<String>,
    pub department: DepartmentChoice,
}

impl DesiredUser {
    /// The primary permission, if the user has any.
    pub fn primary_permission(&self) -> Option<&str> {
        self.permissions.first().map(String::as_str)
    }
}

/// Why a user in scope cannot be provisioned (fully).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleErrorKind {
    /// No group of the user matches an alias and there is no `default_permission`: the user is
    /// held (neither created nor changed nor removed).
    NoMainMembership,
    /// No department alias matched and the primary permission group has no fallback: a new user
    /// is not created; an existing one is updated but keeps its department.
    NoDepartment,
    /// The `userName` expression gave nothing: the user cannot be matched in the target, held.
    NoUserName,
    /// The user would get two exclusive permissions (SignPath's "at most one role other than
    /// Regular User"): held, neither changed nor removed, until one is taken away in Entra.
    ExclusivePermissions,
}

/// A rule error of one user, in the words of the vendors' provisioning logs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct RuleError {
    pub user_id: String,
    pub user_principal_name: Option<String>,
    pub kind: RuleErrorKind,
    pub message: String,
}

/// What no alias maps: for `entrasync status`, as Stratsys lists "unmapped aliases".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Unmapped {
    /// Entra department values of users in scope that match no `[[departments]]` alias.
    pub departments: BTreeSet<String>,
    /// Display names of scoped Entra groups that match no `[[permission_groups]]` alias.
    pub groups: BTreeSet<String>,
    /// Values of `[source] app`'s roles that no `app_roles` maps (when permission groups are
    /// given by app roles): whoever holds one gets no permission from it. Left out of the JSON
    /// when empty, so a configuration without app roles reports as before.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub roles: BTreeSet<String>,
}

impl Unmapped {
    /// One message per unmapped group (as Stratsys words it) and per unmapped app role.
    pub fn messages(&self) -> Vec<String> {
        let groups = self.groups.iter().map(|name| format!("No matching group has been found for group with display name {name}. A group has to be configured with this alias."));
        let roles = self.roles.iter().map(|value| format!("No permission group is given by the app role \"{value}\": users holding it get no permission from it; add it to a permission group's app_roles."));
        groups.chain(roles).collect()
    }
}

/// Where a permission alias points now: for `status`, which shows a group renamed in Entra
/// beside the alias it was bound by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct AliasStatus {
    pub alias: String,
    pub permission_group: String,
    /// The group the alias is bound to; `None` while no such group is known.
    pub group_id: Option<String>,
    /// The group's display name in Entra now.
    pub current_name: Option<String>,
}

/// The result of the rules for one cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Outcome {
    /// Every user that should be in the target, by Entra object id.
    pub desired: BTreeMap<String, DesiredUser>,
    /// Users in scope that cannot be provisioned as they are: held users are in `held` only;
    /// a user with [`RuleErrorKind::NoDepartment`] is also in `desired` (with
    /// [`DepartmentChoice::Unchanged`]). Sorted by user id.
    pub errors: Vec<RuleError>,
    /// Users in scope but held back by a rule error: the plan neither creates, changes nor
    /// removes them.
    pub held: BTreeSet<String>,
    pub unmapped: Unmapped,
    /// Every permission alias, by priority then alias.
    pub aliases: Vec<AliasStatus>,
    /// Evaluated users in scope whose Entra department no alias maps: id → that department.
    pub unmapped_by_user: BTreeMap<String, String>,
}

/// Applies the rules to the source state: to every user in `state.users`, which may be all of
/// them or only those a cycle must look at again; the groups must be complete, and the member
/// lists must hold at least those users. Takes the state: each user is freed once evaluated, so
/// a first cycle never holds every source user and every desired user at once.
pub fn evaluate(mut state: SourceState, config: &RulesConfig, membership: Membership) -> Outcome {
    let users = std::mem::take(&mut state.users);
    let state = &state;
    let mut groups = scope::Groups::new(state, membership, users.len());
    groups.scope(&config.scope_groups);
    let roles = roles::Roles::new(state);
    let mut outcome = Outcome::default();
    if !config.permission_groups.is_empty() {
        outcome.unmapped.groups = permissions::unmapped_groups(&groups, config);
        outcome.unmapped.roles = permissions::unmapped_roles(&roles, config);
    }
    outcome.aliases = permissions::alias_status(&groups, config);
    for (id, user) in users {
        let (id, user) = (&id, &user);
        if !scope::in_scope(user, &groups, &roles, config) {
            continue;
        }
        let upn = user.user_principal_name.clone();
        let mut error = |kind: RuleErrorKind, message: String| {
            let error = RuleError {
                user_id: id.clone(),
                user_principal_name: upn.clone(),
                kind,
                message,
            };
            outcome.errors.push(error);
        };
        let Some(permissions) = permissions::of(id, &groups, &roles, config) else {
            error(
                RuleErrorKind::NoMainMembership,
                format!("User {id} has no main membership."),
            );
            outcome.held.insert(id.clone());
            continue;
        };
        if let Some((first, second)) = permissions::conflict(&permissions, config) {
            error(
                RuleErrorKind::ExclusivePermissions,
                format!(
                    "User {id} would get two exclusive permissions, \"{first}\" and \"{second}\"; a user may hold one of them only: in Entra, remove one of the roles or groups that give them. The user is not changed meanwhile."
                ),
            );
            outcome.held.insert(id.clone());
            continue;
        }
        let mut attributes = attributes::evaluate(user, &config.attributes);
        let Some(user_name) = attributes.get("userName").cloned() else {
            error(
                RuleErrorKind::NoUserName,
                format!(
                    "User {id} has no userName: the userName expression gave nothing; check [attributes] userName and the user's properties in Entra."
                ),
            );
            outcome.held.insert(id.clone());
            continue;
        };
        let entra_department = attributes.remove(crate::config::ENTERPRISE_DEPARTMENT);
        let (department, unmapped) = department::choose(
            entra_department.as_deref(),
            permissions.first().map(String::as_str),
            config,
        );
        if department == DepartmentChoice::Unchanged {
            error(
                RuleErrorKind::NoDepartment,
                "No standard department defined".to_owned(),
            );
        }
        if let Some(value) = unmapped {
            outcome.unmapped.departments.insert(value.clone());
            outcome.unmapped_by_user.insert(id.clone(), value);
        }
        outcome.desired.insert(
            id.clone(),
            DesiredUser {
                id: id.clone(),
                user_name,
                attributes,
                permissions,
                department,
            },
        );
    }
    outcome.errors.sort();
    outcome
}
