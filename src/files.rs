//! Files only their owner may read: the state directory (the snapshot holds every user's
//! attributes and the provisioning log), `service.json`, and the file target.
//!
//! Outside the flow; used by `main.rs`, `snapshot/open.rs`, `daemon/` and `target/file.rs`.
//! The binary sets its umask to at least `0077` before anything else ([`restrict_umask`]), as
//! the systemd units do with `UMask=0077`: sled creates its own files, at open and later (its
//! snapshot files are rewritten as it runs), and the umask is the one thing that reaches them.
//! Where entrasync creates a file or folder itself, it also gives the mode explicitly, so the
//! library is safe whatever the umask. An existing state directory keeps its mode: if others
//! may read it, [`warn_if_open_to_others`] says so and what to do, and changes nothing.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of the folders entrasync creates for its state.
pub const PRIVATE_DIR: u32 = 0o700;
/// The mode of the files entrasync creates.
pub const PRIVATE_FILE: u32 = 0o600;

/// Adds `0077` to the process's umask: nothing this process creates from now on can be read
/// by group or others (a stricter umask stays as it is). Call it first in `main`, before any
/// thread starts: the umask belongs to the whole process.
pub fn restrict_umask() {
    // SAFETY: umask(2) only swaps the process's file mode creation mask and cannot fail; it
    // touches no memory of ours.
    unsafe {
        let old = libc::umask(0o077);
        libc::umask(old | 0o077);
    }
}

/// Creates `dir` (and any missing parents) with mode 0700; an existing folder is left as it is.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)
}

/// Creates (or truncates) `path` for writing with exactly `mode`, set before anything is
/// written: a file that already exists with another mode gets `mode` too.
pub fn create_with_mode(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    // The umask may have narrowed a new file, and an old one keeps its mode: set it exactly.
    file.set_permissions(Permissions::from_mode(mode))?;
    Ok(file)
}

/// When group or others may enter the folder `dir`, a warning that names it, its mode and the
/// command that fixes it; `None` when only its owner may, or it cannot be read.
pub fn open_to_others(dir: &Path) -> Option<String> {
    let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the state directory {} has mode {mode:04o}: other users may read the snapshot (every user's attributes and the provisioning log); run `chmod -R go= {}` (entrasync creates it 0700 with files 0600, but leaves the mode of an existing folder as it is)",
            dir.display(),
            dir.display()
        )
    })
}

/// Logs [`open_to_others`]'s warning, if any.
pub fn warn_if_open_to_others(dir: &Path) {
    if let Some(warning) = open_to_others(dir) {
        tracing::warn!("{warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn folders_and_files_get_exactly_their_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("a/b/state");
        create_private_dir(&state).expect("creates");
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700, "parents too");
        let file = state.join("f");
        std::fs::write(&file, "old").expect("writes");
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).expect("chmod");
        drop(create_with_mode(&file, PRIVATE_FILE).expect("opens"));
        assert_eq!(mode(&file), 0o600, "an existing file gets the mode too");
        assert_eq!(std::fs::read(&file).expect("reads"), b"", "truncated");
    }

    #[test]
    fn a_folder_others_may_enter_is_named_with_its_mode_and_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), Permissions::from_mode(0o755)).expect("chmod");
        let warning = open_to_others(dir.path()).expect("a warning");
        assert!(warning.contains("mode 0755"), "{warning}");
        assert!(
            warning.contains(&format!("chmod -R go= {}", dir.path().display())),
            "{warning}"
        );
        std::fs::set_permissions(dir.path(), Permissions::from_mode(0o700)).expect("chmod");
        assert_eq!(open_to_others(dir.path()), None);
        // An existing folder is never changed by creating it again.
        std::fs::set_permissions(dir.path(), Permissions::from_mode(0o750)).expect("chmod");
        create_private_dir(dir.path()).expect("exists already");
        assert_eq!(mode(dir.path()), 0o750);
    }
}
