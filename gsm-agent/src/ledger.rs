//! The durable job ledger: every job id this agent has taken, so none is ever run twice.
//!
//! The ledger is one append-only journal, `STATE_DIR/jobs/ledger.journal` (see `journal.rs`),
//! of JSON entries: a job's whole record, its process, its end, the server's ack of the end. An
//! entry is appended in place, and made durable with `fdatasync` when it matters across a power
//! loss; an entry that must survive a crash of the agent but not one of the machine stays in the
//! page cache. On the dispatch path that is one data flush (no file created, renamed or grown):
//!
//! 1. `accept`: the job, its attempt and spec, flushed *before* the process is spawned — the
//!    at-most-once guarantee;
//! 2. `record_process`: the process's [`ProcessIdentity`] (pid + start time + boot id), right
//!    after spawning, page cache only. It is needed only to kill a job group a crashed agent left
//!    running; after a power loss no such process exists (the boot id says so);
//! 3. the end (`finish` / `lose` / `reject`): what the server must hear about. `stage_end`
//!    records it in memory so it can be sent at once, and `persist` makes it durable; a crash in
//!    between loses only the end, and the job is then reported lost, exactly as if the crash had
//!    come a moment earlier;
//! 4. `ack_end`: the server stored the end (page cache only: losing it means the end is sent
//!    again, and the server stores ends idempotently).
//!
//! The flush runs outside the ledger's lock, so an append from another thread (a process record
//! on the reactor) never waits for a flush in flight.
//!
//! When the journal is full, the ledger writes a new one holding one record per job, as it stands
//! on disk (an end not yet persisted stays out), and replaces the old one atomically. Opening the
//! ledger does the same, after pruning and settling; it also takes in the one-file-per-job layout
//! earlier agents wrote (`<job-id>.json`, `.pid`, `.acked`) and removes those files once the new
//! journal is durable.
//!
//! **Invariant:** a job id with a record is never started again, whatever the record says. The
//! only way out of the ledger is pruning of acknowledged ends older than the retention.
//! Exactly-once is impossible across a crash between spawn and step 2: such a job is reported
//! lost, and its process (whose pid was never recorded) cannot be found to be killed.
//!
//! On [`Ledger::open`] every record with no end is a job a previous agent process started and
//! never saw end: if its process group still runs (and it is really that process, not a reused
//! pid), it is killed; either way the job is recorded lost, to be reported to the server.
//! A damaged journal stops the agent: guessing could run a job twice. A torn last entry is the
//! remains of a power loss during a write nobody waited for, and is dropped with a warning.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gsm_core::job::{JobId, JobResult, JobSpec};
use gsm_proto::agent::JobRef;
use serde::{Deserialize, Serialize};

use crate::durable;
use crate::journal::{self, AppendError, Journal};
use crate::process::{self, ProcessIdentity};

/// The reason sent for a job that was running when the agent stopped.
pub const LOST_ON_RESTART: &str = "agent restarted while the job ran; outcome unknown";

/// The on-disk format version of a record.
const FORMAT: u32 = 1;

/// One job's entry in the ledger, as stored on disk. Its JSON shape is a promise to the next
/// agent version, which must read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The record format version (1).
    pub format: u32,
    /// The job.
    pub job: JobId,
    /// The attempt under which this agent took it; every message about the job names it.
    pub attempt: u32,
    /// What the server asked for.
    pub spec: JobSpec,
    /// When the job was taken (accepted or rejected), in Unix milliseconds.
    pub recorded_at_ms: u64,
    /// The process the job ran as, once spawned.
    #[serde(default)]
    pub process: Option<ProcessIdentity>,
    /// How the job ended, once it has.
    #[serde(default)]
    pub end: Option<End>,
    /// When it ended, in Unix milliseconds.
    #[serde(default)]
    pub ended_at_ms: Option<u64>,
    /// True once the server acknowledged the end; the record stays for de-duplication.
    #[serde(default)]
    pub end_acked: bool,
}

impl JobRecord {
    /// The job and the attempt it ran under.
    pub fn job_ref(&self) -> JobRef {
        JobRef { job: self.job, attempt: self.attempt }
    }

    /// True while the job has not ended (it runs, or is about to).
    pub fn is_running(&self) -> bool {
        self.end.is_none()
    }
}

