//! The target: the fifth stage of the flow (`source → snapshot → rules → plan → target`).
//! [`Target`] receives the plan's changes — never Graph types — and says, change by change, what
//! the application accepted. One failed change never stops the others (Invariant 3), and every
//! apply is safe to repeat (Invariant 5): a create looks the user up first, "already exists" and
//! "not found on delete" count as done.
//!
//! Adapters: `file.rs` (one SCIM ListResponse document, replaced atomically) and `scim/` (SCIM
//! 2.0 in Entra's dialect). `resource.rs` is the User resource both write.

pub mod file;
pub mod read_back;
pub mod resource;
pub mod scim;

use std::future::Future;

use serde::Serialize;

use crate::config::{TargetConfig, TargetKind};
use crate::plan::{Change, Operation, PushedUser};

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
    #[error("cannot build the HTTP client for the SCIM target: {0}")]
    Client(#[source] reqwest::Error),
    #[error("the SCIM target {url} cannot be used: {detail}")]
    Unavailable { url: String, detail: String },
    #[error(
        "the file target {path} cannot be read: {detail}; fix or move the file (entrasync never overwrites a file it cannot read)"
    )]
    Unreadable { path: String, detail: String },
}

impl Applied {
    /// A word for the provisioning log.
    pub fn word(&self) -> &'static str {
        match self {
            Applied::Created { .. } => "created",
            Applied::Adopted { .. } => "adopted",
            Applied::Updated => "updated",
            Applied::Deactivated => "deactivated",
            Applied::Deleted => "deleted",
            Applied::Missing => "missing",
            Applied::NotOwned { .. } => "not owned",
            Applied::Failed { .. } => "failed",
        }
    }

    /// What the target said, when it did not do what was asked.
    pub fn message(&self) -> Option<&str> {
        match self {
            Applied::NotOwned { message } | Applied::Failed { message } => Some(message),
            Applied::Missing => {
                Some("the target no longer has the user; the next cycle creates it again")
            }
            _ => None,
        }
    }

    /// The user's pushed entry after this result: `None` to leave it as it is (the target did
    /// not confirm anything), `Some(None)` to forget it, `Some(Some(user))` to set it.
    pub fn pushed(
        &self,
        change: &Change,
        before: Option<&PushedUser>,
    ) -> Option<Option<PushedUser>> {
        match (self, &change.operation) {
            (
                Applied::Created { target_id } | Applied::Adopted { target_id },
                Operation::Create {
                    attributes,
                    permissions,
                    department,
                },
            ) => Some(Some(PushedUser {
                target_id: target_id.clone(),
                user_name: change.user_name.clone(),
                active: true,
                attributes: attributes.clone(),
                permissions: permissions.clone(),
                department: department.clone(),
            })),
            (Applied::Updated, Operation::Update { delta }) => {
                let mut after = before?.clone();
                for (path, value) in &delta.attributes {
                    match value {
                        Some(value) => after.attributes.insert(path.clone(), value.clone()),
                        None => after.attributes.remove(path),
                    };
                }
                if let Some((_, permissions)) = &delta.permissions {
                    after.permissions = permissions.clone();
                }
                if let Some(department) = &delta.department {
                    after.department = department.clone();
                }
                if let Some(active) = delta.active {
                    after.active = active;
                }
                after.user_name = change.user_name.clone();
                Some(Some(after))
            }
            (Applied::Deactivated, _) => {
                let mut after = before?.clone();
                after.active = false;
                Some(Some(after))
            }
            (Applied::Deleted | Applied::Missing, _) => Some(None),
            _ => None,
        }
    }
}

/// An application entrasync provisions.
pub trait Target {
    /// A few words for logs and reports: `file /var/lib/entrasync/users.json`.
    fn describe(&self) -> String;

    /// Checks that the target can be written to at all (before a cycle applies anything, and
    /// for `check`): reachable, the token accepted, the file readable.
    fn check(&self) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Applies `changes` and returns one result per change, in the same order.
    fn apply(&self, changes: &[Change]) -> impl Future<Output = Vec<Applied>> + Send;

    /// Reads back users whose writes were sent but whose answers were never recorded (a crash,
    /// a timeout), each given by its Entra id and a template of the write (its `target_id` when
    /// known — empty for a create — its attribute paths, its permissions): what the target holds
    /// for the user in pushed terms, `None` when the target has no such user of entrasync's, or
    /// why it could not tell. One result per user, in the same order.
    fn read_back(
        &self,
        users: &[(String, PushedUser)],
    ) -> impl Future<Output = Vec<Result<Option<PushedUser>, String>>> + Send;
}

/// The target the configuration names.
pub enum AnyTarget {
    File(file::FileTarget),
    Scim(Box<scim::ScimTarget>),
}

impl AnyTarget {
    pub fn from_config(config: &TargetConfig) -> Result<AnyTarget, TargetError> {
        Ok(match &config.kind {
            TargetKind::File { path } => AnyTarget::File(file::FileTarget::new(path)),
            TargetKind::Scim(scim) => AnyTarget::Scim(Box::new(
                scim::ScimTarget::new(scim, config.adopt_existing).map_err(TargetError::Client)?,
            )),
        })
    }

    /// Requests sent to the target so far, by HTTP status (none for a file).
    pub fn requests_by_status(&self) -> std::collections::BTreeMap<u16, u64> {
        match self {
            AnyTarget::File(_) => Default::default(),
            AnyTarget::Scim(t) => t.requests_by_status(),
        }
    }
}

impl Target for AnyTarget {
    fn describe(&self) -> String {
        match self {
            AnyTarget::File(t) => t.describe(),
            AnyTarget::Scim(t) => t.describe(),
        }
    }

    async fn check(&self) -> Result<(), TargetError> {
        match self {
            AnyTarget::File(t) => t.check().await,
            AnyTarget::Scim(t) => t.check().await,
        }
    }

    async fn apply(&self, changes: &[Change]) -> Vec<Applied> {
        match self {
            AnyTarget::File(t) => t.apply(changes).await,
            AnyTarget::Scim(t) => t.apply(changes).await,
        }
    }

    async fn read_back(
        &self,
        users: &[(String, PushedUser)],
    ) -> Vec<Result<Option<PushedUser>, String>> {
        match self {
            AnyTarget::File(t) => t.read_back(users).await,
            AnyTarget::Scim(t) => t.read_back(users).await,
        }
    }
}
