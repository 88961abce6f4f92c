//! `clone3` with `CLONE_CLEAR_SIGHAND`: the kernel resets every handled signal to its default
//! action in the child, so the child need not ask about each of the 64 signals itself before it
//! may unblock them (that loop of system calls was the largest part of a short job's spawn cost).
//!
//! glibc has no public `clone3`, and a `CLONE_VM` child cannot return from a system call wrapper
//! onto a stack it does not own, so the system call is made here in a few lines of assembly: in
//! the child (return value 0) they call the given function on the new stack, which must never
//! return (it `execve`s or `_exit`s). x86-64 only; elsewhere, and on kernels or sandboxes that
//! refuse `clone3` or the flag (before Linux 5.5, some seccomp profiles), [`clone_vfork`] answers
//! [`Clone3::Unsupported`] and the caller falls back to `clone` and the loop.

use std::ffi::{c_int, c_void};
use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

/// `CLONE_CLEAR_SIGHAND` (Linux 5.5), which the libc crate does not define.
#[cfg(target_arch = "x86_64")]
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// Whether `clone3` with our flags works here: not yet known, yes, no.
static SUPPORT: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const WORKS: u8 = 1;
const REFUSED: u8 = 2;

/// How a [`clone_vfork`] went.
pub(super) enum Clone3 {
    /// The child ran and has exec'd or exited (`CLONE_VFORK`); its pid.
    Started(c_int),
    /// This kernel, sandbox or architecture does not offer it; use `clone`.
    Unsupported,
    /// The kernel refused for another reason (no memory, process limit).
    Failed(io::Error),
}

/// Whether the last [`clone_vfork`] on this machine worked (for tests: the fast path is taken).
#[cfg(test)]
pub(super) fn works() -> bool {
    SUPPORT.load(Ordering::Relaxed) == WORKS
}

/// Makes this process use the fallback from now on (for tests of the fallback).
#[cfg(test)]
pub(super) fn refuse() {
    SUPPORT.store(REFUSED, Ordering::Relaxed);
}

/// `struct clone_args` up to `tls` (`CLONE_ARGS_SIZE_VER0`, 64 bytes).
#[cfg(target_arch = "x86_64")]
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// Starts a child with `CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND` that runs
/// `child(arg)` on the `stack_size` bytes above `stack_low`, storing its pidfd in `pidfd`.
///
/// # Safety
///
/// As for `clone(CLONE_VM | CLONE_VFORK)`: `child` must follow the rules of a child that shares
/// the parent's memory and must never return; the stack must be writable, unused by anyone else,
/// and its top 16-byte aligned; `arg` must stay valid until this returns.
#[allow(unused_variables)] // The arguments are unused where only the fallback exists.
pub(super) unsafe fn clone_vfork(
    stack_low: *mut c_void,
    stack_size: usize,
    pidfd: &mut c_int,
    child: extern "C" fn(*mut c_void) -> c_int,
    arg: *mut c_void,
) -> Clone3 {
    if SUPPORT.load(Ordering::Relaxed) == REFUSED {
        return Clone3::Unsupported;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let args = CloneArgs {
            flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64
                | CLONE_CLEAR_SIGHAND,
            pidfd: std::ptr::from_mut(pidfd) as u64,
            child_tid: 0,
            parent_tid: 0,
            exit_signal: libc::SIGCHLD as u64,
            stack: stack_low as u64,
            stack_size: stack_size as u64,
            tls: 0,
        };
        let ret: i64;
        // SAFETY: the clone3 system call with a valid `clone_args` of the size given. In the
        // parent only rax (the result) and rcx and r11 (which `syscall` clobbers) change. The
        // child starts on the new stack with the parent's registers, rax 0: it clears the frame
        // pointer and calls `child(arg)` (r12, r13 survive the system call), which never returns
        // (ud2 traps if it did). The stack top is 16-byte aligned, so `call` leaves the callee the
        // alignment the ABI promises. The caller upholds the rest (see # Safety).
        unsafe {
            std::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "xor ebp, ebp",
                "mov rdi, r12",
                "call r13",
                "ud2",
                "2:",
                inlateout("rax") libc::SYS_clone3 => ret,
                in("rdi") std::ptr::from_ref(&args),
                in("rsi") size_of::<CloneArgs>(),
                in("r12") arg,
                in("r13") child as usize,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        if ret > 0 {
            SUPPORT.store(WORKS, Ordering::Relaxed);
            return Clone3::Started(ret as c_int);
        }
        let errno = i32::try_from(-ret).unwrap_or(libc::EINVAL);
        // ENOSYS: no clone3 (before 5.3, or a seccomp filter that hides it); EINVAL: a flag this
        // kernel does not know (CLONE_CLEAR_SIGHAND before 5.5); EPERM: a filter that forbids it.
        if matches!(errno, libc::ENOSYS | libc::EINVAL | libc::EPERM) {
            SUPPORT.store(REFUSED, Ordering::Relaxed);
            return Clone3::Unsupported;
        }
        Clone3::Failed(io::Error::from_raw_os_error(errno))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        SUPPORT.store(REFUSED, Ordering::Relaxed);
        Clone3::Unsupported
    }
}
