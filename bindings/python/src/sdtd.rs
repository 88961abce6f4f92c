//! `gsm.sdtd`: 7 Days to Die's Telnet console (`Telnet`) and its log-line parser (`parse_line`),
//! both gsm-core's ([`gsm_core::adapters::sdtd`]).
//!
//! `Telnet` holds one gsm-core client behind a mutex that is only taken with the GIL released, so
//! a thread waiting for the console never blocks the interpreter. It logs in on first use and
//! again after the connection is lost; console log lines are kept in gsm-core's bounded log sink
//! (the oldest are dropped, and counted, when nobody reads them).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

use gsm_core::adapters::sdtd::{client, events, parse};
use gsm_core::adapters::{AdapterError, GameAdapter};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tokio::sync::mpsc;

use crate::blocking::{interruptible_detached, runtime, seconds};
use crate::convert;
use crate::errors::{self, guard};

/// Console log lines kept for `read_log` before the oldest are dropped.
const LOG_LINES: usize = 4096;

type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, AdapterError>> + Send + 'a>>;

struct Connected {
    client: client::Client,
    logs: mpsc::Receiver<String>,
}

/// A 7 Days to Die Telnet console connection; logs in on first use.
#[pyclass(module = "gsm.sdtd", frozen)]
pub struct Telnet {
    config: client::ClientConfig,
    connection: Mutex<Option<Connected>>,
}

impl Telnet {
    /// Runs `call` on a logged-in client (logging in first when needed), the GIL released.
    fn call<T, F>(&self, py: Python<'_>, call: F) -> PyResult<T>
    where
        T: Send,
        F: for<'a> FnOnce(&'a mut Connected) -> Call<'a, T> + Send,
    {
        let runtime = runtime()?;
        let outcome = py.detach(|| -> PyResult<Result<T, AdapterError>> {
            let mut connection = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
            if connection.as_ref().is_none_or(|connected| connected.client.is_closed()) {
                *connection = None;
                let (sink, logs) = client::LogSink::channel(LOG_LINES);
                match interruptible_detached(runtime, client::Client::connect(&self.config, sink))?
                {
                    Ok(client) => *connection = Some(Connected { client, logs }),
                    Err(err) => return Ok(Err(err)),
                }
            }
            let Some(connected) = connection.as_mut() else {
                return Ok(Err(AdapterError::Closed));
            };
            interruptible_detached(runtime, call(connected))
        })?;
        outcome.map_err(|err| errors::game(py, &err))
    }
}

#[pymethods]
impl Telnet {
    /// A console at `host:port`; `password` is `None` for a console without one. `timeout`
    /// bounds the login and each command, in seconds.
    #[new]
    #[pyo3(signature = (host, port, password = None, *, timeout = 5.0))]
    fn new(host: &str, port: u16, password: Option<String>, timeout: f64) -> PyResult<Telnet> {
        let timeout = seconds("timeout", timeout)?;
        let mut config = client::ClientConfig::new(format!("{host}:{port}"));
        config.password = password.map(client::Password::new);
        config.connect_timeout = timeout;
        config.command_timeout = timeout;
        Ok(Telnet { config, connection: Mutex::new(None) })
    }

    /// Connects and logs in now, unless already connected.
    fn connect(&self, py: Python<'_>) -> PyResult<()> {
        guard(|| self.call(py, |_| Box::pin(async { Ok(()) })))
    }

    /// Runs a console command and returns its response (log lines excluded).
    fn command(&self, py: Python<'_>, command: String) -> PyResult<String> {
        guard(|| {
            let lines = self.call(py, move |connected| {
                Box::pin(async move { connected.client.command_lines(&command).await })
            })?;
            Ok(lines.join("\n"))
        })
    }

    /// The players online (`listplayers`, parsed): a dict per player with `id`, `name`,
    /// `entity_id` and whatever else the game printed.
    fn players<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let list = self.call(py, |connected| Box::pin(connected.client.players()))?;
            let players = list
                .players
                .iter()
                .map(|player| player_dict(py, player))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, players)
        })
    }

    /// The game's status (version, players online, world time), as gsm's heartbeat reports it.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| {
            let status = self.call(py, |connected| connected.client.status())?;
            convert::to_py(py, &status)
        })
    }

    /// Broadcasts a chat message to every player.
    fn say(&self, py: Python<'_>, message: String) -> PyResult<()> {
        guard(|| {
            self.call(py, move |connected| {
                Box::pin(async move { connected.client.say(&message).await })
            })
        })
    }

    /// Saves the world.
    fn save(&self, py: Python<'_>) -> PyResult<()> {
        guard(|| self.call(py, |connected| connected.client.save()))
    }

    /// Shuts the game server down cleanly.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        guard(|| self.call(py, |connected| connected.client.shutdown()))
    }

    /// The next console log line, waiting up to `timeout` seconds (`None`: until one comes);
    /// `None` when none came in time.
    #[pyo3(signature = (timeout = None))]
    fn read_log(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<String>> {
        guard(|| {
            let limit = timeout.map(|value| seconds("timeout", value)).transpose()?;
            self.call(py, move |connected| {
                Box::pin(async move {
                    let next = connected.logs.recv();
                    match limit {
                        None => next.await.ok_or(AdapterError::Closed).map(Some),
                        Some(limit) => match tokio::time::timeout(limit, next).await {
                            Err(_) => Ok(None),
                            Ok(line) => line.ok_or(AdapterError::Closed).map(Some),
                        },
                    }
                })
            })
        })
    }

    /// Closes the connection; the next call logs in again.
    fn close(&self, py: Python<'_>) {
        let connection =
            py.detach(|| self.connection.lock().unwrap_or_else(PoisonError::into_inner).take());
        drop(connection);
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
        format!("<gsm.sdtd.Telnet {}>", self.config.address)
    }
}

fn player_dict<'py>(py: Python<'py>, player: &parse::OnlinePlayer) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("id", player.id())?;
    dict.set_item("name", &player.name)?;
    dict.set_item("entity_id", player.entity_id)?;
    dict.set_item("platform_id", &player.platform_id)?;
    dict.set_item("cross_id", &player.cross_id)?;
    dict.set_item("ip", &player.ip)?;
    dict.set_item("ping", player.ping)?;
    dict.set_item("level", player.level)?;
    dict.set_item("health", player.health)?;
    dict.set_item("score", player.score)?;
    dict.set_item("deaths", player.deaths)?;
    dict.set_item("zombies", player.zombies)?;
    dict.set_item("players", player.players)?;
    dict.set_item("position", player.position.map(|[x, y, z]| (x, y, z)))?;
    dict.set_item("remote", player.remote)?;
    Ok(dict)
}

/// One 7DTD log line as an event dict (`kind`, the event's fields, `time`, `uptime_s`, `level`,
/// `raw`), or `None` when the line is not an event.
#[pyfunction]
pub fn parse_line<'py>(py: Python<'py>, line: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    guard(|| {
        let Some(event) = events::parse_line(line) else { return Ok(None) };
        convert::to_py(py, &event).map(Some)
    })
}
