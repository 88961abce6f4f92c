//! The executor: what the agent does with `assign_job`, `cancel_job` and `ack`, and the re-send
//! of everything unacknowledged after each welcome.
//!
//! The order on `assign_job` is the at-most-once guarantee: ledger lookup (a known job id is
//! answered from the ledger, never run) → policy check (a refusal is recorded, so it is not
//! re-checked) → ledger `accepted`, fsync'd → `job_accepted` → spawn. Output chunks go to the
//! spool before they are sent; the end is staged in the ledger and sent, then made durable (the
//! spool fsync'd first) while the server stores it. After each welcome, everything
//! unacknowledged is re-sent from the ledger and the spool. One lock,
//! `send_order`, is held from "write to disk" to "queued for the socket" for
//! every job message and for each job's re-send, so the server sees each job's messages in order
//! (accepted, chunks by `seq`, end) even while a re-send and live output overlap.
//!
//! Durable ledger writes block on `fsync`; they run on the blocking pool. Chunk writes, the
//! process record and the ack mark go to the page cache only (see `spool.rs`, `ledger.rs`) and
//! run inline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use gsm_core::heartbeat::MAX_RUNNING_JOBS;
use gsm_core::job::{GameAction, JobId, JobKind, JobResult, JobSpec, Termination};
use gsm_core::policy::{ApprovedCommand, Policy};
use gsm_core::runner::{self, Cancel, ChunkSink, OutputChunk, SinkClosed, Stream};
use gsm_proto::agent::{
    Ack, AgentMessage, JobAssignment, JobFinished, JobLost, JobRef, JobRejected, LogChunk,
};

use crate::Chain;
use crate::games::Games;
use crate::ledger::{End, JobRecord, Ledger};
use crate::outbox::Outbox;
use crate::process::ProcessIdentity;
use crate::spool::{self, Spool};

/// The reason code sent when the ledger cannot record the job, so it must not run.
pub const LEDGER_UNAVAILABLE: &str = "ledger_unavailable";

/// Runs jobs under the policy, keeps the ledger and the spool, and talks through the outbox.
#[derive(Debug)]
pub struct Executor {
    policy: Policy,
    games: Arc<Games>,
    ledger: Arc<Ledger>,
    spool: Arc<Spool>,
    outbox: Outbox,
    running: Mutex<HashMap<JobId, Cancel>>,
    send_order: tokio::sync::Mutex<()>,
}

impl Executor {
    /// An executor over an opened ledger and spool.
    pub fn new(policy: Policy, ledger: Ledger, spool: Spool, outbox: Outbox) -> Arc<Executor> {
        let games = Games::new(policy.clone(), outbox.clone());
        Arc::new(Executor {
            policy,
            games,
            ledger: Arc::new(ledger),
            spool: Arc::new(spool),
            outbox,
            running: Mutex::new(HashMap::new()),
            send_order: tokio::sync::Mutex::new(()),
        })
    }

    /// The host's game servers.
    pub fn games(&self) -> &Arc<Games> {
        &self.games
    }

    /// The jobs running now, for the heartbeat: the oldest [`MAX_RUNNING_JOBS`] (job ids sort by
    /// creation time), so the heartbeat stays within what the server accepts.
    pub fn running_jobs(&self) -> Vec<JobId> {
        let mut jobs: Vec<_> = self.lock_running().keys().copied().collect();
        jobs.sort();
        jobs.truncate(MAX_RUNNING_JOBS);
        jobs
    }

    /// Handles `assign_job`. Returns once the job is answered (accepted and started, rejected, or
    /// recognised as already taken); the job itself runs on its own task.
    #[tracing::instrument(skip_all, fields(job.id = %assignment.spec.id, job.attempt = assignment.attempt))]
    pub async fn assign(self: &Arc<Self>, assignment: JobAssignment) {
        let JobAssignment { attempt, spec } = assignment;
        let job = JobRef { job: spec.id, attempt };
        if let Some(record) = self.ledger.get(job.job) {
            tracing::info!(
                recorded.attempt = record.attempt,
                "job already in the ledger; answering from it, not running it again"
            );
            let _order = self.send_order.lock().await;
            self.resend_record(&record).await;
            return;
        }
        if let JobKind::Game(action) = &spec.kind {
            let action = action.clone();
            if self.record_accepted(job, &spec).await.is_some() {
                tracing::info!(game = %action.game, action = %action.action, "game job accepted; running it");
                tokio::spawn(self.clone().run_game_job(job, action));
            }
            return;
        }
        match self.policy.check(&spec) {
            Err(violation) => {
                let (reason, message) = (violation.reason(), violation.to_string());
                tracing::info!(reason, %message, "job rejected by policy");
                self.reject(job, spec, reason, message).await;
            }
            Ok(command) => self.accept_and_start(job, spec, command).await,
        }
    }

