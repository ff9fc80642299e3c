//! Opening the snapshot (`source → snapshot → rules → plan → target`): the sled database in
//! `{state_dir}/snapshot`, its schema version, and what happens when it is damaged.
//!
//! A damaged snapshot is moved aside to `{state_dir}/snapshot.damaged-<unix seconds>` and a fresh
//! one takes its place: it has no delta links, so the next cycle is a full round and rebuilds the
//! source state from Graph. Only damage does that. Any other failure (the lock held by another
//! entrasync, permissions, a full disk, a newer schema) is an error and the folder is left alone.
//!
//! What sled 0.34.7 does with damaged files, found by writing garbage into a closed snapshot's
//! files and opening it again (the cases are in `tests/open.rs`):
//! - `db` overwritten with garbage or zeros: sled opens it as an EMPTY database, silently. We
//!   catch that: the `db` file existed and was not empty, yet `meta` has no schema version.
//! - `db` truncated, or bytes flipped inside it: sled's recovery stops at the first log message
//!   that fails its check and drops everything after it, silently. A transaction is sealed in the
//!   log as one batch, so what remains ends on a whole transaction: an older but consistent
//!   snapshot (delta links only with the data they stand for; see `apply.rs` for a staged
//!   commit cut short), and the next cycle converges from there. Nothing to detect.
//! - bytes flipped in a log of many small un-batched writes: sled sometimes PANICS during
//!   recovery ("tried to serialize Uninitialized", serialization.rs:662; 5 runs in 8 for the same
//!   damage, depending on how its flusher laid out the segments). The open therefore runs under
//!   `catch_unwind`, and a panic counts as damage. The default panic hook still prints sled's
//!   message on stderr, before our warning.
//! - `conf` garbage: `Error::Corruption` when it is text, `Error::Unsupported` ("created using a
//!   sled version earlier than 0.29") when it is not UTF-8. Only `Corruption` is damage; sled
//!   also uses `Unsupported` for a real version or settings mismatch, where moving the files aside
//!   would throw away a snapshot a matching build can read, so that is an `Open` error.
//! - the lock: sled takes an exclusive `flock` on `db` and fails with an `Io` error whose message
//!   starts "could not acquire lock" (WouldBlock). That is [`SnapshotError::Locked`].

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::files;

use super::layout::{self, SCHEMA_VERSION, TREE_COUNT, TreeId};
use super::store::Store;
use super::{Opened, Snapshot, SnapshotError};

/// sled's page cache. The default (1 GiB) is far more than a snapshot needs: reads are rare (a
/// cycle reads the source state once) and mostly sequential. Measured with 300,000 keys, 32 MiB
/// costs no time against 64 MiB and keeps the peak some 10 MB lower.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// How long an open waits for sled's lock before reporting another entrasync.
const LOCK_WAIT: Duration = Duration::from_secs(1);

#[cfg(test)]
thread_local! {
    /// Tests only: panic once where sled would, inside the guarded open.
    pub(super) static PANIC_IN_SLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Why an open did not give a usable snapshot.
enum Failure {
    /// The files are damaged: move them aside and start afresh.
    Damaged(String),
    /// Anything else: report it, touch nothing.
    Error(SnapshotError),
}

pub(super) fn open(state_dir: &Path) -> Result<Opened, SnapshotError> {
    // 0700: the snapshot holds every user's attributes. A folder that exists keeps its mode;
    // a warning says when others may read it.
    files::create_private_dir(state_dir).map_err(|source| SnapshotError::CreateDir {
        dir: state_dir.to_owned(),
        source,
    })?;
    files::warn_if_open_to_others(state_dir);
    let path = state_dir.join("snapshot");
    match open_waiting_for_lock(state_dir, &path) {
        Ok(snapshot) => Ok(Opened {
            snapshot,
            recovered_from: None,
        }),
        Err(Failure::Error(e)) => Err(e),
        Err(Failure::Damaged(reason)) => {
            let aside = move_aside(state_dir, &path)?;
            tracing::warn!(
                snapshot = %path.display(),
                moved_to = %aside.display(),
                "the snapshot is damaged ({reason}); starting a fresh one"
            );
            let snapshot = open_at(state_dir, &path).map_err(|failure| match failure {
                Failure::Error(e) => e,
                Failure::Damaged(reason) => SnapshotError::Open {
                    path: path.clone(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a fresh snapshot is damaged too: {reason}"),
                    ),
                },
            })?;
            Ok(Opened {
                snapshot,
                recovered_from: Some(aside),
            })
        }
    }
}

/// Like [`open_at`], but waits up to [`LOCK_WAIT`] for the lock. sled releases it when the last
/// of its background IO tasks lets go of the file, which can be a moment after the previous
/// snapshot of this same process was dropped (seen in parallel tests: a drop then an immediate
/// reopen failed with WouldBlock). Another entrasync holds it for as long as it runs, so that
/// still ends in [`SnapshotError::Locked`].
fn open_waiting_for_lock(state_dir: &Path, path: &Path) -> Result<Snapshot, Failure> {
    let started = Instant::now();
    loop {
        match open_at(state_dir, path) {
            Err(Failure::Error(SnapshotError::Locked { .. })) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(25));
            }
            result => return result,
        }
    }
}

