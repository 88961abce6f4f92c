//! The runner: runs an [`ApprovedCommand`] in its own process group, streams its output in
//! numbered chunks and reports how it ended as a [`JobResult`].
//!
//! [`run`] (and [`run_observed`], the same with a spawn hook) is the only entry point, and an
//! [`ApprovedCommand`] is the only input it accepts, so nothing reaches `exec` without a policy
//! having allowed it. No shell is involved: the program and its argv go to `execve` as they are.
//!
//! # Decisions
//!
//! - **Output cap: keep running, stop keeping.** Past `output_cap_bytes` the process is *not*
//!   killed; its output is still read (so it never blocks on a full pipe), counted in
//!   `output_bytes`, and dropped. A verbose backup must not die of its own logging, and the
//!   timeout already bounds a process that only floods. `kept_bytes` is what the sink accepted and
//!   `truncated` is true exactly when `kept_bytes < output_bytes`: past the cap, or after the sink
//!   went away.
//! - **Backpressure, bounded memory.** Chunks (at most [`MAX_CHUNK`] bytes) go to a
//!   [`ChunkSink`] one at a time and the runner reads no more until the sink has taken the last
//!   one, so a slow consumer slows the child through its pipe rather than growing a buffer here.
//!   A sink that is gone ([`SinkClosed`]) switches the runner to reading and discarding: the child
//!   is never left blocked on a pipe nobody reads.
//! - **Working directory by file descriptor.** The directory is opened beneath the policy's root
//!   with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` in the parent, and the child only
//!   `fchdir`s to that descriptor. A symlink swapped in after the policy check cannot move the job
//!   out of its root; the job fails with [`Error::WorkingDirectory`] before anything runs.
//! - **Identity re-checked.** Right before spawning, the program's (device, inode) must still be
//!   what the policy saw, or the job fails with [`Error::BinaryChanged`].
//! - **Kill the group, not the pid.** On timeout or cancel: `SIGTERM` to the process group, wait
//!   up to the grace period for the group to empty, then `SIGKILL` the group; the child is always
//!   reaped. When the direct child exits on its own, whatever is left of its group is `SIGKILL`ed
//!   too: a job is not a way to leave daemons behind (start those through the service manager).
//!   [`run`] returns only once no live process of the group remains (zombies whose parent died
//!   belong to init, and hold nothing). A process that leaves the group with `setsid` escapes
//!   this; confining that needs a per-job cgroup, which is the agent's to set up.
//! - **Bounded drain.** Once the group is dead, reading stops at end of file on both pipes or
//!   [`DRAIN`] later, whichever comes first, so a pipe held open by an escaped process cannot hang
//!   the runner. Output the dead processes left in the pipes is ready at once and read well within
//!   it; time spent waiting for the sink to accept a chunk does not count against it.
//! - **Spawned by `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`, not `fork`** (module `clone`):
//!   the child borrows the parent's memory until `execve`, so spawning costs the same in a small
//!   agent and in a large Python interpreter, where `fork`'s page-table copy cost more than the
//!   program's run. The child makes only raw system calls on memory prepared before the clone:
//!   stdin on `/dev/null` and stdout and stderr on pipes, its own process group, handled signals
//!   (and `SIGPIPE`) back to their default (by the kernel, through `clone3`'s
//!   `CLONE_CLEAR_SIGHAND`, where it can: module `clone3`) and an empty signal mask, `fchdir` to the working
//!   directory's descriptor, `RLIMIT_CORE = 0`, `PR_SET_NO_NEW_PRIVS`, and every descriptor above
//!   2 marked close-on-exec, so the program sees fds 0, 1 and 2 and nothing a library in this
//!   process forgot to mark. The environment is exactly [`ApprovedCommand::env`]. A failure
//!   before or in `execve` comes back as [`Error::Spawn`] with its errno.
//! - **Waited on through a pidfd** (module `child`): tokio's reactor reports the child's exit and
//!   `waitpid` reaps it; the runner never relies on `SIGCHLD`. Needs Linux 5.3 or later. When
//!   the first output pipe reaches end of file the child is usually exiting, so the supervisor
//!   looks for its exit for up to 50 µs before it sleeps on the pidfd (one wake-up fewer).