    /// Handles `cancel_job`: stops the job if it runs here. Its end is reported as usual.
    pub fn cancel(&self, job: JobRef) {
        match self.lock_running().get(&job.job) {
            Some(cancel) => {
                tracing::info!(job.id = %job.job, "cancelling job");
                cancel.cancel();
            }
            None => tracing::debug!(job.id = %job.job, "cancel for a job that is not running"),
        }
    }

    /// Handles `ack`: forgets the acknowledged chunks and, once the end is stored, the spool.
    pub async fn ack(&self, ack: Ack) {
        let job = ack.job.job;
        let Some(record) = self.ledger.get(job) else {
            tracing::debug!(job.id = %job, "ack for a job the ledger does not know");
            return;
        };
        if record.attempt != ack.job.attempt {
            tracing::debug!(job.id = %job, ack.attempt = ack.job.attempt, recorded.attempt = record.attempt, "ack names another attempt; chunks are keyed by job and seq, applying it");
        }
        let spool = self.spool.clone();
        let ledger = self.ledger.clone();
        let finished = ack.finished;
        let chunks_stored = ack.chunks_stored;
        let outcome = off_reactor(move || -> Result<(), AckError> {
            spool.ack(job, chunks_stored)?;
            if finished && ledger.ack_end(job)? {
                spool.remove(job)?;
            }
            Ok(())
        })
        .await;
        if let Err(err) = outcome {
            tracing::warn!(job.id = %job, error = %Chain(&err), "could not apply an ack; the data will be re-sent");
        }
    }

    /// The jobs the server has not acknowledged everything of, oldest first. A connection takes
    /// this list right after the welcome, before it reads any message, so a job assigned on the
    /// new connection is never also part of its re-send.
    pub fn unacked_jobs(&self) -> Vec<JobId> {
        self.ledger.unacked().into_iter().map(|record| record.job).collect()
    }

    /// Re-sends what the server has not acknowledged of `jobs`: for each, `job_accepted`, the
    /// spooled chunks and the end (or `job_rejected`). Stops when the connection goes.
    pub async fn resend(&self, jobs: Vec<JobId>) {
        for job in jobs {
            let _order = self.send_order.lock().await;
            // The record may have moved on since the list was taken.
            let Some(record) = self.ledger.get(job) else { continue };
            if record.end_acked {
                continue;
            }
            if !self.resend_record(&record).await {
                return;
            }
        }
    }

