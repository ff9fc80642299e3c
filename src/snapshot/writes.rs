//! What one commit writes (`source → snapshot → rules → plan → target`): turns a cycle's complete
//! [`Fetch`] into the set of key writes that makes the snapshot equal to what Graph reported,
//! reading what it must from the trees first. `apply.rs` then writes the set crash-safely.
//!
//! sled's transactional trees cannot iterate, so every read that needs a scan (the stored users
//! of a full round, the groups with member lists, the links and bindings to drop) happens here,
//! before the transaction. That is safe because there is a single writer: the engine runs one
//! cycle at a time, nothing else writes the source state, so nothing can change between these
//! reads and the transaction. An incremental commit reads only what its rounds name (plus the
//! few scoped groups and links); only a full round scans the stored users and tombstones.
//!
//! A group's members are one value (see `layout.rs`): a full round's listing replaces it, an
//! incremental round's changes are applied to the stored list and the whole list written back,
//! and a list that comes out byte-identical to the stored one is not written at all.
//!
//! The set is also a repair: computed against whatever the trees hold, a full round's set makes
//! them exactly what Graph lists, even after a staged commit was cut short (see `apply.rs`).
//!
//! Every user whose rules may now say something else is marked in `dirty`: a user written or
//! removed, a member added to or removed from a list, every member of a group that leaves scope.
//! What cannot be narrowed down to users (a scope entry bound to another group, a member list
//! that cannot be read) forgets the evaluation fingerprint instead, so the next evaluation
//! covers everyone (see `evaluation.rs`).
//!
//! Removals follow Invariant 2, positive evidence only: an `@removed` entry, absence from a
//! complete full round, or leaving scope (a stored group in no round's ids). An incremental round
//! never removes what it did not name.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use sled::IVec;

use super::layout::{self, TREE_COUNT, TreeId};
use super::store::Store;
use super::{SnapshotError, Tombstone};
use crate::source::{Fetch, Group, GroupChange, MemberKind, Removal, RoundKind, UsersRound};

/// Key writes per tree: `Some` sets, `None` removes. A later write to a key replaces an earlier
/// one, so the set holds each key once, in key order.
#[derive(Default)]
pub(super) struct WriteSet {
    trees: [BTreeMap<IVec, Option<IVec>>; TREE_COUNT],
    /// Whether users are marked dirty: not while the next evaluation covers everyone anyway
    /// (no fingerprint stored), which spares a first commit 100,000 marks.
    marking: bool,
}

impl WriteSet {
    pub(super) fn put(&mut self, tree: TreeId, key: impl Into<IVec>, value: impl Into<IVec>) {
        self.trees[tree.index()].insert(key.into(), Some(value.into()));
    }

    pub(super) fn remove(&mut self, tree: TreeId, key: impl Into<IVec>) {
        self.trees[tree.index()].insert(key.into(), None);
    }

    /// Marks a user whose rules must be evaluated again.
    pub(super) fn dirty(&mut self, id: &str) {
        if self.marking {
            self.put(TreeId::Dirty, id.as_bytes(), IVec::default());
        }
    }

    /// The next evaluation covers every user.
    pub(super) fn evaluate_all(&mut self) {
        if self.marking {
            self.remove(TreeId::Meta, layout::EVALUATED_KEY);
            self.marking = false;
        }
    }

    /// Drops the write to `key`, if any: the stored value stays as it is.
    fn forget(&mut self, tree: TreeId, key: &[u8]) {
        self.trees[tree.index()].remove(key);
    }

    /// The write already in the set for `key`: `Some(None)` if it removes the key.
    fn pending(&self, tree: TreeId, key: &[u8]) -> Option<Option<&IVec>> {
        self.trees[tree.index()].get(key).map(Option::as_ref)
    }

    /// Takes the writes to one tree out of the set, in key order.
    pub(super) fn take(&mut self, tree: TreeId) -> BTreeMap<IVec, Option<IVec>> {
        std::mem::take(&mut self.trees[tree.index()])
    }

    /// The writes of each tree, in [`TreeId::ALL`] order.
    #[cfg(test)]
    pub(super) fn per_tree(&self) -> impl Iterator<Item = (TreeId, &BTreeMap<IVec, Option<IVec>>)> {
        TreeId::ALL.into_iter().zip(&self.trees)
    }

    /// How many keys the commit writes.
    pub(super) fn len(&self) -> usize {
        self.trees.iter().map(BTreeMap::len).sum()
    }
}

