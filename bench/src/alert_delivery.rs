//! `gsm-bench alerts`, second figure (issue #6): host killed → Discord webhook request received,
//! with the real release binaries (target: ≤ the offline threshold + 2 s).
//!
//! On each backend a `gsm-server` runs at its default heartbeat interval (5 s; offline after 3
//! missed, so the threshold is 15 s), with `127.0.0.1` added to its webhook allow-list. Through
//! the REST API the org gets a webhook pointing at a local stand-in for Discord (an axum route
//! that records when each request arrives) and a `host.offline` rule delivering to it. [`AGENTS`]
//! real `gsm-agent`s connect and heartbeat; once the server sees each online they are all killed
//! with SIGKILL, and each host's sample is the time from its agent's kill to the arrival of the
//! webhook request naming that host. The load average is printed beside the figure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use gsm_core::presence::Presence;
use serde_json::{Value, json};

use crate::spine::real_agent::RealAgent;
use crate::spine::server::{Backend, Binaries, Server, ServerConfig};
use crate::spine::stats::{Samples, ms};

/// Agents killed at once per backend.
const AGENTS: usize = 5;
/// The server's default heartbeat interval and offline threshold (3 missed heartbeats).
const OFFLINE_THRESHOLD: Duration = Duration::from_secs(15);
const TARGET: Duration = Duration::from_secs(17);
/// How long to wait for every request before the run fails.
const PATIENCE: Duration = Duration::from_secs(60);
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// What the stand-in received: when, and the body.
type Received = Arc<Mutex<Vec<(Instant, Value)>>>;

async fn record(State(received): State<Received>, body: axum::Json<Value>) -> StatusCode {
    received.lock().unwrap_or_else(|p| p.into_inner()).push((Instant::now(), body.0));
    StatusCode::NO_CONTENT
}

/// Starts the stand-in; returns its webhook URL.
async fn stand_in(received: Received) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/api/webhooks/1/bench", listener.local_addr()?);
    let app = Router::new().route("/api/webhooks/1/bench", post(record)).with_state(received);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// Runs the figure on SQLite, then on PostgreSQL.
pub fn run() -> anyhow::Result<()> {
    let binaries = Binaries::find()?;
    let agent = binaries
        .agent
        .clone()
        .context("gsm-agent is missing; build it: cargo build --release -p gsm-agent")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        runtime.block_on(async {
            let config = ServerConfig {
                backend,
                postgres_url: LOCAL_POSTGRES.into(),
                heartbeat_interval_ms: None,
                webhook_hosts: vec!["127.0.0.1".into()],
            };
            let mut server = Server::start(&binaries, &config).await?;
            let outcome = figure(&mut server, &agent, backend).await;
            server.stop().await?;
            outcome
        })?;
    }
    Ok(())
}

async fn figure(
    server: &mut Server,
    agent_binary: &std::path::Path,
    backend: Backend,
) -> anyhow::Result<()> {
    let received: Received = Arc::default();
    let url = stand_in(received.clone()).await?;
    let http = reqwest::Client::new();
    let key = server.api.key().to_owned();
    let settings = json!({"discord_webhooks": {"bench": url}});
    let response = http
        .patch(server.api.org_url("/settings"))
        .bearer_auth(&key)
        .json(&settings)
        .send()
        .await?;
    ensure!(response.status() == StatusCode::OK, "PATCH settings: {}", response.text().await?);
    let rule = json!({"name": "offline", "kind": "host.offline", "channels": ["discord:bench"]});
    let response =
        http.post(server.api.org_url("/alert-rules")).bearer_auth(&key).json(&rule).send().await?;
    ensure!(response.status() == StatusCode::CREATED, "POST rule: {}", response.text().await?);

    let mut agents = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        agents
            .push(RealAgent::start(agent_binary, &server.api, &format!("killed-{i}"), &[]).await?);
    }
    for agent in &agents {
        let deadline = Instant::now() + PATIENCE;
        while server.api.host(agent.host).await?.presence != Some(Presence::Online) {
            ensure!(Instant::now() < deadline, "host {} never came online", agent.host);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let load_before = load_average()?;
    let mut killed_at = Vec::with_capacity(AGENTS);
    for agent in &mut agents {
        agent.kill();
        killed_at.push(Instant::now());
    }
    let deadline = Instant::now() + PATIENCE;
    let arrivals = loop {
        let seen = received.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let arrivals: Vec<Option<Instant>> = (0..AGENTS)
            .map(|i| {
                let name = format!("\"killed-{i}\"");
                seen.iter().find(|(_, body)| body.to_string().contains(&name)).map(|(at, _)| *at)
            })
            .collect();
        if arrivals.iter().all(Option::is_some) {
            break arrivals.into_iter().flatten().collect::<Vec<_>>();
        }
        if Instant::now() > deadline {
            bail!("only {} of {AGENTS} webhook requests arrived within {PATIENCE:?}", seen.len());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    server.check_alive()?;
    let mut samples = Samples::with_capacity(AGENTS);
    for (arrived, killed) in arrivals.iter().zip(&killed_at) {
        samples.push(arrived.duration_since(*killed));
    }
    let worst = samples.max();
    let verdict = if worst <= TARGET { "met" } else { "MISSED" };
    println!(
        "alerts [{backend}]: host killed → webhook request received, {AGENTS} agents killed at once, \
         offline threshold {:.0} s: p50 {:.0} ms, max {:.0} ms (target ≤ {:.0} ms: {verdict}); \
         {} requests in all; load average {load_before}",
        OFFLINE_THRESHOLD.as_secs_f64(),
        ms(samples.percentile(50.0)),
        ms(worst),
        ms(TARGET),
        received.lock().unwrap_or_else(|p| p.into_inner()).len(),
    );
    Ok(())
}

/// The 1-minute load average.
fn load_average() -> anyhow::Result<String> {
    let text = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    Ok(text.split_whitespace().next().unwrap_or("?").to_owned())
}
