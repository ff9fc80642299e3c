//! The department: Entra's value maps by alias to a configured department (many aliases to one);
//! if none matches, the fallback department of the user's primary permission group; if that has
//! none, no department — Stratsys: the user "will not be created ... until the alias for their
//! department has been configured".
//!
//! Part of `rules/` (pure). Values no alias maps are collected for the unmapped report.

use crate::config::RulesConfig;

use super::{DepartmentChoice, Unmapped};

/// Chooses the department for a user whose Entra-side department is `entra` (the value of the
/// department attribute's expression) and whose primary permission group is `primary`.
pub fn choose(
    entra: Option<&str>,
    primary: Option<&str>,
    config: &RulesConfig,
    unmapped: &mut Unmapped,
) -> DepartmentChoice {
    let entra = entra.map(str::trim).filter(|v| !v.is_empty());
    if config.departments.is_empty() {
        return entra.map_or(DepartmentChoice::NotSent, |v| {
            DepartmentChoice::Mapped(v.to_owned())
        });
    }
    if let Some(value) = entra {
        let matched = config
            .departments
            .iter()
            .find(|d| d.aliases.iter().any(|a| a.eq_ignore_ascii_case(value)));
        if let Some(department) = matched {
            return DepartmentChoice::Mapped(department.name.clone());
        }
        unmapped.departments.insert(value.to_owned());
    }
    let fallback = primary.and_then(|name| {
        config
            .permission_groups
            .iter()
            .find(|p| p.name == name)?
            .fallback_department
            .clone()
    });
    fallback.map_or(DepartmentChoice::Unchanged, DepartmentChoice::Fallback)
}
