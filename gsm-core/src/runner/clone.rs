//! Starting the child with `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`: the runner's only
//! process-creation `unsafe` code, and the few raw system calls the child makes before `execve`.
//!
//! # Why not `fork`
//!
//! `fork` copies the parent's page tables, so its cost grows with the parent: inside a Python
//! interpreter it cost more than running `/bin/true`. With `CLONE_VM` the child borrows the
//! parent's memory instead, and `CLONE_VFORK` suspends the calling thread until the child has
//! called `execve` or exited; glibc's `posix_spawn` works the same way, but cannot set
//! `RLIMIT_CORE` or `PR_SET_NO_NEW_PRIVS` in the child, so this module does what it does by hand.
//! `CLONE_PIDFD` hands back a descriptor for the child, which [`super::child`] waits on.
//!
//! # The child's rules
//!
//! The child runs on the parent's memory while the parent's *other* threads keep running, so
//! [`child_main`] reads only what [`spawn`] prepared before the clone (the C strings and pointer
//! arrays in [`Exec`], the descriptors in [`ChildFds`]), writes only its own stack and the
//! failure slot, allocates nothing, takes no lock and calls only async-signal-safe functions.
//! It runs on a stack of its own, mapped before the first clone on a thread and kept for its next.
//! Every signal is blocked in the calling thread across the clone, so no handler of the parent
//! can run in the child on shared memory; every handled signal (and `SIGPIPE`, which Rust and
//! Python ignore) is set back to its default action — by the kernel where `clone3` with
//! `CLONE_CLEAR_SIGHAND` is available (module `clone3`), else by the child asking about each
//! signal — and then the child unblocks all signals, so the program starts with an empty signal
//! mask, as `std::process::Command` gives it.
//!
//! # Reporting a failure
//!
//! A step that fails before `execve` (or `execve` itself) stores which step and its errno in
//! [`Failure`], a slot in the parent's memory, and exits with status 127. `CLONE_VFORK` orders
//! the parent's read after the child's exit, so no pipe is needed (glibc's `posix_spawn` does
//! the same). A child that has exec'd never writes it, so an empty slot means the program runs.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int, c_uint, c_void};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::process::Pid;

use super::clone3::{self, Clone3};

/// The child's stack: it runs a few system calls, so 64 KiB is ample; a guard page below it turns
/// an overflow into a crash instead of a write into the parent's memory.
const STACK_SIZE: usize = 64 * 1024;
const GUARD_SIZE: usize = 4096;

/// The descriptor limit the fallback marks close-on-exec up to, when `close_range` is missing
/// (kernels before 5.11).
const FALLBACK_FD_SCAN: libc::rlim_t = 65_536;

/// The exit status of a child whose `execve` (or a step before it) failed, as shells use.
const EXEC_FAILED: c_int = 127;

/// The program, argv and environment as the C strings `execve` takes, built before the clone.
pub(super) struct Exec {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Exec {
    /// Fails with `InvalidInput` if any string holds a NUL byte, which `execve` cannot pass.
    pub(super) fn new<'a>(
        program: &Path,
        args: impl IntoIterator<Item = &'a str>,
        env: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> io::Result<Self> {
        let program = c_string(program.as_os_str().as_bytes().to_vec())?;
        // argv[0] is the program's path, as std::process::Command passes it.
        let mut argv = vec![program.clone()];
        for arg in args {
            argv.push(c_string(arg.as_bytes().to_vec())?);
        }
        let envp = env
            .into_iter()
            .map(|(key, value)| c_string(format!("{key}={value}").into_bytes()))
            .collect::<io::Result<_>>()?;
        Ok(Self { program, argv, envp })
    }
}

fn c_string(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes).map_err(|err| {
        let text = String::from_utf8_lossy(&err.into_vec()).into_owned();
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{text:?} holds a NUL byte, which no program argument or environment variable can carry"),
        )
    })
}

