//! gsm-agent: the host agent's command line. `main` parses arguments, runs the subcommand and
//! maps its outcome to an exit code; the work lives in the library modules.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// gsm's host agent.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with a host policy file.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Check a job against a policy and print the verdict as JSON.
    ///
    /// Exit status: 0 allowed, 1 rejected, 2 the policy or the job is malformed.
    Check(gsm_agent::policy_check::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Policy(PolicyCommand::Check(args)) => gsm_agent::policy_check::run(&args),
    }
}