/// Everything `fetch` changes, as key writes; `now` is when tombstones are dated.
pub(super) fn write_set(store: &Store, fetch: &Fetch, now: u64) -> Result<WriteSet, SnapshotError> {
    let mut writes = WriteSet {
        marking: store.get(TreeId::Meta, layout::EVALUATED_KEY)?.is_some(),
        ..WriteSet::default()
    };
    users(store, &fetch.users, now, &mut writes)?;
    let doomed = groups(store, fetch, &mut writes)?;
    transitive(store, fetch, &doomed, &mut writes)?;
    links_and_bindings(store, fetch, &mut writes)?;
    super::app::write(store, fetch, &mut writes)?;
    Ok(writes)
}

fn users(
    store: &Store,
    round: &UsersRound,
    now: u64,
    writes: &mut WriteSet,
) -> Result<(), SnapshotError> {
    let tombstone =
        |id: &str, removal: Removal, writes: &mut WriteSet| -> Result<(), SnapshotError> {
            // A removal on record keeps the date the snapshot first learnt of it, and "absent"
            // (reason unknown) never replaces a reason Graph gave.
            let known: Option<Tombstone> = store.get_json(TreeId::Gone, id)?;
            if known.is_none_or(|t| t.removal != removal && removal != Removal::Absent) {
                let at_unix = now;
                let tombstone = Tombstone { removal, at_unix };
                writes.put(TreeId::Gone, id.as_bytes(), layout::json(&tombstone));
            }
            writes.remove(TreeId::Users, id.as_bytes());
            writes.dirty(id);
            Ok(())
        };
    let full = round.kind == RoundKind::Full;
    // Stored users the full round lists unchanged: no write.
    let mut unchanged = BTreeSet::new();
    let mut tombstoned = BTreeSet::new();
    if full {
        // Absence from a complete full round is evidence of removal.
        for entry in store.entries(TreeId::Users) {
            let (key, value) = entry?;
            let id = layout::decode_id(&key).map_err(|e| store.damaged("users key", e))?;
            match round.users.get(&id) {
                Some(user) if *value == *layout::json(user) => {
                    unchanged.insert(id);
                }
                Some(_) => {}
                None if round.removed.contains_key(&id) => {}
                None => tombstone(&id, Removal::Absent, writes)?,
            }
        }
        for entry in store.entries(TreeId::Gone) {
            let key = entry?.0;
            tombstoned.insert(layout::decode_id(&key).map_err(|e| store.damaged("gone key", e))?);
        }
    }
    for (id, user) in &round.users {
        if !unchanged.contains(id) {
            writes.put(TreeId::Users, id.as_bytes(), layout::json(user));
            writes.dirty(id);
        }
        // Listed, so not gone (restored, or left over from an interrupted commit).
        let gone = if full {
            tombstoned.contains(id)
        } else {
            let tree = store.tree(TreeId::Gone);
            tree.contains_key(id).map_err(store.storage("read"))?
        };
        if gone {
            writes.remove(TreeId::Gone, id.as_bytes());
            writes.dirty(id);
        }
    }
    for (id, removal) in &round.removed {
        tombstone(id, *removal, writes)?;
    }
    Ok(())
}

/// Writes the groups rounds; returns the groups deleted in this commit (removed, absent from a
/// full round, or out of scope), whose transitive entries go too.
fn groups(
    store: &Store,
    fetch: &Fetch,
    writes: &mut WriteSet,
) -> Result<BTreeSet<String>, SnapshotError> {
    let scoped: BTreeSet<&str> = fetch
        .groups
        .iter()
        .flat_map(|r| r.ids.iter().map(String::as_str))
        .collect();
    let stored: BTreeMap<String, Group> = store.json_map(TreeId::Groups)?;

    let mut doomed: BTreeSet<String> = BTreeSet::new();
    for round in &fetch.groups {
        doomed.extend(round.removed.keys().cloned());
        if round.kind == RoundKind::Full {
            let absent = round
                .ids
                .iter()
                .filter(|id| !round.groups.contains_key(*id));
            doomed.extend(absent.cloned());
        }
    }
    let owners = store.owners(TreeId::Members)?;
    let known = stored.keys().chain(&owners);
    doomed.extend(known.filter(|id| !scoped.contains(id.as_str())).cloned());

    for round in &fetch.groups {
        for (id, change) in &round.groups {
            // Only the chunk's own ids belong to it; a group being deleted gets no new entries.
            if !round.ids.contains(id) || doomed.contains(id) {
                continue;
            }
            let before = stored.get(id);
            let display_name = change
                .display_name
                .clone()
                .or_else(|| before.and_then(|g| g.display_name.clone()));
            let group = Group {
                id: id.clone(),
                display_name,
            };
            if before != Some(&group) {
                writes.put(TreeId::Groups, id.as_bytes(), layout::json(&group));
            }
            match round.kind {
                RoundKind::Full => replace(store, TreeId::Members, id, &change.added, writes)?,
                RoundKind::Incremental => edit(store, id, change, writes)?,
            }
        }
    }
    for id in &doomed {
        if stored.contains_key(id) {
            writes.remove(TreeId::Groups, id.as_bytes());
        }
        for tree in [TreeId::Members, TreeId::Transitive] {
            if let Some(stored) = store.get(tree, id.as_bytes())? {
                mark_changed(Some(&stored), None, writes);
                writes.remove(tree, id.as_bytes());
            }
        }
    }
    Ok(doomed)
}

