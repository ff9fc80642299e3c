//! The rule sections of the configuration — `[filter]`, `[[permission_groups]]`,
//! `default_permission`, `[[departments]]` and `[attributes]` — checked and turned into the
//! values `rules/` applies.
//!
//! Part of configuration loading (raw TOML → validated values, see `mod.rs`). Everything the
//! vendor guides make an operator get right by hand is refused here, at load, with the key named:
//! an alias claimed by two permission groups or two departments (Stratsys: "Unique aliases are
//! required"), a repeated priority, a fallback department that does not exist, an expression
//! that does not parse.

use std::collections::BTreeMap;

use super::raw::{RawConfig, RawDepartment, RawFilter, RawPermissionGroup};
use super::{ConfigError, ScopeBy, Validator};
use crate::rules::expr::Expr;

/// The Entra properties an attribute expression may read: what `source/` selects, plus
/// `objectId` (Entra's name for the user's `id` in its own expressions).
pub const EXPRESSION_PROPERTIES: [&str; 15] = [
    "objectId",
    "id",
    "userPrincipalName",
    "mail",
    "givenName",
    "surname",
    "displayName",
    "department",
    "officeLocation",
    "userType",
    "accountEnabled",
    "companyName",
    "jobTitle",
    "employeeId",
    "mobilePhone",
];

/// The target attributes `[attributes]` may map (SCIM 2.0 paths, as Entra's provisioning names
/// them), and the expression of each one that is sent by default.
pub const TARGET_ATTRIBUTES: [(&str, Option<&str>); 13] = [
    ("userName", Some("[userPrincipalName]")),
    ("externalId", Some("[objectId]")),
    ("displayName", Some("[displayName]")),
    ("name.givenName", Some("[givenName]")),
    ("name.familyName", Some("[surname]")),
    ("emails[type eq \"work\"].value", Some("[mail]")),
    ("title", None),
    ("phoneNumbers[type eq \"mobile\"].value", None),
    (ENTERPRISE_DEPARTMENT, Some("[department]")),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
        None,
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization",
        None,
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        None,
    ),
    ("active", None),
];

/// The enterprise extension's `department`: its expression gives the Entra-side department that
/// `[[departments]]` aliases map (by default `[department]`).
pub const ENTERPRISE_DEPARTMENT: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";

/// `[filter]`: every listed criterion must match; an omitted one matches everyone (Syncro's
/// "All", which also takes in values that appear later).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `Member` and/or `Guest`.
    pub user_types: Option<Vec<String>>,
    /// Domains of the userPrincipalName, lower-cased.
    pub domains: Option<Vec<String>>,
    pub departments: Option<Vec<String>>,
    pub office_locations: Option<Vec<String>>,
    /// Groups (display names or object ids) the user must be a direct member of, one at least.
    pub groups: Option<Vec<String>>,
}

/// A permission group of the target, and the Entra groups and app roles that grant it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionGroup {
    pub name: String,
    /// Entra group display names or object ids; unique across all permission groups.
    pub aliases: Vec<String>,
    /// Values of `[source] app`'s roles (stacksync's "editor"); unique across all permission
    /// groups, compared without case.
    pub app_roles: Vec<String>,
    /// A user may hold one exclusive permission at most (SignPath: "at most one role other
    /// than Regular User"); two are a rule error, and the user is not changed.
    pub exclusive: bool,
    /// 1 is the highest; unique.
    pub priority: u32,
    /// The department of a user whose own maps to none, when this is their primary permission.
    pub fallback_department: Option<String>,
}

/// A department of the target, and the Entra department values that map to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub name: String,
    /// Unique across all departments; the name itself when the file gives none.
    pub aliases: Vec<String>,
}

/// One attribute sent to the target.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeMapping {
    /// The SCIM path (`userName`, `name.givenName`, the enterprise `department`, ...).
    pub target: String,
    pub expr: Expr,
}