/// How a job ended, as the agent reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum End {
    /// The process ran and ended.
    Finished {
        /// How.
        result: JobResult,
        /// How many output chunks it produced.
        chunks: u64,
    },
    /// The agent cannot know how it ended.
    Lost {
        /// Why.
        reason: String,
    },
    /// The policy refused it; it never ran.
    Rejected {
        /// The policy's stable code.
        reason: String,
        /// What was wrong, for people.
        message: String,
    },
}

/// What [`Ledger::open`] found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Jobs that were running when the previous agent stopped; now recorded lost.
    pub lost: Vec<JobRef>,
    /// Of those, the jobs whose leftover process group was found running and killed.
    pub killed: Vec<JobRef>,
    /// Acknowledged records past the retention, removed.
    pub pruned: usize,
}

/// Why the ledger could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory of the ledger could not be read or written.
    #[error("job ledger I/O failed on {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The journal or a record is not valid; the agent will not guess which jobs it ran.
    #[error(
        "job ledger {} is damaged: {detail}; keep it for inspection, and move it away only if every job it recorded may run again",
        path.display()
    )]
    Damaged {
        /// The journal or the record file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The job is already in the ledger (taking it again would run it twice).
    #[error("job {job} is already in the ledger")]
    AlreadyRecorded {
        /// The job.
        job: JobId,
    },
    /// The job is not in the ledger.
    #[error("job {job} is not in the ledger")]
    Unknown {
        /// The job.
        job: JobId,
    },
}

/// The ledger: the records, mirrored in memory from the journal. Every method but
/// [`Ledger::stage_end`] writes through to the journal before it returns; the durable ones wait
/// for a data flush, so async callers run them off the reactor (or accept a few microseconds, as
/// the spawn hook does for the page-cache-only process record).
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
    retention: Duration,
    state: Mutex<State>,
}

/// What the ledger holds in memory.
#[derive(Debug)]
struct State {
    /// Every record, as the agent knows it now.
    records: BTreeMap<JobId, JobRecord>,
    /// Jobs whose end is staged in memory but not yet in the journal.
    unpersisted: BTreeSet<JobId>,
    /// Where entries are appended.
    journal: Journal,
}

/// One journal entry. Its JSON shape is a promise to the next agent version, which must read it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
enum Entry {
    /// A job's whole record, replacing anything earlier about it.
    Record(Box<JobRecord>),
    /// The process a running job was spawned as.
    Process {
        /// The job.
        job: JobId,
        /// Its process.
        process: ProcessIdentity,
    },
    /// How a job ended.
    End {
        /// The job.
        job: JobId,
        /// How.
        end: End,
        /// When, in Unix milliseconds.
        ended_at_ms: u64,
    },
    /// The server stored the job's end.
    Acked {
        /// The job.
        job: JobId,
    },
}

/// [`Entry::Record`] for writing, without copying the record.
#[derive(Serialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
enum EntryRef<'a> {
    Record(&'a JobRecord),
}

