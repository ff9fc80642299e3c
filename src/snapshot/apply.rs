//! Writing a commit (`source → snapshot → rules → plan → target`): the [`WriteSet`] of one cycle
//! goes to the trees so that a crash leaves the snapshot either as it was or with the whole cycle
//! (Invariants 1 and 5): never users without their delta link, never a new link without the
//! changes it stands for.
//!
//! A commit of up to [`TRANSACTION_WRITES`] keys — every incremental cycle of a normal tenant, and
//! a full round that changed little — is ONE sled transaction over all trees: data, delta links,
//! bindings and counts together. A key is a user, a group, or a group's whole member list (see
//! `layout.rs`), so a list of 20,000 members is one write of some 800 KB.
//!
//! A bigger one (the first cycle of a large tenant: 100,000 users and 10 groups are some 100,000
//! keys) is staged, because sled 0.34 holds every write of an open transaction in memory, about
//! 5 KB per key (measured with sled alone: 300,000 keys in one transaction peak at 1.5 GB RSS and
//! take 2.6-3.6 s; in transactions of 1,000, 150 MB and 1.5 s, the same as plain inserts). The
//! budget counts keys, not bytes: a transaction of many very large member lists holds them all
//! in memory too. Staged, it is still crash-safe:
//! 1. one transaction removes every delta link and sets `meta/commit_pending`;
//! 2. the data goes in transactions of [`TRANSACTION_WRITES`] keys, each with its count changes;
//! 3. one transaction writes the new delta links and bindings and clears `commit_pending`.
//!
//! A crash in step 2 leaves some of the new data and NO delta links. The next cycle therefore runs
//! full rounds of every query, and a full round's commit makes each stored user, group, member
//! list and transitive list exactly what Graph lists (absent users tombstoned, absent groups and
//! stale members removed), whatever mix of old and new it starts from; nothing is planned before
//! that commit, since the engine plans only after a successful commit in the same cycle. Every
//! value the partial commit wrote came from a complete round, so it is evidence, never a guess
//! (Invariant 2). The counts stay exact throughout: each transaction updates them with its writes.
//!
//! The `dirty` marks (see `writes.rs`) go in the same transaction as the data they stand for. A
//! staged commit drops them and forgets the evaluation fingerprint in step 1 instead: a crash
//! between two of its transactions could otherwise leave a changed user unmarked, and a commit
//! that large is one the rules evaluate everyone after anyway.
//!
//! The counts are derived from what each write replaces (a transactional insert returns the old
//! value): one per user or group key, and for a member list the difference between the new
//! list's count and the old one's (read from its prefix). So `counts()` is one read instead of
//! walking the trees.

use std::io;

use sled::IVec;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::layout::{self, TreeId};
use super::store::Store;
use super::writes::WriteSet;
use super::{Counts, SnapshotError};

/// The order in which the trees are written: the data first, then what makes the commit
/// complete. Tombstones come before users, so an interrupted staged commit never leaves a user
/// deleted without its tombstone (the next full round could not tell it was ever there); a
/// tombstone next to a user still present is harmless, as the repairing full round either lists
/// the user (the tombstone goes) or does not (it stays).
const DATA: [TreeId; 7] = [
    TreeId::Meta,
    TreeId::Gone,
    TreeId::Users,
    TreeId::Groups,
    TreeId::Members,
    TreeId::Transitive,
    TreeId::Assignments,
];
const COMPLETION: [TreeId; 2] = [TreeId::Links, TreeId::Bindings];
/// Written with the data in a one-transaction commit; dropped by a staged one.
const MARKS: [TreeId; 1] = [TreeId::Dirty];

/// The most keys one transaction writes; bigger commits are staged (see the module comment).
/// Measured with 300,000 keys: 1,000 per transaction is both the fastest and the leanest.
pub(super) const TRANSACTION_WRITES: usize = 1_000;

/// How a commit is applied; tests shrink the transactions and inject failures.
#[derive(Clone, Copy, Debug)]
pub(super) struct Options {
    pub(super) transaction_writes: usize,
    /// Tests only: abort the first transaction that writes to this tree.
    pub(super) fail_at: Option<TreeId>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            transaction_writes: TRANSACTION_WRITES,
            fail_at: None,
        }
    }
}

/// One key write: the tree, the key, the new value (`None` removes).
type Write = (TreeId, IVec, Option<IVec>);

/// What a transaction does with the `commit_pending` marker.
#[derive(Clone, Copy)]
enum Pending {
    Keep,
    Set(u64),
    Clear,
}

/// Why a transaction gave up before writing anything.
#[derive(Debug)]
enum Abort {
    /// The stored counts cannot be read.
    Counts,
    /// The member list a write replaces cannot be read (the key), so the count cannot follow.
    Members(IVec),
    /// A test asked for a failure at this tree.
    Injected(TreeId),
}

