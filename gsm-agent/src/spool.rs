//! The output spool: every log chunk a job produced, on disk, until the server acknowledges it.
//!
//! Layout: `STATE_DIR/spool/<job-id>/<seq>.out` or `.err` (stdout or stderr; `seq` zero-padded
//! to 20 digits so names sort in order), each file holding exactly the chunk's raw bytes. One file
//! per chunk keeps every operation trivially correct: writing is create-temporary-then-rename
//! (never a torn chunk), acknowledging is deleting the files below the mark, resending is reading
//! what is left. A job's end is not here: the ledger record carries it (see `ledger.rs`).
//!
//! **Durability trade-off.** A chunk is written (temporary file + rename) *before* it is sent,
//! but not fsync'd then: an fsync per 64 KiB chunk would make a chatty job as slow as the disk's
//! flush latency. A chunk on disk survives a crash of the agent (the page cache outlives the
//! process), and before a job's end is recorded, [`Spool::sync`] fsyncs all of the job's chunks,
//! so a durable end always comes with durable output. What a power loss can take is the tail of
//! a job that was still running, and such a job is reported lost anyway. Nothing the server
//! acknowledged is ever needed again, and everything spooled but unacknowledged is re-sent.
//!
//! **Bounded disk.** The spool holds at most `limit` bytes (the `spool_max_bytes` setting,
//! 1 GiB by default). A chunk that would exceed it is refused with [`Error::Full`]; the executor
//! then stops keeping that job's output (the job runs on, and its result says `truncated`).
//! Each job's share is also bounded by its policy output cap.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use gsm_core::job::JobId;
use gsm_core::runner::{OutputChunk, Stream};

use crate::durable;

/// The widest ack step deleted chunk by chunk by name; a wider one lists the directory instead.
const BY_NAME_LIMIT: u64 = 1024;

/// Why the spool could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spool file or directory could not be read or written.
    #[error("output spool I/O failed on {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Keeping the chunk would take the spool past its limit.
    #[error(
        "the output spool is full ({limit} bytes); output is dropped until the server catches up"
    )]
    Full {
        /// The limit in bytes.
        limit: u64,
    },
}