/// Makes a group's entry in `tree` exactly `members`.
fn replace(
    store: &Store,
    tree: TreeId,
    group: &str,
    members: &BTreeMap<String, MemberKind>,
    writes: &mut WriteSet,
) -> Result<(), SnapshotError> {
    let value = encode(
        store,
        tree,
        group,
        members.iter().map(|(m, k)| (m.as_str(), *k)),
    )?;
    let stored = store.get(tree, group.as_bytes())?;
    settle(tree, group, stored.as_deref(), value, writes);
    Ok(())
}

/// Applies an incremental round's change to a group's direct members: a merge of the sorted
/// list as this commit leaves it so far (an earlier round of the same fetch may have written
/// it; else the stored one) with the sorted additions, less the removals. A member both added
/// and removed is removed.
fn edit(
    store: &Store,
    group: &str,
    change: &GroupChange,
    writes: &mut WriteSet,
) -> Result<(), SnapshotError> {
    let tree = TreeId::Members;
    let stored = store.get(tree, group.as_bytes())?;
    let current = match writes.pending(tree, group.as_bytes()) {
        Some(pending) => pending.cloned(),
        None => stored.clone(),
    };
    let before = match &current {
        None => Vec::new(),
        Some(value) => layout::decode_member_refs(value).ok_or_else(|| {
            store.damaged(
                format!("{} entry {group:?}", tree.name()),
                io::Error::new(io::ErrorKind::InvalidData, "not a member list"),
            )
        })?,
    };
    let mut added = change
        .added
        .iter()
        .map(|(m, k)| (m.as_str(), *k))
        .peekable();
    let mut before = before.into_iter().peekable();
    let merged = std::iter::from_fn(|| match (before.peek(), added.peek()) {
        (Some(old), Some(new)) if old.0 < new.0 => before.next(),
        (Some(old), Some(new)) if old.0 == new.0 => before.next().and(added.next()),
        (Some(_), None) => before.next(),
        _ => added.next(),
    });
    let mut removed = change.removed.iter().map(String::as_str).peekable();
    let kept = merged.filter(|(id, _)| {
        while removed.next_if(|gone| gone < id).is_some() {}
        removed.peek() != Some(id)
    });
    let value = encode(store, tree, group, kept)?;
    settle(tree, group, stored.as_deref(), value, writes);
    Ok(())
}

/// The value of a member list (sorted by id), or `None` for no members: no entry.
fn encode<'a>(
    store: &Store,
    tree: TreeId,
    group: &str,
    members: impl Iterator<Item = (&'a str, MemberKind)>,
) -> Result<Option<Vec<u8>>, SnapshotError> {
    let mut members = members.peekable();
    if members.peek().is_none() {
        return Ok(None);
    }
    let value = layout::encode_members(members).ok_or_else(|| SnapshotError::Encode {
        path: store.path().to_owned(),
        what: format!("the {} of group {group:?}", tree.name()),
        source: io::Error::new(
            io::ErrorKind::InvalidInput,
            "more than 4 billion members, or a member id longer than 4 GiB",
        ),
    })?;
    Ok(Some(value))
}

/// Leaves the write that turns `stored` into `value` (`None`: no entry): none at all when the
/// two are byte-identical, replacing any earlier write of the same fetch.
fn settle(
    tree: TreeId,
    group: &str,
    stored: Option<&[u8]>,
    value: Option<Vec<u8>>,
    writes: &mut WriteSet,
) {
    let key = group.as_bytes();
    if stored != value.as_deref() {
        mark_changed(stored, value.as_deref(), writes);
    }
    match value {
        _ if stored == value.as_deref() => writes.forget(tree, key),
        Some(value) => writes.put(tree, key, value),
        None => writes.remove(tree, key),
    }
}

