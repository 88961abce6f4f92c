//! RCON figure (issue #5): a console command's round trip through the Source RCON adapter,
//! against the raw socket round trip to the same stand-in.
//!
//! The stand-in is the real `gsm-sim-rcon` binary (Minecraft flavour) in its own process, found
//! beside gsm-bench, so the server side costs the same for both. The raw side is the least a
//! client can do: one pre-encoded packet written, the Size read, exactly Size bytes read. Both
//! sides run `list` on one logged-in session, in alternating blocks so drift on the machine hits
//! both alike, and the figure is the difference of the medians.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use gsm_core::adapters::rcon::client::{Flavor, RconClient, RconConfig};
use gsm_core::adapters::rcon::packet::{self, Packet};
use gsm_core::adapters::{ConsoleConfig, SecretSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Timed round trips per side.
const ROUNDS: usize = 5000;
/// Round trips per side in one block; the sides alternate block by block.
const BLOCK: usize = 250;
/// Untimed round trips per side first.
const WARMUP: usize = 200;
/// The target: adapter median at most this much above the raw median.
const TARGET: Duration = Duration::from_micros(300);
const PASSWORD: &str = "bench-password";
const COMMAND: &str = "list";

pub fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(round_trip())
}

async fn round_trip() -> anyhow::Result<()> {
    let (mut sim, address) = crate::sim::start(
        "gsm-sim-rcon",
        &["--listen", "127.0.0.1:0", "--players", "Alice,Bob"],
        &[("GSM_SIM_RCON_PASSWORD", PASSWORD)],
    )
    .await?;
    let dir = tempfile::tempdir().context("creating the password directory")?;
    let password_file = dir.path().join("rcon-password");
    std::fs::write(&password_file, PASSWORD).context("writing the password file")?;
    let console = ConsoleConfig {
        address: address.ip().to_string(),
        port: address.port(),
        password: Some(SecretSource::File(password_file.display().to_string())),
        timeout_ms: Some(5000),
    };
    let mut adapter = RconClient::new(RconConfig::new(console, Flavor::Minecraft));
    let mut raw = RawClient::login(address).await?;

    let expected = adapter.command(COMMAND).await.context("the adapter's first command")?;
    ensure!(raw.command().await? == expected.len(), "the raw and adapter replies differ");
    for _ in 0..WARMUP {
        adapter.command(COMMAND).await.context("an adapter warm-up command")?;
        raw.command().await?;
    }

    let mut adapter_times = Vec::with_capacity(ROUNDS);
    let mut raw_times = Vec::with_capacity(ROUNDS);
    while adapter_times.len() < ROUNDS {
        for _ in 0..BLOCK {
            let start = Instant::now();
            raw.command().await?;
            raw_times.push(start.elapsed());
        }
        for _ in 0..BLOCK {
            let start = Instant::now();
            adapter.command(COMMAND).await.context("an adapter command")?;
            adapter_times.push(start.elapsed());
        }
    }
    sim.kill().await.context("stopping gsm-sim-rcon")?;

    let (adapter_p50, adapter_p99) = percentiles(&mut adapter_times);
    let (raw_p50, raw_p99) = percentiles(&mut raw_times);
    let overhead = adapter_p50.saturating_sub(raw_p50);
    println!(
        "rcon command round trip (`{COMMAND}` on the Minecraft stand-in, {ROUNDS} per side): adapter p50 {:.1} µs (p99 {:.1}), raw socket p50 {:.1} µs (p99 {:.1}); overhead {:.1} µs (target ≤ {} µs) {}",
        micros(adapter_p50),
        micros(adapter_p99),
        micros(raw_p50),
        micros(raw_p99),
        micros(overhead),
        TARGET.as_micros(),
        if overhead <= TARGET { "— met" } else { "— MISSED" },
    );
    Ok(())
}

/// The least client: one logged-in session, one packet out, one packet back.
struct RawClient {
    stream: BufReader<TcpStream>,
    request: Vec<u8>,
    frame: Vec<u8>,
}

impl RawClient {
    async fn login(address: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address).await.context("connecting the raw client")?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        let request = Packet::new(2, Packet::EXEC_COMMAND, COMMAND).encode()?;
        let mut raw = Self { stream: BufReader::new(stream), request, frame: Vec::new() };
        let auth = Packet::new(1, Packet::AUTH, PASSWORD).encode()?;
        raw.stream.get_mut().write_all(&auth).await.context("sending the raw login")?;
        raw.read_packet().await.context("reading the raw login reply")?;
        Ok(raw)
    }

    /// Runs the command; returns the reply's body length.
    async fn command(&mut self) -> anyhow::Result<usize> {
        self.stream.get_mut().write_all(&self.request).await.context("sending a raw command")?;
        self.read_packet().await
    }

    async fn read_packet(&mut self) -> anyhow::Result<usize> {
        let mut size = [0; packet::SIZE_FIELD_LEN];
        self.stream.read_exact(&mut size).await.context("reading a Size field")?;
        let len = packet::frame_len(size, packet::DEFAULT_MAX_SIZE)?;
        self.frame.resize(len, 0);
        self.stream.read_exact(&mut self.frame).await.context("reading a frame")?;
        Ok(len - packet::MIN_SIZE)
    }
}

/// The median and the 99th percentile.
fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort_unstable();
    let at = |fraction: f64| {
        let index = ((times.len() as f64 - 1.0) * fraction).round() as usize;
        times.get(index).copied().unwrap_or_default()
    };
    (at(0.5), at(0.99))
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
