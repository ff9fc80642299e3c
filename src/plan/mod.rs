//! The plan: the fourth stage of the flow (`source → snapshot → rules → plan → target`). Pure, no
//! I/O: [`plan`] compares what the rules want with what the target last accepted (the pushed
//! state) and lists, in a stable order, the changes that make them equal — creates, updates
//! carrying only what changed, deactivations, deletions — plus the deprovisions held back by
//! the threshold. Like atuin's sync, `diff → operations → apply`: this is the middle step,
//! table-tested in `tests.rs`.
//!
//! Deprovisioning needs positive evidence (Invariant 2): the engine plans only after a complete
//! commit, so a pushed user that the rules no longer want has left scope in a complete round, or
//! was removed in Entra; a user the rules hold back (a rule error) is never deprovisioned.

mod diff;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::rules::{DepartmentChoice, DesiredUser, Outcome, RuleError};
use crate::source::Removal;

pub use diff::Delta;

/// What happens to a provisioned user who leaves scope (`[deprovision] when`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WhenLeaving {
    /// `active = false`, and `true` again on return (SignPath, Entra's own provisioning).
    Deactivate,
    /// Deleted from the target (Stratsys).
    Delete,
    /// Left as it is and no longer updated (Syncro).
    Keep,
}

/// The plan's knobs, from `[deprovision]`, `[target] exclude` and the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub when: WhenLeaving,
    /// More deactivations and deletions than this in one cycle are all held back.
    pub max_deprovisions: usize,
    /// `once --allow-deprovisions`: apply them whatever their number.
    pub allow_deprovisions: bool,
    /// userNames (lower-cased) entrasync never touches.
    pub exclude: BTreeSet<String>,
    /// The target attributes entrasync manages; others in the target are left alone.
    pub managed: BTreeSet<String>,
}

/// What the target last accepted for one user: the projection entrasync wrote, and the
/// target's id for it. Kept in the snapshot; changed only after the target confirmed a write
/// (Invariant 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushedUser {
    /// The target's own id (SCIM `id`).
    pub target_id: String,
    pub user_name: String,
    pub active: bool,
    pub attributes: BTreeMap<String, String>,
    /// Primary first.
    pub permissions: Vec<String>,
    pub department: Option<String>,
}

/// One change to the target, in plan terms (never Graph's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub enum Operation {
    /// A user the target does not have (from entrasync's view): the adapter looks it up by the
    /// match attributes first, so a crash never yields a duplicate.
    Create {
        attributes: BTreeMap<String, String>,
        permissions: Vec<String>,
        department: Option<String>,
    },
    /// Only what changed.
    Update {
        delta: Delta,
    },
    Deactivate {
        why: Deprovision,
    },
    Delete {
        why: Deprovision,
    },
}

impl Operation {
    /// `create`, `update`, `deactivate` or `delete`.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Create { .. } => "create",
            Operation::Update { .. } => "update",
            Operation::Deactivate { .. } => "deactivate",
            Operation::Delete { .. } => "delete",
        }
    }
}

/// Why a user is deprovisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deprovision {
    /// Out of scope in a complete round: left every scoped group, filtered out, disabled.
    LeftScope,
    /// Soft-deleted in Entra (in deleted items).
    SoftDeleted,
    /// Absent from a complete full round (after a resync): gone, how is unknown.
    Absent,
    /// Permanently deleted in Entra.
    Deleted,
}

/// A change for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The Entra object id.
    pub id: String,
    pub user_name: String,
    /// The target's id, when the target has the user.
    pub target_id: Option<String>,
    #[serde(flatten)]
    pub operation: Operation,
}

impl Change {
    /// Deactivations and deletions count against the threshold.
    pub fn is_deprovision(&self) -> bool {
        matches!(
            self.operation,
            Operation::Deactivate { .. } | Operation::Delete { .. }
        )
    }

    /// `create`, `update`, `deactivate` or `delete`.
    pub fn name(&self) -> &'static str {
        self.operation.name()
    }

    fn rank(&self) -> u8 {
        match self.operation {
            Operation::Create { .. } => 0,
            Operation::Update { .. } => 1,
            Operation::Deactivate { .. } => 2,
            Operation::Delete { .. } => 3,
        }
    }
}