/// Applies `writes` crash-safely; returns the counts after the commit. A staged commit frees
/// each part of the set once it is written.
pub(super) fn apply(
    store: &Store,
    mut writes: WriteSet,
    now: u64,
    options: Options,
) -> Result<Counts, SnapshotError> {
    let size = options.transaction_writes.max(1);
    if writes.len() <= size {
        let all = take(
            &mut writes,
            &[DATA.as_slice(), &COMPLETION, &MARKS].concat(),
        );
        // Clearing the marker: a complete commit also ends an earlier interrupted one.
        return transaction(store, &all, Pending::Clear, options);
    }
    tracing::debug!(keys = writes.len(), "staging a large commit");

    // 1. No delta links while the data is half written: a crash from here on means full rounds.
    // And no marks: the rules evaluate everyone after this commit.
    writes.take(TreeId::Dirty);
    let mut forget = vec![(TreeId::Meta, IVec::from(layout::EVALUATED_KEY), None)];
    for entry in store.entries(TreeId::Links) {
        forget.push((TreeId::Links, entry?.0, None));
    }
    transaction(store, &forget, Pending::Set(now), options)?;
    // 2. The data, a bounded transaction at a time.
    let mut part = Vec::with_capacity(size);
    for tree in DATA {
        for (key, value) in writes.take(tree) {
            part.push((tree, key, value));
            if part.len() == size {
                transaction(store, &part, Pending::Keep, options)?;
                part.clear();
            }
        }
    }
    transaction(store, &part, Pending::Keep, options)?;
    // 3. The new links and bindings, and the commit is complete.
    let completion = take(&mut writes, &COMPLETION);
    transaction(store, &completion, Pending::Clear, options)
}

/// The writes to `trees`, taken out of the set, in that order.
fn take(writes: &mut WriteSet, trees: &[TreeId]) -> Vec<Write> {
    let per_tree = trees.iter().map(|&tree| (tree, writes.take(tree)));
    per_tree
        .flat_map(|(tree, entries)| entries.into_iter().map(move |(k, v)| (tree, k, v)))
        .collect()
}

/// Which count a tree's entries make up, if any.
fn counted(tree: TreeId) -> Option<usize> {
    match tree {
        TreeId::Users => Some(0),
        TreeId::Groups => Some(1),
        TreeId::Members => Some(2),
        _ => None,
    }
}

/// How much an entry of `tree` counts for: a member list its members, anything else one; no
/// entry counts nothing. `None` for a member list that cannot be read.
fn weight(tree: TreeId, value: Option<&IVec>) -> Option<isize> {
    match value {
        None => Some(0),
        Some(value) if tree == TreeId::Members => {
            isize::try_from(layout::member_count(value)?).ok()
        }
        Some(_) => Some(1),
    }
}

/// Writes `writes`, the counts they change and the marker in one sled transaction.
fn transaction(
    store: &Store,
    writes: &[Write],
    pending: Pending,
    options: Options,
) -> Result<Counts, SnapshotError> {
    let result = store.trees().transaction(|tx: &Vec<TransactionalTree>| {
        let mut delta: [isize; 3] = [0; 3];
        for (id, key, value) in writes {
            let id = *id;
            if options.fail_at == Some(id) {
                return Err(ConflictableTransactionError::Abort(Abort::Injected(id)));
            }
            let tree = &tx[id.index()];
            let old = match value {
                Some(value) => tree.insert(key.clone(), value.clone())?,
                None => tree.remove(key.clone())?,
            };
            if let Some(slot) = counted(id) {
                let change = weight(id, value.as_ref())
                    .zip(weight(id, old.as_ref()))
                    .map(|(new, old)| new - old);
                let change = change.ok_or_else(|| {
                    ConflictableTransactionError::Abort(Abort::Members(key.clone()))
                })?;
                delta[slot] += change;
            }
        }
        let meta = &tx[TreeId::Meta.index()];
        let before = match meta.get(layout::COUNTS_KEY)? {
            None => Counts::default(),
            Some(value) => layout::decode_counts(&value)
                .ok_or(ConflictableTransactionError::Abort(Abort::Counts))?,
        };
        let after = Counts {
            users: before.users.saturating_add_signed(delta[0]),
            groups: before.groups.saturating_add_signed(delta[1]),
            memberships: before.memberships.saturating_add_signed(delta[2]),
        };
        meta.insert(layout::COUNTS_KEY, &layout::encode_counts(after)[..])?;
        match pending {
            Pending::Keep => {}
            Pending::Set(at) => {
                meta.insert(layout::PENDING_KEY, &at.to_be_bytes()[..])?;
            }
            Pending::Clear => {
                meta.remove(layout::PENDING_KEY)?;
            }
        }
        Ok(after)
    });
    result.map_err(|e| match e {
        TransactionError::Storage(e) => store.storage("commit to")(e),
        TransactionError::Abort(Abort::Counts) => store.damaged(
            "meta entry \"counts\"",
            io::Error::new(io::ErrorKind::InvalidData, "not three 64-bit numbers"),
        ),
        TransactionError::Abort(Abort::Members(key)) => store.damaged(
            format!("members entry {:?}", String::from_utf8_lossy(&key)),
            io::Error::new(io::ErrorKind::InvalidData, "not a member list"),
        ),
        TransactionError::Abort(Abort::Injected(tree)) => {
            store.storage("commit to")(sled::Error::Io(io::Error::other(format!(
                "test failure injected at the {} writes",
                tree.name()
            ))))
        }
    })
}
