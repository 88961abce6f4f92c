//! `gsm.JobSpec` and `gsm.JobResult`: gsm-core's job schema, validated by its serde derives, so
//! a job built in Python has exactly the shape the server and the agent accept.

use std::collections::BTreeMap;

use gsm_core::job::{self, CommandSpec, JobKind};
use gsm_core::runner::{OutputChunk, Stream};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::convert;
use crate::errors::{self, guard};

/// Who a job built with `JobSpec.command` says asked for it.
const REQUESTER: &str = "python";

/// What a job asks for: a command (program, argv, working directory, environment) or a game
/// action, with optional limits.
#[pyclass(module = "gsm", frozen, eq)]
#[derive(PartialEq)]
pub struct JobSpec {
    pub spec: job::JobSpec,
}

#[pymethods]
impl JobSpec {
    /// A job spec from a dict in the wire's JSON shape; raises `gsm.JobSpecError` saying what
    /// is wrong.
    #[staticmethod]
    fn from_dict(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<JobSpec> {
        guard(|| {
            let value = convert::from_py(data, "job")?;
            serde_json::from_value(value)
                .map(|spec| JobSpec { spec })
                .map_err(|err| errors::job_spec(py, format!("invalid job spec: {err}")))
        })
    }

    /// A job spec from JSON text; errors carry the line and column.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<JobSpec> {
        guard(|| {
            serde_json::from_str(text)
                .map(|spec| JobSpec { spec })
                .map_err(|err| errors::job_spec(py, format!("invalid job spec: {err}")))
        })
    }

    /// A command job run on this host: a fresh id, the nil host, requested by `local`/`python`.
    #[staticmethod]
    #[pyo3(signature = (program, args = Vec::new(), *, cwd = None, env = None, timeout_secs = None, output_cap_bytes = None))]
    fn command(
        program: String,
        args: Vec<String>,
        cwd: Option<String>,
        env: Option<BTreeMap<String, String>>,
        timeout_secs: Option<u64>,
        output_cap_bytes: Option<u64>,
    ) -> JobSpec {
        let kind =
            JobKind::Command(CommandSpec { program, args, cwd, env: env.unwrap_or_default() });
        let mut spec = job::JobSpec::local(kind, REQUESTER);
        spec.timeout_secs = timeout_secs;
        spec.output_cap_bytes = output_cap_bytes;
        JobSpec { spec }
    }

    /// The job's id (a UUID string).
    #[getter]
    fn id(&self) -> String {
        self.spec.id.to_string()
    }

    /// The host's id (a UUID string; the nil UUID for a local job).
    #[getter]
    fn host(&self) -> String {
        self.spec.host.to_string()
    }

    /// The wall-clock limit the job asks for, in seconds, or `None` for the policy's default.
    #[getter]
    fn timeout_secs(&self) -> Option<u64> {
        self.spec.timeout_secs
    }

    /// The output cap the job asks for, in bytes, or `None` for the policy's default.
    #[getter]
    fn output_cap_bytes(&self) -> Option<u64> {
        self.spec.output_cap_bytes
    }

    /// The job in its JSON shape, as a dict (`JobSpec.from_dict(spec.to_dict()) == spec`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_py(py, &self.spec)
    }

    /// The job as JSON text.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.spec)
            .map_err(|err| errors::internal(format!("serialising a job spec: {err}")))
    }

    fn __repr__(&self) -> String {
        match &self.spec.kind {
            JobKind::Command(command) => {
                format!("<gsm.JobSpec id={} command={:?}>", self.spec.id, command.program)
            }
            JobKind::Game(action) => {
                format!("<gsm.JobSpec id={} game={}/{}>", self.spec.id, action.game, action.action)
            }
        }
    }
}

/// The output a run kept, in the order the runner read it.
#[derive(Default, Clone)]
pub struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    both: Vec<u8>,
}

impl Output {
    /// Keeps a chunk.
    pub fn push(&mut self, chunk: &OutputChunk) {
        match chunk.stream {
            Stream::Stdout => self.stdout.extend_from_slice(&chunk.data),
            Stream::Stderr => self.stderr.extend_from_slice(&chunk.data),
        }
        self.both.extend_from_slice(&chunk.data);
    }
}

/// The name a stream has in Python: `"stdout"` or `"stderr"`.
pub fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

/// How a job ended: exit code or signal, duration, how much output it wrote and what was kept.
#[pyclass(module = "gsm", frozen)]
pub struct JobResult {
    result: job::JobResult,
    output: Output,
}

impl JobResult {
    pub fn new(result: job::JobResult, output: Output) -> Self {
        JobResult { result, output }
    }
}

#[pymethods]
impl JobResult {
    /// Why the process ended: `"exited"`, `"timed_out"` or `"cancelled"`.
    #[getter]
    fn termination(&self) -> PyResult<String> {
        match serde_json::to_value(self.result.termination) {
            Ok(serde_json::Value::String(name)) => Ok(name),
            other => Err(errors::internal(format!("a termination serialised as {other:?}"))),
        }
    }

    /// The job state this result leads to: `"succeeded"`, `"failed"`, `"timed_out"` or
    /// `"cancelled"`.
    #[getter]
    fn state(&self) -> &'static str {
        self.result.final_state().as_str()
    }

    /// The exit code, when the process exited normally.
    #[getter]
    fn exit_code(&self) -> Option<i32> {
        self.result.exit_code
    }

    /// The signal that ended the process, when one did.
    #[getter]
    fn signal(&self) -> Option<i32> {
        self.result.signal
    }

    /// Wall-clock time from spawn to reap, in seconds.
    #[getter]
    fn duration(&self) -> f64 {
        self.result.duration_ms as f64 / 1000.0
    }

    /// Wall-clock time from spawn to reap, in milliseconds.
    #[getter]
    fn duration_ms(&self) -> u64 {
        self.result.duration_ms
    }

    /// Bytes written to stdout and stderr, including any not kept.
    #[getter]
    fn output_bytes(&self) -> u64 {
        self.result.output_bytes
    }

    /// Bytes kept (at most the output cap).
    #[getter]
    fn kept_bytes(&self) -> u64 {
        self.result.kept_bytes
    }

    /// True when output past the cap was dropped.
    #[getter]
    fn truncated(&self) -> bool {
        self.result.truncated
    }

    /// The kept standard output.
    #[getter]
    fn stdout<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.output.stdout)
    }

    /// The kept standard error.
    #[getter]
    fn stderr<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.output.stderr)
    }

    /// All kept output, both streams in the order it was read.
    #[getter]
    fn output<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.output.both)
    }

    /// The result in its JSON shape (without the output), as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_py(py, &self.result)
    }

    fn __repr__(&self) -> String {
        let or_none = |value: Option<i32>| value.map_or("None".to_owned(), |v| v.to_string());
        format!(
            "<gsm.JobResult state={} exit_code={} signal={} duration_ms={}>",
            self.result.final_state().as_str(),
            or_none(self.result.exit_code),
            or_none(self.result.signal),
            self.result.duration_ms
        )
    }
}
