//! gsm-agent: the host agent's command line. `main` parses arguments, runs the subcommand and
//! maps its outcome to an exit code; the work lives in the library modules.
//!
//! Exit codes of `enroll` and `run`: 0 success, 1 a failure a retry may fix (I/O, server
//! unreachable), 2 invalid configuration or policy, 3 enrollment needed or refused (not
//! enrolled, already enrolled, join token refused, credential revoked), 4 no common protocol
//! version with the server. The error chain is printed once, on standard error.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gsm_agent::config::{self, EnrollArgs, RunArgs};

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
    /// Trade a one-time join token for this host's credential, kept in the state dir.
    Enroll(EnrollArgs),
    /// Connect to the server and run the jobs it assigns, under the host policy.
    #[command(after_help = "Every setting may also be set in the config file (same name with \
        underscores) or a GSM_AGENT_* variable (GSM_AGENT_LOG_FORMAT for --log-format). \
        Precedence: defaults < config file < environment < flags.")]
    Run(RunArgs),
    /// Work with game servers' output.
    #[command(subcommand)]
    Game(GameCommand),
}

#[derive(Debug, Subcommand)]
enum GameCommand {
    /// Read a game server's log lines on stdin and print one JSON event per recognised line.
    ///
    /// Exit status: 0, or 1 when reading or writing fails.
    Parse(gsm_agent::game_parse::Args),
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
        Command::Enroll(args) => report(enroll(&args)),
        Command::Run(args) => report(run(&args)),
        Command::Game(GameCommand::Parse(args)) => gsm_agent::game_parse::run(&args),
    }
}

fn enroll(args: &EnrollArgs) -> anyhow::Result<()> {
    let config = config::load_enroll(args).context("reading the enrollment settings")?;
    gsm_agent::telemetry::init(config.log_format);
    let credential =
        runtime()?.block_on(gsm_agent::enroll::enroll(&config, enrollment_facts(&config)))?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "enrolled as host {} (org {}); credential written to {}",
            credential.host,
            credential.org,
            gsm_agent::credential::path(&config.state_dir).display()
        );
    }
    Ok(())
}

/// The host's facts with the program rules of its policy, when enrollment can read it.
fn enrollment_facts(config: &gsm_agent::config::EnrollConfig) -> gsm_proto::agent::HostFacts {
    gsm_proto::agent::HostFacts {
        allowed_programs: gsm_agent::host_metrics::enrollment_programs(&config.policy),
        ..gsm_agent::host_metrics::facts()
    }
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    let config = config::load_run(args).context("reading the agent settings")?;
    gsm_agent::telemetry::init(config.log_format);
    tracing::info!(version = gsm_agent::host_metrics::AGENT_VERSION, ?config, "gsm-agent starting");
    runtime()?.block_on(gsm_agent::agent::run(config))?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Prints the error chain once and maps it to an exit code.
fn report(outcome: anyhow::Result<()>) -> ExitCode {
    let Err(err) = outcome else { return ExitCode::SUCCESS };
    #[allow(clippy::print_stderr)]
    {
        eprintln!("gsm-agent: error: {err:#}");
    }
    let code = err.chain().find_map(gsm_agent::exit_code_of).unwrap_or(gsm_agent::exit::FAILURE);
    ExitCode::from(code)
}