/// The descriptors the child gets as 0, 1 and 2, and the directory it starts in. Each must be
/// above 2 (see [`above_stdio`]), so that moving one into place cannot overwrite another.
pub(super) struct ChildFds<'a> {
    pub stdin: BorrowedFd<'a>,
    pub stdout: BorrowedFd<'a>,
    pub stderr: BorrowedFd<'a>,
    pub cwd: BorrowedFd<'a>,
}

/// Returns `fd` if it is above 2, or a close-on-exec duplicate that is (when this process was
/// started with one of 0–2 closed, a new descriptor can land there).
pub(super) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
}

/// A started child: its pid (which is also its process group id) and a pidfd for it.
pub(super) struct Started {
    pub pid: Pid,
    pub pidfd: OwnedFd,
}

/// Which step in the child failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Stdio,
    ProcessGroup,
    WorkingDirectory,
    CoreLimit,
    NoNewPrivs,
    Exec,
}

impl Step {
    fn from_code(code: i32) -> Self {
        match code {
            1 => Self::Stdio,
            2 => Self::ProcessGroup,
            3 => Self::WorkingDirectory,
            4 => Self::CoreLimit,
            5 => Self::NoNewPrivs,
            _ => Self::Exec,
        }
    }

    fn code(self) -> i32 {
        match self {
            Self::Stdio => 1,
            Self::ProcessGroup => 2,
            Self::WorkingDirectory => 3,
            Self::CoreLimit => 4,
            Self::NoNewPrivs => 5,
            Self::Exec => 6,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Stdio => "setting up the child's stdin, stdout and stderr",
            Self::ProcessGroup => "putting the child in its own process group",
            Self::WorkingDirectory => "entering the working directory",
            Self::CoreLimit => "setting RLIMIT_CORE to 0",
            Self::NoNewPrivs => "setting PR_SET_NO_NEW_PRIVS",
            Self::Exec => "execve",
        }
    }
}

/// Where the child reports a failure: written by the child only, read by the parent only after
/// the child has exited (which `CLONE_VFORK` waits for).
#[derive(Default)]
struct Failure {
    step: AtomicI32,
    errno: AtomicI32,
}

/// Everything the child reads, as raw pointers and descriptors, on the parent's stack.
struct ChildArgs {
    program: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
    cwd: RawFd,
    /// The kernel already set every handled signal to its default (`CLONE_CLEAR_SIGHAND`).
    handlers_cleared: bool,
    failure: Failure,
}

/// Starts `exec` with `fds`; returns once the child has called `execve` successfully, or with
/// the error of the step that failed (an `execve` error keeps its errno: `raw_os_error()`).
pub(super) fn spawn(exec: &Exec, fds: &ChildFds<'_>) -> io::Result<Started> {
    let argv = null_terminated(&exec.argv);
    let envp = null_terminated(&exec.envp);
    let mut args = ChildArgs {
        program: exec.program.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        stdin: fds.stdin.as_raw_fd(),
        stdout: fds.stdout.as_raw_fd(),
        stderr: fds.stderr.as_raw_fd(),
        cwd: fds.cwd.as_raw_fd(),
        handlers_cleared: true,
        failure: Failure::default(),
    };
    let stack = Stack::take()?;
    let mut pidfd: c_int = -1;
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;

    let blocked = SignalsBlocked::all()?;
    // SAFETY: `child_main` follows the module's rules for a CLONE_VM child: it reads only
    // `args` (and the strings and arrays its pointers lead to, all alive until this function
    // returns) and writes only its own stack and `args.failure`, and it never returns. The
    // stack is a mapping of STACK_SIZE bytes above a guard page, its top 16-byte aligned, reused
    // or unmapped only after the child has exec'd or exited. The kernel stores the pidfd in
    // `pidfd`, which outlives the call. Every signal is blocked in this thread, so the child
    // starts with no handler able to run.
    let fast = unsafe {
        clone3::clone_vfork(
            stack.low(),
            STACK_SIZE,
            &mut pidfd,
            child_main,
            ptr::from_ref(&args).cast_mut().cast::<c_void>(),
        )
    };
    let pid = match fast {
        Clone3::Started(pid) => Ok(pid),
        Clone3::Failed(err) => Err(err),
        Clone3::Unsupported => {
            args.handlers_cleared = false;
            // SAFETY: as above; with CLONE_PIDFD the kernel stores the pidfd through the
            // parent_tid argument, `&mut pidfd`.
            let pid = unsafe {
                libc::clone(
                    child_main,
                    stack.top(),
                    flags,
                    ptr::from_ref(&args).cast_mut().cast::<c_void>(),
                    ptr::from_mut(&mut pidfd),
                )
            };
            if pid < 0 { Err(io::Error::last_os_error()) } else { Ok(pid) }
        }
    };
    drop(blocked);
    stack.keep();
    let pid = pid?;
    // SAFETY: clone succeeded with CLONE_PIDFD, so the kernel put a new descriptor, which
    // nothing else owns, in `pidfd`.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let Some(pid) = Pid::from_raw(pid) else {
        return Err(io::Error::other("clone returned pid 0 in the parent"));
    };
    let step = args.failure.step.load(Ordering::Acquire);
    if step == 0 {
        return Ok(Started { pid, pidfd });
    }
    // The child has exited (or is exiting); reap it so it leaves no zombie.
    while let Err(rustix::io::Errno::INTR) =
        rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
    {}
    let errno = args.failure.errno.load(Ordering::Acquire);
    let os_error = io::Error::from_raw_os_error(errno);
    match Step::from_code(step) {
        Step::Exec => Err(os_error),
        step => Err(io::Error::new(os_error.kind(), format!("{}: {os_error}", step.describe()))),
    }
}

