//! Building the child: the identity re-check, the working directory opened beneath its root, and
//! the `pre_exec` hook that sets the child's limits.
//!
//! Everything that can fail for a reason worth reporting (a swapped binary, an escaping working
//! directory) is done here, in the parent, before `fork`. The `pre_exec` hook runs between `fork`
//! and `exec` in a copy of a multi-threaded process, so it makes raw system calls only: no
//! allocation, no locks, no logging.

use std::ffi::c_uint;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};
use std::process::Stdio;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::{Errno, FdFlags};
use rustix::process::{Resource, Rlimit};
use tokio::process::Command;

use super::Error;
use crate::policy::{ApprovedCommand, FileIdentity};

/// How often `openat2` is retried when the kernel reports a concurrent rename (`EAGAIN`).
const OPENAT2_RETRIES: usize = 8;

/// The descriptor limit the fallback marks close-on-exec up to, when `close_range` is missing
/// (kernels before 5.11).
const FALLBACK_FD_SCAN: u64 = 65_536;

/// Builds the command for `cmd`: opens its working directory, re-checks the program's identity
/// (last, so the window before `exec` is as short as it can be) and configures the child.
pub(super) fn command(cmd: &ApprovedCommand) -> Result<Command, Error> {
    let cwd = open_beneath(cmd.cwd_root(), cmd.cwd_relative())
        .map_err(|source| Error::WorkingDirectory { path: cmd.cwd(), source })?;
    check_identity(cmd)?;

    let mut command = Command::new(cmd.program());
    command
        .args(cmd.args())
        .env_clear()
        .envs(cmd.env().iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: the closure runs in the child between fork and exec. It only makes system calls
    // (fchdir, prlimit64, prctl, close_range or fcntl) through rustix's raw syscall backend and
    // libc::syscall; it allocates nothing (an `io::Error` made from an errno is not boxed) and
    // takes no lock. `cwd` is owned by the closure, so the descriptor outlives every fork.
    unsafe {
        command.pre_exec(move || in_child(&cwd));
    }
    Ok(command)
}

/// The child's side: runs after `fork`, before `exec`.
fn in_child(cwd: &OwnedFd) -> io::Result<()> {
    rustix::process::fchdir(cwd)?;
    rustix::process::setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })?;
    rustix::thread::set_no_new_privs(true)?;
    cloexec_above_stderr();
    Ok(())
}

/// Marks every descriptor above 2 close-on-exec, so the program inherits only 0, 1 and 2 even if
/// a library in this process opened one without `O_CLOEXEC`. Marking rather than closing keeps the
/// standard library's own exec-error pipe (already close-on-exec) working.
fn cloexec_above_stderr() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags; it takes plain
    // integers and touches no memory of ours.
    let marked = unsafe {
        libc::syscall(libc::SYS_close_range, 3 as c_uint, c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC)
    };
    if marked == 0 {
        return;
    }
    let limit = rustix::process::getrlimit(Resource::Nofile)
        .current
        .map_or(FALLBACK_FD_SCAN, |limit| limit.min(FALLBACK_FD_SCAN));
    for raw in 3..limit {
        let Ok(raw) = i32::try_from(raw) else { return };
        // SAFETY: the descriptor is only used for this one fcntl; if it is not open the call
        // fails with EBADF, which is what we want to ignore.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let _ = rustix::io::fcntl_setfd(fd, FdFlags::CLOEXEC);
    }
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
