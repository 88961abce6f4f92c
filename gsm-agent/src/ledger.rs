//! The durable job ledger: every job id this agent has taken, so none is ever run twice.
//!
//! One JSON file per job in `STATE_DIR/jobs/<job-id>.json`, replaced atomically and fsync'd
//! (temporary file, fsync, rename, directory fsync) at each step of the job's life:
//!
//! 1. `accept`: the job, its attempt and spec, *before* the process is spawned;
//! 2. `record_process`: the process's [`ProcessIdentity`] (pid + start time + boot id), right
//!    after spawning;
//! 3. `finish` / `lose` / `reject`: the end the server must hear about, which the record keeps
//!    (`end_acked: false`) until the server acknowledges it, then `end_acked: true`.
//!
//! **Invariant:** a job id with a record is never started again, whatever the record says. The
//! only way out of the ledger is pruning of acknowledged ends older than the retention.
//! Exactly-once is impossible across a crash between spawn and step 2: such a job is reported
//! lost, and its process (whose pid was never recorded) cannot be found to be killed.
//!
//! On [`Ledger::open`] every record with no end is a job a previous agent process started and
//! never saw end: if its process group still runs (and it is really that process, not a reused
//! pid), it is killed; either way the job is recorded lost, to be reported to the server.
//! A damaged record stops the agent: guessing could run a job twice.

use std::collections::BTreeMap;
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

/// The ledger: the records on disk, mirrored in memory. All methods write through to disk before
/// they return; they block on `fsync`, so async callers run them off the reactor (or accept a
/// few milliseconds, as the spawn hook does).
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
    records: Mutex<BTreeMap<JobId, JobRecord>>,
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
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        durable::create_dir(dir, 0o700).map_err(io_error(dir))?;
        let ledger = Ledger { dir: dir.to_path_buf(), records: Mutex::new(BTreeMap::new()) };
        let mut recovery = Recovery::default();
        let now_ms = unix_ms(now);
        let horizon =
            now_ms.saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
        let mut records = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
            let entry = entry.map_err(io_error(dir))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            if durable::is_temporary(&name) {
                std::fs::remove_file(&path).map_err(io_error(&path))?;
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
            let record: JobRecord = serde_json::from_str(&text)
                .map_err(|source| Error::Damaged { path: path.clone(), source })?;
            if record.end_acked && record.ended_at_ms.is_some_and(|ended| ended < horizon) {
                std::fs::remove_file(&path).map_err(io_error(&path))?;
                recovery.pruned += 1;
                continue;
            }
            records.insert(record.job, record);
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
        *ledger.lock() = records;
        Ok((ledger, recovery))
    }

    /// The record of `job`, if the ledger has one.
    pub fn get(&self, job: JobId) -> Option<JobRecord> {
        self.lock().get(&job).cloned()
    }

    /// Records that the agent takes `job` and is about to start it. Fails with
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

    /// Records the process a running job was spawned as.
    pub fn record_process(&self, job: JobId, process: ProcessIdentity) -> Result<(), Error> {
        self.update(job, |record| {
            if record.is_running() {
                record.process = Some(process);
            }
        })
    }

    /// Records that `job` ran and ended with `result` after `chunks` output chunks.
    pub fn finish(
        &self,
        job: JobId,
        result: JobResult,
        chunks: u64,
        now: SystemTime,
    ) -> Result<(), Error> {
        self.end(job, End::Finished { result, chunks }, now)
    }

    /// Records that the agent cannot know how `job` ended.
    pub fn lose(&self, job: JobId, reason: &str, now: SystemTime) -> Result<(), Error> {
        self.end(job, End::Lost { reason: reason.to_owned() }, now)
    }

    /// Records that the server stored `job`'s end. Returns false (and changes nothing) if the
    /// job has not ended: the server cannot have stored an end the agent never sent.
    pub fn ack_end(&self, job: JobId) -> Result<bool, Error> {
        let mut acked = false;
        self.update(job, |record| {
            if record.end.is_some() {
                acked = !record.end_acked;
                record.end_acked = true;
            }
        })?;
        Ok(acked)
    }

    /// Every record the server still has to hear about: running jobs and unacknowledged ends,
    /// oldest first.
    pub fn unacked(&self) -> Vec<JobRecord> {
        let mut records: Vec<_> =
            self.lock().values().filter(|record| !record.end_acked).cloned().collect();
        records.sort_by_key(|record| (record.recorded_at_ms, record.job));
        records
    }

    /// True when the ledger has a record of `job`.
    pub fn contains(&self, job: JobId) -> bool {
        self.lock().contains_key(&job)
    }

    fn end(&self, job: JobId, end: End, now: SystemTime) -> Result<(), Error> {
        self.update(job, |record| {
            if record.end.is_none() {
                record.end = Some(end);
                record.ended_at_ms = Some(unix_ms(now));
            }
        })
    }

    fn insert(&self, record: JobRecord) -> Result<(), Error> {
        let mut records = self.lock();
        if records.contains_key(&record.job) {
            return Err(Error::AlreadyRecorded { job: record.job });
        }
        self.write(&record)?;
        records.insert(record.job, record);
        Ok(())
    }

    fn update(&self, job: JobId, change: impl FnOnce(&mut JobRecord)) -> Result<(), Error> {
        let mut records = self.lock();
        let current = records.get(&job).ok_or(Error::Unknown { job })?;
        let mut updated = current.clone();
        change(&mut updated);
        if &updated == current {
            return Ok(());
        }
        // Disk first: memory never claims more than a crash would leave.
        self.write(&updated)?;
        records.insert(job, updated);
        Ok(())
    }

    fn write(&self, record: &JobRecord) -> Result<(), Error> {
        let name = format!("{}.json", record.job);
        let json = serde_json::to_vec_pretty(record)
            .unwrap_or_else(|err| unreachable!("a job record always serialises to JSON: {err}"));
        durable::write_atomic(&self.dir, &name, &json, 0o600)
            .map_err(|source| Error::Io { path: self.dir.join(name), source })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<JobId, JobRecord>> {
        // A panic while holding the lock leaves the map as it was before the failed step (every
        // change is written to disk first, then swapped in), so the data is still consistent.
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
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
