//! Waiting for gsm-core's futures from Python: the GIL released while waiting, and Python's signal
//! handlers run every [`TICK`].
//!
//! Everything runs on one shared multi-threaded runtime, so work goes on between Python calls (a
//! console connection's socket task, a `Run` read chunk by chunk from asyncio). A per-call
//! current-thread runtime for `gsm.run` was measured too: on this machine it made `/bin/true`
//! slower (the child's reaping was noticed later), so it is not used.
//!
//! A wait is a loop of short `block_on`s rather than one long one so that a Ctrl-C (which CPython
//! only turns into `KeyboardInterrupt` when someone calls `PyErr_CheckSignals`) is noticed within
//! a tick. What to do about the interruption is the caller's: a run cancels its job and waits for
//! the process group to be reaped before raising.

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
