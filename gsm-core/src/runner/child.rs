//! [`Child`]: a spawned job process, waited on through its pidfd, killed and reaped if dropped.
//!
//! The runner starts children itself (see [`super::clone`]), so it waits for them itself: the
//! pidfd becomes readable when the child exits, tokio's reactor reports that, and `waitpid`
//! reaps it. The pid stays ours until that reap, so nothing can reuse it while we signal it.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use rustix::process::{Pid, Signal, WaitOptions};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A child process of this runner, not yet known to be reaped.
pub(super) struct Child {
    pid: Pid,
    pidfd: AsyncFd<OwnedFd>,
    status: Option<ExitStatus>,
}

impl Child {
    /// Takes charge of `pid`, a child of this process, and its `pidfd`; must be called inside a
    /// tokio runtime (the pidfd is registered with its reactor).
    pub(super) fn new(pid: Pid, pidfd: OwnedFd) -> io::Result<Self> {
        // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and the same for as
        // long as it is registered.
        match unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) } {
            Ok(pidfd) => Ok(Self { pid, pidfd, status: None }),
            Err(err) => {
                let (_, err) = err.into_parts();
                // Without a registration we cannot wait for it; do not leave it running.
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                reap_in_background(pid);
                Err(err)
            }
        }
    }

    /// The child's pid.
    pub(super) fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits for the child to exit and reaps it. Cancel-safe.
    ///
    /// No `waitpid` before the first wait for readiness: the pidfd was registered edge-triggered,
    /// and registering a descriptor that is already readable reports it at once, so a child that
    /// exited before this call is not missed (and a short job saves the system call).
    pub(super) async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            let mut ready = self.pidfd.readable().await?;
            let reaped = reap(self.pid)?;
            if reaped.is_none() {
                ready.clear_ready();
            }
            drop(ready);
            if let Some(status) = reaped {
                self.status = Some(status);
                return Ok(status);
            }
        }
    }

    /// Reaps the child if it has exited, without waiting.
    pub(super) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let reaped = reap(self.pid)?;
        self.status = reaped;
        Ok(reaped)
    }

    /// Sends the child `SIGKILL` (through the pidfd, so never to a recycled pid).
    pub(super) fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        Ok(rustix::process::pidfd_send_signal(self.pidfd.get_ref(), Signal::KILL)?)
    }
}

impl Drop for Child {
    /// A child dropped before it was reaped (its `run` future was dropped) is killed and reaped,
    /// so it neither keeps running nor stays a zombie.
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        let _ = self.start_kill();
        if !matches!(self.try_wait(), Ok(Some(_))) {
            reap_in_background(self.pid);
        }
    }
}

/// Reaps `pid` if it has exited, without waiting.
fn reap(pid: Pid) -> io::Result<Option<ExitStatus>> {
    let reaped = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG)?;
    Ok(reaped.map(|(_, status)| ExitStatus::from_raw(status.as_raw())))
}

/// Reaps `pid`, which has been sent `SIGKILL`, on a thread of its own: a blocking `waitpid` needs
/// no runtime, so it works even while the runtime shuts down. Rare (only dropped runs), and the
/// thread lives only as long as the kernel takes to tear the process down.
fn reap_in_background(pid: Pid) {
    let spawned = std::thread::Builder::new().name("gsm-reap".to_owned()).spawn(move || {
        while let Err(rustix::io::Errno::INTR) =
            rustix::process::waitpid(Some(pid), WaitOptions::empty())
        {}
    });
    if let Err(error) = spawned {
        tracing::warn!(process.pid = pid.as_raw_nonzero(), %error, "could not start a thread to reap a dropped job's process");
    }
}
