//! `gsm-agent policy check`: lands with issue #2.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `gsm-agent policy check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file to test.
    #[arg(long)]
    pub policy: PathBuf,
    /// The job as JSON; `-` or nothing reads standard input.
    pub job: Option<PathBuf>,
}

/// Runs the check and returns the exit code.
pub fn run(_args: &Args) -> ExitCode {
    ExitCode::from(2)
}
