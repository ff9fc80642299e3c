//! The department: Entra's value maps by alias to a configured department (many aliases to one);
//! if none matches, the fallback department of the user's primary permission group; if that has
//! none, no department — Stratsys: the user "will not be created ... until the alias for their
//! department has been configured".
//!
//! Part of `rules/` (pure). A value no alias maps is returned too, for the unmapped report.

use crate::config::RulesConfig;

use super::DepartmentChoice;

/// Chooses the department for a user whose Entra-side department is `entra` (the value of the
/// department attribute's expression) and whose primary permission group is `primary`; with it,
/// the Entra value if departments are configured and no alias maps it.
pub fn choose(
    entra: Option<&str>,
    primary: Option<&str>,
    config: &RulesConfig,
) -> (DepartmentChoice, Option<String>) {
    let entra = entra.map(str::trim).filter(|v| !v.is_empty());
    if config.departments.is_empty() {
        let choice = entra.map_or(DepartmentChoice::NotSent, |v| {
            DepartmentChoice::Mapped(v.to_owned())
        });
        return (choice, None);
    }
    let mut unmapped = None;
    if let Some(value) = entra {
        let matched = config
            .departments
            .iter()
            .find(|d| d.aliases.iter().any(|a| a.eq_ignore_ascii_case(value)));
        if let Some(department) = matched {
            return (DepartmentChoice::Mapped(department.name.clone()), None);
        }
        unmapped = Some(value.to_owned());
    }
    let fallback = primary.and_then(|name| {
        config
            .permission_groups
            .iter()
            .find(|p| p.name == name)?
            .fallback_department
            .clone()
    });
    let choice = fallback.map_or(DepartmentChoice::Unchanged, DepartmentChoice::Fallback);
    (choice, unmapped)
}
