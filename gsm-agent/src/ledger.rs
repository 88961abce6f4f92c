//! The durable job ledger: every job id this agent has taken, so none is ever run twice.
//!
//! One JSON record per job in `STATE_DIR/jobs/<job-id>.json`, replaced atomically and fsync'd
//! (temporary file, fsync, rename, directory fsync) when it matters across a power loss, and two
//! small side files, written to the page cache only, for what must survive a crash of the agent
//! but not one of the machine:
//!
//! 1. `accept`: the job, its attempt and spec, fsync'd *before* the process is spawned — the
//!    at-most-once guarantee;
//! 2. `record_process`: the process's [`ProcessIdentity`] (pid + start time + boot id), right
//!    after spawning, in `<job-id>.pid`. It is needed only to kill a job group a crashed agent
//!    left running; after a power loss no such process exists (the boot id says so), so the
//!    page cache is enough;
//! 3. the end (`finish` / `lose` / `reject`): what the server must hear about. `stage_end`
//!    records it in memory so it can be sent at once, and `persist` makes it durable in the
//!    record; a crash in between loses only the end, and the job is then reported lost, exactly
//!    as if the crash had come a moment earlier;
//! 4. `ack_end`: the server stored the end, marked by an empty `<job-id>.acked` (page cache
//!    only: losing it means the end is sent again, and the server stores ends idempotently).
//!
//! **Invariant:** a job id with a record is never started again, whatever the record says. The
//! only way out of the ledger is pruning of acknowledged ends older than the retention.
//! Exactly-once is impossible across a crash between spawn and step 2: such a job is reported
//! lost, and its process (whose pid was never recorded) cannot be found to be killed.
//!
//! On [`Ledger::open`] every record with no end is a job a previous agent process started and
//! never saw end: if its process group still runs (and it is really that process, not a reused
//! pid), it is killed; either way the job is recorded lost, to be reported to the server.
//! A damaged record stops the agent: guessing could run a job twice. A damaged side file can only
//! be the remains of a power loss (the page cache never holds a half-renamed file), so it is
//! ignored with a warning.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gsm_core::job::{JobId, JobResult, JobSpec};
use gsm_proto::agent::JobRef;
use serde::{Deserialize, Serialize};

use crate::durable;
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
    /// A record is not valid; the agent will not guess which jobs it ran.
    #[error(
        "job ledger record {} is damaged; inspect it, and remove it only if that job may run again",
        path.display()
    )]
    Damaged {
        /// The record.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
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

/// The ledger: the records on disk, mirrored in memory. All methods but [`Ledger::stage_end`]
/// write through to disk before they return; the durable ones block on `fsync`, so async callers
/// run them off the reactor (or accept a fraction of a millisecond, as the spawn hook does for
/// the page-cache-only process record).
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
    state: Mutex<State>,
}

