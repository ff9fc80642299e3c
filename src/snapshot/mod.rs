//! The snapshot: the second stage of the flow (`source → snapshot → rules → plan → target`).
//!
//! A sled database in `{state_dir}/snapshot` holding the source state as Graph last reported it:
//! users, scoped groups, their direct (and, with `members = "transitive"`, transitive) members,
//! tombstones of removed users, the delta link of each query and the binding of each configured
//! group to its id. The engine [`Snapshot::commit`]s one cycle's complete [`Fetch`] in one sled
//! transaction (Invariants 1 and 2: all rounds and their delta links, or nothing; a very large
//! first commit is staged crash-safely instead, see `apply.rs`), then the rules read it back.
//! It also holds the pushed state — what the target accepted for each user — and the
//! provisioning log (`pushed.rs`), recorded after the target answered.
//!
//! Files: `open.rs` opens it (schema version, damage, lock), `layout.rs` is the on-disk layout,
//! `store.rs` reads the trees, `writes.rs` turns a fetch into key writes (a user, a group, or a
//! group's whole member list per key), `apply.rs` writes them, `pushed.rs` records what the
//! target did, `evaluation.rs` keeps whom the rules must evaluate again and what they said, `app.rs` holds
//! `[source] app`'s roles and assignments. sled stays inside this module: no sled type is in the public API.

mod app;
mod apply;
mod error;
mod evaluation;
mod layout;
mod open;
mod pushed;
mod store;
mod writes;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use app::{AppRoleDefinition, AppRoles, AppState};
pub use error::SnapshotError;
pub use evaluation::{Evaluate, Totals};
pub use pushed::{CYCLES_KEPT, LogEntry};

use crate::source::{Fetch, Group, Member, Removal, User};
use layout::TreeId;
use store::Store;

/// The delta links of the last complete rounds: where the next cycle's queries start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaLinks {
    pub users: Option<String>,
    /// One per groups chunk, keyed by the chunk's sorted ids.
    pub groups: BTreeMap<Vec<String>, String>,
}

/// What the snapshot holds; kept with every commit, so reading it costs one lookup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub users: usize,
    pub groups: usize,
    /// Direct memberships of the scoped groups.
    pub memberships: usize,
}

/// A user Graph reported removed, or that a complete full round no longer listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    pub removal: Removal,
    /// When the snapshot learnt of it (Unix seconds).
    pub at_unix: u64,
}

/// The whole source state, for the rules and for tests that compare it before and after a cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceState {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    /// Group id → direct members, sorted by id.
    pub members: BTreeMap<String, Vec<Member>>,
    /// Group id → members with nested groups resolved, sorted by id.
    pub transitive: BTreeMap<String, Vec<Member>>,
    pub gone: BTreeMap<String, Tombstone>,
    pub links: DeltaLinks,
    /// Configured `[source] groups` entry → group id.
    pub bindings: BTreeMap<String, String>,
    /// `[source] app`'s roles and assignments, when an app is configured.
    pub app: Option<AppState>,
}

/// An open snapshot. Cheap to clone (sled shares the database); one process holds it at a time.
#[derive(Clone)]
pub struct Snapshot {
    db: sled::Db,
    store: Arc<Store>,
    /// Tests only: how commits are applied (smaller transactions, injected failures).
    #[cfg(test)]
    apply_options: Arc<std::sync::Mutex<apply::Options>>,
}

/// The result of [`Snapshot::open`].
#[derive(Debug)]
pub struct Opened {
    pub snapshot: Snapshot,
    /// Where a damaged snapshot was moved; the new one is empty, so the next cycle is a full round.
    pub recovered_from: Option<PathBuf>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("path", &self.store.path())
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Opens the snapshot in `{state_dir}/snapshot`, creating both if missing. A damaged one is
    /// moved aside and replaced by a fresh one (`recovered_from` says where it went).
    pub fn open(state_dir: &Path) -> Result<Opened, SnapshotError> {
        open::open(state_dir)
    }

    /// [`Snapshot::open`], warning in the log when a damaged snapshot had to be moved aside.
    pub fn open_logged(state_dir: &Path) -> Result<Snapshot, SnapshotError> {
        let opened = Snapshot::open(state_dir)?;
        if let Some(aside) = &opened.recovered_from {
            tracing::warn!(
                moved_to = %aside.display(),
                "the snapshot was damaged and has been moved aside; this cycle reads everything again"
            );
        }
        Ok(opened.snapshot)
    }

