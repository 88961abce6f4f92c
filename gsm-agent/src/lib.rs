//! gsm-agent as a library: the pieces of the host agent, each behind its own module so the binary
//! and the integration tests share them.
//!
//! Code map (so far): `credential` (the host credential file), `ledger` (at-most-once, durable),
//! `spool` (output until acknowledged), `process` (finding a crashed agent's jobs), `durable`
//! (atomic fsync'd writes). Invariant: a job id in the ledger is never run again.

pub mod credential;
pub(crate) mod durable;
pub mod ledger;
pub mod policy_check;
pub mod process;
pub mod spool;
