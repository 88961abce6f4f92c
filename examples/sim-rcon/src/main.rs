//! The `gsm-sim-rcon` binary: serves the stand-in on `--listen` and prints the bound address on
//! stdout (one line), so a caller can bind port 0 and read where it landed.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use gsm_sim_rcon::{Config, Flavor, Hostile, Server, Trigger};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FlavorArg {
    /// Vanilla Minecraft.
    Minecraft,
    /// A Source dedicated server.
    Srcds,
}

#[derive(Debug, Parser)]
#[command(about = "a Source RCON stand-in (Minecraft or SRCDS) for tests and benchmarks")]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:25575")]
    listen: SocketAddr,
    /// The environment variable holding the RCON password.
    #[arg(long, default_value = "GSM_SIM_RCON_PASSWORD")]
    password_env: String,
    /// A file holding the RCON password (wins over --password-env).
    #[arg(long)]
    password_file: Option<std::path::PathBuf>,
    /// The server to imitate.
    #[arg(long, value_enum, default_value = "minecraft")]
    flavor: FlavorArg,
    /// Players online at start, comma-separated.
    #[arg(long, value_delimiter = ',')]
    players: Vec<String>,
    /// Player slots.
    #[arg(long, default_value_t = 20)]
    max_players: u32,
    /// A misbehaviour, `TRIGGER=BEHAVIOUR`: TRIGGER is `auth` or a command line; BEHAVIOUR is
    /// size:<n>, endless, trickle:<ms>, wrong-id, close-mid-response, garbage or silent.
    #[arg(long)]
    hostile: Vec<String>,
    /// Answer every request under this id (Palworld 0, Conan Exiles 42).
    #[arg(long, allow_negative_numbers = true)]
    answer_id: Option<i32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let password = match &cli.password_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim_end_matches('\n')
            .to_owned(),
        None => std::env::var(&cli.password_env)
            .with_context(|| format!("reading the password from ${}", cli.password_env))?,
    };
    let mut hostile = Vec::new();
    for knob in &cli.hostile {
        let Some((trigger, behaviour)) = knob.rsplit_once('=') else {
            bail!("--hostile {knob:?}: expected TRIGGER=BEHAVIOUR");
        };
        let trigger = match trigger {
            "auth" => Trigger::Auth,
            command => Trigger::Command(command.to_owned()),
        };
        let behaviour: Hostile = behaviour.parse().map_err(anyhow::Error::msg)?;
        hostile.push((trigger, behaviour));
    }
    let config = Config {
        flavor: match cli.flavor {
            FlavorArg::Minecraft => Flavor::Minecraft,
            FlavorArg::Srcds => Flavor::Srcds,
        },
        password,
        players: cli.players,
        max_players: cli.max_players,
        canned: BTreeMap::new(),
        hostile,
        answer_id: cli.answer_id,
    };
    let server = Server::start(cli.listen, config)
        .await
        .with_context(|| format!("listening on {}", cli.listen))?;
    println!("{}", server.address());
    tokio::select! {
        () = server.stopped() => Ok(()),
        signal = tokio::signal::ctrl_c() => signal.context("waiting for ctrl-c"),
    }
}
