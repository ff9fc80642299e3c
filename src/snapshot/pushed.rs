//! The pushed state and the provisioning log: what the target accepted for each user, and one
//! entry per change entrasync sent, with its outcome.
//!
//! Part of `snapshot/`. The engine records them only after the target answered (Invariant 3): a
//! user's pushed entry changes only for a change the target confirmed. Recording is written in
//! transactions of at most [`RECORD_WRITES`] keys; a crash between two of them loses the record
//! of changes the target already has, and the next cycle's plan sends them again — a create is
//! looked up first and taken over, an update repeats harmlessly — so it converges (Invariant 5).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::layout::{self, TreeId};
use super::store::Store;
use super::{Snapshot, SnapshotError};
use crate::plan::PushedUser;

/// One key write: tree, key, new value (`None` removes).
type Write = (TreeId, Vec<u8>, Option<Vec<u8>>);

/// How many cycle summaries the snapshot keeps.
pub const CYCLES_KEPT: usize = 100;

/// The most keys one recording transaction writes.
const RECORD_WRITES: usize = 1_000;

/// One line of the provisioning log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// snake_case like every report; the aliases read entries that older versions wrote in camelCase.
#[serde(rename_all = "snake_case")]
pub struct LogEntry {
    /// When the target answered (Unix seconds).
    #[serde(alias = "atUnix")]
    pub at_unix: u64,
    #[serde(alias = "userId")]
    pub user_id: String,
    #[serde(alias = "userName")]
    pub user_name: String,
    /// `create`, `update`, `deactivate`, `delete`.
    pub operation: String,
    /// `created`, `adopted`, `updated`, `deactivated`, `deleted`, `missing`, `not owned`,
    /// `failed`.
    pub outcome: String,
    /// What was changed, or what the target said when it refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Snapshot {
    /// What the target accepted, per Entra user id.
    pub fn pushed(&self) -> Result<BTreeMap<String, PushedUser>, SnapshotError> {
        self.store.json_map(TreeId::Pushed)
    }

    /// Records what the target confirmed — `Some` sets a user's pushed entry, `None` forgets it
    /// — and the log entries of the cycle, then flushes.
    pub async fn record(
        &self,
        pushed: Vec<(String, Option<PushedUser>)>,
        log: Vec<LogEntry>,
    ) -> Result<(), SnapshotError> {
        let mut writes: Vec<Write> = Vec::with_capacity(2 * pushed.len() + log.len());
        for (id, user) in pushed {
            // What the target confirmed settles a create it had not confirmed yet.
            writes.push((TreeId::Unconfirmed, id.clone().into_bytes(), None));
            writes.push((
                TreeId::Pushed,
                id.into_bytes(),
                user.map(|u| layout::json(&u)),
            ));
        }
        for entry in log {
            let sequence = self
                .db
                .generate_id()
                .map_err(self.store.storage("number a log entry in"))?;
            writes.push((
                TreeId::Log,
                sequence.to_be_bytes().to_vec(),
                Some(layout::json(&entry)),
            ));
        }
        for part in writes.chunks(RECORD_WRITES) {
            write(&self.store, part)?;
        }
        self.flush().await
    }

    /// Creates about to be sent whose answers are not recorded yet, as they would be pushed
    /// (their `target_id` empty); written and flushed before the target hears of them, so that
    /// a crash in between leaves a trace the next cycle follows up (Invariant 5).
    pub async fn record_unconfirmed(
        &self,
        creates: Vec<(String, PushedUser)>,
    ) -> Result<(), SnapshotError> {
        let writes: Vec<Write> = creates
            .into_iter()
            .map(|(id, user)| {
                (
                    TreeId::Unconfirmed,
                    id.into_bytes(),
                    Some(layout::json(&user)),
                )
            })
            .collect();
        for part in writes.chunks(RECORD_WRITES) {
            write(&self.store, part)?;
        }
        self.flush().await
    }

    /// Creates sent whose answers were never recorded, by Entra id.
    pub fn unconfirmed(&self) -> Result<BTreeMap<String, PushedUser>, SnapshotError> {
        self.store.json_map(TreeId::Unconfirmed)
    }

    /// Forgets unconfirmed creates the target turned out not to have.
    pub async fn forget_unconfirmed(&self, ids: Vec<String>) -> Result<(), SnapshotError> {
        let writes: Vec<Write> = ids
            .into_iter()
            .map(|id| (TreeId::Unconfirmed, id.into_bytes(), None))
            .collect();
        for part in writes.chunks(RECORD_WRITES) {
            write(&self.store, part)?;
        }
        self.flush().await
    }

    /// Keeps the summary of a finished cycle (for `status`), dropping the oldest beyond
    /// [`CYCLES_KEPT`], then flushes.
    pub async fn record_cycle(&self, summary: &serde_json::Value) -> Result<(), SnapshotError> {
        let tree = self.store.tree(TreeId::Cycles);
        let sequence = self
            .db
            .generate_id()
            .map_err(self.store.storage("number a cycle in"))?;
        tree.insert(sequence.to_be_bytes(), layout::json(summary))
            .map_err(self.store.storage("record to"))?;
        while tree.len() > CYCLES_KEPT {
            if tree
                .pop_min()
                .map_err(self.store.storage("trim"))?
                .is_none()
            {
                break;
            }
        }
        self.flush().await
    }

