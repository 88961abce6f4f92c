//! gsm-bench: measures the figures the issues name and prints them, one line per figure, with the
//! target beside it. Numbers go to `docs/benchmarks.md` by hand, with the machine they came from;
//! tests never assert timings.
//!
//! Run in release: `cargo run --release -p gsm-bench -- all` (or `make bench`).
#![allow(clippy::print_stdout)]

mod alert_delivery;
mod alerts;
mod auth;
mod presence;
mod rcon;
mod runner;
mod schedules;
mod sdtd;
mod sim;
mod spine;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "measure gsm's performance figures")]
struct Cli {
    #[command(subcommand)]
    which: Which,
}

#[derive(Debug, Subcommand)]
enum Which {
    /// Runner overhead, output throughput and kill latency.
    Runner,
    /// Presence evaluation over many hosts.
    Presence,
    /// The control plane against the real gsm-server: dispatch, throughput, scale, logs, agent.
    Spine(spine::Args),
    /// A console command through the Source RCON adapter against the raw socket round trip.
    Rcon,
    /// 7 Days to Die: log parsing on one core, and a console command through the adapter
    /// against the raw socket round trip.
    Sdtd,
    /// Login latency and authenticated `GET …/hosts` against the real gsm-server (issue #4).
    Auth,
    /// Rule evaluation: events per second against 1,000 alert rules on one core; then host
    /// killed → webhook request received against the real gsm-server and gsm-agent (issue #6).
    Alerts,
    /// 10,000 cron schedules due in the same minute against the real gsm-server: how late each
    /// job is created (issue #6).
    Schedules,
    /// The runner, presence, 7DTD, RCON, alerts and spine benchmarks, in order (auth and
    /// schedules run on their own: each takes minutes).
    All,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.which {
        Which::Runner => runner::run(),
        Which::Presence => presence::run(),
        Which::Sdtd => sdtd::run(),
        Which::Rcon => rcon::run(),
        Which::Spine(args) => spine::run(&args),
        Which::Auth => auth::run(),
        Which::Alerts => {
            alerts::run()?;
            alert_delivery::run()
        }
        Which::Schedules => schedules::run(),
        Which::All => {
            runner::run()?;
            presence::run()?;
            sdtd::run()?;
            rcon::run()?;
            alerts::run()?;
            spine::run(&spine::Args::default())
        }
    }
}
