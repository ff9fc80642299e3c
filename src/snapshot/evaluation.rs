//! Whom the rules must evaluate, and what they said (`source → snapshot → rules → plan →
//! target`): what lets a cycle's cost follow the changes rather than the tenant.
//!
//! Part of `snapshot/`. A user needs evaluating again when its object or one of its memberships
//! changed (the commit marks it `dirty`, see `writes.rs`), or when what the rules last wanted for
//! it has not been confirmed by the target yet (a failed, held or unconfirmed change: the mark
//! stays). Everyone needs it when the configuration the rules run with is not the one they last
//! ran over everyone with: the engine passes a fingerprint of it, kept in `meta/evaluated` only
//! once a cycle that evaluated everyone has finished.
//!
//! The order of the writes keeps that safe across a crash: a mark goes only after the target
//! confirmed (or the plan needed nothing), and an evaluation of everyone first forgets the
//! fingerprint, then rewrites the verdicts and marks, then stores the fingerprint — so a cycle cut
//! short anywhere is followed by one that evaluates at least as much.
//!
//! The verdicts (rule errors, unmapped departments, users in scope) are kept per user with their
//! totals, so the report of a cycle that evaluated ten users still counts the whole tenant.

use std::collections::{BTreeMap, BTreeSet};

use sled::IVec;

use super::layout::{self, TreeId};
use super::{Snapshot, SnapshotError, SourceState};
use crate::plan::PushedUser;
use crate::rules::{Outcome, RuleError};
use crate::source::MemberKind;

/// The users a cycle's rules evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluate {
    /// Everyone: the configuration changed, or no evaluation of everyone has finished yet.
    All,
    /// Only these (by Entra object id): the rest would come out as they did last time.
    Users(BTreeSet<String>),
}

impl Evaluate {
    /// True when `id` is evaluated.
    pub fn covers(&self, id: &str) -> bool {
        match self {
            Evaluate::All => true,
            Evaluate::Users(ids) => ids.contains(id),
        }
    }
}

/// Keys written per batch when everyone is evaluated: sled holds every key of a batch in
/// memory until it is applied (some 3 KB each).
const BATCH_WRITES: usize = 10_000;

/// `s:` bucket key → the users in it, and how many were taken out.
type Buckets = BTreeMap<Vec<u8>, (BTreeSet<String>, usize)>;

/// What the rules say of the whole tenant, the users not evaluated this cycle included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub in_scope: usize,
    /// Sorted.
    pub errors: Vec<RuleError>,
    pub unmapped_departments: BTreeSet<String>,
}

impl Snapshot {
    /// Whom this cycle's rules evaluate, for the configuration whose fingerprint is
    /// `fingerprint`: everyone unless every user was last evaluated with that very
    /// configuration; then the users marked dirty, and those with a write still unconfirmed.
    pub fn to_evaluate(&self, fingerprint: &[u8]) -> Result<Evaluate, SnapshotError> {
        let stored = self.store.get(TreeId::Meta, layout::EVALUATED_KEY)?;
        if stored.as_deref() != Some(fingerprint) {
            return Ok(Evaluate::All);
        }
        let mut ids = BTreeSet::new();
        for tree in [TreeId::Dirty, TreeId::Unconfirmed] {
            for key in self.store.tree(tree).iter().keys() {
                let key = key.map_err(self.store.storage("read"))?;
                let id = layout::decode_id(&key)
                    .map_err(|e| self.store.damaged(format!("{} key", tree.name()), e))?;
                ids.insert(id);
            }
        }
        Ok(Evaluate::Users(ids))
    }

    /// What the rules need to evaluate `ids`: those users and their tombstones, every scoped
    /// group and binding, and of each member list the members among `ids` (the rules ask only
    /// whether an evaluated user is in a group).
    pub fn source_state_of(&self, ids: &BTreeSet<String>) -> Result<SourceState, SnapshotError> {
        let mut state = SourceState {
            groups: self.store.json_map(TreeId::Groups)?,
            bindings: self.store.string_map(TreeId::Bindings)?,
            app: super::app::read(&self.store, Some(ids))?,
            ..SourceState::default()
        };
        for id in ids {
            if let Some(user) = self.store.get_json(TreeId::Users, id)? {
                state.users.insert(id.clone(), user);
            }
            if let Some(tombstone) = self.store.get_json(TreeId::Gone, id)? {
                state.gone.insert(id.clone(), tombstone);
            }
        }
        if !ids.is_empty() {
            state.members = self.store.memberships_among(TreeId::Members, ids)?;
            state.transitive = self.store.memberships_among(TreeId::Transitive, ids)?;
        }
        Ok(state)
    }