    /// The summaries of the last `limit` cycles, newest first.
    pub fn cycles(&self, limit: usize) -> Result<Vec<serde_json::Value>, SnapshotError> {
        let tree = self.store.tree(TreeId::Cycles);
        let mut cycles = Vec::new();
        for entry in tree.iter().rev().take(limit) {
            let (_, value) = entry.map_err(self.store.storage("read"))?;
            cycles.push(
                layout::decode_json(&value).map_err(|e| self.store.damaged("cycle summary", e))?,
            );
        }
        Ok(cycles)
    }

    /// The provisioning log, oldest first: entries at or after `since_unix`, of `user` (an id or
    /// a userName, any case) when given.
    pub fn log(&self, since_unix: u64, user: Option<&str>) -> Result<Vec<LogEntry>, SnapshotError> {
        let mut entries = Vec::new();
        for entry in self.store.entries(TreeId::Log) {
            let (key, value) = entry?;
            let entry: LogEntry = layout::decode_json(&value).map_err(|e| {
                self.store
                    .damaged(format!("log entry {}", String::from_utf8_lossy(&key)), e)
            })?;
            let of_user =
                user.is_none_or(|u| entry.user_id == u || entry.user_name.eq_ignore_ascii_case(u));
            if entry.at_unix >= since_unix && of_user {
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}

fn write(store: &Store, part: &[Write]) -> Result<(), SnapshotError> {
    store
        .trees()
        .transaction(|tx: &Vec<TransactionalTree>| {
            for (tree, key, value) in part {
                let tree = &tx[tree.index()];
                match value {
                    Some(value) => tree.insert(key.as_slice(), value.as_slice())?,
                    None => tree.remove(key.as_slice())?,
                };
            }
            Ok::<_, ConflictableTransactionError<()>>(())
        })
        .map_err(|e| match e {
            sled::transaction::TransactionError::Storage(e) => store.storage("record to")(e),
            sled::transaction::TransactionError::Abort(()) => {
                store.storage("record to")(sled::Error::Unsupported("aborted".into()))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> PushedUser {
        PushedUser {
            target_id: format!("t-{id}"),
            user_name: format!("{id}@contoso.com"),
            active: true,
            attributes: BTreeMap::new(),
            permissions: vec!["Reader".into()],
            department: None,
        }
    }

    fn entry(id: &str, at: u64) -> LogEntry {
        LogEntry {
            at_unix: at,
            user_id: id.into(),
            user_name: format!("{id}@Contoso.com"),
            operation: "create".into(),
            outcome: "created".into(),
            detail: None,
        }
    }

    #[tokio::test]
    async fn unconfirmed_creates_stay_until_recorded_or_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let snapshot = Snapshot::open(dir.path()).expect("opens").snapshot;
        let sent = ["a", "b", "c"].map(|id| (id.to_owned(), user(id)));
        snapshot
            .record_unconfirmed(sent.to_vec())
            .await
            .expect("records");
        snapshot
            .record(vec![("a".into(), Some(user("a")))], Vec::new())
            .await
            .expect("records");
        snapshot
            .forget_unconfirmed(vec!["b".into()])
            .await
            .expect("forgets");
        drop(snapshot);
        let snapshot = Snapshot::open(dir.path()).expect("reopens").snapshot;
        let left: Vec<String> = snapshot.unconfirmed().expect("reads").into_keys().collect();
        assert_eq!(left, ["c"], "confirmed and forgotten ones are gone");
    }

    #[tokio::test]
    async fn pushed_entries_and_the_log_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let snapshot = Snapshot::open(dir.path()).expect("opens").snapshot;
            let many: Vec<(String, Option<PushedUser>)> = (0..2_500)
                .map(|i| (format!("u{i:04}"), Some(user(&format!("u{i:04}")))))
                .collect();
            snapshot
                .record(many, vec![entry("u0001", 10), entry("u0002", 20)])
                .await
                .expect("records");
            snapshot
                .record(vec![("u0001".into(), None)], vec![entry("u0001", 30)])
                .await
                .expect("records");
        }
        let snapshot = Snapshot::open(dir.path()).expect("reopens").snapshot;
        let pushed = snapshot.pushed().expect("reads");
        assert_eq!(pushed.len(), 2_499);
        assert!(!pushed.contains_key("u0001"), "forgotten");
        assert_eq!(pushed["u0002"], user("u0002"));
        let log = snapshot.log(0, None).expect("reads");
        assert_eq!(
            log.iter().map(|e| e.at_unix).collect::<Vec<_>>(),
            [10, 20, 30],
            "oldest first"
        );
        assert_eq!(
            snapshot
                .log(15, Some("U0001@contoso.com"))
                .expect("reads")
                .len(),
            1
        );
        assert_eq!(
            snapshot.counts().expect("reads"),
            crate::snapshot::Counts::default(),
            "source counts untouched"
        );
    }
}
