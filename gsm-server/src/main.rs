//! gsm-server: the control plane (REST API, agent gateway, store, scheduler, alerts).
//!
//! Only the command-line shell exists so far: the server itself arrives with issue #3, and until
//! then the binary says so instead of pretending to serve.

use clap::Parser;

/// gsm's control plane.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {}

fn main() -> std::process::ExitCode {
    let _cli = Cli::parse();
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "gsm-server {}: the control plane is not built yet (it arrives with issue #3); \
             try `gsm-agent policy check` to test a host policy today",
            env!("CARGO_PKG_VERSION")
        );
    }
    std::process::ExitCode::from(2)
}
