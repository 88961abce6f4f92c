//! The policy's only window on the filesystem: canonicalise a path and stat a file.
//!
//! The loader and the check take a [`Resolve`] instead of calling `std::fs`, so every decision
//! they make is plain logic over the facts it returns, and the one real implementation
//! ([`Host`]) stays small enough to read at a glance. These answers are a snapshot: the runner
//! re-opens the working directory beneath its root (`openat2` with `RESOLVE_BENEATH`) and
//! re-compares the program's identity, so a swap after the check is still caught.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::approved::FileIdentity;

/// What a stat says about a file, following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileFacts {
    pub identity: FileIdentity,
    pub kind: FileKind,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

impl FileFacts {
    /// Whether someone other than the owner may rewrite the file.
    pub(crate) fn writable_by_others(&self) -> bool {
        self.mode & 0o022 != 0
    }
}

/// The kinds of file the policy cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    File,
    Directory,
    Other,
}

/// Filesystem questions the policy asks.
pub(crate) trait Resolve {
    /// The absolute path with every symlink, `.` and `..` resolved; fails if it does not exist.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
    /// Stats `path`, following symlinks.
    fn stat(&self, path: &Path) -> io::Result<FileFacts>;
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Host;

impl Resolve for Host {
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }

    fn stat(&self, path: &Path) -> io::Result<FileFacts> {
        let meta = std::fs::metadata(path)?;
        let kind = if meta.is_file() {
            FileKind::File
        } else if meta.is_dir() {
            FileKind::Directory
        } else {
            FileKind::Other
        };
        Ok(FileFacts {
            identity: FileIdentity { dev: meta.dev(), ino: meta.ino() },
            kind,
            mode: meta.mode() & 0o7777,
        })
    }
}
