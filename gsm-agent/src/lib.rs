//! gsm-agent as a library: the pieces of the host agent, each behind its own module so the binary
//! and the integration tests share them.

pub mod policy_check;
