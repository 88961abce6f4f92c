//! The ledger's journal file: frames in gsm-core's journal format (`gsm_core::journal`) written
//! in place into space that was zero-filled when the file was made, so making an append durable
//! is a data flush and nothing more.
//!
//! Creating, renaming or growing a file changes file-system metadata, and on a journalling file
//! system such as ext4 an `fsync` then waits for a journal commit (a millisecond or more on a
//! virtual disk, more again while another thread's commit is in flight). Overwriting blocks that
//! already hold data changes no metadata the data depends on, so `fdatasync` only flushes the
//! written pages. The journal is therefore one fixed-size file, filled with zeros (real writes,
//! not `fallocate`, whose unwritten extents must be converted in the file-system journal on first
//! write) when it is created; appends overwrite the zeros in place. When an append does not fit,
//! the owner writes a new journal holding a snapshot of what it needs ([`Journal::create`]), which
//! replaces the old one atomically.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gsm_core::journal::{self, Contents, HEADER, MAGIC};

use crate::durable;

/// The smallest file a journal is created with.
pub(crate) const MIN_CAPACITY: u64 = 4 << 20;

/// Why a journal file could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The file is not a journal, or a frame in its middle is damaged.
    #[error(transparent)]
    Damaged(#[from] journal::ParseError),
}

/// An open journal, positioned for the next append.
#[derive(Debug)]
pub(crate) struct Journal {
    file: Arc<File>,
    path: PathBuf,
    /// Where the next frame goes.
    end: u64,
    /// The size of the zero-filled file.
    capacity: u64,
}

/// An append that does not fit in the journal's remaining space.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppendError {
    /// Write a new journal (a snapshot plus this frame) and try again.
    #[error("the journal is full")]
    Full,
    /// The write failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Journal {
    /// Reads every frame of the journal at `path`; a missing file reads as empty.
    pub(crate) fn read(path: &Path) -> Result<Contents, ReadError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Contents::default()),
            Err(err) => return Err(err.into()),
        };
        Ok(journal::parse(&bytes)?)
    }

    /// Writes a new journal at `dir/name` holding `frames`, zero-filled to at least
    /// [`MIN_CAPACITY`] and twice what the frames take, and replaces any journal there
    /// atomically and durably (see `durable.rs`). Returns it open for appends.
    pub(crate) fn create(dir: &Path, name: &str, frames: &[Vec<u8>]) -> io::Result<Journal> {
        let mut image = Vec::with_capacity(MAGIC.len());
        image.extend_from_slice(MAGIC);
        for payload in frames {
            image.extend_from_slice(&frame(payload)?);
        }
        let used = image.len() as u64;
        let capacity = (used * 2).max(MIN_CAPACITY).next_multiple_of(1 << 20);
        let file = durable::write_atomic_with(dir, name, 0o600, |file| {
            file.write_all(&image)?;
            write_zeros(file, capacity - used)
        })?;
        Ok(Journal { file: Arc::new(file), path: dir.join(name), end: used, capacity })
    }

    /// Appends one frame to the page cache. It survives a crash of the process at once, and a
    /// power loss once [`Journal::syncer`]'s handle has been `fdatasync`ed after this returned.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<(), AppendError> {
        let frame = frame(payload)?;
        // Keep a zero length after the frame so a reader sees where the log ends.
        if self.end + frame.len() as u64 + HEADER as u64 > self.capacity {
            return Err(AppendError::Full);
        }
        self.file.write_all_at(&frame, self.end)?;
        self.end += frame.len() as u64;
        Ok(())
    }

    /// A handle to flush the journal with (`sync_data`) without holding the journal itself, so
    /// appends from other threads go on during the flush.
    pub(crate) fn syncer(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Where the journal is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Builds one frame around `payload`.
fn frame(payload: &[u8]) -> io::Result<Vec<u8>> {
    journal::frame(payload).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "a journal frame holds 1 byte to 4 GiB")
    })
}

fn write_zeros(file: &mut File, mut count: u64) -> io::Result<()> {
    let zeros = vec![0u8; 1 << 20];
    while count > 0 {
        let step = count.min(zeros.len() as u64);
        file.write_all(&zeros[..step as usize])?;
        count -= step;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_frames_read_back_in_order_and_a_new_journal_replaces_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create(dir.path(), "log", &[b"one".to_vec()]).unwrap();
        journal.append(b"two").unwrap();
        journal.syncer().sync_data().unwrap();
        let path = journal.path().to_path_buf();
        let read = Journal::read(&path).unwrap();
        assert_eq!(read.frames, [b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(read.torn_at, None);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), MIN_CAPACITY);

        Journal::create(dir.path(), "log", &[b"three".to_vec()]).unwrap();
        assert_eq!(Journal::read(&path).unwrap().frames, [b"three".to_vec()]);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["log"]);
    }

    #[test]
    fn a_full_journal_says_so_and_keeps_what_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create(dir.path(), "log", &[]).unwrap();
        let big = vec![7u8; 1 << 20];
        let mut appended = 0;
        loop {
            match journal.append(&big) {
                Ok(()) => appended += 1,
                Err(AppendError::Full) => break,
                Err(err) => panic!("{err}"),
            }
        }
        assert_eq!(appended, 3, "4 MiB holds three 1 MiB frames and the end marker");
        assert_eq!(Journal::read(journal.path()).unwrap().frames.len(), 3);
    }
}
