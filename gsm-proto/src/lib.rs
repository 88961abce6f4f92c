//! gsm-proto: the wire between gsm's agent, server, operator and REST clients.
//!
//! [`agent`] holds the messages of the agent WebSocket (`/agent/v1/connect`) and enrollment;
//! [`codec`] decodes them defensively (size bound first, unknown message kinds answered with an
//! explicit `unsupported`, never a panic); [`rest`] holds the REST API's request and response
//! bodies; [`schema`] lists every wire type so their JSON Schemas can be generated into the
//! checked-in `schemas/` folder, where a test fails when they drift from the code; [`client`]
//! (feature `client`) is a typed REST client.
//!
//! Versioning: the agent's hello names the protocol versions it speaks; the server picks one or
//! refuses with a message naming both ranges. Within a version, fields are only added, and every
//! added field is optional, so older peers ignore what they do not know.
#![warn(missing_docs)]

pub mod agent;
#[cfg(feature = "client")]
pub mod client;
pub mod codec;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod rest;
pub mod schema;
mod wire_bytes;
