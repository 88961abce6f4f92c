//! Durable file writes: the one way the agent puts state on disk that must survive a crash.
//!
//! A record is written to a temporary file in the same directory, fsync'd, renamed over its final
//! name, and then the directory is fsync'd so the rename itself is on disk. A crash at any point
//! leaves either the old record or the new one, never a torn mix; a leftover temporary file is
//! only ever garbage, and [`is_temporary`] lets the owner of a directory sweep it at start.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Names of temporary files start with this, so no final name can collide with one.
const TEMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `dir/name` atomically and durably, with permission bits `mode` (0o600 for
/// secrets). Replaces any existing file of that name.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_atomic_with(dir, name, mode, |file| file.write_all(bytes)).map(drop)
}

/// [`write_atomic`] with the content written by `fill`; returns the file, open for writing,
/// once it is durable under its final name.
pub(crate) fn write_atomic_with(
    dir: &Path,
    name: &str,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<File> {
    let temp = dir.join(format!("{TEMP_PREFIX}{name}"));
    let mut file = create_fresh(&temp, mode)?;
    fill(&mut file)?;
    file.sync_all()?;
    std::fs::rename(&temp, dir.join(name))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Writes `bytes` to `dir/name` atomically (temporary file + rename) but without fsync: the
/// content survives a crash of the agent (it is in the page cache) but not necessarily one of
/// the machine. Used for log chunks, whose durability is batched (see `spool.rs`).
pub(crate) fn write_replace(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temp = dir.join(format!("{TEMP_PREFIX}{name}"));
    let mut file = create_fresh(&temp, 0o600)?;
    file.write_all(bytes)?;
    drop(file);
    std::fs::rename(&temp, dir.join(name))
}

/// Creates `path` anew with `mode`: a temporary file left by a crash is removed first, so the
/// permission bits are always the ones asked for (they apply only when a file is created).
fn create_fresh(path: &Path, mode: u32) -> io::Result<File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    OpenOptions::new().write(true).create_new(true).mode(mode).open(path)
}

/// Makes the directory's entries (creations, renames, deletions) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes `path`; a file already gone counts as removed.
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Creates `dir` (and its parents) with permission bits `mode` when missing. An existing
/// directory keeps its permissions: tightening them is the administrator's call.
pub(crate) fn create_dir(dir: &Path, mode: u32) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(mode).create(dir)
}

/// True for the name of a temporary file [`write_atomic`] or [`write_replace`] left behind.
pub(crate) fn is_temporary(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "record.json", b"one", 0o600).unwrap();
        write_atomic(dir.path(), "record.json", b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(dir.path().join("record.json")).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["record.json"]);
        let mode = std::fs::metadata(dir.path().join("record.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn temporary_names_are_recognised() {
        assert!(is_temporary(".tmp-record.json"));
        assert!(!is_temporary("record.json"));
    }
}
