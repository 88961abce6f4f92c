//! `gsm._gsm`: the native half of the `gsm` Python package, a thin pyo3 layer over gsm-core.
//!
//! The invariant: no logic lives here. Every decision (what a policy allows, how a job runs, what
//! a log line means, how a console answers) is gsm-core's; this crate only converts values
//! between Python and Rust, maps gsm-core's errors to the Python exceptions of `gsm._errors`, and
//! waits for gsm-core's futures with the GIL released while checking for signals, so Ctrl-C
//! stops a run the way gsm's own cancel does. The Python modules in `python/gsm/` re-export these
//! types under their public names and add the asyncio adapters.

mod blocking;
mod convert;
mod errors;
mod job;
mod policy;
mod rcon;
mod run;
mod sdtd;

use pyo3::prelude::*;

#[pymodule]
fn _gsm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<policy::Policy>()?;
    m.add_class::<policy::ApprovedCommand>()?;
    m.add_class::<job::JobSpec>()?;
    m.add_class::<job::JobResult>()?;
    m.add_class::<run::Run>()?;
    m.add_function(wrap_pyfunction!(run::run, m)?)?;
    m.add_class::<sdtd::Telnet>()?;
    m.add_function(wrap_pyfunction!(sdtd::parse_line, m)?)?;
    m.add_class::<rcon::Client>()?;
    m.add_function(wrap_pyfunction!(errors::_panic_for_tests, m)?)?;
    Ok(())
}
