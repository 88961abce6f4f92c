//! gsm-operator: reconciles GameHost, GameJob and Schedule resources against gsm-server.
//!
//! Only the command-line shell exists so far: the operator needs the server's API (issue #3) and
//! arrives after it; until then the binary says so instead of pretending to reconcile.

use clap::Parser;

/// gsm's Kubernetes operator.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {}

fn main() -> std::process::ExitCode {
    let _cli = Cli::parse();
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "gsm-operator {}: not built yet; it needs gsm-server's API (issue #3) first",
            env!("CARGO_PKG_VERSION")
        );
    }
    std::process::ExitCode::from(2)
}
