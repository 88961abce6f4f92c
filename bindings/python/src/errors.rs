//! gsm-core's errors as the Python exceptions of `gsm._errors` (all rooted at `gsm.Error`), and
//! the panic boundary.
//!
//! The exception classes are declared in Python so that their extra attributes (`reason`,
//! `code`, `line`, `column`) are ordinary, typed attributes; this module only picks the class and
//! fills it from the Rust error. A Rust panic is a bug in gsm: [`guard`] turns it into
//! `gsm.InternalError` instead of letting it unwind into the interpreter.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use gsm_core::adapters::AdapterError;
use gsm_core::policy::{LoadError, Violation};
use gsm_core::runner;
use pyo3::call::PyCallArgs;
use pyo3::prelude::*;

/// An instance of the exception class `name` of `gsm._errors`, made with `args`.
fn raise<'py, A: PyCallArgs<'py>>(py: Python<'py>, name: &str, args: A) -> PyErr {
    match py.import("gsm._errors").and_then(|module| module.getattr(name)) {
        Ok(class) => match class.call1(args) {
            Ok(instance) => PyErr::from_value(instance),
            Err(err) => err,
        },
        Err(err) => err,
    }
}

/// `gsm.InternalError`: something that should not happen did.
pub fn internal(message: String) -> PyErr {
    Python::attach(|py| raise(py, "InternalError", (message,)))
}

/// `gsm.PolicyError`: the policy could not be loaded; line and column when known.
pub fn policy_load(py: Python<'_>, error: &LoadError) -> PyErr {
    let (line, column) = error.location().map(|at| (at.line, at.column)).unzip();
    raise(py, "PolicyError", (error.to_string(), line, column))
}

/// `gsm.PolicyViolation`: the policy refused the job.
pub fn violation(py: Python<'_>, violation: &Violation) -> PyErr {
    raise(py, "PolicyViolation", (violation.to_string(), violation.reason()))
}

/// `gsm.JobSpecError`: the job is not a valid job spec.
pub fn job_spec(py: Python<'_>, message: String) -> PyErr {
    raise(py, "JobSpecError", (message,))
}

/// `gsm.RunError`: the runner could not run an approved command.
pub fn run(py: Python<'_>, error: &runner::Error) -> PyErr {
    raise(py, "RunError", (chain(error),))
}

/// A `gsm.GameError` subclass for an adapter failure, carrying its stable code.
pub fn game(py: Python<'_>, error: &AdapterError) -> PyErr {
    let class = match error {
        AdapterError::Connect { .. } => "GameUnreachable",
        AdapterError::AuthFailed => "GameAuthFailed",
        AdapterError::Timeout(_) => "GameTimeout",
        AdapterError::Rejected(_) => "GameCommandRejected",
        AdapterError::Closed => "GameConnectionClosed",
        _ => "GameError",
    };
    raise(py, class, (error.to_string(), error.code()))
}

/// The error and its sources, one sentence each.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Runs `body`, turning a panic into `gsm.InternalError`.
pub fn guard<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| Err(internal(panicked(&*panic))))
}

/// The message of a panic, as the error a user sees.
pub fn panicked(panic: &(dyn Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    format!("gsm panicked (a bug in gsm; please report it): {message}")
}

/// Panics with `message` inside the panic boundary: lets the tests prove a panic reaches Python
/// as `gsm.InternalError` rather than aborting the interpreter.
#[pyfunction]
pub fn _panic_for_tests(message: &str) -> PyResult<()> {
    guard(|| panic!("{message}"))
}