    /// What the target accepted for `ids` (those it has).
    pub fn pushed_of(
        &self,
        ids: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, PushedUser>, SnapshotError> {
        let mut pushed = BTreeMap::new();
        for id in ids {
            if let Some(user) = self.store.get_json(TreeId::Pushed, id)? {
                pushed.insert(id.clone(), user);
            }
        }
        Ok(pushed)
    }

    /// The totals once what `outcome` says of the evaluated users replaces what is kept for
    /// the users `evaluated` covers. Reads; writes nothing (a dry run reports them too).
    pub fn totals(&self, evaluated: &Evaluate, outcome: &Outcome) -> Result<Totals, SnapshotError> {
        let mut totals = Totals {
            in_scope: outcome.desired.len(),
            ..Totals::default()
        };
        if let Evaluate::Users(ids) = evaluated {
            let replaced = self
                .buckets(ids)?
                .values()
                .map(|(_, gone)| gone)
                .sum::<usize>();
            totals.in_scope += self.in_scope()?.saturating_sub(replaced);
            let tree = self.store.tree(TreeId::Verdicts);
            for entry in tree.scan_prefix(layout::ERROR_PREFIX) {
                let (key, value) = entry.map_err(self.store.storage("read"))?;
                let id = &key[layout::ERROR_PREFIX.len()..];
                if std::str::from_utf8(id).is_ok_and(|id| !ids.contains(id)) {
                    let error = layout::decode_json(&value)
                        .map_err(|e| self.store.damaged("verdicts error entry", e))?;
                    totals.errors.push(error);
                }
            }
            totals.unmapped_departments = self.kept_departments(ids)?;
        }
        totals.errors.extend(outcome.errors.iter().cloned());
        totals.errors.sort();
        let departments = outcome.unmapped_by_user.values().cloned();
        totals.unmapped_departments.extend(departments);
        Ok(totals)
    }

    /// The `s:` buckets holding `ids`, with the users kept in each less `ids`, and how many of
    /// `ids` each held.
    fn buckets(&self, ids: &BTreeSet<String>) -> Result<Buckets, SnapshotError> {
        let mut buckets = Buckets::new();
        for id in ids {
            let key = layout::bucket_key(id);
            if !buckets.contains_key(&key) {
                let kept = match self.store.get(TreeId::Verdicts, &key)? {
                    None => BTreeSet::new(),
                    Some(value) => layout::decode_member_refs(&value)
                        .ok_or_else(|| {
                            let why = std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "not a list of ids",
                            );
                            self.store.damaged("verdicts bucket", why)
                        })?
                        .into_iter()
                        .map(|(id, _)| id.to_owned())
                        .collect(),
                };
                buckets.insert(key.clone(), (kept, 0));
            }
            if let Some((kept, gone)) = buckets.get_mut(&key) {
                *gone += usize::from(kept.remove(id));
            }
        }
        Ok(buckets)
    }

    /// The unmapped departments kept for users other than `ids`: one step per department,
    /// plus one per user of `ids` that had it.
    fn kept_departments(&self, ids: &BTreeSet<String>) -> Result<BTreeSet<String>, SnapshotError> {
        let tree = self.store.tree(TreeId::Verdicts);
        let read = self.store.storage("read");
        let damaged = || {
            let why = std::io::Error::new(std::io::ErrorKind::InvalidData, "not a department key");
            self.store.damaged("verdicts department entry", why)
        };
        let mut departments = BTreeSet::new();
        let mut from = IVec::from(layout::DEPARTMENT_PREFIX);
        while let Some(key) = tree.range(from.clone()..).keys().next() {
            let key = key.map_err(&read)?;
            if !key.starts_with(layout::DEPARTMENT_PREFIX) {
                break;
            }
            let (department, _) = layout::decode_department_key(&key).ok_or_else(damaged)?;
            let prefix = layout::department_key(department, "").ok_or_else(damaged)?;
            for key in tree.scan_prefix(&prefix).keys() {
                let key = key.map_err(&read)?;
                let (_, id) = layout::decode_department_key(&key).ok_or_else(damaged)?;
                if !ids.contains(id) {
                    departments.insert(department.to_owned());
                    break;
                }
            }
            // Past every key of this department: no UTF-8 id holds the byte 0xff.
            from = IVec::from([prefix.as_slice(), &[0xff]].concat());
        }
        Ok(departments)
    }

    /// Users in scope that the rules want in the target, as kept.
    fn in_scope(&self) -> Result<usize, SnapshotError> {
        match self.store.get(TreeId::Verdicts, layout::IN_SCOPE_KEY)? {
            None => Ok(0),
            Some(value) => <[u8; 8]>::try_from(&*value)
                .ok()
                .and_then(|n| usize::try_from(u64::from_be_bytes(n)).ok())
                .ok_or_else(|| {
                    let why = std::io::Error::new(std::io::ErrorKind::InvalidData, "not a count");
                    self.store.damaged("verdicts count", why)
                }),
        }
    }

