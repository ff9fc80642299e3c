//! The target: the fifth stage of the flow (`source → snapshot → rules → plan → target`).
//! [`Target`] receives the plan's changes — never Graph types — and says, change by change, what
//! the application accepted. One failed change never stops the others (Invariant 3), and every
//! apply is safe to repeat (Invariant 5): a create looks the user up first, "already exists" and
//! "not found on delete" count as done.
//!
//! Adapters: `file.rs` (one SCIM ListResponse document, replaced atomically) and `scim/` (SCIM
//! 2.0 in Entra's dialect). `resource.rs` is the User resource both write.

pub mod file;
pub mod resource;
pub mod scim;

use std::future::Future;

use serde::Serialize;

use crate::plan::Change;

/// What the target did with one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum Applied {
    /// Created; the target's id for the user.
    Created {
        target_id: String,
    },
    /// The user already existed (found by the match attributes) and is now entrasync's.
    Adopted {
        target_id: String,
    },
    Updated,
    Deactivated,
    /// Deleted, or already gone.
    Deleted,
    /// The target no longer has the user (404 on an update): entrasync forgets what it pushed,
    /// and the next cycle creates the user again.
    Missing,
    /// The user exists in the target but is not entrasync's to change.
    NotOwned {
        message: String,
    },
    /// The target refused or could not be reached; the change comes back next cycle.
    Failed {
        message: String,
    },
}

impl Applied {
    /// True when the target now holds what the change asked for.
    pub fn succeeded(&self) -> bool {
        !matches!(
            self,
            Applied::NotOwned { .. } | Applied::Failed { .. } | Applied::Missing
        )
    }
}

/// Why a target cannot be used at all (before any change).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "the file target {path} cannot be read: {detail}; fix or move the file (entrasync never overwrites a file it cannot read)"
    )]
    Unreadable { path: String, detail: String },
}

/// An application entrasync provisions.
pub trait Target {
    /// A few words for logs and reports: `file /var/lib/entrasync/users.json`.
    fn describe(&self) -> String;

    /// Applies `changes` and returns one result per change, in the same order.
    fn apply(&self, changes: &[Change]) -> impl Future<Output = Vec<Applied>> + Send;
}
