//! presence (lands with issue #2).
