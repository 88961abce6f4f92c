//! `gsm-bench auth`: issue #4's figures against the real release `gsm-server`, on SQLite and on a
//! fresh PostgreSQL database: login latency at a steady 10 logins/s, and authenticated
//! `GET …/hosts` (1,000 hosts, first page) with an API key under 32 keep-alive clients.
//!
//! Logins are rate-limited per account and per client address, so the login load is spread over
//! accounts (made through invites) and loopback source addresses (`127.0.0.2`…): the figure is
//! the cost of a real login (argon2id included), never of a quick 429. The load is open-loop: a
//! login starts every 100 ms whatever the earlier ones are doing, so a slow server shows up as
//! latency rather than as a lower rate.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use gsm_proto::rest::{AcceptInvite, CreateInvite, InviteCreated, Login};
use reqwest::StatusCode;
use tokio::task::JoinSet;

use crate::spine::server::{Backend, Binaries, Server, ServerConfig};
use crate::spine::stats::{Samples, ms};

/// The local PostgreSQL server (trust auth); each run creates and drops its own database.
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
/// Logins per second, and for how long.
const LOGIN_RATE: u32 = 10;
const LOGIN_TIME: Duration = Duration::from_secs(20);
/// Accounts and source addresses the logins rotate over (each stays far inside its bucket).
const ACCOUNTS: usize = 40;
const PASSWORD: &str = "a bench password, long enough";
/// Hosts in the org, concurrent clients, and how long the list load runs after a warm-up.
const HOSTS: usize = 1000;
const CLIENTS: usize = 32;
const WARM_UP: Duration = Duration::from_secs(1);
const LIST_TIME: Duration = Duration::from_secs(10);

/// Runs every figure on both backends.
pub fn run() -> anyhow::Result<()> {
    let binaries = Binaries::find()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        runtime.block_on(async {
            let config = ServerConfig {
                backend,
                postgres_url: POSTGRES.into(),
                heartbeat_interval_ms: None,
            };
            let mut server = Server::start(&binaries, &config).await?;
            let outcome = figures(&mut server, backend).await;
            server.stop().await?;
            outcome
        })?;
    }
    Ok(())
}

async fn figures(server: &mut Server, backend: Backend) -> anyhow::Result<()> {
    let emails = accounts(server).await.context("creating the login accounts")?;
    login_figure(server, backend, &emails).await.context("measuring logins")?;
    create_hosts(server).await.context("creating the hosts")?;
    list_figure(server, backend).await.context("measuring GET …/hosts")?;
    server.check_alive()
}

/// Makes [`ACCOUNTS`] users through invites; returns their emails.
async fn accounts(server: &Server) -> anyhow::Result<Vec<String>> {
    let http = reqwest::Client::new();
    let mut emails = Vec::with_capacity(ACCOUNTS);
    for i in 0..ACCOUNTS {
        let email = format!("bench-{i}@example.com");
        let invite = CreateInvite { email: email.clone(), role: "viewer".into() };
        let response = http
            .post(server.api.org_url("/invites"))
            .bearer_auth(server.api.key())
            .json(&invite)
            .send()
            .await?;
        ensure!(response.status().is_success(), "invite: {}", response.text().await?);
        let created: InviteCreated = response.json().await?;
        let accept = AcceptInvite {
            token: created.token,
            email: Some(email.clone()),
            password: Some(PASSWORD.into()),
            display_name: Some(format!("Bench {i}")),
        };
        let url = format!("{}/api/v1/invites/accept", server.api.base());
        let response = http.post(url).json(&accept).send().await?;
        ensure!(response.status().is_success(), "accept: {}", response.text().await?);
        emails.push(email);
    }
    Ok(emails)
}

/// One HTTP client per loopback source address, so the per-address bucket sees spread load.
fn source_clients() -> anyhow::Result<Vec<reqwest::Client>> {
    (0..ACCOUNTS)
        .map(|i| {
            let last = u8::try_from(i + 2).context("too many source addresses")?;
            reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
                .build()
                .context("building a login client")
        })
        .collect()
}

async fn login_figure(server: &Server, backend: Backend, emails: &[String]) -> anyhow::Result<()> {
    let clients = source_clients()?;
    let url = Arc::new(format!("{}/api/v1/auth/login", server.api.base()));
    let total = LOGIN_RATE as usize * LOGIN_TIME.as_secs() as usize;
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / LOGIN_RATE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut logins = JoinSet::new();
    for i in 0..total {
        ticks.tick().await;
        let client = clients[i % clients.len()].clone();
        let body = Login { email: emails[i % emails.len()].clone(), password: PASSWORD.into() };
        let url = Arc::clone(&url);
        logins.spawn(async move {
            let started = Instant::now();
            let status = client.post(url.as_str()).json(&body).send().await?.status();
            anyhow::Ok((status, started.elapsed()))
        });
    }
    let mut samples = Samples::with_capacity(total);
    let mut refused = 0;
    while let Some(login) = logins.join_next().await {
        let (status, took) = login??;
        if status == StatusCode::OK {
            samples.push(took);
        } else {
            refused += 1;
        }
    }
    println!(
        "auth login [{backend}]: {total} logins at {LOGIN_RATE}/s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {refused} refused (target: p99 <= 250 ms)",
        ms(samples.percentile(50.0)),
        ms(samples.percentile(99.0)),
        ms(samples.max()),
    );
    Ok(())
}

async fn create_hosts(server: &Server) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    for worker in 0..8 {
        let api = server.api.clone();
        tasks.spawn(async move {
            for i in (worker..HOSTS).step_by(8) {
                api.create_host(&format!("bench-{i:04}")).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn list_figure(server: &Server, backend: Backend) -> anyhow::Result<()> {
    let url = Arc::new(server.api.org_url("/hosts"));
    let key = Arc::new(server.api.key().to_owned());
    let start = Instant::now() + WARM_UP;
    let end = start + LIST_TIME;
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let (url, key) = (Arc::clone(&url), Arc::clone(&key));
        clients.spawn(async move {
            // One client each: one keep-alive connection per simulated caller.
            let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
            let mut samples = Vec::with_capacity(64 * 1024);
            loop {
                let sent = Instant::now();
                if sent >= end {
                    return anyhow::Ok(samples);
                }
                let response = http.get(url.as_str()).bearer_auth(key.as_str()).send().await?;
                ensure!(response.status() == StatusCode::OK, "GET hosts: {}", response.status());
                let body = response.bytes().await?;
                ensure!(!body.is_empty(), "GET hosts: an empty body");
                if sent >= start {
                    samples.push(sent.elapsed());
                }
            }
        });
    }
    let mut all = Samples::with_capacity(CLIENTS * 64 * 1024);
    let mut count = 0u64;
    while let Some(client) = clients.join_next().await {
        for sample in client?? {
            all.push(sample);
            count += 1;
        }
    }
    let rate = count as f64 / LIST_TIME.as_secs_f64();
    println!(
        "auth GET hosts [{backend}]: {HOSTS} hosts, first page, API key, {CLIENTS} keep-alive clients for {:?}: {rate:.0} req/s, p50 {:.2} ms, p99 {:.2} ms (targets: >= 5000 req/s, p99 <= 10 ms)",
        LIST_TIME,
        ms(all.percentile(50.0)),
        ms(all.percentile(99.0)),
    );
    Ok(())
}
