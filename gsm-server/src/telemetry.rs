//! Logging setup: one `tracing` subscriber for the process, human or JSON lines, filtered by
//! `RUST_LOG` (default `info`). Set up once, by the binary; libraries and tests never install one.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, from `main`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (only possible if main calls twice) is harmless: the first subscriber stays.
    let _ = match format {
        LogFormat::Human => {
            builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init()
        }
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
