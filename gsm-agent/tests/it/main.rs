//! gsm-agent's integration tests: one binary, one submodule per command, each running the real
//! built `gsm-agent`.

mod ledger;
mod policy_check;
mod spool;