/// What `rules/` needs from the configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RulesConfig {
    /// Who is in scope: members of `scope_groups`, the app's assigned users, or everyone.
    pub scope: ScopeBy,
    /// With [`ScopeBy::Groups`], the groups whose members are in scope: `[source] groups` and
    /// every permission alias (display names or object ids, as written). Empty: every user
    /// (filters alone decide).
    pub scope_groups: Vec<String>,
    pub filter: Filter,
    /// Sorted by priority, highest (1) first.
    pub permission_groups: Vec<PermissionGroup>,
    /// Given to a user in scope whom no alias maps (stacksync: "Default value if null: viewer").
    pub default_permission: Option<String>,
    pub departments: Vec<Department>,
    /// The defaults, overridden or removed (`"none"`) by `[attributes]`, in target order.
    pub attributes: Vec<AttributeMapping>,
}

impl RulesConfig {
    /// Every group entry the rules read memberships of: permission aliases and filter groups.
    pub fn groups_read(&self) -> Vec<String> {
        let aliases = self.permission_groups.iter().flat_map(|p| &p.aliases);
        let filtered = self.filter.groups.iter().flatten();
        aliases.chain(filtered).cloned().collect()
    }

    /// Every app role value a permission group is granted by, with that permission group.
    pub fn app_roles_read(&self) -> Vec<(String, String)> {
        let groups = self.permission_groups.iter();
        let roles = groups.flat_map(|p| p.app_roles.iter().map(|r| (p.name.clone(), r.clone())));
        roles.collect()
    }
}

