//! gsm-agent's integration tests: one binary, one submodule per command, each running the real
//! built `gsm-agent`.

mod config;
mod connection;
mod enroll;
mod fake_server;
mod game_parse;
mod games;
mod harness;
mod ledger;
mod policy_check;
mod spool;