/// The spool directory and its byte count.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limit: u64,
    used: AtomicU64,
    /// Per job, the highest ack mark applied since the spool was opened: nothing below it is
    /// left on disk.
    floors: Mutex<HashMap<JobId, u64>>,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, sweeping temporary files and counting the
    /// bytes it holds against `limit`.
    pub fn open(dir: &Path, limit: u64) -> Result<Spool, Error> {
        durable::create_dir(dir, 0o700).map_err(io_error(dir))?;
        let mut used = 0u64;
        for job_dir in read_dir(dir)? {
            if !job_dir.is_dir() {
                continue;
            }
            for file in read_dir(&job_dir)? {
                let temporary = file
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(durable::is_temporary);
                if temporary {
                    remove_file(&file)?;
                } else {
                    used += std::fs::metadata(&file).map_err(io_error(&file))?.len();
                }
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            limit,
            used: AtomicU64::new(used),
            floors: Mutex::new(HashMap::new()),
        })
    }

    /// Bytes of output held.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Spools one chunk of `job`'s output (without fsync; see the module docs).
    pub fn write(&self, job: JobId, chunk: &OutputChunk) -> Result<(), Error> {
        let len = chunk.data.len() as u64;
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(len).filter(|total| *total <= self.limit)
            })
            .map_err(|_| Error::Full { limit: self.limit })?;
        let job_dir = self.job_dir(job);
        let name = chunk_name(chunk.seq, chunk.stream);
        // A chunk written again (never done today) replaces the old one: count only the new.
        let replaced = std::fs::metadata(job_dir.join(&name)).map_or(0, |meta| meta.len());
        let written = durable::create_dir(&job_dir, 0o700)
            .and_then(|()| durable::write_replace(&job_dir, &name, &chunk.data));
        let release = if written.is_ok() { replaced } else { len };
        let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            Some(used.saturating_sub(release))
        });
        written.map_err(|source| Error::Io { path: job_dir.join(name), source })
    }

    /// Makes every chunk of `job` durable: fsyncs each file and the directories. A chunk (or the
    /// whole job) removed meanwhile because the server acknowledged it needs no fsync.
    pub fn sync(&self, job: JobId) -> Result<(), Error> {
        let job_dir = self.job_dir(job);
        if !job_dir.exists() {
            return Ok(());
        }
        let gone = |err: &io::Error| err.kind() == io::ErrorKind::NotFound;
        let files = match read_dir(&job_dir) {
            Ok(files) => files,
            Err(Error::Io { source, .. }) if gone(&source) => return Ok(()),
            Err(err) => return Err(err),
        };
        for file in files {
            match std::fs::File::open(&file).and_then(|f| f.sync_all()) {
                Ok(()) => {}
                Err(err) if gone(&err) => {}
                Err(err) => return Err(io_error(&file)(err)),
            }
        }
        match durable::sync_dir(&job_dir) {
            Ok(()) => {}
            Err(err) if gone(&err) => {}
            Err(err) => return Err(io_error(&job_dir)(err)),
        }
        durable::sync_dir(&self.dir).map_err(io_error(&self.dir))
    }

    /// The sequence numbers of `job`'s spooled chunks, in order.
    pub fn pending(&self, job: JobId) -> Result<Vec<u64>, Error> {
        let job_dir = self.job_dir(job);
        if !job_dir.exists() {
            return Ok(Vec::new());
        }
        let mut seqs: Vec<u64> = read_dir(&job_dir)?
            .iter()
            .filter_map(|file| parse_chunk_name(file).map(|(seq, _)| seq))
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        Ok(seqs)
    }

    /// Reads chunk `seq` of `job`; `None` if it is not (or no longer) spooled.
    pub fn read(&self, job: JobId, seq: u64) -> Result<Option<OutputChunk>, Error> {
        let job_dir = self.job_dir(job);
        for stream in [Stream::Stdout, Stream::Stderr] {
            let path = job_dir.join(chunk_name(seq, stream));
            match std::fs::read(&path) {
                Ok(data) => return Ok(Some(OutputChunk { seq, stream, data })),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
        Ok(None)
    }

    /// The server stored every chunk of `job` below `chunks_stored`: deletes them. Idempotent;
    /// returns how many files were deleted.
    pub fn ack(&self, job: JobId, chunks_stored: u64) -> Result<usize, Error> {
        let job_dir = self.job_dir(job);
        if !job_dir.exists() {
            return Ok(0);
        }
        // The server acks every chunk, so acks usually move the mark by one: delete by name from
        // the last mark rather than listing the directory each time (quadratic for long jobs).
        let floor = self.lock_floors().get(&job).copied();
        let mut deleted = 0;
        match floor {
            Some(floor) if chunks_stored.saturating_sub(floor) <= BY_NAME_LIMIT => {
                for seq in floor..chunks_stored {
                    for stream in [Stream::Stdout, Stream::Stderr] {
                        deleted +=
                            usize::from(self.delete(&job_dir.join(chunk_name(seq, stream)))?);
                    }
                }
            }
            // First ack since the spool was opened (what is below the mark is unknown), or a
            // jump too far to walk by name: look.
            _ => {
                for file in read_dir(&job_dir)? {
                    if parse_chunk_name(&file).is_some_and(|(seq, _)| seq < chunks_stored) {
                        deleted += usize::from(self.delete(&file)?);
                    }
                }
            }
        }
        let mut floors = self.lock_floors();
        let mark = floors.entry(job).or_insert(0);
        *mark = (*mark).max(chunks_stored);
        Ok(deleted)
    }

    /// Forgets everything spooled for `job`.
    pub fn remove(&self, job: JobId) -> Result<(), Error> {
        self.lock_floors().remove(&job);
        let job_dir = self.job_dir(job);
        if !job_dir.exists() {
            return Ok(());
        }
        for file in read_dir(&job_dir)? {
            self.delete(&file)?;
        }
        match std::fs::remove_dir(&job_dir) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io { path: job_dir, source }),
        }
    }

    /// The jobs with a spool directory.
    pub fn jobs(&self) -> Result<Vec<JobId>, Error> {
        Ok(read_dir(&self.dir)?
            .iter()
            .filter_map(|path| path.file_name()?.to_str()?.parse().ok())
            .collect())
    }

    /// Deletes one file and un-counts its bytes; false if it was already gone.
    fn delete(&self, file: &Path) -> Result<bool, Error> {
        let len = match std::fs::metadata(file) {
            Ok(meta) => meta.len(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(source) => return Err(Error::Io { path: file.to_path_buf(), source }),
        };
        match std::fs::remove_file(file) {
            Ok(()) => {
                let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                    Some(used.saturating_sub(len))
                });
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::Io { path: file.to_path_buf(), source }),
        }
    }

    fn lock_floors(&self) -> MutexGuard<'_, HashMap<JobId, u64>> {
        // A map of plain numbers, each updated in one step: a panic cannot leave it inconsistent.
        self.floors.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn job_dir(&self, job: JobId) -> PathBuf {
        self.dir.join(job.to_string())
    }
}

fn chunk_name(seq: u64, stream: Stream) -> String {
    let extension = match stream {
        Stream::Stdout => "out",
        Stream::Stderr => "err",
    };
    format!("{seq:020}.{extension}")
}

fn parse_chunk_name(path: &Path) -> Option<(u64, Stream)> {
    let name = path.file_name()?.to_str()?;
    let (seq, extension) = name.split_once('.')?;
    let stream = match extension {
        "out" => Stream::Stdout,
        "err" => Stream::Stderr,
        _ => return None,
    };
    Some((seq.parse().ok()?, stream))
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(io_error(dir))?;
    entries.map(|entry| entry.map(|entry| entry.path()).map_err(io_error(dir))).collect()
}

fn remove_file(path: &Path) -> Result<(), Error> {
    durable::remove_if_present(path)
        .map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Io { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_names_sort_by_sequence_and_parse_back() {
        assert_eq!(chunk_name(7, Stream::Stderr), "00000000000000000007.err");
        assert_eq!(
            parse_chunk_name(Path::new("/x/00000000000000000012.out")),
            Some((12, Stream::Stdout))
        );
        assert_eq!(parse_chunk_name(Path::new("/x/.tmp-00000000000000000012.out")), None);
        assert!(chunk_name(9, Stream::Stdout) < chunk_name(10, Stream::Stdout));
    }
}
