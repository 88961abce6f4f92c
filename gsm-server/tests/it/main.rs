//! gsm-server's integration tests: one binary, a module per concern.

mod alerts;
mod alerts_api;
mod api;
mod auth;
mod discord_bot;
mod e2e;
mod e2e_alerts;
mod e2e_games;
mod games;
mod gateway;
mod harness;
mod isolation;
mod metrics;
mod openapi;
mod roles;
mod schedules;
mod store;
mod stream;
mod web;