/// The C array `execve` wants: the strings' pointers, then NULL.
fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(ptr::null())).collect()
}

/// The child's stack: an anonymous mapping with a guard page at its low end. Each thread keeps
/// the one it used last for its next spawn: once clone has returned, no child uses it any more.
struct Stack {
    base: *mut c_void,
    len: usize,
}

thread_local! {
    static SPARE_STACK: Cell<Option<Stack>> = const { Cell::new(None) };
}

impl Stack {
    /// This thread's spare stack, or a new one.
    fn take() -> io::Result<Self> {
        match SPARE_STACK.try_with(Cell::take) {
            Ok(Some(stack)) => Ok(stack),
            _ => Self::map(),
        }
    }

    /// Keeps the stack as this thread's spare (or unmaps it if the thread is exiting).
    fn keep(self) {
        let _ = SPARE_STACK.try_with(|spare| spare.set(Some(self)));
    }

    fn map() -> io::Result<Self> {
        let len = STACK_SIZE + GUARD_SIZE;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
        // existing memory.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Self { base, len };
        // SAFETY: the first page of the mapping just made; nothing else uses it.
        if unsafe { libc::mprotect(base, GUARD_SIZE, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The initial stack pointer: the end of the mapping (page-aligned, so 16-byte aligned).
    /// The lowest address of the usable stack, just above the guard page.
    fn low(&self) -> *mut c_void {
        // SAFETY: GUARD_SIZE < len, so this stays inside the mapping.
        unsafe { self.base.cast::<u8>().add(GUARD_SIZE).cast() }
    }

    fn top(&self) -> *mut c_void {
        // SAFETY: one past the end of the mapping, which is where a downward stack starts.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, no longer used: its child has exec'd or exited.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Every signal blocked in the calling thread until dropped, when the old mask is restored.
struct SignalsBlocked {
    old: libc::sigset_t,
}

impl SignalsBlocked {
    fn all() -> io::Result<Self> {
        // SAFETY: sigfillset and pthread_sigmask only write the sets they are given, which are
        // local and fully initialised by sigfillset / the call.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let err = libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            if err != 0 {
                return Err(io::Error::from_raw_os_error(err));
            }
            Ok(Self { old })
        }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `all`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, ptr::null_mut()) };
    }
}

/// The child: runs on its own stack in the parent's memory, between clone and execve.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` that `spawn` passed to clone; it stays alive and in place
    // because the thread that owns it is suspended until this child execs or exits.
    let args = unsafe { &*arg.cast_const().cast::<ChildArgs>() };
    // SAFETY: `prepare_and_exec` is called in a CLONE_VM | CLONE_VFORK child, as it requires.
    let (step, errno) = unsafe { prepare_and_exec(args) };
    args.failure.errno.store(errno, Ordering::Release);
    args.failure.step.store(step.code(), Ordering::Release);
    // SAFETY: _exit ends the child at once, running no atexit handler of the parent.
    unsafe { libc::_exit(EXEC_FAILED) }
}

