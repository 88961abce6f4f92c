//! `gsm-agent run`: load the policy, the credential, the ledger and the spool, then stay
//! connected until told to stop.
//!
//! The policy loads first so a bad policy fails fast, with its line and column, before anything
//! else is touched. Opening the ledger settles what a previous agent process left running (see
//! `ledger.rs`): those jobs are recorded lost and reported after the first welcome.
//!
//! On SIGTERM or SIGINT the agent exits; jobs still running are killed with their process groups
//! (the runner's drop guard) and, having no end in the ledger, are reported lost by the next
//! agent start. A job is not a daemon: run long-lived services through the service manager.

use std::time::SystemTime;

use gsm_core::policy::{LoadError, Policy};
use gsm_proto::agent::HostFacts;

use crate::config::{self, RunConfig};
use crate::connection::{self, Settings};
use crate::credential;
use crate::executor::Executor;
use crate::host_metrics;
use crate::ledger::{self, Ledger};
use crate::outbox::Outbox;
use crate::spool::{self, Spool};

/// Why `gsm-agent run` stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy file is missing or invalid.
    #[error("cannot load the host policy")]
    Policy(#[source] LoadError),
    /// The policy file could have been changed by someone other than root or the agent's user.
    #[error("refusing an untrusted policy file")]
    UntrustedPolicy(#[source] crate::policy_file::Untrusted),
    /// The credential is missing or unreadable.
    #[error(transparent)]
    Credential(#[from] credential::Error),
    /// The server URL in the credential file is unusable.
    #[error("the server URL in the credential file is unusable; pass --server or enroll again")]
    ServerUrl(#[source] config::Error),
    /// The job ledger could not be opened.
    #[error("cannot open the job ledger")]
    Ledger(#[source] ledger::Error),
    /// The output spool could not be opened.
    #[error("cannot open the output spool")]
    Spool(#[source] spool::Error),
    /// Connecting can never succeed.
    #[error(transparent)]
    Connection(#[from] connection::Error),
}

impl Error {
    /// The process exit code for this error (see [`crate::exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Policy(_) | Error::UntrustedPolicy(_) => crate::exit::CONFIG,
            Error::Credential(_) | Error::ServerUrl(_) => crate::exit::ENROLLMENT,
            Error::Connection(connection::Error::CredentialRefused { .. }) => {
                crate::exit::ENROLLMENT
            }
            Error::Connection(connection::Error::VersionMismatch { .. }) => crate::exit::VERSION,
            Error::Ledger(_) | Error::Spool(_) => crate::exit::FAILURE,
        }
    }
}

/// Runs the agent until a fatal error or a stop signal.
pub async fn run(config: RunConfig) -> Result<(), Error> {
    crate::policy_file::verify(&config.policy).map_err(Error::UntrustedPolicy)?;
    let policy = Policy::from_file(&config.policy).map_err(Error::Policy)?;
    tracing::info!(policy = %config.policy.display(), "policy loaded");
    let credential = credential::load(&config.state_dir)?;
    let server = match config.server.clone() {
        Some(server) => server,
        None => config::server_url(&credential.server).map_err(Error::ServerUrl)?,
    };

    let (ledger, recovery) =
        Ledger::open(&config.state_dir.join("jobs"), SystemTime::now(), config.ledger_retention)
            .map_err(Error::Ledger)?;
    if !recovery.lost.is_empty() {
        tracing::warn!(
            lost = recovery.lost.len(),
            killed = recovery.killed.len(),
            "jobs were running when the agent last stopped; they will be reported lost"
        );
    }
    let spool = Spool::open(&config.state_dir.join("spool"), config.spool_max_bytes)
        .map_err(Error::Spool)?;
    // Output of jobs whose end the server already stored (or that the ledger pruned) is garbage.
    for job in spool.jobs().map_err(Error::Spool)? {
        if ledger.get(job).is_none_or(|record| record.end_acked) {
            spool.remove(job).map_err(Error::Spool)?;
        }
    }

    let outbox = Outbox::new();
    let facts = HostFacts {
        allowed_programs: host_metrics::allowed_programs(&policy),
        ..host_metrics::facts()
    };
    let executor = Executor::new(policy, ledger, spool, outbox.clone());
    let settings = Settings {
        server,
        credential: credential.credential,
        host: credential.host,
        facts,
        heartbeat_override: config.heartbeat_interval,
        backoff: config.backoff,
        state_dir: config.state_dir.clone(),
    };
    tokio::select! {
        outcome = connection::run(settings, executor, outbox) => outcome.map_err(Error::from),
        () = stop_signal() => {
            tracing::info!("stop signal received; exiting");
            Ok(())
        }
    }
}

/// Completes on SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        // Without signal handlers the default action (exit) still stops the agent.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
