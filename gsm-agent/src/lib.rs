//! gsm-agent as a library: the pieces of the host agent, each behind its own module so the binary
//! and the integration tests share them.
//!
//! Code map: `config` (settings, the only reader of the environment), `telemetry` (logging),
//! `enroll` and `credential` (join token → host credential), `agent` (the `run` command),
//! `connection` (WebSocket session, heartbeats, reconnects) and `outbox` (serialised writes),
//! `executor` (assign/cancel/ack), `games` (game adapters, status, events, game jobs), `ledger` (at-most-once, durable), `spool` (output until
//! acknowledged), `process` (finding a crashed agent's jobs), `host_metrics`, `backoff`,
//! `durable` (atomic fsync'd writes). Invariant: a job id in the ledger is never run again.

pub mod agent;
pub mod backoff;
pub mod config;
pub mod connection;
pub mod credential;
pub(crate) mod durable;
pub mod enroll;
pub mod executor;
pub mod game_parse;
pub mod games;
pub mod host_metrics;
mod journal;
pub mod ledger;
pub mod outbox;
pub mod policy_check;
pub mod policy_file;
pub mod process;
pub mod spool;
pub mod telemetry;

use std::fmt;

use reqwest::Url;

/// Process exit codes of `gsm-agent enroll` and `gsm-agent run`.
pub mod exit {
    /// Something failed that may work on a retry (I/O, the server unreachable).
    pub const FAILURE: u8 = 1;
    /// The configuration or the policy is invalid (also clap's code for bad usage).
    pub const CONFIG: u8 = 2;
    /// Enrollment is needed or was refused: not enrolled, already enrolled, join token refused,
    /// credential revoked.
    pub const ENROLLMENT: u8 = 3;
    /// The server speaks no protocol version this agent speaks.
    pub const VERSION: u8 = 4;
}

/// The exit code for an error anywhere in a chain, if this crate knows its kind.
pub fn exit_code_of(error: &(dyn std::error::Error + 'static)) -> Option<u8> {
    if let Some(err) = error.downcast_ref::<agent::Error>() {
        return Some(err.exit_code());
    }
    if error.is::<config::Error>() {
        return Some(exit::CONFIG);
    }
    match error.downcast_ref::<enroll::Error>()? {
        enroll::Error::AlreadyEnrolled { .. } | enroll::Error::InvalidJoinToken => {
            Some(exit::ENROLLMENT)
        }
        _ => Some(exit::FAILURE),
    }
}

/// `base` with `path` appended to its own path (`https://x/gsm` + `/agent/v1/enroll`).
pub(crate) fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url
}

/// Formats an error with its sources, `outer: inner: innermost`, for a log field.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}