/// Opens (or creates) the database at `path` and checks its schema.
fn open_at(state_dir: &Path, path: &Path) -> Result<Snapshot, Failure> {
    // sled would create the folder following the umask; the files in it follow the umask too,
    // which the binary sets to 0077 (see `files.rs`).
    files::create_private_dir(path).map_err(|source| {
        Failure::Error(SnapshotError::CreateDir {
            dir: path.to_owned(),
            source,
        })
    })?;
    let existed = std::fs::metadata(path.join("db")).is_ok_and(|m| m.len() > 0);
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_BYTES)
        .mode(sled::Mode::HighThroughput);
    // sled panics on some damaged files (see the module comment): a panic is damage. Nothing
    // from inside the closure survives a panic; the half-opened database is dropped with it.
    let opened = catch_unwind(AssertUnwindSafe(|| -> sled::Result<_> {
        #[cfg(test)]
        if PANIC_IN_SLED.replace(false) {
            panic!("injected: as sled panics on some damaged logs");
        }
        let db = config.open()?;
        let trees = TreeId::ALL
            .iter()
            .map(|id| db.open_tree(id.name()))
            .collect::<sled::Result<Vec<_>>>()?;
        Ok((db, trees))
    }));
    let (db, trees) = match opened {
        Err(panic) => {
            let message = panic_message(&*panic);
            return Err(Failure::Damaged(format!(
                "sled panicked reading it: {message}"
            )));
        }
        Ok(result) => result.map_err(|e| failure(state_dir, path, e))?,
    };
    let trees: [sled::Tree; TREE_COUNT] = trees
        .try_into()
        .unwrap_or_else(|_| unreachable!("exactly one tree is opened per TreeId"));
    let store = Arc::new(Store::new(trees, path.to_owned()));
    check_schema(&db, &store, existed)?;
    Ok(Snapshot::from_parts(db, store))
}

fn failure(state_dir: &Path, path: &Path, e: sled::Error) -> Failure {
    match e {
        sled::Error::Corruption { .. } => Failure::Damaged(e.to_string()),
        sled::Error::Io(e) if e.to_string().contains("could not acquire lock") => {
            Failure::Error(SnapshotError::Locked {
                state_dir: state_dir.to_owned(),
                source: e,
            })
        }
        other => Failure::Error(SnapshotError::Open {
            path: path.to_owned(),
            source: other.into(),
        }),
    }
}

/// Writes the schema version into a new snapshot, or checks (and one day migrates) a stored one.
fn check_schema(db: &sled::Db, store: &Store, existed: bool) -> Result<(), Failure> {
    let meta = store.tree(TreeId::Meta);
    let stored = meta
        .get(layout::SCHEMA_KEY)
        .map_err(|e| failure_of(store, e))?;
    match stored {
        // sled opens a db file full of garbage as an empty database: a file with content but
        // no schema version is damage, not a new snapshot.
        None if existed => return Err(Failure::Damaged("it has no schema version".into())),
        None => {
            meta.insert(
                layout::SCHEMA_KEY,
                &layout::encode_version(SCHEMA_VERSION)[..],
            )
            .and_then(|_| {
                meta.insert(
                    layout::COUNTS_KEY,
                    &layout::encode_counts(Default::default())[..],
                )
            })
            .and_then(|_| db.flush())
            .map_err(|e| failure_of(store, e))?;
        }
        Some(value) => match layout::decode_version(&value) {
            None => return Err(Failure::Damaged("its schema version is unreadable".into())),
            Some(found) if found > SCHEMA_VERSION => {
                return Err(Failure::Error(SnapshotError::NewerSchema {
                    path: store.path().to_owned(),
                    found,
                    supported: SCHEMA_VERSION,
                }));
            }
            Some(found) => migrate(store, found)?,
        },
    }
    match store.counts() {
        Ok(_) => {}
        Err(SnapshotError::Decode { .. }) => {
            return Err(Failure::Damaged("its counts are unreadable".into()));
        }
        Err(e) => return Err(Failure::Error(e)),
    }
    if meta
        .contains_key(layout::PENDING_KEY)
        .map_err(|e| failure_of(store, e))?
    {
        tracing::warn!(
            snapshot = %store.path().display(),
            "the last commit was interrupted; its delta links were dropped first, so the next cycle reads everything again"
        );
    }
    Ok(())
}

/// Brings a snapshot written with schema `from` (at most ours) up to [`SCHEMA_VERSION`], one
/// explicit step per arm, before anything reads it.
fn migrate(store: &Store, from: u32) -> Result<(), Failure> {
    match from {
        SCHEMA_VERSION => Ok(()),
        // Schema 1 is the first. When there is a schema 2, its step goes here:
        // `1 => upgrade_1_to_2(store).and_then(|()| migrate(store, 2)),`
        0 => Err(Failure::Damaged(
            "its schema version is 0, which entrasync never writes".into(),
        )),
        older => Err(Failure::Error(SnapshotError::Open {
            path: store.path().to_owned(),
            source: io::Error::other(format!(
                "this entrasync has no migration from schema version {older} to {SCHEMA_VERSION}"
            )),
        })),
    }
}

fn failure_of(store: &Store, e: sled::Error) -> Failure {
    match e {
        sled::Error::Corruption { .. } => Failure::Damaged(e.to_string()),
        other => Failure::Error(store.storage("open")(other)),
    }
}

/// Renames the damaged folder to `snapshot.damaged-<unix seconds>` (with `-2`, `-3`... if taken).
fn move_aside(state_dir: &Path, path: &Path) -> Result<PathBuf, SnapshotError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format!("snapshot.damaged-{secs}");
    let mut aside = state_dir.join(&base);
    let mut n = 1;
    // `rename` onto an empty directory succeeds on Linux, so test for any existing entry first.
    while aside.symlink_metadata().is_ok() {
        n += 1;
        aside = state_dir.join(format!("{base}-{n}"));
    }
    std::fs::rename(path, &aside).map_err(|source| SnapshotError::MoveAside {
        from: path.to_owned(),
        to: aside.clone(),
        source,
    })?;
    Ok(aside)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
