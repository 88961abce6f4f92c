//! `gsm.run` and `gsm._gsm.Run`: gsm-core's runner driven from Python.
//!
//! The job runs on the shared runtime; Python waits for its output chunks with the GIL released.
//! Whatever stops the wait early (Ctrl-C, an exception in `on_output`, an asyncio task being
//! cancelled) cancels the job through gsm-core's [`Cancel`] — SIGTERM to the process group, SIGKILL
//! after the policy's grace — and waits until the runner has reaped it before the exception
//! propagates, so no process of the job outlives the call and no zombie is left.

use std::sync::{Mutex, PoisonError};

use gsm_core::job;
use gsm_core::policy::ApprovedCommand;
use gsm_core::runner::{self, Cancel, OutputChunk};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::blocking::{
    interruptible, interruptible_detached, runtime, uninterruptible, with_thread_runtime,
};
use crate::errors::{self, guard};
use crate::job::{JobResult, JobSpec, Output, stream_name};
use crate::policy::Policy;

/// Chunks in flight between the runner and Python: with the runner's 64 KiB chunks, at most
/// 1 MiB waits for a slow consumer before the child is slowed through its pipe.
const CHUNKS_IN_FLIGHT: usize = 16;

type Finished = Result<job::JobResult, runner::Error>;

/// A job started on the runtime.
struct Started {
    chunks: mpsc::Receiver<OutputChunk>,
    cancel: Cancel,
    task: JoinHandle<Finished>,
}

impl Started {
    fn start(runtime: &Runtime, command: ApprovedCommand) -> Started {
        let _entered = runtime.enter();
        Started::start_here(command)
    }

    /// Starts the job on the runtime this is called in.
    fn start_here(command: ApprovedCommand) -> Started {
        let (sink, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let cancel = Cancel::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move { runner::run(&command, sink, &stop).await });
        Started { chunks, cancel, task }
    }
}

/// The approved command for `job`, with `timeout` (seconds) in place of the job's own timeout;
/// the policy checks either.
fn approve(
    py: Python<'_>,
    job: &JobSpec,
    policy: &Policy,
    timeout: Option<u64>,
) -> PyResult<ApprovedCommand> {
    match timeout {
        None => policy.approve(py, &job.spec),
        Some(seconds) => {
            let mut spec = job.spec.clone();
            spec.timeout_secs = Some(seconds);
            policy.approve(py, &spec)
        }
    }
}

/// How the runner's task ended, as a Python result or exception.
fn finished(
    py: Python<'_>,
    ended: Result<Finished, tokio::task::JoinError>,
) -> PyResult<job::JobResult> {
    match ended {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(err)) => Err(errors::run(py, &err)),
        Err(err) if err.is_panic() => Err(errors::internal(errors::panicked(&*err.into_panic()))),
        Err(err) => Err(errors::internal(format!("the job's task ended early: {err}"))),
    }
}

/// Runs `job` under `policy` and returns its result; `on_output(stream, data)` is called with
/// each chunk of output as it arrives.
#[pyfunction]
#[pyo3(signature = (job, policy, *, on_output = None, timeout = None))]
pub fn run(
    py: Python<'_>,
    job: &JobSpec,
    policy: &Policy,
    on_output: Option<Bound<'_, PyAny>>,
    timeout: Option<u64>,
) -> PyResult<JobResult> {
    guard(|| {
        let command = approve(py, job, policy, timeout)?;
        with_thread_runtime(|runtime| run_on(py, runtime, command, on_output.as_ref()))
    })
}

/// [`run`] on `runtime`, which this thread drives while it waits.
fn run_on(
    py: Python<'_>,
    runtime: &Runtime,
    command: ApprovedCommand,
    on_output: Option<&Bound<'_, PyAny>>,
) -> PyResult<JobResult> {
    // Spawned from inside the runtime (which this thread drives), the task is queued locally:
    // spawning from outside would wake the runtime's driver through its eventfd first.
    let Started { mut chunks, cancel, task } =
        runtime.block_on(async { Started::start_here(command) });
    let mut output = Output::default();
    let stopped = loop {
        let chunk = match interruptible(py, runtime, chunks.recv()) {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break None,
            Err(interrupt) => break Some(interrupt),
        };
        output.push(&chunk);
        if let Some(callback) = on_output {
            let data = PyBytes::new(py, &chunk.data);
            if let Err(raised) = callback.call1((stream_name(chunk.stream), data)) {
                break Some(raised);
            }
        }
    };
    if let Some(raised) = stopped {
        cancel.cancel();
        drop(chunks);
        // Reaped before the exception propagates; how it ended no longer matters.
        let _ = uninterruptible(py, runtime, task);
        return Err(raised);
    }
    let result = finished(py, uninterruptible(py, runtime, task))?;
    Ok(JobResult::new(result, output))
}

