//! gsm-core: the reusable heart of gsm, shared by the agent, the server, the operator and the
//! Python bindings.
//!
//! The pure modules ([`job`], [`policy`]'s decisions, [`presence`], [`cron`], [`rules`]) do no
//! I/O and never read the clock: time comes in as a parameter, so they are deterministic under
//! test. The I/O parts ([`runner`], the game [`adapters`]' sockets) sit in their own modules and
//! call the pure ones. This crate knows nothing of HTTP, SQL or the wire format; those live in
//! gsm-proto and the binaries.
#![warn(missing_docs)]

pub mod adapters;
pub mod cron;
pub mod heartbeat;
pub mod job;
pub mod journal;
pub mod policy;
pub mod presence;
pub mod rules;
pub mod runner;
