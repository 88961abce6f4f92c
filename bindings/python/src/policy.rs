//! `gsm.Policy` and `gsm.ApprovedCommand`: gsm-core's command policy, loaded and asked from
//! Python. The decision is [`gsm_core::policy::Policy::check`]'s alone.

use std::path::PathBuf;

use gsm_core::policy;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{self, guard};
use crate::job::JobSpec;

/// A host policy: which programs, arguments, working directories and environment may run.
#[pyclass(module = "gsm", frozen)]
pub struct Policy {
    policy: policy::Policy,
}

#[pymethods]
impl Policy {
    /// Parses and validates a policy from TOML text; raises `gsm.PolicyError` saying where
    /// and what is wrong.
    #[staticmethod]
    fn from_toml(py: Python<'_>, text: &str) -> PyResult<Policy> {
        guard(|| {
            policy::Policy::from_toml_str(text)
                .map(|policy| Policy { policy })
                .map_err(|err| errors::policy_load(py, &err))
        })
    }

    /// Reads a policy file; errors name the file, line and column.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Policy> {
        guard(|| {
            policy::Policy::from_file(&path)
                .map(|policy| Policy { policy })
                .map_err(|err| errors::policy_load(py, &err))
        })
    }

    /// The normalised command the policy allows for `job`, or `gsm.PolicyViolation`.
    fn check(&self, py: Python<'_>, job: &JobSpec) -> PyResult<ApprovedCommand> {
        guard(|| self.approve(py, &job.spec).map(|command| ApprovedCommand { command }))
    }

    fn __repr__(&self) -> String {
        "<gsm.Policy>".to_owned()
    }
}

impl Policy {
    /// The approved command for `job`, or the violation raised as `gsm.PolicyViolation`.
    pub fn approve(
        &self,
        py: Python<'_>,
        job: &gsm_core::job::JobSpec,
    ) -> PyResult<policy::ApprovedCommand> {
        self.policy.check(job).map_err(|violation| errors::violation(py, &violation))
    }
}

/// A command a policy allowed, normalised: canonical program, argv, working directory inside an
/// allowed root, the complete environment and the limits it runs under.
#[pyclass(module = "gsm", frozen)]
pub struct ApprovedCommand {
    command: policy::ApprovedCommand,
}

#[pymethods]
impl ApprovedCommand {
    /// The canonical absolute path of the program.
    #[getter]
    fn program(&self) -> PathBuf {
        self.command.program().to_path_buf()
    }

    /// The arguments after the program name.
    #[getter]
    fn args(&self) -> Vec<String> {
        self.command.args().to_vec()
    }

    /// The working directory (root and relative part joined).
    #[getter]
    fn cwd(&self) -> PathBuf {
        self.command.cwd()
    }

    /// The child's complete environment.
    #[getter]
    fn env<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let env = PyDict::new(py);
        for (name, value) in self.command.env() {
            env.set_item(name, value)?;
        }
        Ok(env)
    }

    /// The wall-clock limit, in seconds.
    #[getter]
    fn timeout(&self) -> f64 {
        self.command.timeout().as_secs_f64()
    }

    /// The cap on kept output, in bytes.
    #[getter]
    fn output_cap_bytes(&self) -> u64 {
        self.command.output_cap_bytes()
    }

    /// Seconds between SIGTERM and SIGKILL when the job is stopped.
    #[getter]
    fn kill_grace(&self) -> f64 {
        self.command.kill_grace().as_secs_f64()
    }

    /// The command as a dict, in the JSON shape `gsm-agent policy check` prints.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::convert::to_py(py, &self.command)
    }

    fn __repr__(&self) -> String {
        format!(
            "<gsm.ApprovedCommand program={:?} args={:?}>",
            self.command.program(),
            self.command.args()
        )
    }
}
