//! Waiting for gsm-core's futures from Python: the GIL released while waiting, and Python's signal
//! handlers run every [`TICK`].
//!
//! Work that must go on between Python calls (a console connection's socket task, a `Run` read
//! chunk by chunk from asyncio) runs on one shared multi-threaded runtime ([`runtime`]). `gsm.run`,
//! which waits for its whole job inside one call, runs on a current-thread runtime kept per Python
//! thread ([`with_thread_runtime`]): the calling thread then drives the job's I/O itself, so a
//! short job costs no hand-off to a worker thread and back (measured: `/bin/true` 0.1 ms faster
//! on a loaded machine, see docs/benchmarks.md).
//!
//! A wait is a loop of short `block_on`s rather than one long one so that a Ctrl-C (which CPython
//! only turns into `KeyboardInterrupt` when someone calls `PyErr_CheckSignals`) is noticed within
//! a tick. What to do about the interruption is the caller's: a run cancels its job and waits for
//! the process group to be reaped before raising.

use std::cell::OnceCell;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::errors;

/// How often a wait checks for signals.
const TICK: Duration = Duration::from_millis(50);

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime every job and console connection of this process runs on, made on first use.
pub fn runtime() -> PyResult<&'static Runtime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gsm-runtime")
        .enable_all()
        .build()
        .map_err(|err| errors::internal(format!("could not start gsm's async runtime: {err}")))?;
    // Two threads may race to make it; the loser's runtime is dropped unused.
    Ok(RUNTIME.get_or_init(|| runtime))
}

thread_local! {
    /// This thread's current-thread runtime, made on first use and dropped with the thread.
    static THREAD_RUNTIME: OnceCell<Runtime> = const { OnceCell::new() };
}

/// Calls `body` with this thread's current-thread runtime, made on first use. Futures given to it
/// make progress only while this thread waits on it (`block_on`), so it suits a call that waits
/// for its work to finish before returning.
pub fn with_thread_runtime<T>(body: impl FnOnce(&Runtime) -> PyResult<T>) -> PyResult<T> {
    THREAD_RUNTIME.with(|cell| {
        let runtime = match cell.get() {
            Some(runtime) => runtime,
            None => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|err| {
                        errors::internal(format!("could not start gsm's async runtime: {err}"))
                    })?;
                cell.get_or_init(|| runtime)
            }
        };
        body(runtime)
    })
}

/// Waits for `future` on `runtime` with the GIL released; `Err` when a signal handler raised
/// (the future is then dropped unfinished).
pub fn interruptible<F>(py: Python<'_>, runtime: &Runtime, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    py.detach(|| interruptible_detached(runtime, future))
}

/// [`interruptible`] for a caller that has already released the GIL.
pub fn interruptible_detached<F: Future>(runtime: &Runtime, future: F) -> PyResult<F::Output> {
    let mut future = std::pin::pin!(future);
    loop {
        // The timer must be made inside the runtime's context, hence the async block.
        if let Ok(output) =
            runtime.block_on(async { tokio::time::timeout(TICK, future.as_mut()).await })
        {
            return Ok(output);
        }
        Python::attach(|py| py.check_signals())?;
    }
}

/// Waits for `future` with the GIL released, ignoring signals: for the end of a job that is
/// already being stopped, which must be reaped before anything is raised.
pub fn uninterruptible<F>(py: Python<'_>, runtime: &Runtime, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    py.detach(|| runtime.block_on(future))
}

/// A timeout given in seconds from Python, checked.
pub fn seconds(what: &str, value: f64) -> PyResult<Duration> {
    match Duration::try_from_secs_f64(value) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{what} must be a positive number of seconds, not {value}"
        ))),
    }
}