/// What one cycle will do, and what it will not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Creates, then updates, then deactivations, then deletions; each by userName, then id.
    pub changes: Vec<Change>,
    /// Deprovisions held back because there were more than `max_deprovisions`.
    pub held: Vec<Change>,
    /// Rule errors from the rules, and the users they keep from being created.
    pub errors: Vec<RuleError>,
    /// Users a rule error keeps from being created (no department, no main membership).
    pub not_created: Vec<String>,
}

impl Plan {
    /// True when the plan writes nothing (Invariant 4 for a cycle without change).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The plan from the rules' outcome, the pushed state and what the snapshot knows of removed
/// users (`gone`: Entra id → why). Takes the outcome: a create carries the desired user's
/// attributes on, rather than a copy of them (a first cycle plans a create per user).
pub fn plan(
    outcome: Outcome,
    pushed: &BTreeMap<String, PushedUser>,
    gone: &BTreeMap<String, Removal>,
    policy: &Policy,
) -> Plan {
    let excluded = |user_name: &str| policy.exclude.contains(&user_name.to_lowercase());
    let mut changes = Vec::new();
    let mut not_created = Vec::new();
    let mut wanted = BTreeSet::new();
    for (id, desired) in outcome.desired {
        let change = match pushed.get(&id) {
            _ if excluded(&desired.user_name) => None,
            None if desired.department == DepartmentChoice::Unchanged => {
                not_created.push(id.clone());
                None
            }
            None => Some(create(desired)),
            Some(before) if excluded(&before.user_name) => None,
            Some(before) => {
                let delta = diff::delta(&desired, before, &policy.managed);
                (!delta.is_empty()).then(|| Change {
                    id: id.clone(),
                    user_name: desired.user_name,
                    target_id: Some(before.target_id.clone()),
                    operation: Operation::Update { delta },
                })
            }
        };
        changes.extend(change);
        wanted.insert(id);
    }
    for (id, before) in pushed {
        if wanted.contains(id) || outcome.held.contains(id) || excluded(&before.user_name) {
            continue;
        }
        if let Some(change) = deprovision(id, before, gone.get(id).copied(), policy.when) {
            changes.push(change);
        }
    }
    changes.sort_by(|a, b| {
        (a.rank(), a.user_name.to_lowercase(), &a.id).cmp(&(
            b.rank(),
            b.user_name.to_lowercase(),
            &b.id,
        ))
    });
    let deprovisions = changes.iter().filter(|c| c.is_deprovision()).count();
    let mut held = Vec::new();
    if deprovisions > policy.max_deprovisions && !policy.allow_deprovisions {
        let (keep, hold): (Vec<Change>, Vec<Change>) =
            changes.into_iter().partition(|c| !c.is_deprovision());
        changes = keep;
        held = hold;
    }
    let mut errors = outcome.errors;
    errors.sort();
    Plan {
        changes,
        held,
        errors,
        not_created,
    }
}

fn create(desired: DesiredUser) -> Change {
    let department = diff::department_of(&desired.department);
    Change {
        id: desired.id,
        user_name: desired.user_name,
        target_id: None,
        operation: Operation::Create {
            attributes: desired.attributes,
            permissions: desired.permissions,
            department,
        },
    }
}

/// The change for a pushed user the rules no longer want, if any.
fn deprovision(
    id: &str,
    before: &PushedUser,
    removal: Option<Removal>,
    when: WhenLeaving,
) -> Option<Change> {
    let why = match removal {
        Some(Removal::HardDeleted) => Deprovision::Deleted,
        Some(Removal::SoftDeleted) => Deprovision::SoftDeleted,
        Some(Removal::Absent) => Deprovision::Absent,
        None => Deprovision::LeftScope,
    };
    let operation = match (when, why) {
        (WhenLeaving::Keep, _) => return None,
        // Gone for good in Entra: deleted in the target too, unless the operator keeps users.
        (_, Deprovision::Deleted) | (WhenLeaving::Delete, _) => Operation::Delete { why },
        (WhenLeaving::Deactivate, _) if !before.active => return None,
        (WhenLeaving::Deactivate, _) => Operation::Deactivate { why },
    };
    Some(Change {
        id: id.to_owned(),
        user_name: before.user_name.clone(),
        target_id: Some(before.target_id.clone()),
        operation,
    })
}