    /// Sends what the server should know about one ledger record. Call with `send_order` held.
    /// False when the connection went away.
    async fn resend_record(&self, record: &JobRecord) -> bool {
        let job = record.job_ref();
        if let Some(End::Rejected { reason, message }) = &record.end {
            return self.send(rejected(job, reason, message)).await;
        }
        if !self.send(AgentMessage::JobAccepted(job)).await {
            return false;
        }
        let pending = match self.spool.pending(job.job) {
            Ok(pending) => pending,
            Err(err) => {
                tracing::warn!(job.id = %job.job, error = %Chain(&err), "cannot list spooled output");
                Vec::new()
            }
        };
        for seq in pending {
            match self.spool.read(job.job, seq) {
                Ok(Some(chunk)) => {
                    if !self.send(log_message(job, chunk)).await {
                        return false;
                    }
                }
                // Acknowledged meanwhile.
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(job.id = %job.job, seq, error = %Chain(&err), "cannot read a spooled chunk");
                }
            }
        }
        match &record.end {
            Some(end) => self.send(end_message(job, end)).await,
            None => true,
        }
    }

    async fn reject(&self, job: JobRef, spec: JobSpec, reason: &str, message: String) {
        let _order = self.send_order.lock().await;
        let ledger = self.ledger.clone();
        let (reason_owned, message_owned) = (reason.to_owned(), message.clone());
        let recorded = off_reactor(move || {
            ledger.reject(job, &spec, &reason_owned, &message_owned, SystemTime::now())
        })
        .await;
        if let Err(err) = recorded {
            tracing::error!(error = %Chain(&err), "cannot record the rejection in the ledger");
        }
        self.send(rejected(job, reason, &message)).await;
    }

    async fn accept_and_start(
        self: &Arc<Self>,
        job: JobRef,
        spec: JobSpec,
        command: ApprovedCommand,
    ) {
        if let Some(cancel) = self.record_accepted(job, &spec).await {
            tracing::info!(program = %command.program().display(), "job accepted; starting it");
            tokio::spawn(self.clone().run_job(job, command, cancel));
        }
    }

    /// Writes `accepted` to the ledger (fsync'd) and sends `job_accepted`; `None` (after
    /// rejecting the job) when the ledger cannot record it, so it must not run.
    async fn record_accepted(&self, job: JobRef, spec: &JobSpec) -> Option<Cancel> {
        let _order = self.send_order.lock().await;
        let ledger = self.ledger.clone();
        let spec = spec.clone();
        let accepted = off_reactor(move || ledger.accept(job, &spec, SystemTime::now())).await;
        if let Err(err) = accepted {
            // Without a ledger entry the job must not run: a re-delivery could run it twice.
            tracing::error!(error = %Chain(&err), "cannot record the job in the ledger; refusing it");
            let message =
                format!("the agent could not record the job in its ledger: {}", Chain(&err));
            self.send(rejected(job, LEDGER_UNAVAILABLE, &message)).await;
            return None;
        }
        let cancel = Cancel::new();
        self.lock_running().insert(job.job, cancel.clone());
        self.send(AgentMessage::JobAccepted(job)).await;
        Some(cancel)
    }

    /// Runs a game job through the host's adapter: each step is a line of stdout, a failure a
    /// line of stderr; exit code 0 or 1, like a command.
    #[tracing::instrument(skip_all, fields(job.id = %job.job, job.attempt = job.attempt))]
    async fn run_game_job(self: Arc<Self>, job: JobRef, action: GameAction) {
        let started = std::time::Instant::now();
        let chunks = AtomicU64::new(0);
        let bytes = AtomicU64::new(0);
        let cancel = self.lock_running().get(&job.job).cloned().unwrap_or_default();
        let (log, mut lines) = tokio::sync::mpsc::channel::<String>(64);
        let forward = async {
            while let Some(line) = lines.recv().await {
                self.emit_line(job, Stream::Stdout, line, &chunks, &bytes).await;
            }
        };
        let games = self.games.clone();
        let run = async move {
            tokio::select! {
                outcome = games.run(action, log) => Some(outcome),
                () = cancel.cancelled() => None,
            }
        };
        let (outcome, ()) = tokio::join!(run, forward);
        let (termination, exit_code) = match outcome {
            Some(Ok(())) => (Termination::Exited, Some(0)),
            Some(Err(error)) => {
                tracing::info!(%error, "game action failed");
                self.emit_line(job, Stream::Stderr, error, &chunks, &bytes).await;
                (Termination::Exited, Some(1))
            }
            None => (Termination::Cancelled, None),
        };
        let total = bytes.load(Ordering::Relaxed);
        let result = JobResult {
            termination,
            exit_code,
            signal: None,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            output_bytes: total,
            kept_bytes: total,
            truncated: false,
        };
        self.finish(job, result, chunks.load(Ordering::Relaxed)).await;
    }

    async fn emit_line(
        &self,
        job: JobRef,
        stream: Stream,
        line: String,
        chunks: &AtomicU64,
        bytes: &AtomicU64,
    ) {
        let mut data = line.into_bytes();
        data.truncate(runner::MAX_CHUNK - 1);
        data.push(b'\n');
        bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        let seq = chunks.load(Ordering::Relaxed);
        let _ = self.emit(job, OutputChunk { seq, stream, data }, chunks).await;
    }

    /// Runs an accepted job to its end and reports the end.
    #[tracing::instrument(skip_all, fields(job.id = %job.job, job.attempt = job.attempt))]
    async fn run_job(self: Arc<Self>, job: JobRef, command: ApprovedCommand, cancel: Cancel) {
        let chunks = Arc::new(AtomicU64::new(0));
        let sink =
            SpoolSink { executor: self.clone(), job, chunks: chunks.clone(), refused: false };
        let ledger = self.ledger.clone();
        let on_spawn = move |pid: u32| {
            // Synchronous by the runner's contract: a page-cache write (no fsync) before output
            // starts flowing, so a crashed agent's successor can find and kill the group.
            let recorded =
                ProcessIdentity::of(pid).map_err(|err| err.to_string()).and_then(|identity| {
                    ledger.record_process(job.job, identity).map_err(|err| Chain(&err).to_string())
                });
            if let Err(error) = recorded {
                tracing::warn!(pid, %error, "cannot record the job's process; a crash now would leave it unkillable by the next agent");
            }
        };
        let result = match runner::run_observed(&command, sink, &cancel, on_spawn).await {
            Ok(result) => result,
            Err(err) => {
                let text = format!("gsm-agent: the job could not run: {}\n", Chain(&err));
                tracing::warn!(error = %Chain(&err), "job could not run");
                let seq = chunks.load(Ordering::Relaxed);
                let chunk = OutputChunk { seq, stream: Stream::Stderr, data: text.into_bytes() };
                // Best effort: if the spool refuses it, the log line above still says why.
                let _ = self.emit(job, chunk, &chunks).await;
                failed_to_run()
            }
        };
        tracing::info!(state = %result.final_state(), exit_code = ?result.exit_code, "job ended");
        self.finish(job, result, chunks.load(Ordering::Relaxed)).await;
    }

    /// Reports a job's end: staged in the ledger and sent at once, then made durable (output
    /// first, so a durable end always comes with durable output) while the server stores it.
    async fn finish(&self, job: JobRef, result: JobResult, chunks: u64) {
        {
            let _order = self.send_order.lock().await;
            let end = End::Finished { result: result.clone(), chunks };
            if let Err(err) = self.ledger.stage_end(job.job, end, SystemTime::now()) {
                tracing::error!(error = %Chain(&err), "cannot record the job's end; sending it anyway");
            }
            self.lock_running().remove(&job.job);
            self.send(AgentMessage::JobFinished(JobFinished { job, result, chunks })).await;
        }
        let spool = self.spool.clone();
        let ledger = self.ledger.clone();
        let persisted = off_reactor(move || -> Result<(), AckError> {
            spool.sync(job.job)?;
            ledger.persist(job.job)?;
            Ok(())
        })
        .await;
        if let Err(err) = persisted {
            tracing::error!(error = %Chain(&err), "cannot record the job's end durably; a crash now would report it lost");
        }
    }

    /// Spools one chunk and sends it. `Err` when the spool refused it (full, or the disk
    /// failed): the runner then stops keeping output.
    async fn emit(
        &self,
        job: JobRef,
        chunk: OutputChunk,
        chunks: &AtomicU64,
    ) -> Result<(), SinkClosed> {
        let _order = self.send_order.lock().await;
        if let Err(err) = self.spool.write(job.job, &chunk) {
            match err {
                spool::Error::Full { .. } => {
                    tracing::warn!(error = %err, "dropping the rest of the job's output")
                }
                spool::Error::Io { .. } => {
                    tracing::error!(error = %Chain(&err), "cannot spool output; dropping the rest of the job's output")
                }
            }
            return Err(SinkClosed);
        }
        chunks.store(chunk.seq + 1, Ordering::Relaxed);
        self.send(log_message(job, chunk)).await;
        Ok(())
    }

    async fn send(&self, message: AgentMessage) -> bool {
        let kind = message.kind();
        let sent = self.outbox.send(message).await;
        if !sent {
            tracing::debug!(
                kind,
                "not connected; the message waits on disk for the next connection"
            );
        }
        sent
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Cancel>> {
        // Inserts and removes of whole entries cannot leave the map half-changed.
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The runner's sink: every chunk goes through [`Executor::emit`].
struct SpoolSink {
    executor: Arc<Executor>,
    job: JobRef,
    chunks: Arc<AtomicU64>,
    refused: bool,
}

impl ChunkSink for SpoolSink {
    async fn send(&mut self, chunk: OutputChunk) -> Result<(), SinkClosed> {
        if self.refused {
            return Err(SinkClosed);
        }
        let outcome = self.executor.emit(self.job, chunk, &self.chunks).await;
        self.refused = outcome.is_err();
        outcome
    }
}

/// Either of the stores failing while an ack or an end is applied.
#[derive(Debug, thiserror::Error)]
enum AckError {
    #[error(transparent)]
    Spool(#[from] spool::Error),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::Error),
}

/// The result of a job that failed before its program ran (its working directory vanished, its
/// binary changed): no exit code, no signal, so it ends `failed`; the agent wrote the reason to
/// its stderr. The byte counts are the program's, and it wrote nothing.
fn failed_to_run() -> JobResult {
    JobResult {
        termination: Termination::Exited,
        exit_code: None,
        signal: None,
        duration_ms: 0,
        output_bytes: 0,
        kept_bytes: 0,
        truncated: false,
    }
}

fn rejected(job: JobRef, reason: &str, message: &str) -> AgentMessage {
    AgentMessage::JobRejected(JobRejected {
        job,
        reason: reason.to_owned(),
        message: message.to_owned(),
    })
}

fn log_message(job: JobRef, chunk: OutputChunk) -> AgentMessage {
    AgentMessage::JobLog(LogChunk { job, seq: chunk.seq, stream: chunk.stream, data: chunk.data })
}

fn end_message(job: JobRef, end: &End) -> AgentMessage {
    match end {
        End::Finished { result, chunks } => {
            AgentMessage::JobFinished(JobFinished { job, result: result.clone(), chunks: *chunks })
        }
        End::Lost { reason } => AgentMessage::JobLost(JobLost { job, reason: reason.clone() }),
        End::Rejected { reason, message } => rejected(job, reason, message),
    }
}

/// Runs blocking disk work (fsync) on the blocking pool.
async fn off_reactor<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Cancelled: the runtime is shutting down, and this task with it.
        Err(_) => std::future::pending().await,
    }
}