/// The journal's file name in the ledger directory.
pub const JOURNAL: &str = "ledger.journal";

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`: prunes acknowledged records older than
    /// `retention`, settles every job a previous agent left running (see the module docs), and
    /// writes a fresh journal of what is left. `now` is the wall clock, a parameter so tests can
    /// move it.
    pub fn open(
        dir: &Path,
        now: SystemTime,
        retention: Duration,
    ) -> Result<(Ledger, Recovery), Error> {
        durable::create_dir(dir, 0o700).map_err(io_error(dir))?;
        let Loaded { mut records, leftovers } = load(dir)?;
        let mut recovery = Recovery::default();
        let now_ms = unix_ms(now);
        recovery.pruned = prune(&mut records, now_ms, retention);
        for record in records.values_mut().filter(|record| record.is_running()) {
            let job = record.job_ref();
            if let Some(process) = &record.process
                && process.is_running_group_leader()
            {
                tracing::warn!(job.id = %job.job, pid = process.pid, "killing the process group a previous agent left running");
                process::kill_group(process.pid);
                recovery.killed.push(job);
            }
            record.end = Some(End::Lost { reason: LOST_ON_RESTART.to_owned() });
            record.ended_at_ms = Some(now_ms);
            recovery.lost.push(job);
        }
        let journal = write_snapshot(dir, records.values(), None)?;
        // Only now that the journal holds everything may the files it replaces go.
        if !leftovers.is_empty() {
            for path in &leftovers {
                remove_if_present(path)?;
            }
            durable::sync_dir(dir).map_err(io_error(dir))?;
        }
        let state = State { records, unpersisted: BTreeSet::new(), journal };
        Ok((Ledger { dir: dir.to_path_buf(), retention, state: Mutex::new(state) }, recovery))
    }

    /// Reads `job`'s record from the ledger in `dir` as [`Ledger::open`] would, without opening
    /// the ledger (for inspection and tests); `None` when it has no record.
    pub fn read_record(dir: &Path, job: JobId) -> Result<Option<JobRecord>, Error> {
        Ok(load(dir)?.records.remove(&job))
    }

    /// The record of `job`, if the ledger has one.
    pub fn get(&self, job: JobId) -> Option<JobRecord> {
        self.lock().records.get(&job).cloned()
    }

    /// Records that the agent takes `job` and is about to start it, durably. Fails with
    /// [`Error::AlreadyRecorded`] if the job id is known: the caller must not run it then.
    pub fn accept(&self, job: JobRef, spec: &JobSpec, now: SystemTime) -> Result<(), Error> {
        self.insert(new_record(job, spec, now))
    }

    /// Records that the policy refused `job`; it will never run.
    pub fn reject(
        &self,
        job: JobRef,
        spec: &JobSpec,
        reason: &str,
        message: &str,
        now: SystemTime,
    ) -> Result<(), Error> {
        let mut record = new_record(job, spec, now);
        record.end = Some(End::Rejected { reason: reason.to_owned(), message: message.to_owned() });
        record.ended_at_ms = Some(record.recorded_at_ms);
        self.insert(record)
    }

    /// Records the process a running job was spawned as, in the page cache (see the module docs).
    pub fn record_process(&self, job: JobId, process: ProcessIdentity) -> Result<(), Error> {
        let mut state = self.lock();
        let record = state.records.get(&job).ok_or(Error::Unknown { job })?;
        if !record.is_running() || record.process.as_ref() == Some(&process) {
            return Ok(());
        }
        self.append(&mut state, &Entry::Process { job, process: process.clone() })?;
        if let Some(record) = state.records.get_mut(&job) {
            record.process = Some(process);
        }
        Ok(())
    }

    /// Records, durably, that `job` ran and ended with `result` after `chunks` output chunks.
    pub fn finish(
        &self,
        job: JobId,
        result: JobResult,
        chunks: u64,
        now: SystemTime,
    ) -> Result<(), Error> {
        if self.stage_end(job, End::Finished { result, chunks }, now)? {
            self.persist(job)?;
        }
        Ok(())
    }

    /// Records, durably, that the agent cannot know how `job` ended.
    pub fn lose(&self, job: JobId, reason: &str, now: SystemTime) -> Result<(), Error> {
        if self.stage_end(job, End::Lost { reason: reason.to_owned() }, now)? {
            self.persist(job)?;
        }
        Ok(())
    }

    /// Records `job`'s end in memory only, so it can be sent before it is durable; call
    /// [`Ledger::persist`] next. Returns false (and changes nothing) when the job already ended.
    pub fn stage_end(&self, job: JobId, end: End, now: SystemTime) -> Result<bool, Error> {
        let mut state = self.lock();
        let record = state.records.get_mut(&job).ok_or(Error::Unknown { job })?;
        if record.end.is_some() {
            return Ok(false);
        }
        record.end = Some(end);
        record.ended_at_ms = Some(unix_ms(now));
        state.unpersisted.insert(job);
        Ok(true)
    }

    /// Makes `job`'s staged end durable; nothing to do when it already is.
    pub fn persist(&self, job: JobId) -> Result<(), Error> {
        let flush = {
            let mut state = self.lock();
            if !self.append_staged_end(&mut state, job)? {
                return Ok(());
            }
            state.journal.syncer()
        };
        self.flush(&flush)
    }

    /// Records that the server stored `job`'s end (persisting a still staged end first). Returns
    /// false (and changes nothing) if the job has not ended — the server cannot have stored an
    /// end the agent never sent — or the end was already acknowledged.
    pub fn ack_end(&self, job: JobId) -> Result<bool, Error> {
        let flush = {
            let mut state = self.lock();
            let record = state.records.get(&job).ok_or(Error::Unknown { job })?;
            if record.end.is_none() || record.end_acked {
                return Ok(false);
            }
            let staged = self.append_staged_end(&mut state, job)?;
            self.append(&mut state, &Entry::Acked { job })?;
            if let Some(record) = state.records.get_mut(&job) {
                record.end_acked = true;
            }
            staged.then(|| state.journal.syncer())
        };
        if let Some(flush) = flush {
            self.flush(&flush)?;
        }
        Ok(true)
    }

    /// Every record the server still has to hear about: running jobs and unacknowledged ends,
    /// oldest first.
    pub fn unacked(&self) -> Vec<JobRecord> {
        let mut records: Vec<_> =
            self.lock().records.values().filter(|record| !record.end_acked).cloned().collect();
        records.sort_by_key(|record| (record.recorded_at_ms, record.job));
        records
    }

    /// True when the ledger has a record of `job`.
    pub fn contains(&self, job: JobId) -> bool {
        self.lock().records.contains_key(&job)
    }

    fn insert(&self, record: JobRecord) -> Result<(), Error> {
        let flush = {
            let mut state = self.lock();
            if state.records.contains_key(&record.job) {
                return Err(Error::AlreadyRecorded { job: record.job });
            }
            let entry = Entry::Record(Box::new(record));
            self.append(&mut state, &entry)?;
            let Entry::Record(record) = entry else { unreachable!("built as a record above") };
            state.records.insert(record.job, *record);
            state.journal.syncer()
        };
        // Outside the lock: the record is refused to a second taker already, and other threads'
        // appends go on while the data reaches the disk.
        self.flush(&flush)
    }

    /// Appends `job`'s staged end, if it has one; true if it did.
    fn append_staged_end(&self, state: &mut State, job: JobId) -> Result<bool, Error> {
        if !state.unpersisted.contains(&job) {
            return Ok(false);
        }
        let record = state.records.get(&job).ok_or(Error::Unknown { job })?;
        let (Some(end), Some(ended_at_ms)) = (record.end.clone(), record.ended_at_ms) else {
            unreachable!("a staged end sets both the end and its time");
        };
        self.append(state, &Entry::End { job, end, ended_at_ms })?;
        state.unpersisted.remove(&job);
        Ok(true)
    }

    /// Appends `entry` to the journal (page cache), writing a new journal first when it is full.
    fn append(&self, state: &mut State, entry: &Entry) -> Result<(), Error> {
        let payload = serde_json::to_vec(entry)
            .unwrap_or_else(|err| unreachable!("a ledger entry always serialises to JSON: {err}"));
        match state.journal.append(&payload) {
            Ok(()) => Ok(()),
            Err(AppendError::Io(source)) => {
                Err(Error::Io { path: state.journal.path().to_path_buf(), source })
            }
            Err(AppendError::Full) => {
                let now_ms = unix_ms(SystemTime::now());
                let pruned = prune(&mut state.records, now_ms, self.retention);
                let on_disk = state.records.values().map(|record| {
                    if state.unpersisted.contains(&record.job) {
                        // What the journal says of it: no end yet.
                        let mut record = record.clone();
                        (record.end, record.ended_at_ms) = (None, None);
                        std::borrow::Cow::Owned(record)
                    } else {
                        std::borrow::Cow::Borrowed(record)
                    }
                });
                state.journal = write_snapshot(&self.dir, on_disk, Some(payload))?;
                tracing::debug!(
                    records = state.records.len(),
                    pruned,
                    "wrote a new ledger journal"
                );
                Ok(())
            }
        }
    }

    fn flush(&self, file: &File) -> Result<(), Error> {
        file.sync_data().map_err(|source| Error::Io { path: self.dir.join(JOURNAL), source })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as it was before the failed step (every
        // change is written to the journal first, then swapped in), so the data is still
        // consistent.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Removes the acknowledged records that ended before the retention; returns how many.
fn prune(records: &mut BTreeMap<JobId, JobRecord>, now_ms: u64, retention: Duration) -> usize {
    let horizon = now_ms.saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
    let before = records.len();
    records.retain(|_, record| {
        !(record.end_acked && record.ended_at_ms.is_some_and(|ended| ended < horizon))
    });
    before - records.len()
}

/// Writes a new journal holding one record entry per record (and `extra`, an entry's payload,
/// last), durably, in place of the old one.
fn write_snapshot(
    dir: &Path,
    records: impl Iterator<Item = impl std::ops::Deref<Target = JobRecord>>,
    extra: Option<Vec<u8>>,
) -> Result<Journal, Error> {
    let mut frames: Vec<Vec<u8>> = records
        .map(|record| {
            serde_json::to_vec(&EntryRef::Record(&record))
                .unwrap_or_else(|err| unreachable!("a job record always serialises to JSON: {err}"))
        })
        .collect();
    frames.extend(extra);
    Journal::create(dir, JOURNAL, &frames)
        .map_err(|source| Error::Io { path: dir.join(JOURNAL), source })
}

/// What is on disk in a ledger directory.
struct Loaded {
    /// Every record, as a crash would leave it.
    records: BTreeMap<JobId, JobRecord>,
    /// Files a fresh journal makes obsolete: the one-file-per-job layout of earlier agents and
    /// temporary files a crash left behind.
    leftovers: Vec<PathBuf>,
}

/// Reads the ledger in `dir`: the journal, replayed, and any record files of the older layout.
fn load(dir: &Path) -> Result<Loaded, Error> {
    let path = dir.join(JOURNAL);
    let damaged = |detail: String| Error::Damaged { path: path.clone(), detail };
    let contents = Journal::read(&path).map_err(|err| match err {
        journal::ReadError::Io(source) => Error::Io { path: path.clone(), source },
        journal::ReadError::Damaged(err) => damaged(err.to_string()),
    })?;
    if let Some(offset) = contents.torn_at {
        tracing::warn!(path = %path.display(), offset, "dropping a torn last ledger entry, the remains of a power loss during a write nobody waited for");
    }
    let mut records = BTreeMap::new();
    for payload in contents.frames {
        let entry: Entry = serde_json::from_slice(&payload)
            .map_err(|err| damaged(format!("an entry does not parse: {err}")))?;
        replay(&mut records, entry);
    }
    let mut leftovers = Vec::new();
    let mut old_records = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        if name.ends_with(".json") && !durable::is_temporary(&name) {
            old_records.push(entry.path());
        }
        if durable::is_temporary(&name)
            || name.ends_with(".json")
            || name.ends_with(PROCESS_SUFFIX)
            || name.ends_with(ACKED_SUFFIX)
        {
            leftovers.push(entry.path());
        }
    }
    for path in old_records {
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        let mut record: JobRecord = serde_json::from_str(&text)
            .map_err(|err| Error::Damaged { path: path.clone(), detail: err.to_string() })?;
        merge_side_files(dir, &mut record);
        // A journal that knows the job was written after the file (see `Ledger::open`).
        records.entry(record.job).or_insert(record);
    }
    Ok(Loaded { records, leftovers })
}

/// Applies one journal entry to the records before it. An entry about a job with no record
/// (pruned when an earlier journal was written) changes nothing.
fn replay(records: &mut BTreeMap<JobId, JobRecord>, entry: Entry) {
    match entry {
        Entry::Record(record) => {
            records.insert(record.job, *record);
        }
        Entry::Process { job, process } => {
            if let Some(record) = records.get_mut(&job).filter(|record| record.is_running()) {
                record.process = Some(process);
            }
        }
        Entry::End { job, end, ended_at_ms } => {
            if let Some(record) = records.get_mut(&job).filter(|record| record.end.is_none()) {
                record.end = Some(end);
                record.ended_at_ms = Some(ended_at_ms);
            }
        }
        Entry::Acked { job } => {
            if let Some(record) = records.get_mut(&job).filter(|record| record.end.is_some()) {
                record.end_acked = true;
            }
        }
    }
}

/// Merges what `record`'s side files say into it (see the module docs).
fn merge_side_files(dir: &Path, record: &mut JobRecord) {
    let job = record.job;
    let process = dir.join(format!("{job}{PROCESS_SUFFIX}"));
    match std::fs::read(&process) {
        Ok(bytes) => match serde_json::from_slice::<ProcessIdentity>(&bytes) {
            Ok(identity) if record.process.is_none() => record.process = Some(identity),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(job.id = %job, error = %err, "ignoring a damaged process record (the remains of a power loss)");
            }
        },
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::warn!(job.id = %job, error = %err, "cannot read the job's process record");
        }
    }
    if record.end.is_some() && dir.join(format!("{job}{ACKED_SUFFIX}")).exists() {
        record.end_acked = true;
    }
}

/// The side file holding a running job's process identity.
const PROCESS_SUFFIX: &str = ".pid";
/// The side file marking a job's end as stored by the server.
const ACKED_SUFFIX: &str = ".acked";

fn remove_if_present(path: &Path) -> Result<(), Error> {
    durable::remove_if_present(path)
        .map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Io { path, source }
}

fn new_record(job: JobRef, spec: &JobSpec, now: SystemTime) -> JobRecord {
    JobRecord {
        format: FORMAT,
        job: job.job,
        attempt: job.attempt,
        spec: spec.clone(),
        recorded_at_ms: unix_ms(now),
        process: None,
        end: None,
        ended_at_ms: None,
        end_acked: false,
    }
}

/// Milliseconds since the Unix epoch (0 for a clock before 1970).
pub fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