    /// Keeps what `outcome` says of the evaluated users (who is wanted in the target, rule
    /// errors, unmapped departments) in place of what was kept for the users `evaluated`
    /// covers. Evaluating everyone first forgets the fingerprint (see the module comment); the
    /// caller stores it again with [`Snapshot::evaluated`].
    pub fn keep_verdicts(
        &self,
        evaluated: &Evaluate,
        outcome: &Outcome,
    ) -> Result<(), SnapshotError> {
        let tree = self.store.tree(TreeId::Verdicts);
        let write = self.store.storage("write to");
        let mut batch = sled::Batch::default();
        let mut buckets = match evaluated {
            Evaluate::All => {
                let meta = self.store.tree(TreeId::Meta);
                meta.remove(layout::EVALUATED_KEY).map_err(&write)?;
                tree.clear().map_err(&write)?;
                BTreeMap::new()
            }
            Evaluate::Users(ids) => {
                for id in ids {
                    batch.remove(layout::prefixed(layout::ERROR_PREFIX, id));
                    let unmapped = layout::prefixed(layout::UNMAPPED_PREFIX, id);
                    let read = self.store.storage("read");
                    if let Some(department) = tree.get(&unmapped).map_err(read)? {
                        let department = String::from_utf8_lossy(&department);
                        if let Some(key) = layout::department_key(&department, id) {
                            batch.remove(key);
                        }
                        batch.remove(unmapped);
                    }
                }
                self.buckets(ids)?
            }
        };
        for id in outcome.desired.keys() {
            let bucket = buckets.entry(layout::bucket_key(id)).or_default();
            bucket.0.insert(id.clone());
        }
        let errors = outcome.errors.iter().map(|e| {
            let key = layout::prefixed(layout::ERROR_PREFIX, &e.user_id);
            (key, layout::json(e))
        });
        let unmapped = outcome
            .unmapped_by_user
            .iter()
            .flat_map(|(id, department)| {
                let at = layout::prefixed(layout::UNMAPPED_PREFIX, id);
                let key = layout::department_key(department, id);
                [
                    Some((at, department.as_bytes().to_vec())),
                    key.map(|k| (k, Vec::new())),
                ]
            });
        for (written, (key, value)) in errors.chain(unmapped.flatten()).enumerate() {
            batch.insert(key, value);
            if written % BATCH_WRITES == BATCH_WRITES - 1 && *evaluated == Evaluate::All {
                // Not one atomic batch: the fingerprint is gone until everything is written.
                tree.apply_batch(std::mem::take(&mut batch))
                    .map_err(&write)?;
            }
        }
        let wanted = outcome.desired.len();
        let in_scope = match evaluated {
            Evaluate::All => wanted,
            Evaluate::Users(_) => {
                let gone: usize = buckets.values().map(|(_, gone)| gone).sum();
                self.in_scope()?.saturating_sub(gone) + wanted
            }
        };
        for (key, (ids, _)) in buckets {
            let ids = ids.iter().map(|id| (id.as_str(), MemberKind::User));
            match layout::encode_members(ids) {
                Some(value) if value.len() > 4 => batch.insert(key, value),
                _ => batch.remove(key),
            }
        }
        let count = (in_scope as u64).to_be_bytes();
        batch.insert(layout::IN_SCOPE_KEY, &count[..]);
        tree.apply_batch(batch).map_err(&write)
    }

    /// Ends an evaluation whose changes the target confirmed, but for `pending` (failed, held or
    /// unresolved changes): the users `evaluated` covers are no longer dirty, except those; after
    /// evaluating everyone, `fingerprint` is stored. Flushes.
    pub async fn evaluated(
        &self,
        evaluated: &Evaluate,
        pending: &BTreeSet<String>,
        fingerprint: &[u8],
    ) -> Result<(), SnapshotError> {
        let tree = self.store.tree(TreeId::Dirty);
        let write = self.store.storage("write to");
        let mut batch = sled::Batch::default();
        match evaluated {
            Evaluate::All => {
                tree.clear().map_err(&write)?;
                for id in pending {
                    batch.insert(id.as_bytes(), &[][..]);
                }
            }
            Evaluate::Users(ids) => {
                for id in ids.difference(pending) {
                    batch.remove(id.as_bytes());
                }
            }
        }
        tree.apply_batch(batch).map_err(&write)?;
        if *evaluated == Evaluate::All {
            let meta = self.store.tree(TreeId::Meta);
            meta.insert(layout::EVALUATED_KEY, fingerprint)
                .map_err(&write)?;
        }
        self.flush().await
    }
}
