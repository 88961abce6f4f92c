//! 7 Days to Die over its Telnet console: framing, login, response delimiting, output parsers,
//! log events, a liveness verdict, and the client that ties them to a socket.
//!
//! The pure parts do no I/O and read no clock, so they are tested line by line and fuzzed:
//! [`framing`] (bytes → lines), [`login`] (the password exchange), [`delimit`] (which lines
//! answer which command — the method is documented there), [`commands`] (command lines and
//! their answers), [`parse`] (`version`, `lp`, `gettime`, `mem`, banner), [`events`] (log line →
//! typed event) and [`health`] (crashed / unresponsive). The I/O parts are [`client`] (one
//! connection, a task owning the socket) and [`reconnect`] (a client that reconnects with
//! backoff). Both implement [`super::GameAdapter`].
//!
//! Integration sketch: build a [`client::ClientConfig`] from the host's
//! [`super::ConsoleConfig`], create a [`client::LogSink`], and hold a
//! [`reconnect::Reconnecting`]. Call `status()` on the heartbeat tick (it doubles as the
//! keepalive that detects a half-open connection), feed every line from the log receiver to
//! [`events::parse_line`], and judge liveness with [`health::assess`] from the process state and
//! [`reconnect::Reconnecting::last_output`].

pub mod client;
pub mod commands;
pub mod delimit;
pub mod events;
pub mod framing;
pub mod health;
pub mod login;
pub mod parse;
pub mod reconnect;

#[cfg(test)]
mod sim_tests;
