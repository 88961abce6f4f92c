//! `gsm-bench auth`: issue #4's figures against the real release `gsm-server`, on SQLite and on a
//! fresh PostgreSQL database: login latency at a steady 10 logins/s, and authenticated
//! `GET …/hosts` (1,000 hosts, first page) with an API key under 32 keep-alive connections.
//!
//! The list load comes from `wrk` (a separate, lean C process, as the issue asks) on loopback:
//! gsm-bench sets up the data, runs `wrk` and reads its summary, refusing a run with any error or
//! non-2xx answer. The machine's load average is printed beside the figure, since the server,
//! wrk and other builds share two cores.
//!
//! Logins are rate-limited per account and per client address, so the login load is spread over
//! accounts (made through invites) and loopback source addresses (`127.0.0.2`…): the figure is
//! the cost of a real login (argon2id included), never of a quick 429. The load is open-loop: a
//! login starts every 100 ms whatever the earlier ones are doing, so a slow server shows up as
//! latency rather than as a lower rate.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use gsm_proto::rest::{AcceptInvite, CreateInvite, InviteCreated, Login};
use reqwest::StatusCode;
use tokio::task::JoinSet;

use crate::spine::server::{Backend, Server, on_both_backends};
use crate::spine::stats::{Samples, ms};

/// Logins per second, and for how long.
const LOGIN_RATE: u32 = 10;
const LOGIN_TIME: Duration = Duration::from_secs(20);
/// Accounts and source addresses the logins rotate over (each stays far inside its bucket).
const ACCOUNTS: usize = 40;
const PASSWORD: &str = "a bench password, long enough";
/// Hosts in the org, keep-alive connections, wrk's threads, and how long the list load runs
/// after a warm-up run.
const HOSTS: usize = 1000;
const CONNECTIONS: usize = 32;
const WRK_THREADS: usize = 1;
const WARM_UP: Duration = Duration::from_secs(2);
const LIST_TIME: Duration = Duration::from_secs(10);

/// Runs every figure on both backends.
pub fn run() -> anyhow::Result<()> {
    on_both_backends(|server, backend| Box::pin(figures(server, backend)))
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
    let url = server.api.org_url("/hosts");
    let header = format!("Authorization: Bearer {}", server.api.key());
    let check = reqwest::Client::new().get(&url).bearer_auth(server.api.key()).send().await?;
    ensure!(check.status() == StatusCode::OK, "GET hosts: {}", check.status());
    let page: gsm_proto::rest::Page<gsm_proto::rest::Host> = check.json().await?;
    ensure!(page.items.len() == 50 && page.next_cursor.is_some(), "GET hosts: not a first page");
    wrk(&url, &header, WARM_UP).await.context("warming up")?;
    let load_before = load_average()?;
    let run = wrk(&url, &header, LIST_TIME).await?;
    let load_after = load_average()?;
    println!(
        "auth GET hosts [{backend}]: {HOSTS} hosts, first page (50), API key, wrk -t{WRK_THREADS} -c{CONNECTIONS} for {:?}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms (targets: >= 5000 req/s, p99 <= 10 ms); load average {load_before} before, {load_after} after",
        LIST_TIME, run.rate, run.p50_ms, run.p99_ms,
    );
    Ok(())
}

/// What `wrk --latency` reports.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WrkRun {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs `wrk` against `url` for `time` and reads its summary.
async fn wrk(url: &str, header: &str, time: Duration) -> anyhow::Result<WrkRun> {
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{WRK_THREADS}"))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{}s", time.as_secs()))
        .args(["--latency", "-H", header, url]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await?
        .context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_wrk(&text)
}

/// Reads rate and latency percentiles from wrk's summary; a run with socket errors or non-2xx
/// answers is an error, not a figure.
fn parse_wrk(text: &str) -> anyhow::Result<WrkRun> {
    let mut rate = None;
    let mut p50 = None;
    let mut p99 = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("Non-2xx") || line.starts_with("Socket errors") {
            bail!("wrk saw failures: {line}");
        }
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            rate = Some(value.trim().parse::<f64>().context("wrk's Requests/sec")?);
        } else if let Some(value) = line.strip_prefix("50%") {
            p50 = Some(wrk_ms(value.trim())?);
        } else if let Some(value) = line.strip_prefix("99%") {
            p99 = Some(wrk_ms(value.trim())?);
        }
    }
    match (rate, p50, p99) {
        (Some(rate), Some(p50_ms), Some(p99_ms)) => Ok(WrkRun { rate, p50_ms, p99_ms }),
        _ => bail!("wrk's output lacks the rate or the latency distribution: {text}"),
    }
}

/// A wrk duration (`812.00us`, `4.51ms`, `1.02s`) in milliseconds.
fn wrk_ms(text: &str) -> anyhow::Result<f64> {
    let number = |n: &str| n.parse::<f64>().with_context(|| format!("wrk duration {text:?}"));
    if let Some(n) = text.strip_suffix("us") {
        Ok(number(n)? / 1000.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        number(n)
    } else if let Some(n) = text.strip_suffix('s') {
        Ok(number(n)? * 1000.0)
    } else {
        bail!("wrk duration {text:?} has no unit")
    }
}

/// The 1-minute load average.
fn load_average() -> anyhow::Result<String> {
    let text = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    Ok(text.split_whitespace().next().unwrap_or("?").to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_summaries_are_read_and_failures_refused() {
        let summary = "Running 10s test @ http://127.0.0.1:1/x
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.12ms    1.23ms  30.00ms   80.00%
  Latency Distribution
     50%  812.00us
     75%    5.50ms
     90%    6.20ms
     99%    1.02s
  62500 requests in 10.00s, 150.00MB read
Requests/sec:   6249.50
Transfer/sec:     15.00MB
";
        let run = parse_wrk(summary).unwrap();
        assert_eq!(run, WrkRun { rate: 6249.5, p50_ms: 0.812, p99_ms: 1020.0 });
        let failed = summary.replace("Requests/sec", "  Non-2xx or 3xx responses: 5\nRequests/sec");
        assert!(parse_wrk(&failed).is_err());
        assert!(parse_wrk("Requests/sec: 5").is_err());
    }
}
