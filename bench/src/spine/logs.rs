//! Figure 4, logs: one job's large output reaching the store and a live WebSocket follower.
//!
//! A virtual agent writes the output in 64 KiB chunks with at most [`WINDOW`] unacked; the store
//! rate is bytes over the time from the first chunk sent until the last one is acked (acked means
//! durably stored), the follower rate is bytes over the time from the first chunk sent until the
//! follower (`…/jobs/{id}/logs/follow`) has every byte and the `complete` flag. A 64 MiB run goes
//! first, as a warm-up and a forecast: if the full size would take longer than [`BUDGET`], the
//! figure measures 256 MiB instead and says so. With the real agent the job is `head -c N
//! /dev/zero`, timed from its creation until it reads `succeeded`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::StreamExt;
use gsm_core::job::{JobId, JobState};
use serde::Deserialize;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::api::{Api, Enrolled, command_job};
use super::procfs::{Contention, CpuWindow, peak_rss_mib};
use super::real_agent::RealAgent;
use super::server::{Backend, Server};
use super::virtual_agent::{Buffers, StreamPlan, VirtualAgent};
use super::{Bench, verdict};

/// Bytes per chunk: the protocol's largest.
const CHUNK: usize = 64 * 1024;
/// Most chunks in flight without an ack.
const WINDOW: u64 = 64;
/// The warm-up and forecast run.
const PROBE_BYTES: u64 = 64 << 20;
/// The fallback size when the full one would be too slow.
const FALLBACK_BYTES: u64 = 256 << 20;
/// Longest the full-size run may be forecast to take. The forecast is linear, and a store whose
/// per-chunk cost grows with the job's size is slower than it says, so the budget leaves room.
const BUDGET: Duration = Duration::from_secs(45);
/// How long the real agent's job may take.
const REAL_TIMEOUT: Duration = Duration::from_secs(300);
/// The target, in MB/s (10^6 bytes).
const TARGET: f64 = 50.0;

pub async fn run(bench: &Bench, backend: Backend) -> anyhow::Result<()> {
    let server = Server::start(&bench.binaries, &bench.server_config(backend)).await?;
    let api = server.api.clone();
    let host = api.enrolled_host("streamer").await?;

    let forecast = stream_once(&api, &host, PROBE_BYTES).await.context("the 64 MiB warm-up")?;
    let wanted = bench.args.log_mib << 20;
    let projected = forecast.slowest().mul_f64(wanted as f64 / PROBE_BYTES as f64);
    let total = if projected > BUDGET {
        println!(
            "logs ({backend}): 64 MiB took {:.1} s, so {} MiB would take about {:.0} s; measuring {} MiB instead",
            forecast.slowest().as_secs_f64(),
            wanted >> 20,
            projected.as_secs_f64(),
            FALLBACK_BYTES >> 20,
        );
        FALLBACK_BYTES.min(wanted)
    } else {
        wanted
    };
    let contention = Contention::start(backend, &[server.pid()])?;
    let cpu = CpuWindow::start(server.pid())?;
    let run = stream_once(&api, &host, total).await?;
    let (cpu, _) = cpu.percent()?;
    let note = contention.note();
    let peak = peak_rss_mib(server.pid())?;
    let (store, follower) = (run.rate(run.stored), run.rate(run.followed));
    println!(
        "logs ({backend}, 1 virtual agent, {} MiB in 64 KiB chunks, ≤ {WINDOW} unacked): store {store:.0} MB/s ({:.1} s), live follower {follower:.0} MB/s ({:.1} s); server CPU {cpu:.0} % of one core, peak VmHWM {peak:.0} MiB (target ≥ {TARGET:.0} MB/s) {} [{note}]",
        total >> 20,
        run.stored.as_secs_f64(),
        run.followed.as_secs_f64(),
        verdict(store >= TARGET && follower >= TARGET),
    );

    if let Some(binary) = &bench.binaries.agent {
        let spool = (4u64 << 30).to_string();
        let agent =
            RealAgent::start(binary, &api, "real-streamer", &["--spool-max-bytes", &spool]).await?;
        let contention = Contention::start(backend, &[server.pid(), agent.pid()])?;
        let run = real_job(&api, &agent, total)
            .await
            .map_err(|err| err.context(format!("the real agent's log:\n{}", agent.log_tail())))?;
        let note = contention.note();
        let peak = peak_rss_mib(server.pid())?;
        let (store, follower) = (run.rate(run.stored), run.rate(run.followed));
        println!(
            "logs ({backend}, real gsm-agent running head -c {total} /dev/zero): created to succeeded {store:.0} MB/s ({:.1} s), live follower {follower:.0} MB/s ({:.1} s); server peak VmHWM {peak:.0} MiB (target ≥ {TARGET:.0} MB/s) {} [{note}]",
            run.stored.as_secs_f64(),
            run.followed.as_secs_f64(),
            verdict(store >= TARGET && follower >= TARGET),
        );
    }
    server.stop().await
}

