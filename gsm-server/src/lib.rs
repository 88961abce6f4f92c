//! gsm-server as a library: the control plane's pieces, shared by the binary and its tests.
//!
//! `app` builds the router and runs the server; `http` is the REST API, `gateway` the agent side;
//! `dispatch` is the job service both call (they never write job state to the store directly);
//! `store` is the database behind one trait; `background` holds the periodic tasks; `scheduler`
//! fires cron schedules; `alerts` holds the rule service, the webhook SSRF guard and Discord
//! delivery; `live` fans each org's changes out to its `…/stream` WebSockets; `discord_bot` is the
//! slash-command bot. The binary (`main.rs`) only parses the command line and maps errors to exit
//! codes.

pub mod alerts;
pub mod app;
pub mod background;
pub mod config;
pub mod discord_bot;
pub mod dispatch;
pub mod gateway;
pub mod http;
pub mod init;
pub mod live;
pub mod metrics;
pub mod passwords;
pub mod scheduler;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod tokens;
