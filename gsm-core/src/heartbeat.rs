//! heartbeat (lands with issue #2).
