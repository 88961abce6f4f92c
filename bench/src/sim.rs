//! The protocol stand-ins (`gsm-sim-rcon`, `gsm-sim-7dtd`) as the game benchmarks start them:
//! built beside gsm-bench, listening on a free loopback port they print on their first line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts the stand-in `name` with `args` and `envs` and reads the address it prints.
pub async fn start(
    name: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> anyhow::Result<(Child, SocketAddr)> {
    let binary = beside_bench(name)?;
    let mut child = Command::new(&binary)
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().with_context(|| format!("{name}'s stdout"))?;
    let mut line = String::new();
    let mut stdout = BufReader::new(stdout);
    let read = stdout.read_line(&mut line);
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .with_context(|| format!("waiting for {name} to print its address"))?
        .with_context(|| format!("reading {name}'s address"))?;
    let address = line.trim().parse().with_context(|| format!("parsing the address {line:?}"))?;
    Ok((child, address))
}

/// The binary `name`, built beside gsm-bench.
fn beside_bench(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the gsm-bench executable")?;
    let binary = exe.with_file_name(name);
    if !binary.is_file() {
        bail!("{} is missing; build it first: cargo build --release -p {name}", binary.display());
    }
    Ok(binary)
}
