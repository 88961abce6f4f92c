//! Figure 5, the agent at rest: an enrolled, connected `gsm-agent run` with nothing to do —
//! its resident memory and average CPU over a minute of heartbeats — and the release binaries'
//! sizes.

use std::time::Duration;

use super::procfs::{Contention, CpuWindow, peak_rss_mib, rss_mib};
use super::real_agent::RealAgent;
use super::server::{Backend, Server, file_mib};
use super::{Bench, verdict};

/// The window CPU is averaged over.
const WINDOW: Duration = Duration::from_secs(60);
/// Time after connecting before the window opens, so start-up work is not counted.
const SETTLE: Duration = Duration::from_secs(3);

pub async fn run(bench: &Bench) -> anyhow::Result<()> {
    let Some(binary) = &bench.binaries.agent else {
        println!("agent at rest: skipped, gsm-agent is not built beside gsm-bench");
        return Ok(());
    };
    let server = Server::start(&bench.binaries, &bench.server_config(Backend::Sqlite)).await?;
    let agent = RealAgent::start(binary, &server.api, "at-rest", &[]).await?;
    tokio::time::sleep(SETTLE).await;
    let window = CpuWindow::start(agent.pid())?;
    let contention = Contention::start(Backend::Sqlite, &[agent.pid(), server.pid()])?;
    tokio::time::sleep(WINDOW).await;
    let (cpu, took) = window.percent()?;
    let (rss, peak) = (rss_mib(agent.pid())?, peak_rss_mib(agent.pid())?);
    let connected = server.api.host(agent.host).await?.connected;
    println!(
        "agent at rest (idle, connected: {connected}, heartbeat every 5 s): VmRSS {rss:.1} MiB (peak {peak:.1} MiB), CPU {cpu:.2} % of one core over {:.0} s (target ≤ 15 MiB, ≤ 0.5 %) {} [{}]",
        took.as_secs_f64(),
        verdict(connected && rss <= 15.0 && cpu <= 0.5),
        contention.note(),
    );
    println!(
        "release binaries: gsm-agent {:.1} MiB, gsm-server {:.1} MiB",
        file_mib(binary)?,
        file_mib(&bench.binaries.server)?,
    );
    drop(agent);
    server.stop().await
}
