//! Alerts on the server side: what turns rule decisions into deliveries.
//!
//! `webhook_url` decides which Discord webhook URLs may be stored and called (an allow-list of
//! hosts, no private addresses, no credentials in the URL); `discord` builds the embed a delivery
//! posts and reads Discord's answer into a retry decision. Both are pure, so the SSRF guard and
//! the rate-limit handling are unit-tested without a network. `service` is the I/O around them:
//! the event bus, the rule-engine task and the outbox worker; `remediation` turns a rule's
//! remediation into a job the way `POST …/jobs` makes one.

pub mod discord;
pub mod remediation;
pub mod service;
pub mod webhook_url;