/// A job running in the background, read chunk by chunk: what `gsm.stream` and `gsm.run_async`
/// are built on. Dropping it cancels the job (the runtime still reaps it).
#[pyclass(module = "gsm._gsm", frozen)]
pub struct Run {
    cancel: Cancel,
    state: Mutex<RunState>,
}

struct RunState {
    chunks: Option<mpsc::Receiver<OutputChunk>>,
    task: Option<JoinHandle<Finished>>,
    output: Output,
    result: Option<job::JobResult>,
}

impl Run {
    /// Runs `body` on the state with the GIL released (another thread may hold the lock while
    /// it waits for the job).
    fn with_state<T: Send>(
        &self,
        py: Python<'_>,
        body: impl FnOnce(&mut RunState) -> PyResult<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| body(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    /// Cancels the job and waits, signals ignored, until it is reaped.
    fn stop(&self, runtime: &Runtime, state: &mut RunState) {
        self.cancel.cancel();
        state.chunks = None;
        if let Some(task) = state.task.take() {
            // How it ended no longer matters: the caller raises.
            let _ = runtime.block_on(task);
        }
    }
}

#[pymethods]
impl Run {
    /// Checks `job` against `policy` and starts it.
    #[new]
    #[pyo3(signature = (job, policy, *, timeout = None))]
    fn new(py: Python<'_>, job: &JobSpec, policy: &Policy, timeout: Option<u64>) -> PyResult<Run> {
        guard(|| {
            let command = approve(py, job, policy, timeout)?;
            let Started { chunks, cancel, task } = Started::start(runtime()?, command);
            let state = RunState {
                chunks: Some(chunks),
                task: Some(task),
                output: Output::default(),
                result: None,
            };
            Ok(Run { cancel, state: Mutex::new(state) })
        })
    }

    /// The next `(stream, data)` chunk, or `None` once the job's output has ended. An
    /// interruption (Ctrl-C) cancels the job and waits until it is reaped before it is raised.
    fn next_chunk<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<(&'static str, Bound<'py, PyBytes>)>> {
        guard(|| {
            let runtime = runtime()?;
            let chunk = self.with_state(py, |state| {
                let Some(chunks) = state.chunks.as_mut() else { return Ok(None) };
                match interruptible_detached(runtime, chunks.recv()) {
                    Ok(Some(chunk)) => {
                        state.output.push(&chunk);
                        Ok(Some(chunk))
                    }
                    Ok(None) => {
                        state.chunks = None;
                        Ok(None)
                    }
                    Err(interrupt) => {
                        self.stop(runtime, state);
                        Err(interrupt)
                    }
                }
            })?;
            Ok(chunk.map(|chunk| (stream_name(chunk.stream), PyBytes::new(py, &chunk.data))))
        })
    }

    /// Stops the job: SIGTERM to its process group, SIGKILL after the policy's grace.
    fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the job to end (reaped) and returns its result; output not yet read is
    /// discarded. An interruption (Ctrl-C) cancels the job and waits until it is reaped.
    fn wait(&self, py: Python<'_>) -> PyResult<JobResult> {
        guard(|| {
            let runtime = runtime()?;
            let (ended, earlier, output) = self.with_state(py, |state| {
                // Nobody reads further: the runner discards the rest rather than block the child.
                state.chunks = None;
                let ended = match state.task.take() {
                    None => None,
                    Some(mut task) => match interruptible_detached(runtime, &mut task) {
                        Ok(ended) => Some(ended),
                        Err(interrupt) => {
                            state.task = Some(task);
                            self.stop(runtime, state);
                            return Err(interrupt);
                        }
                    },
                };
                Ok((ended, state.result.clone(), state.output.clone()))
            })?;
            let result = match (ended, earlier) {
                (Some(ended), _) => finished(py, ended)?,
                (None, Some(result)) => result,
                (None, None) => {
                    return Err(errors::internal(
                        "the job ended without a result (an earlier wait failed)".to_owned(),
                    ));
                }
            };
            let kept = result.clone();
            self.with_state(py, |state| {
                state.result = Some(kept);
                Ok(())
            })?;
            Ok(JobResult::new(result, output))
        })
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
