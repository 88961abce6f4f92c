//! 7 Days to Die figures (issue #5): log-line parsing throughput on one core, and a console
//! command's round trip through the 7DTD adapter against the raw socket round trip to the same
//! stand-in.
//!
//! Parsing runs over the event corpus (`gsm-core/src/adapters/sdtd/testdata/log-corpus.txt`, a
//! mix of events, unknown lines and malformed ones) repeated to two million lines, on the calling
//! thread; the figure is the median of several passes. A second figure adds the framer: the same
//! corpus as CR LF bytes, fed in 16 KiB reads, as the client sees them.
//!
//! The round trip uses the real `gsm-sim-7dtd` binary in its own process (found beside
//! gsm-bench), so the server side costs the same for both clients. The raw client is the least a
//! client can do: write `gettime`, read lines until `Day …`. The adapter also waits for its marker
//! line (see `delimit`), which is the price of knowing where a response ends. Both sides run in
//! alternating blocks so drift on the machine hits both alike; the figure is the difference of
//! the medians.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use gsm_core::adapters::GameAdapter;
use gsm_core::adapters::sdtd::client::{Client, ClientConfig, LogSink, Password};
use gsm_core::adapters::sdtd::events;
use gsm_core::adapters::sdtd::framing::{Frame, LineFramer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const CORPUS: &str = include_str!("../../gsm-core/src/adapters/sdtd/testdata/log-corpus.txt");
/// Lines per parsing pass.
const PARSE_LINES: usize = 2_000_000;
/// Parsing passes; the median is reported.
const PARSE_PASSES: usize = 7;
const PARSE_TARGET: f64 = 1_000_000.0;

/// Timed round trips per side.
const ROUNDS: usize = 5000;
/// Round trips per side in one block; the sides alternate block by block.
const BLOCK: usize = 250;
/// Untimed round trips per side first.
const WARMUP: usize = 200;
/// The target: adapter median at most this much above the raw median.
const TARGET: Duration = Duration::from_micros(300);
const PASSWORD: &str = "bench-password";
const COMMAND: &str = "gettime";

pub fn run() -> anyhow::Result<()> {
    parsing();
    framing_and_parsing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(round_trip())
}

fn corpus_lines() -> Vec<&'static str> {
    let lines: Vec<&str> = CORPUS.lines().collect();
    lines.iter().copied().cycle().take(PARSE_LINES).collect()
}

fn parsing() {
    let lines = corpus_lines();
    let mut times = Vec::with_capacity(PARSE_PASSES);
    let mut recognised = 0;
    for _ in 0..PARSE_PASSES {
        let start = Instant::now();
        recognised = 0;
        for line in &lines {
            recognised += usize::from(events::parse_line(black_box(line)).is_some());
        }
        times.push(start.elapsed());
    }
    let rate = lines.len() as f64 / median(&mut times).as_secs_f64();
    println!(
        "sdtd log parsing (one core, {} lines, {:.0}% events, median of {PARSE_PASSES}): {:.2} M lines/s (target ≥ {:.1} M) {}",
        lines.len(),
        100.0 * recognised as f64 / lines.len() as f64,
        rate / 1e6,
        PARSE_TARGET / 1e6,
        verdict(rate >= PARSE_TARGET),
    );
}

fn framing_and_parsing() {
    let lines = corpus_lines();
    let mut bytes = Vec::with_capacity(lines.iter().map(|line| line.len() + 2).sum());
    for line in &lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    let mut times = Vec::with_capacity(PARSE_PASSES);
    for _ in 0..PARSE_PASSES {
        let start = Instant::now();
        let mut framer = LineFramer::default();
        let mut frames = Vec::new();
        let mut recognised = 0usize;
        for read in bytes.chunks(16 * 1024) {
            framer.push(black_box(read), &mut frames);
            for frame in frames.drain(..) {
                if let Frame::Line(line) = frame {
                    recognised += usize::from(events::parse_line(&line).is_some());
                }
            }
        }
        black_box(recognised);
        times.push(start.elapsed());
    }
    let elapsed = median(&mut times).as_secs_f64();
    let rate = lines.len() as f64 / elapsed;
    println!(
        "sdtd framing + parsing (one core, {:.0} MB in 16 KiB reads, median of {PARSE_PASSES}): {:.2} M lines/s, {:.0} MB/s",
        bytes.len() as f64 / 1e6,
        rate / 1e6,
        bytes.len() as f64 / 1e6 / elapsed,
    );
}

