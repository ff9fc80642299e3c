//! What changed for one user: the desired user against what the target last accepted, field by
//! field, so an update carries only the changed attributes (Entra sends one PATCH with the
//! attributes that changed, and so does entrasync).
//!
//! Part of `plan/` (pure).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::rules::{DepartmentChoice, DesiredUser};

use super::PushedUser;

/// The changes of one update. Every field is `None` or empty when that part did not change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Delta {
    /// Attribute → its new value, `None` to remove it (its expression now gives nothing).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Option<String>>,
    /// Of those, the ones the target did not have yet (SCIM adds, rather than replaces, a
    /// typed value such as a first work e-mail).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub added: BTreeSet<String>,
    /// The permissions before and after (primary first), when they changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<(Vec<String>, Vec<String>)>,
    /// The new department (`None` removes it), when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<Option<String>>,
    /// `Some(true)` to re-activate a user who comes back into scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
            && self.permissions.is_none()
            && self.department.is_none()
            && self.active.is_none()
    }
}

/// The department to send for a rules' choice; `None` sends none.
pub fn department_of(choice: &DepartmentChoice) -> Option<String> {
    match choice {
        DepartmentChoice::Mapped(name) | DepartmentChoice::Fallback(name) => Some(name.clone()),
        DepartmentChoice::Unchanged | DepartmentChoice::NotSent => None,
    }
}

/// What must change so the target has `desired`, given it last accepted `before`. Attributes
/// outside `managed` are never touched; an unchanged or unsent department is left alone.
pub fn delta(desired: &DesiredUser, before: &PushedUser, managed: &BTreeSet<String>) -> Delta {
    let mut attributes = BTreeMap::new();
    let mut added = BTreeSet::new();
    for target in managed {
        let (want, had) = (
            desired.attributes.get(target),
            before.attributes.get(target),
        );
        if want != had {
            if had.is_none() {
                added.insert(target.clone());
            }
            attributes.insert(target.clone(), want.cloned());
        }
    }
    let permissions = (desired.permissions != before.permissions)
        .then(|| (before.permissions.clone(), desired.permissions.clone()));
    let department = match &desired.department {
        DepartmentChoice::Mapped(name) | DepartmentChoice::Fallback(name)
            if before.department.as_deref() != Some(name.as_str()) =>
        {
            Some(Some(name.clone()))
        }
        _ => None,
    };
    Delta {
        attributes,
        added,
        permissions,
        department,
        active: (!before.active).then_some(true),
    }
}