impl Validator<'_> {
    pub(super) fn rules(&self, raw: &mut RawConfig) -> Result<RulesConfig, ConfigError> {
        let filter = self.filter(raw.filter.take().unwrap_or_default())?;
        let departments = self.departments(raw.departments.take().unwrap_or_default())?;
        let permission_groups = self.permission_groups(
            raw.permission_groups.take().unwrap_or_default(),
            &departments,
        )?;
        let default_permission = match raw.default_permission.take() {
            None => None,
            Some(name) => {
                let name = name.trim().to_owned();
                if name.is_empty() {
                    return Err(self.invalid("default_permission", "is empty; name a permission group, or leave the key out so users without a mapped group are reported"));
                }
                if !permission_groups.is_empty()
                    && !permission_groups.iter().any(|p| p.name == name)
                {
                    return Err(self.invalid(
                        "default_permission",
                        format!(
                            "is \"{name}\", which is no [[permission_groups]] name; use one of {}",
                            quoted(permission_groups.iter().map(|p| p.name.as_str()))
                        ),
                    ));
                }
                Some(name)
            }
        };
        // A permission group no alias or role gives, and not the default either, is granted
        // to no one.
        let unreachable = permission_groups.iter().find(|p| {
            p.aliases.is_empty()
                && p.app_roles.is_empty()
                && default_permission.as_ref() != Some(&p.name)
        });
        if let Some(group) = unreachable {
            return Err(self.invalid(
                &format!("[[permission_groups]] ({}) aliases", group.name),
                "is empty, so no user can get this permission; list the Entra groups that give it (or the app roles, in app_roles), or name it in default_permission",
            ));
        }
        let attributes = self.attributes(raw.attributes.take().unwrap_or_default())?;
        Ok(RulesConfig {
            scope: ScopeBy::Groups,
            scope_groups: Vec::new(),
            filter,
            permission_groups,
            default_permission,
            departments,
            attributes,
        })
    }

    fn filter(&self, raw: RawFilter) -> Result<Filter, ConfigError> {
        let list = |key: &str, values: Option<Vec<String>>| -> Result<_, ConfigError> {
            let Some(values) = values else {
                return Ok(None);
            };
            let key = format!("[filter] {key}");
            let values: Vec<String> = values.into_iter().map(|v| v.trim().to_owned()).collect();
            if values.is_empty() {
                return Err(self.invalid(
                    &key,
                    "is an empty list, which no user matches; leave the key out to match everyone",
                ));
            }
            if values.iter().any(String::is_empty) {
                return Err(self.invalid(&key, "has an empty entry; remove it"));
            }
            Ok(Some(values))
        };
        let user_types = list("user_types", raw.user_types)?
            .map(|types| {
                types
                    .into_iter()
                    .map(|t| match t.to_ascii_lowercase().as_str() {
                        "member" => Ok("Member".to_owned()),
                        "guest" => Ok("Guest".to_owned()),
                        _ => Err(self.invalid(
                            "[filter] user_types",
                            format!("has \"{t}\"; Entra's user types are \"Member\" and \"Guest\""),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let domains = list("domains", raw.domains)?.map(|d| {
            d.into_iter()
                .map(|d| d.trim_start_matches('@').to_lowercase())
                .collect()
        });
        Ok(Filter {
            user_types,
            domains,
            departments: list("departments", raw.departments)?,
            office_locations: list("office_locations", raw.office_locations)?,
            groups: list("groups", raw.groups)?,
        })
    }

    fn departments(&self, raw: Vec<RawDepartment>) -> Result<Vec<Department>, ConfigError> {
        let mut departments: Vec<Department> = Vec::with_capacity(raw.len());
        for (i, department) in raw.into_iter().enumerate() {
            let key = format!("[[departments]] #{}", i + 1);
            let name = self.name(&key, department.name)?;
            if departments.iter().any(|d| d.name == name) {
                return Err(self.invalid(
                    &key,
                    format!("name \"{name}\" is used twice; write each department once, with all its aliases in one list"),
                ));
            }
            let aliases = match department.aliases {
                None => vec![name.clone()],
                Some(aliases) => self.aliases(&format!("{key} ({name}) aliases"), aliases)?,
            };
            departments.push(Department { name, aliases });
        }
        let owners = departments
            .iter()
            .map(|d| (d.name.as_str(), d.aliases.as_slice()));
        self.unique_aliases("[[departments]]", ("alias", "department"), owners)?;
        Ok(departments)
    }

    fn permission_groups(
        &self,
        raw: Vec<RawPermissionGroup>,
        departments: &[Department],
    ) -> Result<Vec<PermissionGroup>, ConfigError> {
        let mut groups: Vec<PermissionGroup> = Vec::with_capacity(raw.len());
        for (i, group) in raw.into_iter().enumerate() {
            let key = format!("[[permission_groups]] #{}", i + 1);
            let name = self.name(&key, group.name)?;
            let key = format!("{key} ({name})");
            if groups.iter().any(|g| g.name == name) {
                return Err(self.invalid(
                    &key,
                    "name is used twice; write each permission group once, with all its aliases in one list",
                ));
            }
            let aliases =
                self.aliases(&format!("{key} aliases"), group.aliases.unwrap_or_default())?;
            let app_roles = match group.app_roles {
                None => Vec::new(),
                Some(roles) if roles.is_empty() => {
                    return Err(self.invalid(
                        &format!("{key} app_roles"),
                        "is an empty list; list the app role values that give this permission (such as \"editor\"), or leave the key out",
                    ));
                }
                Some(roles) => self.aliases(&format!("{key} app_roles"), roles)?,
            };
            let priority = match group.priority {
                None => {
                    return Err(self.invalid(
                        &format!("{key} priority"),
                        "is missing; 1 is the highest, and each permission group needs its own",
                    ));
                }
                Some(p) => u32::try_from(p).ok().filter(|p| *p >= 1).ok_or_else(|| {
                    self.invalid(
                        &format!("{key} priority"),
                        format!("is {p}; priorities are whole numbers from 1 (the highest)"),
                    )
                })?,
            };
            if let Some(other) = groups.iter().find(|g| g.priority == priority) {
                return Err(self.invalid(
                    &format!("{key} priority"),
                    format!("{priority} is also the priority of \"{}\"; each permission group needs its own, so a user in both gets one primary permission", other.name),
                ));
            }
            let fallback_department = match group.fallback_department.map(|f| f.trim().to_owned()) {
                None => None,
                Some(f) if departments.iter().any(|d| d.name == f) => Some(f),
                Some(f) => {
                    return Err(self.invalid(
                        &format!("{key} fallback_department"),
                        format!(
                            "is \"{f}\", which is no [[departments]] name; add it there or use one of {}",
                            quoted(departments.iter().map(|d| d.name.as_str()))
                        ),
                    ));
                }
            };
            groups.push(PermissionGroup {
                name,
                aliases,
                app_roles,
                exclusive: group.exclusive.unwrap_or(false),
                priority,
                fallback_department,
            });
        }
        let owners = groups
            .iter()
            .map(|g| (g.name.as_str(), g.aliases.as_slice()));
        self.unique_aliases(
            "[[permission_groups]]",
            ("alias", "permission group"),
            owners,
        )?;
        let owners = groups
            .iter()
            .map(|g| (g.name.as_str(), g.app_roles.as_slice()));
        self.unique_aliases(
            "[[permission_groups]]",
            ("app role", "permission group"),
            owners,
        )?;
        groups.sort_by_key(|g| g.priority);
        Ok(groups)
    }

    fn attributes(&self, raw: toml::Table) -> Result<Vec<AttributeMapping>, ConfigError> {
        let mut chosen: BTreeMap<&str, Option<String>> = TARGET_ATTRIBUTES
            .iter()
            .map(|(target, default)| (*target, default.map(str::to_owned)))
            .collect();
        for (target, value) in raw {
            let key = format!("[attributes] \"{target}\"");
            let Some(slot) = TARGET_ATTRIBUTES.iter().find(|(t, _)| *t == target) else {
                return Err(self.invalid(
                    &key,
                    format!(
                        "is not an attribute entrasync can send; the attributes are {}",
                        quoted(TARGET_ATTRIBUTES.iter().map(|(t, _)| *t))
                    ),
                ));
            };
            if target == "active" {
                return Err(self.invalid(
                    &key,
                    "is decided by scope and accountEnabled, not by an expression",
                ));
            }
            let toml::Value::String(text) = value else {
                return Err(self.invalid(&key, "must be a string: an expression such as \"lower([mail])\", or \"none\" not to send it"));
            };
            let text = text.trim().to_owned();
            if matches!(target.as_str(), "userName") && text.eq_ignore_ascii_case("none") {
                return Err(self.invalid(
                    &key,
                    "cannot be \"none\": userName identifies the user in the target",
                ));
            }
            chosen.insert(slot.0, (!text.eq_ignore_ascii_case("none")).then_some(text));
        }
        let mut mappings = Vec::new();
        for (target, _) in TARGET_ATTRIBUTES {
            let Some(Some(text)) = chosen.remove(target) else {
                continue;
            };
            let expr = Expr::parse(&text, &EXPRESSION_PROPERTIES).map_err(|err| {
                self.invalid(
                    &format!("[attributes] \"{target}\""),
                    format!("= \"{text}\": {err}"),
                )
            })?;
            mappings.push(AttributeMapping {
                target: target.to_owned(),
                expr,
            });
        }
        Ok(mappings)
    }

    fn name(&self, key: &str, name: Option<String>) -> Result<String, ConfigError> {
        match name.map(|n| n.trim().to_owned()) {
            Some(n) if !n.is_empty() => Ok(n),
            _ => Err(self.invalid(
                &format!("{key} name"),
                "is missing or empty; write the name the application knows it by",
            )),
        }
    }

    fn aliases(&self, key: &str, aliases: Vec<String>) -> Result<Vec<String>, ConfigError> {
        let mut out: Vec<String> = Vec::with_capacity(aliases.len());
        for alias in aliases {
            let alias = alias.trim().to_owned();
            if alias.is_empty() {
                return Err(self.invalid(key, "has an empty alias; remove it"));
            }
            if out.iter().any(|a| a.eq_ignore_ascii_case(&alias)) {
                return Err(self.invalid(key, format!("lists \"{alias}\" twice; remove one")));
            }
            out.push(alias);
        }
        Ok(out)
    }

    /// An alias (or app role) may belong to one owner only (compared as Entra compares names:
    /// without case).
    fn unique_aliases<'a>(
        &self,
        key: &str,
        (noun, what): (&str, &str),
        owners: impl Iterator<Item = (&'a str, &'a [String])>,
    ) -> Result<(), ConfigError> {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for (owner, aliases) in owners {
            for alias in aliases {
                if let Some((_, first)) = seen.iter().find(|(a, _)| a.eq_ignore_ascii_case(alias)) {
                    return Err(self.invalid(
                        key,
                        format!("{noun} \"{alias}\" belongs to both {what} \"{first}\" and \"{owner}\"; {noun}s must be unique, keep it in one of them"),
                    ));
                }
                seen.push((alias, owner));
            }
        }
        Ok(())
    }
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("\"{n}\"")).collect();
    if names.is_empty() {
        "(none configured)".to_owned()
    } else {
        names.join(", ")
    }
}