mod cancel;
mod child;
mod clone;
mod clone3;
mod kill;
mod output;
mod spawn;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::job::{JobResult, Termination};
use crate::policy::ApprovedCommand;
use child::Child;

pub use cancel::Cancel;
pub use output::{ChunkSink, MAX_CHUNK, OutputChunk, SinkClosed, Stream};

/// How long the runner keeps reading after the process group is dead, waiting for end of file.
///
/// Pipe data written by processes that have died is read at once and does not need this; it only
/// bounds the wait on a pipe that an escaped process still holds open.
pub const DRAIN: Duration = Duration::from_millis(250);

/// How long the runner waits, after the final `SIGKILL`, for the group's processes to be gone.
///
/// `SIGKILL` cannot be caught, so this is only the kernel tearing the processes down; it bounds
/// [`run`] if something outside the runner's control (an uninterruptible sleep on a dead NFS
/// mount) keeps one alive.
const GONE_LIMIT: Duration = Duration::from_secs(5);

/// Why the runner could not run a command, or lost track of it.
///
/// A process that runs and fails is not an error: that is a [`JobResult`] with its exit code or
/// signal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program could not be started (not found, not executable, `pre_exec` failed, ...).
    #[error("could not start {program}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The program on disk is not the file the policy approved (it was replaced or renamed over).
    #[error("{program} changed after the policy approved it; refusing to run it")]
    BinaryChanged {
        /// The program.
        program: PathBuf,
    },
    /// The working directory could not be opened beneath its root (missing, not a directory, or
    /// reached through a symlink or `..` leading out of the root).
    #[error("could not open working directory {path} beneath its root")]
    WorkingDirectory {
        /// The working directory, root and relative part joined.
        path: PathBuf,
        /// What the operating system said (`EXDEV`, `ELOOP` or `ENOTDIR` for an escape).
        #[source]
        source: io::Error,
    },
    /// Waiting for the child failed; its process group has been killed.
    #[error("waiting for {program} failed")]
    Wait {
        /// The program.
        program: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

/// Runs `cmd` to the end, sending its output to `sink`, and reports how it ended.
///
/// The process is stopped when `cmd`'s timeout passes or `cancel` fires (see the module docs for
/// the kill sequence); output written before that is kept. A job already cancelled when `run` is
/// called never starts, and ends as [`Termination::Cancelled`] with no exit code.
///
/// Dropping the returned future kills the whole process group.
pub async fn run<S: ChunkSink>(
    cmd: &ApprovedCommand,
    sink: S,
    cancel: &Cancel,
) -> Result<JobResult, Error> {
    run_observed(cmd, sink, cancel, |_| {}).await
}

/// [`run`], telling `on_spawn` the child's pid (which is also its process group id) right after
/// it is spawned and before any output is read.
///
/// For callers that must record the process somewhere durable, such as an agent's job ledger, so
/// that a later run can find and stop a group a crashed predecessor left behind. `on_spawn` is
/// called at most once, synchronously, and not at all when the job never starts.
pub async fn run_observed<S: ChunkSink>(
    cmd: &ApprovedCommand,
    sink: S,
    cancel: &Cancel,
    on_spawn: impl FnOnce(u32),
) -> Result<JobResult, Error> {
    if cancel.is_cancelled() {
        return Ok(never_started());
    }
    let prepared = spawn::prepare(cmd)?;
    let started = Instant::now();
    let spawn::Spawned { mut child, stdout, stderr } = spawn::start(cmd, prepared)?;
    // The child leads its own process group, so its pid is the group's id.
    let pgid = child.pid();
    let guard = kill::GroupGuard::new(pgid);
    on_spawn(pgid.as_raw_nonzero().get().unsigned_abs());
    tracing::debug!(process.program = %cmd.program().display(), process.pgid = pgid.as_raw_nonzero(), "job started");

    let (stop_tx, stop_rx) = oneshot::channel();
    let output_closed = Notify::new();
    let supervise = async {
        let ended = supervise(cmd, &mut child, pgid, started, cancel, &output_closed).await;
        // Whatever happened, the group is dead or being killed now: let the pump drain and stop.
        let _ = stop_tx.send(());
        ended
    };
    let pump = output::pump(stdout, stderr, sink, cmd.output_cap_bytes(), stop_rx, &output_closed);
    let (ended, stats) = tokio::join!(supervise, pump);
    let ended = ended?;
    guard.disarm();

    Ok(JobResult {
        termination: ended.termination,
        exit_code: ended.status.code(),
        signal: ended.status.signal(),
        duration_ms: u64::try_from(ended.duration.as_millis()).unwrap_or(u64::MAX),
        output_bytes: stats.output_bytes,
        kept_bytes: stats.kept_bytes,
        truncated: stats.kept_bytes < stats.output_bytes,
    })
}

fn never_started() -> JobResult {
    JobResult {
        termination: Termination::Cancelled,
        exit_code: None,
        signal: None,
        duration_ms: 0,
        output_bytes: 0,
        kept_bytes: 0,
        truncated: false,
    }
}

/// How the child ended, as the supervisor saw it.
struct Ended {
    termination: Termination,
    status: ExitStatus,
    /// From spawn to reap.
    duration: Duration,
}

/// Waits for the child to exit, or for the timeout or the cancel handle; kills the group either
/// way, and returns once the child is reaped and no live process of its group remains.
/// `output_closed` is notified when the first of the output pipes reaches end of file.
async fn supervise(
    cmd: &ApprovedCommand,
    child: &mut Child,
    pgid: rustix::process::Pid,
    started: Instant,
    cancel: &Cancel,
    output_closed: &Notify,
) -> Result<Ended, Error> {
    let wait_error = |source| Error::Wait { program: cmd.program().to_path_buf(), source };
    let deadline = started.checked_add(cmd.timeout()).unwrap_or_else(far_future);
    let exited = |status| async move {
        let reaped = Instant::now();
        kill::finish_group(pgid, GONE_LIMIT).await;
        Ok(Ended { termination: Termination::Exited, status, duration: reaped - started })
    };

    let mut output_open = true;
    let stop = loop {
        tokio::select! {
            status = child.wait() => return exited(status.map_err(wait_error)?).await,
            () = output_closed.notified(), if output_open => {
                output_open = false;
                if let Some(status) = reap_soon(child).map_err(wait_error)? {
                    return exited(status).await;
                }
            }
            () = tokio::time::sleep_until(deadline) => break Termination::TimedOut,
            () = cancel.cancelled() => break Termination::Cancelled,
        }
    };

    // The child may have exited in the same instant the timer fired: then it ended on its own.
    if let Some(status) = child.try_wait().map_err(wait_error)? {
        return exited(status).await;
    }
    tracing::debug!(process.pgid = pgid.as_raw_nonzero(), reason = ?stop, "stopping job");
    let (status, reaped) =
        kill::stop_group(child, pgid, cmd.kill_grace(), GONE_LIMIT).await.map_err(wait_error)?;
    Ok(Ended { termination: stop, status, duration: reaped - started })
}

/// How long [`reap_soon`] looks for the child's exit.
const REAP_SOON: Duration = Duration::from_micros(50);

/// Reaps the child if it exits within [`REAP_SOON`]; called when its output closed.
///
/// A process closes its descriptors as it exits, a few microseconds before it becomes a zombie
/// and its pidfd turns readable. Waiting for the pidfd there would put this thread to sleep just
/// to be woken again at once, which costs more than the job itself for a short job; checking a
/// few times, yielding the CPU in between (the exiting child may need it), does not. A child that
/// closed its output and goes on running costs this wait once.
fn reap_soon(child: &mut Child) -> io::Result<Option<ExitStatus>> {
    let until = std::time::Instant::now() + REAP_SOON;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if std::time::Instant::now() >= until {
            return Ok(None);
        }
        std::thread::yield_now();
    }
}

/// A deadline that never comes, for timeouts too large to add to the clock.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(30 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests;
