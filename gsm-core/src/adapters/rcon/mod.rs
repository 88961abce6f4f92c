//! Source RCON (lands with issue #5).
