//! Writes whose answers were never recorded (Invariant 5): the trace left before the target
//! hears of them, and the follow-up at the start of the next cycle.
//!
//! Part of the engine. The pushed state changes only after the target confirmed a write
//! (Invariant 3), so a cycle killed — or timed out — between sending a write and recording its
//! answer would leave the target other than entrasync believes: a user it created but does not
//! know of (never updated, never deprovisioned), or an update, deactivation or deletion that
//! landed unrecorded (which a later change back would then never send: a lost update). So the
//! engine notes each change in the snapshot's `unconfirmed` tree (flushed) before sending it;
//! the next cycle reads every user still noted back from the target, records what the target
//! really has, and only then plans — so the plan sends exactly what is still missing.

use std::collections::{BTreeMap, BTreeSet};

use super::CycleError;
use crate::plan::{Change, Operation, PushedUser};
use crate::snapshot::Snapshot;
use crate::target::{AnyTarget, Applied, Target};

/// Notes `changes` before they are sent: for each, a template of the write — the user as the
/// change would leave it, with every attribute path the change or `pushed` names.
pub(super) async fn note(
    snapshot: &Snapshot,
    changes: &[Change],
    pushed: &BTreeMap<String, PushedUser>,
) -> Result<(), CycleError> {
    let templates: Vec<(String, PushedUser)> = changes
        .iter()
        .filter_map(|c| Some((c.id.clone(), template(c, pushed.get(&c.id))?)))
        .collect();
    if !templates.is_empty() {
        snapshot.record_unconfirmed(templates).await?;
    }
    Ok(())
}

/// The user as `change` would leave it (after `before`), naming `before`'s paths too.
fn template(change: &Change, before: Option<&PushedUser>) -> Option<PushedUser> {
    let confirmed = match change.operation {
        Operation::Create { .. } => Applied::Created {
            target_id: String::new(),
        },
        Operation::Update { .. } => Applied::Updated,
        Operation::Deactivate { .. } => Applied::Deactivated,
        Operation::Delete { .. } => Applied::Deleted,
    };
    match (confirmed.pushed(change, before).flatten(), before) {
        (Some(mut after), Some(before)) => {
            for path in before.attributes.keys() {
                after.attributes.entry(path.clone()).or_default();
            }
            Some(after)
        }
        (after, before) => after.or_else(|| before.cloned()),
    }
}

/// Reads back every user an earlier cycle noted and never recorded: what the target has joins
/// `pushed` (and the snapshot), a user it does not have leaves it. Returns the users the target
/// could not tell about: no change may be sent for them this cycle (an old write may still be
/// on its way).
pub(super) async fn settle(
    target: &AnyTarget,
    snapshot: &Snapshot,
    pushed: &mut BTreeMap<String, PushedUser>,
) -> Result<BTreeSet<String>, CycleError> {
    let noted: Vec<(String, PushedUser)> = snapshot.unconfirmed()?.into_iter().collect();
    if noted.is_empty() {
        return Ok(BTreeSet::new());
    }
    let read = target.read_back(&noted).await;
    let mut records = Vec::new();
    let mut forget = Vec::new();
    let mut unresolved = BTreeSet::new();
    for ((id, template), read) in noted.into_iter().zip(read) {
        match read {
            Ok(Some(truth)) => {
                pushed.insert(id.clone(), truth.clone());
                records.push((id, Some(truth)));
            }
            Ok(None) if pushed.remove(&id).is_some() => records.push((id, None)),
            Ok(None) => forget.push(id),
            Err(why) => {
                tracing::warn!(user = %template.user_name, "cannot read back a user whose last write was never confirmed ({why}); nothing is sent for it until it can");
                unresolved.insert(id);
            }
        }
    }
    tracing::info!(
        users = records.len() + forget.len(),
        "read back the users an interrupted cycle was writing"
    );
    if !records.is_empty() {
        snapshot.record(records, Vec::new()).await?;
    }
    if !forget.is_empty() {
        snapshot.forget_unconfirmed(forget).await?;
    }
    Ok(unresolved)
}