async fn round_trip() -> anyhow::Result<()> {
    // Without its player script: only the bench's own commands reach it.
    let (mut sim, address) = crate::sim::start(
        "gsm-sim-7dtd",
        &["--listen", "127.0.0.1:0", "--script-speed", "0", "--password", PASSWORD],
        &[],
    )
    .await?;
    let mut config = ClientConfig::new(address.to_string());
    config.password = Some(Password::new(PASSWORD));
    let (logs, mut log_lines) = LogSink::channel(1024);
    // The echo lines go to the log stream; drain it as the agent would.
    let drain = tokio::spawn(async move { while log_lines.recv().await.is_some() {} });
    let mut adapter = Client::connect(&config, logs).await.context("connecting the adapter")?;
    let mut raw = RawClient::login(address).await?;

    let expected = adapter.command(COMMAND).await.context("the adapter's first command")?;
    let raw_answer = raw.command().await?;
    ensure!(
        raw_answer.len() == expected.len(),
        "the raw and adapter replies differ: {raw_answer:?} vs {expected:?}"
    );
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
    drop(adapter);
    drain.abort();
    sim.kill().await.context("stopping gsm-sim-7dtd")?;

    let (adapter_p50, adapter_p99) = percentiles(&mut adapter_times);
    let (raw_p50, raw_p99) = percentiles(&mut raw_times);
    let overhead = adapter_p50.saturating_sub(raw_p50);
    println!(
        "sdtd command round trip (`{COMMAND}` on gsm-sim-7dtd, {ROUNDS} per side): adapter p50 {:.1} µs (p99 {:.1}), raw socket p50 {:.1} µs (p99 {:.1}); overhead {:.1} µs (target ≤ {} µs) {}",
        micros(adapter_p50),
        micros(adapter_p99),
        micros(raw_p50),
        micros(raw_p99),
        micros(overhead),
        TARGET.as_micros(),
        verdict(overhead <= TARGET),
    );
    Ok(())
}

/// The least client: one logged-in session, `gettime` out, lines in until `Day …`.
struct RawClient {
    stream: BufReader<TcpStream>,
    line: String,
}

impl RawClient {
    async fn login(address: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address).await.context("connecting the raw client")?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        let mut raw = RawClient { stream: BufReader::new(stream), line: String::new() };
        raw.read_until(|line| line.ends_with("Please enter password:")).await?;
        raw.stream
            .get_mut()
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .await
            .context("sending the password")?;
        raw.read_until(|line| line.starts_with("Press 'help'")).await?;
        Ok(raw)
    }

    /// Runs the command; returns the answer line.
    async fn command(&mut self) -> anyhow::Result<String> {
        self.stream.get_mut().write_all(b"gettime\n").await.context("sending a raw command")?;
        self.read_until(|line| line.starts_with("Day ")).await
    }

    async fn read_until(&mut self, wanted: impl Fn(&str) -> bool) -> anyhow::Result<String> {
        loop {
            self.line.clear();
            let n = self.stream.read_line(&mut self.line).await.context("reading a raw line")?;
            ensure!(n > 0, "gsm-sim-7dtd closed the raw connection");
            let line = self.line.trim_matches(|c| c == '\r' || c == '\n' || c == '\0');
            if wanted(line) {
                return Ok(line.to_owned());
            }
        }
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
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

fn verdict(met: bool) -> &'static str {
    if met { "— met" } else { "— MISSED" }
}