/// Marks dirty every user in one of two member lists (`None`: no members) but not the other.
/// A list that cannot be read marks nothing: the next evaluation covers everyone instead.
pub(super) fn mark_changed(before: Option<&[u8]>, after: Option<&[u8]>, writes: &mut WriteSet) {
    fn decode(value: Option<&[u8]>) -> Option<Vec<(&str, MemberKind)>> {
        value.map_or(Some(Vec::new()), layout::decode_member_refs)
    }
    let (Some(before), Some(after)) = (decode(before), decode(after)) else {
        writes.evaluate_all();
        return;
    };
    let mut before = before.into_iter().peekable();
    let mut after = after.into_iter().peekable();
    loop {
        let changed = match (before.peek(), after.peek()) {
            (None, None) => return,
            (Some(old), Some(new)) if old == new => {
                before.next();
                after.next();
                continue;
            }
            (Some(old), Some(new)) if old.0 == new.0 => {
                // The same id as another kind of member: both sides count.
                after.next();
                before.next()
            }
            (Some(old), Some(new)) if old.0 < new.0 => before.next(),
            (Some(_), None) => before.next(),
            _ => after.next(),
        };
        if let Some((id, kind)) = changed {
            if kind == MemberKind::User {
                writes.dirty(id);
            }
        }
    }
}

/// Transitive members: each listed group's list becomes exactly its listing; every other group's
/// entry goes (all of them when the fetch has no listings, `members = "direct"`).
fn transitive(
    store: &Store,
    fetch: &Fetch,
    doomed: &BTreeSet<String>,
    writes: &mut WriteSet,
) -> Result<(), SnapshotError> {
    let scoped: BTreeSet<&str> = fetch
        .groups
        .iter()
        .flat_map(|r| r.ids.iter().map(String::as_str))
        .collect();
    let listed: BTreeMap<&str, _> = fetch
        .transitive
        .iter()
        .flatten()
        .filter(|l| scoped.contains(l.group_id.as_str()) && !doomed.contains(&l.group_id))
        .map(|l| (l.group_id.as_str(), &l.members))
        .collect();
    for (group, members) in &listed {
        replace(store, TreeId::Transitive, group, members, writes)?;
    }
    for owner in store.owners(TreeId::Transitive)? {
        if !listed.contains_key(owner.as_str()) {
            writes.remove(TreeId::Transitive, owner.into_bytes());
        }
    }
    Ok(())
}

/// The new delta links (the users link, one per groups chunk; links of chunks that are no longer
/// queried go) and the scope bindings, replaced by this fetch's.
fn links_and_bindings(
    store: &Store,
    fetch: &Fetch,
    writes: &mut WriteSet,
) -> Result<(), SnapshotError> {
    writes.put(
        TreeId::Links,
        layout::USERS_LINK_KEY,
        fetch.users.delta_link.as_bytes(),
    );
    let mut current: BTreeSet<IVec> = BTreeSet::new();
    for round in &fetch.groups {
        let key = layout::group_link_key(&round.ids);
        writes.put(TreeId::Links, key.as_slice(), round.delta_link.as_bytes());
        current.insert(key.into());
    }
    for entry in store.entries(TreeId::Links) {
        let (key, _) = entry?;
        if key != layout::USERS_LINK_KEY && !current.contains(&key) {
            writes.remove(TreeId::Links, key);
        }
    }
    let bindings: BTreeMap<&str, &str> = fetch
        .scoped
        .iter()
        .map(|g| (g.configured.as_str(), g.id.as_str()))
        .collect();
    let mut rebound = false;
    let mut unchanged = BTreeSet::new();
    for entry in store.entries(TreeId::Bindings) {
        let (key, value) = entry?;
        let now = std::str::from_utf8(&key)
            .ok()
            .and_then(|k| bindings.get_key_value(k));
        match now {
            Some((k, id)) if id.as_bytes() == &*value => {
                unchanged.insert(*k);
            }
            Some(_) => rebound = true,
            None => {
                rebound = true;
                writes.remove(TreeId::Bindings, key);
            }
        }
    }
    // A scope entry bound to another group, or no longer configured: whose scope that changes
    // is not worth working out for so rare an event.
    if rebound {
        writes.evaluate_all();
    }
    // Only what changed: 1,000 scoped groups rewritten every cycle would make every commit
    // too large for one transaction.
    for (configured, id) in bindings {
        if !unchanged.contains(configured) {
            writes.put(TreeId::Bindings, configured.as_bytes(), id.as_bytes());
        }
    }
    Ok(())
}
