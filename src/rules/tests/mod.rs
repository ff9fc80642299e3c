//! Tests of the rules, one file per vendor guide in `shared/seeds/`, each scenario a named test;
//! and a property test that the outcome does not depend on the order of the input.
//!
//! The configuration is written as an operator writes it and loaded through `config::parse`, so
//! these tests also hold the validation to what the rules expect.

mod order;
mod securepractice;
mod signpath;
mod stacksync;
mod stratsys;
mod syncro;

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::{self, RulesConfig};
use crate::snapshot::{AppRoleDefinition, AppState, SourceState};
use crate::source::{DEFAULT_ACCESS, Group, Member, MemberKind, User};

use super::{DepartmentChoice, Membership, Outcome, evaluate};

/// Loads the rule sections `rules` under a `[source]` that scopes `groups`.
pub fn config(groups: &[&str], rules: &str) -> RulesConfig {
    try_config(groups, rules).unwrap_or_else(|e| panic!("the test config is valid: {e}"))
}

pub fn try_config(groups: &[&str], rules: &str) -> Result<RulesConfig, config::ConfigError> {
    let groups = groups
        .iter()
        .map(|g| format!("{g:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "state_dir = \"state\"\n{rules}\n[source]\ntenant_id = \"t\"\nclient_id = \"c\"\n\
         client_secret = \"s\"\ngroups = [{groups}]\n"
    );
    // `[source]` comes last; a test writes its top-level keys before its tables.
    config::parse(&text, Path::new("/etc/entrasync/rules-test.toml")).map(|c| c.rules)
}

/// Loads the rule sections `rules` under a `[source]` that names an app, with `source` lines
/// (a scope, groups) added to it.
pub fn app_config(source: &str, rules: &str) -> RulesConfig {
    let text = format!(
        "state_dir = \"state\"\n{rules}\n[source]\ntenant_id = \"t\"\nclient_id = \"c\"\n\
         client_secret = \"s\"\napp = {{ client_id = \"{DEFAULT_ACCESS}\" }}\n{source}\n"
    );
    let loaded = config::parse(&text, Path::new("/etc/entrasync/rules-test.toml"));
    loaded
        .unwrap_or_else(|e| panic!("the test config is valid: {e}"))
        .rules
}

/// A tenant for the rules: users and groups by name, bound as the source binds them.
#[derive(Default)]
pub struct Tenant {
    state: SourceState,
}

impl Tenant {
    pub fn new() -> Tenant {
        Tenant::default()
    }

    /// A member user `id@contoso.com` with this department.
    pub fn user(mut self, id: &str, department: Option<&str>) -> Tenant {
        let user = User {
            id: id.to_owned(),
            user_principal_name: Some(format!("{id}@contoso.com")),
            mail: Some(format!("{}@Contoso.com", capitalise(id))),
            given_name: Some(capitalise(id)),
            surname: Some("Berg".into()),
            display_name: Some(format!("{} Berg", capitalise(id))),
            department: department.map(str::to_owned),
            user_type: Some("Member".into()),
            account_enabled: Some(true),
            ..User::default()
        };
        self.state.users.insert(id.to_owned(), user);
        self
    }

    /// Changes a user already added.
    pub fn edit(mut self, id: &str, change: impl FnOnce(&mut User)) -> Tenant {
        change(self.state.users.get_mut(id).expect("the user was added"));
        self
    }

    /// A group named `name` (id `g-<name>`) with these direct members, bound by its name.
    pub fn group(mut self, name: &str, members: &[&str]) -> Tenant {
        let id = format!("g-{name}");
        self.state.groups.insert(
            id.clone(),
            Group {
                id: id.clone(),
                display_name: Some(name.to_owned()),
            },
        );
        // Sorted by id with no id twice, as the snapshot gives them (whatever order Graph
        // listed them in).
        let sorted: std::collections::BTreeSet<&str> = members.iter().copied().collect();
        let members = sorted
            .into_iter()
            .map(|m| Member {
                id: m.to_owned(),
                kind: MemberKind::User,
            })
            .collect();
        self.state.members.insert(id.clone(), members);
        self.state.bindings.insert(name.to_owned(), id);
        self
    }

    /// Renames a group in Entra; its binding stays.
    pub fn rename(mut self, name: &str, new_name: &str) -> Tenant {
        let id = format!("g-{name}");
        self.state
            .groups
            .get_mut(&id)
            .expect("the group was added")
            .display_name = Some(new_name.to_owned());
        self
    }

    /// The app defines roles with these values (ids `r-<value>`); it has no assignments yet.
    pub fn app_roles(mut self, values: &[&str]) -> Tenant {
        let roles = values.iter().map(|v| AppRoleDefinition {
            id: format!("r-{v}"),
            value: Some((*v).to_owned()),
        });
        let app = self.state.app.get_or_insert_with(AppState::default);
        app.definitions.roles.extend(roles);
        self
    }

    /// Assigns the role with value `role` (`""`: default access) to user `principal`, or to
    /// the group named by `principal` when it starts with `group:`.
    pub fn assign(mut self, principal: &str, role: &str) -> Tenant {
        let role = match role {
            "" => DEFAULT_ACCESS.to_owned(),
            value => format!("r-{value}"),
        };
        let app = self.state.app.as_mut().expect("app_roles comes first");
        let held = match principal.strip_prefix("group:") {
            Some(name) => app.groups.entry(format!("g-{name}")).or_default(),
            None => app.users.entry(principal.to_owned()).or_default(),
        };
        held.push(role);
        held.sort();
        self
    }

    pub fn evaluate(&self, config: &RulesConfig) -> Outcome {
        evaluate(self.state.clone(), config, Membership::Direct)
    }
}

fn capitalise(id: &str) -> String {
    let mut chars = id.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The desired users' permissions, by user id.
pub fn permissions(outcome: &Outcome) -> BTreeMap<&str, Vec<&str>> {
    outcome
        .desired
        .iter()
        .map(|(id, d)| {
            (
                id.as_str(),
                d.permissions.iter().map(String::as_str).collect(),
            )
        })
        .collect()
}

/// The desired users' departments, by user id.
pub fn departments(outcome: &Outcome) -> BTreeMap<&str, DepartmentChoice> {
    outcome
        .desired
        .iter()
        .map(|(id, d)| (id.as_str(), d.department.clone()))
        .collect()
}
