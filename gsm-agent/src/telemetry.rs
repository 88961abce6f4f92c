//! Logging setup: one `tracing` subscriber for the process, filtered by `RUST_LOG` (default
//! `info`), writing to standard error.
//!
//! Human lines carry ANSI colour only when standard error is a terminal, so under systemd the
//! journal gets plain text; JSON is one object per line for log shippers. Set up once, by `main`;
//! the library and the tests never install a subscriber.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. A second call leaves the first subscriber in place.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
