//! gsm-proto's integration tests: one binary, a module per concern.

mod codec;
mod schemas;
