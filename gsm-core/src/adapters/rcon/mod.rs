//! Source RCON: the packet codec ([`packet`]), a client that finds the end of multi-packet
//! responses per server flavour ([`client`]), Minecraft's command dialect ([`minecraft`]), and
//! the [`GameAdapter`](crate::adapters::GameAdapter) built from them.
//!
//! The key decision is that a response's end is found per [`client::Flavor`], because the
//! protocol has no end marker and the one trick that works on SRCDS (mirroring an empty packet)
//! kills a Minecraft session when the probe shares a read with its command. The codec is pure
//! and judges every Size before allocating; the client bounds every command in bytes (1 MiB)
//! and in time, and drops its session on any failure so the next call starts clean.

mod adapter;
pub mod client;
pub mod minecraft;
pub mod packet;

#[cfg(test)]
mod tests;

/// The game type's registry name.
pub const GAME: &str = "source-rcon";