    fn from_parts(db: sled::Db, store: Arc<Store>) -> Snapshot {
        Snapshot {
            db,
            store,
            #[cfg(test)]
            apply_options: Arc::default(),
        }
    }

    pub fn delta_links(&self) -> Result<DeltaLinks, SnapshotError> {
        self.store.delta_links()
    }

    /// Removes every delta link and the evaluation fingerprint, and flushes: the next cycle is a
    /// full round, which removes only what Graph no longer lists, and the rules evaluate every
    /// user after it.
    pub fn forget_delta_links(&self) -> Result<(), SnapshotError> {
        let links = self.store.tree(TreeId::Links);
        let mut batch = sled::Batch::default();
        for entry in self.store.entries(TreeId::Links) {
            batch.remove(entry?.0);
        }
        links
            .apply_batch(batch)
            .map_err(self.store.storage("write to"))?;
        let meta = self.store.tree(TreeId::Meta);
        meta.remove(layout::EVALUATED_KEY)
            .map_err(self.store.storage("write to"))?;
        self.db.flush().map_err(self.store.storage("flush"))?;
        Ok(())
    }

    /// Configured `[source] groups` entry → the group id it was bound to.
    pub fn scope_bindings(&self) -> Result<BTreeMap<String, String>, SnapshotError> {
        self.store.string_map(TreeId::Bindings)
    }

    /// Applies one cycle's complete rounds, their delta links and the scope bindings
    /// crash-safely: one transaction, or for more than 1,000 keys a staged commit that a crash leaves
    /// without delta links (the next cycle then reads full rounds, which repair it). Call it from
    /// one cycle at a time (the engine does): the writes are computed from reads made just before.
    pub fn commit(&self, fetch: &Fetch) -> Result<(), SnapshotError> {
        let clock = Instant::now();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let writes = writes::write_set(&self.store, fetch, now)?;
        let prepared = clock.elapsed();
        #[cfg(test)]
        let options = *self
            .apply_options
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        #[cfg(not(test))]
        let options = apply::Options::default();
        let keys = writes.len();
        let counts = apply::apply(&self.store, writes, now, options)?;
        tracing::debug!(
            writes = keys,
            prepare_ms = prepared.as_millis() as u64,
            total_ms = clock.elapsed().as_millis() as u64,
            users = counts.users,
            groups = counts.groups,
            memberships = counts.memberships,
            "snapshot committed"
        );
        Ok(())
    }

    /// Makes every commit so far durable.
    pub async fn flush(&self) -> Result<(), SnapshotError> {
        self.db
            .flush_async()
            .await
            .map_err(self.store.storage("flush"))?;
        Ok(())
    }

    pub fn counts(&self) -> Result<Counts, SnapshotError> {
        self.store.counts()
    }

    /// Everything the snapshot holds about the source. Reads every tree: for the rules and tests.
    pub fn source_state(&self) -> Result<SourceState, SnapshotError> {
        Ok(SourceState {
            users: self.store.json_map(TreeId::Users)?,
            groups: self.store.json_map(TreeId::Groups)?,
            members: self.store.all_memberships(TreeId::Members)?,
            transitive: self.store.all_memberships(TreeId::Transitive)?,
            gone: self.store.json_map(TreeId::Gone)?,
            links: self.store.delta_links()?,
            bindings: self.store.string_map(TreeId::Bindings)?,
            app: app::read(&self.store, None)?,
        })
    }

    pub fn user(&self, id: &str) -> Result<Option<User>, SnapshotError> {
        self.store.get_json(TreeId::Users, id)
    }

    /// The tombstone of a removed user, if it was removed.
    pub fn gone(&self, id: &str) -> Result<Option<Tombstone>, SnapshotError> {
        self.store.get_json(TreeId::Gone, id)
    }

    /// A scoped group's direct members, sorted by id.
    pub fn members(&self, group_id: &str) -> Result<Vec<Member>, SnapshotError> {
        self.store.memberships(TreeId::Members, group_id)
    }

    /// A scoped group's members with nested groups resolved, sorted by id (empty unless
    /// `members = "transitive"`).
    pub fn transitive_members(&self, group_id: &str) -> Result<Vec<Member>, SnapshotError> {
        self.store.memberships(TreeId::Transitive, group_id)
    }
}
