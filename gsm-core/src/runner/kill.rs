//! Signalling a job's process group: the `SIGTERM` → grace → `SIGKILL` sequence, the sweep after
//! the child exits on its own, and the wait until no live process of the group remains.
//!
//! The job's child leads its own process group, so `kill(-pgid)` reaches every process it forked
//! that did not leave the group. Signalling by group id after the leader is reaped is safe in
//! practice: the kernel does not hand out a pid that is still some process's group id, so the
//! id can only have been reused if the group emptied and a brand-new process both received that
//! very pid and made itself a group leader, between our reap and our signal.
//!
//! "Gone" means no *live* process: zombies still answer `kill(pgid, 0)` until their parent reaps
//! them, and an orphan's parent is init, which in some containers never reaps. A zombie holds no
//! memory, no descriptors (so no pipe) and runs nothing, so the wait reads `/proc` to skip them.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use tokio::time::Instant;

use super::child::Child;

/// The first pause between checks that the group is gone; it doubles up to [`POLL_MAX`].
const POLL_MIN: Duration = Duration::from_millis(1);
/// The longest pause between checks that the group is gone.
const POLL_MAX: Duration = Duration::from_millis(20);

/// Kills the whole group with `SIGKILL` if dropped while armed: a dropped [`run`](super::run)
/// future must not leave the job's grandchildren running ([`Child`]'s own drop reaches only the child).
pub(super) struct GroupGuard {
    pgid: Pid,
    armed: bool,
}

impl GroupGuard {
    pub(super) fn new(pgid: Pid) -> Self {
        Self { pgid, armed: true }
    }

    /// The group has been dealt with; dropping the guard does nothing.
    pub(super) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            signal(self.pgid, Signal::KILL);
        }
    }
}

/// After the child exited on its own: `SIGKILL` whatever is left of its group and wait, up to
/// `limit`, until nothing of it is alive.
pub(super) async fn finish_group(pgid: Pid, limit: Duration) {
    if !group_alive(pgid) {
        return;
    }
    tracing::debug!(
        process.pgid = pgid.as_raw_nonzero(),
        "child exited; killing what is left of its group"
    );
    signal(pgid, Signal::KILL);
    warn_unless_gone(pgid, limit).await;
}

/// Stops a running job: `SIGTERM` to the group, up to `grace` for the child to exit and the group
/// to empty, then `SIGKILL` to the group. Returns the child's status and when it was reaped, once
/// nothing of the group is alive (or `limit` after the `SIGKILL`).
pub(super) async fn stop_group(
    child: &mut Child,
    pgid: Pid,
    grace: Duration,
    limit: Duration,
) -> io::Result<(ExitStatus, Instant)> {
    let grace_end = Instant::now() + grace;
    signal(pgid, Signal::TERM);
    let exited = tokio::select! {
        status = child.wait() => Some((status?, Instant::now())),
        () = tokio::time::sleep_until(grace_end) => None,
    };
    if exited.is_some() {
        // The child went; its descendants get what is left of the grace to follow it.
        wait_gone(pgid, grace_end).await;
    }
    if !signal(pgid, Signal::KILL) && exited.is_none() {
        // The group could not be signalled, yet the child is alive: at least make sure of it.
        let _ = child.start_kill();
    }
    let (status, reaped) = match exited {
        Some(exited) => exited,
        None => (child.wait().await?, Instant::now()),
    };
    warn_unless_gone(pgid, limit).await;
    Ok((status, reaped))
}

/// Sends `sig` to the group. False only when it could not be delivered for a reason other than
/// the group being empty; an empty group counts as done.
fn signal(pgid: Pid, sig: Signal) -> bool {
    match rustix::process::kill_process_group(pgid, sig) {
        Ok(()) | Err(Errno::SRCH) => true,
        Err(errno) => {
            tracing::warn!(process.pgid = pgid.as_raw_nonzero(), signal = sig.as_raw(), %errno, "could not signal the job's process group");
            false
        }
    }
}

/// Waits up to `limit` for the group to be gone after a `SIGKILL`; says so if it is not.
async fn warn_unless_gone(pgid: Pid, limit: Duration) {
    if !wait_gone(pgid, Instant::now() + limit).await {
        tracing::warn!(
            process.pgid = pgid.as_raw_nonzero(),
            "processes of the job's group are still alive after SIGKILL"
        );
    }
}

/// Polls until no live process of the group remains or `until` passes; true if the group is gone.
async fn wait_gone(pgid: Pid, until: Instant) -> bool {
    let mut pause = POLL_MIN;
    loop {
        if !group_alive(pgid) {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        tokio::time::sleep(pause.min(until - now)).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}

/// Whether any process of the group is alive (zombies do not count).
fn group_alive(pgid: Pid) -> bool {
    match rustix::process::test_kill_process_group(pgid) {
        Err(Errno::SRCH) => false,
        // Someone answers (or exists but may not be signalled by us): is it more than zombies?
        Ok(()) | Err(_) => has_live_member(pgid.as_raw_nonzero().get()).unwrap_or(true),
    }
}

/// Reads `/proc` for a process in group `pgid` that is not a zombie. `None` if `/proc` cannot be
/// read at all, so the caller can assume the worst.
fn has_live_member(pgid: i32) -> Option<bool> {
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // A process that exits between the listing and the read is simply not a member.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        if let Some((state, group)) = state_and_group(&stat)
            && group == pgid
            && !matches!(state, 'Z' | 'X')
        {
            return Some(true);
        }
    }
    Some(false)
}

/// The state letter and process group from a `/proc/<pid>/stat` line. The command name in
/// parentheses may hold spaces and parentheses, so fields are counted after the last `)`.
pub(super) fn state_and_group(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let group = fields.next()?.parse().ok()?;
    Some((state, group))
}
