//! gsm-proto: the wire between gsm's agent, server, operator and REST clients.
//!
//! The message types, REST request/response types and their JSON Schemas arrive with issue #3;
//! this crate holds the protocol version both sides will negotiate in their hello.
#![warn(missing_docs)]

/// The agent protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
