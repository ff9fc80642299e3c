//! What can go wrong with the snapshot (`source → snapshot → rules → plan → target`): one error
//! type for opening, reading and committing, each message naming the folder and what the operator
//! can do about it.
//!
//! sled's own error type stays inside `snapshot/`: it is converted to `std::io::Error` (sled
//! provides the conversion), so nothing outside this module depends on the storage engine.

use std::path::PathBuf;

/// Why the snapshot could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "cannot create the state directory {dir}: {source}; create it and let the user entrasync runs as write to it, or set state_dir to a writable folder"
    )]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another entrasync is using {state_dir} (the snapshot in it is locked: {source}); stop it, or give this instance its own state_dir"
    )]
    Locked {
        state_dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot open the snapshot in {path}: {source}; check the permissions and free space there, or move {path} aside and the next cycle reads everything again"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the snapshot in {path} has schema version {found}, written by a newer entrasync (this one understands up to {supported}); upgrade entrasync, or point state_dir to another folder"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "the snapshot in {from} is damaged and could not be moved aside to {to}: {source}; move or delete {from} by hand (the next cycle then reads everything again)"
    )]
    MoveAside {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot {action} the snapshot in {path}: {source}; check the disk under {path} (space, permissions), then run the cycle again"
    )]
    Storage {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the snapshot in {path} holds an unreadable {what}: {source}; stop entrasync and move {path} aside, and the next cycle reads everything again"
    )]
    Decode {
        path: PathBuf,
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot store {what} in the snapshot in {path}: {source}; this is a bug in entrasync, please report it"
    )]
    Encode {
        path: PathBuf,
        what: String,
        #[source]
        source: std::io::Error,
    },
}