/// The child's steps. Returns only on failure, with the step and its errno.
///
/// # Safety
///
/// Only for the child of [`spawn`]'s clone: it changes the calling process's descriptors, process
/// group, signal dispositions, working directory and limits, then replaces its image.
unsafe fn prepare_and_exec(args: &ChildArgs) -> (Step, c_int) {
    // SAFETY (whole block): plain system calls on integers and on pointers `spawn` prepared; no
    // allocation, no lock. errno is the parent thread's slot, which it does not read until the
    // child is gone.
    unsafe {
        for (fd, target) in [(args.stdin, 0), (args.stdout, 1), (args.stderr, 2)] {
            // The sources are above 2 (see `above_stdio`), so no dup2 overwrites a later source;
            // dup2 clears close-on-exec on the target.
            if libc::dup2(fd, target) < 0 {
                return (Step::Stdio, errno());
            }
        }
        if libc::setpgid(0, 0) != 0 {
            return (Step::ProcessGroup, errno());
        }
        if args.handlers_cleared {
            sigpipe_default();
        } else {
            default_signal_actions();
        }
        if libc::fchdir(args.cwd) != 0 {
            return (Step::WorkingDirectory, errno());
        }
        let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0 {
            return (Step::CoreLimit, errno());
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return (Step::NoNewPrivs, errno());
        }
        cloexec_above_stderr();
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
        libc::execve(args.program, args.argv, args.envp);
        (Step::Exec, errno())
    }
}

/// Sets every signal that has a handler, and `SIGPIPE`, to its default action, so that no
/// handler of the parent can run in the child once signals are unblocked. Ignored signals other
/// than `SIGPIPE` stay ignored, as `std::process::Command` leaves them.
///
/// # Safety
///
/// Only in the child of [`spawn`] (it changes the process's signal dispositions).
unsafe fn default_signal_actions() {
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction only reads and writes the local structs it is given. It fails
        // (harmlessly) for the signals glibc reserves for itself.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, ptr::null(), &mut old) != 0 {
                continue;
            }
            if signal != libc::SIGPIPE
                && (old.sa_sigaction == libc::SIG_DFL || old.sa_sigaction == libc::SIG_IGN)
            {
                continue;
            }
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &default, ptr::null_mut());
        }
    }
}

/// Sets `SIGPIPE`, which Rust and Python ignore, back to its default action.
///
/// # Safety
///
/// Only in the child of [`spawn`] (it changes the process's signal dispositions).
unsafe fn sigpipe_default() {
    // SAFETY: sigaction only reads the local struct it is given.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGPIPE, &default, ptr::null_mut());
    }
}

/// Marks every descriptor above 2 close-on-exec, so the program inherits only 0, 1 and 2 even if
/// a library in this process opened one without `O_CLOEXEC`.
///
/// # Safety
///
/// Only in the child of [`spawn`].
unsafe fn cloexec_above_stderr() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let marked = unsafe {
        libc::syscall(libc::SYS_close_range, 3 as c_uint, c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC)
    };
    if marked == 0 {
        return;
    }
    // SAFETY: getrlimit writes only the local struct; fcntl on a descriptor that is not open
    // fails with EBADF, which is what we want to ignore.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        let top = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur.min(FALLBACK_FD_SCAN)
        } else {
            FALLBACK_FD_SCAN
        };
        for fd in 3..top {
            let Ok(fd) = c_int::try_from(fd) else { return };
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot, always valid to read.
    unsafe { *libc::__errno_location() }
}
