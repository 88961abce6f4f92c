//! `gsm.rcon.Client`: a Source RCON console (Minecraft, SRCDS, ID-less servers), gsm-core's
//! [`RconClient`] with the GIL released while it waits.
//!
//! The client logs in on first use and again after any failure (gsm-core's rule); a call
//! interrupted by Ctrl-C also drops the session, since the stream's position is then unknown.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

use gsm_core::adapters::rcon::client::{Flavor, RconClient, RconConfig};
use gsm_core::adapters::sdtd::client::Password;
use gsm_core::adapters::{AdapterError, ConsoleConfig, GameAdapter};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::blocking::{interruptible_detached, runtime, seconds};
use crate::convert;
use crate::errors::{self, guard};

type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, AdapterError>> + Send + 'a>>;

/// A Source RCON console; logs in on first use.
#[pyclass(module = "gsm.rcon", frozen)]
pub struct Client {
    address: String,
    client: Mutex<RconClient>,
}

impl Client {
    fn call<T, F>(&self, py: Python<'_>, call: F) -> PyResult<T>
    where
        T: Send,
        F: for<'a> FnOnce(&'a mut RconClient) -> Call<'a, T> + Send,
    {
        let runtime = runtime()?;
        let outcome = py.detach(|| {
            let mut client = self.client.lock().unwrap_or_else(PoisonError::into_inner);
            let outcome = interruptible_detached(runtime, call(&mut client));
            if outcome.is_err() {
                client.disconnect();
            }
            outcome
        })?;
        outcome.map_err(|err| errors::game(py, &err))
    }
}

#[pymethods]
impl Client {
    /// A console at `host:port` logging in with `password`. `flavor` is how the server frames
    /// responses: `"minecraft"`, `"source"` (SRCDS) or `"unechoed"` (Palworld, Conan Exiles).
    /// `timeout` bounds the login and each command, in seconds.
    #[new]
    #[pyo3(signature = (host, port, password, *, flavor = "minecraft", timeout = 5.0))]
    fn new(
        host: &str,
        port: u16,
        password: String,
        flavor: &str,
        timeout: f64,
    ) -> PyResult<Client> {
        let timeout = seconds("timeout", timeout)?;
        let flavor: Flavor = serde_json::from_value(serde_json::Value::String(flavor.to_owned()))
            .map_err(|_| {
            PyValueError::new_err(format!(
                "unknown RCON flavor {flavor:?}; use \"minecraft\", \"source\" or \"unechoed\""
            ))
        })?;
        let console = ConsoleConfig {
            address: host.to_owned(),
            port,
            password: None,
            timeout_ms: Some(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
        };
        let mut config = RconConfig::new(console, flavor);
        config.password = Some(Password::new(password));
        Ok(Client {
            address: format!("{host}:{port}"),
            client: Mutex::new(RconClient::new(config)),
        })
    }

    /// Connects and logs in now, unless a session is open.
    fn connect(&self, py: Python<'_>) -> PyResult<()> {
        guard(|| self.call(py, |client| Box::pin(client.connect())))
    }

    /// Runs a console command and returns its complete output.
    fn command(&self, py: Python<'_>, command: String) -> PyResult<String> {
        guard(|| {
            self.call(py, move |client| {
                Box::pin(async move { RconClient::command(client, &command).await })
            })
        })
    }

    /// The players online, a dict with `id` and `name` each (Minecraft's `list`).
    fn players<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let status = self.call(py, |client| client.status())?;
            Ok(convert::to_py(py, &status.players)?.cast_into::<PyList>()?)
        })
    }

    /// The game's status as gsm's heartbeat reports it.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| {
            let status = self.call(py, |client| client.status())?;
            convert::to_py(py, &status)
        })
    }

    /// Broadcasts a chat message (Minecraft and SRCDS).
    fn say(&self, py: Python<'_>, message: String) -> PyResult<()> {
        guard(|| self.call(py, move |client| Box::pin(async move { client.say(&message).await })))
    }

    /// Closes the session; the next call logs in again.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.client.lock().unwrap_or_else(PoisonError::into_inner).disconnect());
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().connect(slf.py())?;
        Ok(slf)
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("<gsm.rcon.Client {}>", self.address)
    }
}