/// What the ledger holds in memory.
#[derive(Debug, Default)]
struct State {
    /// Every record, as the agent knows it now.
    records: BTreeMap<JobId, JobRecord>,
    /// Jobs whose end is staged in memory but not yet in their durable record.
    unpersisted: BTreeSet<JobId>,
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`: sweeps temporary files, prunes acknowledged
    /// records older than `retention`, and settles every job a previous agent left running (see
    /// the module docs). `now` is the wall clock, a parameter so tests can move it.
    pub fn open(
        dir: &Path,
        now: SystemTime,
        retention: Duration,
    ) -> Result<(Ledger, Recovery), Error> {
        durable::create_dir(dir, 0o700).map_err(io_error(dir))?;
        let ledger = Ledger { dir: dir.to_path_buf(), state: Mutex::new(State::default()) };
        let mut recovery = Recovery::default();
        let now_ms = unix_ms(now);
        let horizon =
            now_ms.saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
        let mut records = BTreeMap::new();
        let mut side_files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
            let entry = entry.map_err(io_error(dir))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            if durable::is_temporary(&name) {
                std::fs::remove_file(&path).map_err(io_error(&path))?;
                continue;
            }
            if name.ends_with(PROCESS_SUFFIX) || name.ends_with(ACKED_SUFFIX) {
                side_files.push((name, path));
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
            let mut record: JobRecord = serde_json::from_str(&text)
                .map_err(|source| Error::Damaged { path: path.clone(), source })?;
            merge_side_files(dir, &mut record);
            if record.end_acked && record.ended_at_ms.is_some_and(|ended| ended < horizon) {
                ledger.remove_side_files(record.job)?;
                std::fs::remove_file(&path).map_err(io_error(&path))?;
                recovery.pruned += 1;
                continue;
            }
            records.insert(record.job, record);
        }
        // Side files whose record is gone (a prune interrupted between the two removals).
        for (name, path) in side_files {
            let job = name.split('.').next().and_then(|id| id.parse::<JobId>().ok());
            if job.is_none_or(|job| !records.contains_key(&job)) {
                remove_if_present(&path)?;
            }
        }
        if recovery.pruned > 0 {
            durable::sync_dir(dir).map_err(io_error(dir))?;
        }
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
            ledger.write(record)?;
            recovery.lost.push(job);
        }
        ledger.lock().records = records;
        Ok((ledger, recovery))
    }

    /// Reads `job`'s record from the ledger in `dir` as [`Ledger::open`] would, side files merged,
    /// without opening the ledger (for inspection and tests); `None` when it has no record.
    pub fn read_record(dir: &Path, job: JobId) -> Result<Option<JobRecord>, Error> {
        let path = dir.join(format!("{job}.json"));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        };
        let mut record: JobRecord = serde_json::from_str(&text)
            .map_err(|source| Error::Damaged { path: path.clone(), source })?;
        merge_side_files(dir, &mut record);
        Ok(Some(record))
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
        let record = state.records.get_mut(&job).ok_or(Error::Unknown { job })?;
        if !record.is_running() || record.process.as_ref() == Some(&process) {
            return Ok(());
        }
        let json = serde_json::to_vec(&process)
            .unwrap_or_else(|err| unreachable!("a process identity serialises to JSON: {err}"));
        let name = format!("{job}{PROCESS_SUFFIX}");
        durable::write_replace(&self.dir, &name, &json)
            .map_err(|source| Error::Io { path: self.dir.join(name), source })?;
        record.process = Some(process);
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

    /// Makes `job`'s staged end durable in its record; nothing to do when it already is.
    pub fn persist(&self, job: JobId) -> Result<(), Error> {
        let mut state = self.lock();
        if !state.unpersisted.contains(&job) {
            return Ok(());
        }
        let record = state.records.get(&job).ok_or(Error::Unknown { job })?;
        self.write(record)?;
        state.unpersisted.remove(&job);
        Ok(())
    }

    /// Records that the server stored `job`'s end (persisting a still staged end first). Returns
    /// false (and changes nothing) if the job has not ended — the server cannot have stored an
    /// end the agent never sent — or the end was already acknowledged.
    pub fn ack_end(&self, job: JobId) -> Result<bool, Error> {
        let mut state = self.lock();
        let record = state.records.get(&job).ok_or(Error::Unknown { job })?;
        if record.end.is_none() || record.end_acked {
            return Ok(false);
        }
        if state.unpersisted.contains(&job) {
            self.write(record)?;
            state.unpersisted.remove(&job);
        }
        let name = format!("{job}{ACKED_SUFFIX}");
        durable::write_replace(&self.dir, &name, b"")
            .map_err(|source| Error::Io { path: self.dir.join(name), source })?;
        if let Some(record) = state.records.get_mut(&job) {
            record.end_acked = true;
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
        let mut state = self.lock();
        if state.records.contains_key(&record.job) {
            return Err(Error::AlreadyRecorded { job: record.job });
        }
        // Disk first: memory never claims more than a crash would leave.
        self.write(&record)?;
        state.records.insert(record.job, record);
        Ok(())
    }

    fn remove_side_files(&self, job: JobId) -> Result<(), Error> {
        for suffix in [PROCESS_SUFFIX, ACKED_SUFFIX] {
            remove_if_present(&self.dir.join(format!("{job}{suffix}")))?;
        }
        Ok(())
    }

    fn write(&self, record: &JobRecord) -> Result<(), Error> {
        let name = format!("{}.json", record.job);
        let json = serde_json::to_vec_pretty(record)
            .unwrap_or_else(|err| unreachable!("a job record always serialises to JSON: {err}"));
        durable::write_atomic(&self.dir, &name, &json, 0o600)
            .map_err(|source| Error::Io { path: self.dir.join(name), source })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as it was before the failed step (every
        // change is written to disk first, then swapped in), so the data is still consistent.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
