//! Preparing and starting the child: the identity re-check, the working directory opened
//! beneath its root, the pipes, and the hand-off to [`super::clone`].
//!
//! Everything that can fail for a reason worth reporting (a swapped binary, an escaping working
//! directory, a NUL byte in an argument) is done here, in the parent, before the clone. The child
//! itself makes raw system calls only (see [`super::clone`]).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use tokio::net::unix::pipe;

use super::Error;
use super::child::Child;
use super::clone::{self, ChildFds, Exec};
use crate::policy::{ApprovedCommand, FileIdentity};

/// How often `openat2` is retried when the kernel reports a concurrent rename (`EAGAIN`).
const OPENAT2_RETRIES: usize = 8;

/// A command ready to start: its C strings built and its working directory open.
pub(super) struct Prepared {
    exec: Exec,
    cwd: OwnedFd,
}

/// A started child and the read ends of its stdout and stderr.
pub(super) struct Spawned {
    pub child: Child,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
}

/// Opens `cmd`'s working directory, builds what `execve` takes, and re-checks the program's
/// identity (last, so the window before `execve` is as short as it can be).
pub(super) fn prepare(cmd: &ApprovedCommand) -> Result<Prepared, Error> {
    let cwd = open_beneath(cmd.cwd_root(), cmd.cwd_relative())
        .and_then(clone::above_stdio)
        .map_err(|source| Error::WorkingDirectory { path: cmd.cwd(), source })?;
    let exec = Exec::new(
        cmd.program(),
        cmd.args().iter().map(String::as_str),
        cmd.env().iter().map(|(key, value)| (key.as_str(), value.as_str())),
    )
    .map_err(|source| spawn_error(cmd, source))?;
    check_identity(cmd)?;
    Ok(Prepared { exec, cwd })
}

/// Starts the prepared command with stdin on `/dev/null` and stdout and stderr on pipes; must be
/// called inside a tokio runtime. Returns once the program has been exec'd.
pub(super) fn start(cmd: &ApprovedCommand, prepared: Prepared) -> Result<Spawned, Error> {
    start_io(&prepared).map_err(|source| spawn_error(cmd, source))
}

fn start_io(prepared: &Prepared) -> io::Result<Spawned> {
    let null = rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let stdin = clone::above_stdio(null)?;
    let (out_read, out_write) = output_pipe()?;
    let (err_read, err_write) = output_pipe()?;
    let fds = ChildFds {
        stdin: stdin.as_fd(),
        stdout: out_write.as_fd(),
        stderr: err_write.as_fd(),
        cwd: prepared.cwd.as_fd(),
    };
    let started = clone::spawn(&prepared.exec, &fds)?;
    // The child has its own copies now (or has failed); ours of its ends must go, so that our
    // read ends see end of file when the child's side closes.
    drop((stdin, out_write, err_write));
    let child = Child::new(started.pid, started.pidfd)?;
    Ok(Spawned { child, stdout: receiver(out_read)?, stderr: receiver(err_read)? })
}

/// A close-on-exec pipe, both ends above 2 and blocking: (read end, write end).
fn output_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    // std's pipe is made with O_CLOEXEC.
    let (read, write) = io::pipe()?;
    Ok((clone::above_stdio(read.into())?, clone::above_stdio(write.into())?))
}

/// The read end of an [`output_pipe`] made non-blocking and registered with tokio's reactor.
fn receiver(read: OwnedFd) -> io::Result<pipe::Receiver> {
    // A fresh pipe's read end has no flag but O_RDONLY, so no F_GETFL is needed to keep them.
    rustix::fs::fcntl_setfl(&read, OFlags::RDONLY | OFlags::NONBLOCK)?;
    // The descriptor is the read end of a pipe, open for reading and now non-blocking, which is
    // all `from_owned_fd_unchecked` asks (`from_owned_fd` would fstat and F_GETFL to check).
    pipe::Receiver::from_owned_fd_unchecked(read)
}

fn spawn_error(cmd: &ApprovedCommand, source: io::Error) -> Error {
    Error::Spawn { program: cmd.program().to_path_buf(), source }
}

/// Fails unless the program on disk is still the file the policy approved.
fn check_identity(cmd: &ApprovedCommand) -> Result<(), Error> {
    // Follows symlinks, as exec does: what matters is the file that would run.
    let meta = std::fs::metadata(cmd.program())
        .map_err(|source| Error::Spawn { program: cmd.program().to_path_buf(), source })?;
    let found = FileIdentity { dev: meta.dev(), ino: meta.ino() };
    if found != cmd.program_identity() {
        return Err(Error::BinaryChanged { program: cmd.program().to_path_buf() });
    }
    Ok(())
}

/// Opens `relative` as a directory beneath `root`, refusing any path that resolves outside it
/// (through `..`, an absolute symlink, a symlink out of the root or a `/proc` magic link).
///
/// Uses `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`; on kernels without it (before 5.6,
/// or a seccomp filter that hides it) falls back to [`open_components`].
pub(super) fn open_beneath(root: &Path, relative: &Path) -> io::Result<OwnedFd> {
    let root = rustix::fs::open(root, dir_flags(), Mode::empty())?;
    if relative.as_os_str().is_empty() {
        return Ok(root);
    }
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(&root, relative, dir_flags(), Mode::empty(), resolve) {
            Ok(dir) => return Ok(dir),
            // The kernel saw a rename during resolution and would rather we tried again.
            Err(Errno::AGAIN) if tries < OPENAT2_RETRIES => tries += 1,
            Err(Errno::NOSYS | Errno::PERM) => return open_components(&root, relative),
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// The fallback for [`open_beneath`]: one `openat(O_NOFOLLOW | O_DIRECTORY)` per component, so no
/// symlink is ever followed. `..` and absolute paths are refused outright (`EXDEV`, as `openat2`
/// reports an escape) rather than tracked: the policy hands the runner a normalised path.
pub(super) fn open_components(root: &OwnedFd, relative: &Path) -> io::Result<OwnedFd> {
    let mut dir: Option<OwnedFd> = None;
    for component in relative.components() {
        let name = match component {
            Component::Normal(name) => name,
            Component::CurDir => continue,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Errno::XDEV.into());
            }
        };
        let parent = dir.as_ref().unwrap_or(root);
        let flags = dir_flags() | OFlags::NOFOLLOW;
        dir = Some(rustix::fs::openat(parent, name, flags, Mode::empty())?);
    }
    match dir {
        Some(dir) => Ok(dir),
        None => Ok(root.try_clone()?),
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}
