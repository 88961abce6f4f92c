//! Figure 3, scale: thousands of virtual agents connected over real WebSockets, each heartbeating
//! every 5 s (the server's default), the first beats staggered over one interval.
//!
//! Reported: how long creating and enrolling the hosts through the API took, how long connecting
//! took, heartbeat-to-visible latency (a probe heartbeat with a fresh `seq` until
//! `GET …/hosts/{id}` shows that `seq`), the server's resident memory against its memory before
//! any agent connected, and the server's CPU over a window of steady heartbeats with no probes.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::fleet::{IdleFleet, enroll_many};
use super::procfs::{Contention, CpuWindow, peak_rss_mib, rss_mib};
use super::server::{Backend, Server};
use super::stats::{Samples, ms};
use super::{Bench, verdict};

/// Concurrent host creations + enrollments.
const ENROLL_CONCURRENCY: usize = 64;
/// Concurrent WebSocket connects.
const CONNECT_CONCURRENCY: usize = 128;
/// The heartbeat interval (the server's default, stated so the figure does not drift with it).
const HEARTBEAT_INTERVAL_MS: u64 = 5000;
/// The CPU window.
const CPU_WINDOW: Duration = Duration::from_secs(30);
/// Heartbeat-to-visible probes.
const PROBES: usize = 300;
/// Sequence numbers of probes start here, far above any an agent reaches by itself.
const PROBE_SEQ: u64 = 1 << 40;
/// How long one probe may take before the figure fails.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(bench: &Bench, backend: Backend) -> anyhow::Result<()> {
    let agents = bench.args.agents;
    let mut config = bench.server_config(backend);
    config.heartbeat_interval_ms = Some(HEARTBEAT_INTERVAL_MS);
    let mut server = Server::start(&bench.binaries, &config).await?;
    let api = server.api.clone();
    let pid = server.pid();

    let started = Instant::now();
    let hosts = enroll_many(&api, "scale", agents, ENROLL_CONCURRENCY).await?;
    let enrolled_in = started.elapsed();
    let baseline = rss_mib(pid)?;

    let started = Instant::now();
    let mut fleet = IdleFleet::connect(&api, &hosts, CONNECT_CONCURRENCY).await?;
    let connected_in = started.elapsed();
    println!(
        "scale setup ({backend}, {agents} hosts): created + enrolled through the API in {:.1} s ({:.0} hosts/s, {ENROLL_CONCURRENCY} concurrent), {agents} WebSockets connected in {:.1} s ({CONNECT_CONCURRENCY} concurrent)",
        enrolled_in.as_secs_f64(),
        agents as f64 / enrolled_in.as_secs_f64(),
        connected_in.as_secs_f64(),
    );

    // One full interval, so every agent has sent its first heartbeat before the window opens.
    tokio::time::sleep(Duration::from_millis(HEARTBEAT_INTERVAL_MS + 1000)).await;
    fleet.check()?;
    server.check_alive()?;
    let window = CpuWindow::start(pid)?;
    let contention = Contention::start(backend, &[pid])?;
    tokio::time::sleep(CPU_WINDOW).await;
    let (cpu, window_len) = window.percent()?;
    let cpu_note = contention.note();
    fleet.check()?;
    let rss = rss_mib(pid)?;

    let contention = Contention::start(backend, &[pid])?;
    let mut samples = probe(&api, &hosts, &fleet).await?;
    let probe_note = contention.note();
    fleet.check()?;
    server.check_alive()?;
    let peak = peak_rss_mib(pid)?;

    let p99 = samples.percentile(99.0);
    println!(
        "heartbeat to visible ({backend}, {agents} agents heartbeating every {} s, {PROBES} probes): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 ≤ 100 ms) {} [{probe_note}]",
        HEARTBEAT_INTERVAL_MS / 1000,
        ms(samples.percentile(50.0)),
        ms(p99),
        ms(samples.max()),
        verdict(p99 <= Duration::from_millis(100)),
    );
    println!(
        "server memory ({backend}, {agents} agents connected): VmRSS {rss:.0} MiB, {baseline:.0} MiB before they connected, {:.1} KiB per agent; peak VmHWM {peak:.0} MiB (target ≤ 1024 MiB) {}",
        (rss - baseline) * 1024.0 / agents as f64,
        verdict(peak <= 1024.0),
    );
    println!(
        "server CPU ({backend}, {agents} agents, {:.0} heartbeats/s): {cpu:.1} % of one core over {:.0} s [{cpu_note}]",
        agents as f64 * 1000.0 / HEARTBEAT_INTERVAL_MS as f64,
        window_len.as_secs_f64(),
    );
    drop(fleet);
    server.stop().await
}

/// Heartbeats with a fresh `seq` from hosts spread over the fleet, one at a time, and times each
/// until the API shows it.
async fn probe(
    api: &super::api::Api,
    hosts: &[super::api::Enrolled],
    fleet: &IdleFleet,
) -> anyhow::Result<Samples> {
    let mut samples = Samples::with_capacity(PROBES);
    let step = (fleet.len() / PROBES).max(1);
    for k in 0..PROBES {
        let i = (k * step) % fleet.len();
        let host = hosts[i].host;
        let seq = PROBE_SEQ + k as u64;
        let started = Instant::now();
        fleet.probe(i, seq).await?;
        loop {
            let seen = api.host(host).await.context("reading a probed host")?;
            if seen.last_heartbeat.as_ref().is_some_and(|beat| beat.seq >= seq) {
                break;
            }
            if started.elapsed() > PROBE_TIMEOUT {
                bail!("host {host} did not show heartbeat {seq} within {PROBE_TIMEOUT:?}");
            }
        }
        samples.push(started.elapsed());
    }
    Ok(samples)
}