/// One measured output.
struct Run {
    bytes: u64,
    stored: Duration,
    followed: Duration,
}

impl Run {
    fn slowest(&self) -> Duration {
        self.stored.max(self.followed)
    }

    fn rate(&self, took: Duration) -> f64 {
        self.bytes as f64 / took.as_secs_f64() / 1e6
    }
}

async fn stream_once(api: &Api, host: &Enrolled, total: u64) -> anyhow::Result<Run> {
    let agent = VirtualAgent::connect(&api.ws_base(), host, Buffers::Default).await?;
    api.wait_connected(host.host, Duration::from_secs(10)).await?;
    let (go_tx, go_rx) = oneshot::channel();
    let plan = StreamPlan { total, chunk: CHUNK, window: WINDOW };
    let streamer = tokio::spawn(agent.stream_output(plan, go_rx));
    let size = total.to_string();
    let job = api
        .create_job(&command_job(host.host, "/usr/bin/head", &["-c", &size, "/dev/zero"]))
        .await?;
    let (connected_tx, connected_rx) = oneshot::channel();
    let follower = tokio::spawn(follow(api.clone(), job.id, connected_tx));
    // A follower reads the store from the first chunk, so it misses nothing either way; waiting
    // keeps its connection set-up out of its rate.
    let _ = connected_rx.await;
    let _ = go_tx.send(());
    let times = streamer.await.context("the streamer task")??;
    let (bytes, done_at) = follower.await.context("the follower task")??;
    ensure!(bytes == total, "the follower got {bytes} bytes of {total}");
    Ok(Run {
        bytes: total,
        stored: times.stored,
        followed: done_at.saturating_duration_since(times.started),
    })
}

async fn real_job(api: &Api, agent: &RealAgent, total: u64) -> anyhow::Result<Run> {
    let size = total.to_string();
    let mut request = command_job(agent.host, "/usr/bin/head", &["-c", &size, "/dev/zero"]);
    request.output_cap_bytes = Some(total);
    request.timeout_secs = Some(REAL_TIMEOUT.as_secs());
    let started = Instant::now();
    let job = api.create_job(&request).await?;
    let (connected, _) = oneshot::channel();
    let follower = tokio::spawn(follow(api.clone(), job.id, connected));
    let stored = loop {
        let now = api.job(job.id).await?;
        match now.state {
            JobState::Succeeded => break started.elapsed(),
            state if state.is_terminal() => {
                bail!("the job ended {state:?}: {:?} {:?}", now.reason, now.result)
            }
            _ if started.elapsed() > REAL_TIMEOUT => bail!("the job is still {:?}", now.state),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let (bytes, done_at) = follower.await.context("the follower task")??;
    ensure!(bytes == total, "the follower got {bytes} bytes of {total}");
    Ok(Run { bytes: total, stored, followed: done_at.saturating_duration_since(started) })
}

#[derive(Deserialize)]
struct FollowFrame<'a> {
    #[serde(borrow)]
    chunks: Vec<FollowChunk<'a>>,
    complete: bool,
}

#[derive(Deserialize)]
struct FollowChunk<'a> {
    seq: u64,
    data: &'a str,
}

/// Follows a job's output until it is complete; returns the bytes received and when. Chunks are
/// counted from their base64 length, not decoded: the bench should not spend the CPU the server
/// needs on the same two cores.
async fn follow(
    api: Api,
    job: JobId,
    connected: oneshot::Sender<()>,
) -> anyhow::Result<(u64, Instant)> {
    let url = api.org_url(&format!("/jobs/{job}/logs/follow")).replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().context("building the follow request")?;
    let bearer = format!("Bearer {}", api.key()).parse().context("the API key as a header")?;
    request.headers_mut().insert("authorization", bearer);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .context("connecting the log follower")?;
    let _ = connected.send(());
    let (mut bytes, mut next_seq) = (0u64, 0u64);
    while let Some(frame) = socket.next().await {
        let text = match frame.context("reading the follow stream")? {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let frame: FollowFrame<'_> =
            serde_json::from_str(text.as_str()).context("parsing a follow frame")?;
        for chunk in &frame.chunks {
            ensure!(
                chunk.seq == next_seq,
                "the follower got chunk {} after {}",
                chunk.seq,
                next_seq
            );
            next_seq += 1;
            bytes += base64_len(chunk.data);
        }
        if frame.complete {
            return Ok((bytes, Instant::now()));
        }
    }
    bail!("the follow stream ended before the output was complete ({bytes} bytes)")
}

/// The decoded length of padded base64 text.
fn base64_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take_while(|&b| b == b'=').count();
    (text.len() / 4 * 3 - padding) as u64
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    #[test]
    fn base64_length_is_the_decoded_length() {
        for n in [0, 1, 2, 3, 4, 65536] {
            let text = base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
            assert_eq!(base64_len(&text), n as u64, "{n} bytes");
        }
    }
}
