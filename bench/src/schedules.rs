//! `gsm-bench schedules`: issue #6's scheduler figure against the real release `gsm-server`, on
//! SQLite and on a fresh PostgreSQL database: 10,000 schedules due in the same minute, and how
//! late each job is created after that due time (target: every one within 5 s).
//!
//! The schedules are made through the REST API (`0 <minute> <hour> * * *` in UTC, spread over 10
//! hosts, none of them enrolled, so the jobs stay queued and nothing else loads the server), all
//! naming one minute at least [`LEAD`] ahead. After that minute the jobs are read back through
//! `GET …/jobs`, and each job's `created_at` minus the due time is a sample. The server's
//! scheduler runs at its default tick (1 s). The load average is printed beside the figure.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use gsm_core::job::{CommandSpec, HostId, JobKind};
use gsm_proto::rest::{Job, Page, ScheduleSpec, ScheduleTemplate};
use jiff::{SignedDuration, Timestamp, ToSpan, Unit};
use reqwest::StatusCode;
use tokio::task::JoinSet;

use crate::spine::server::{Backend, Server, on_both_backends};
use crate::spine::stats::{Samples, ms};

/// Schedules, hosts they are spread over, and concurrent creators.
const SCHEDULES: usize = 10_000;
const HOSTS: usize = 10;
const WORKERS: usize = 8;
/// The due minute is the first whole minute at least this far ahead when creation starts.
const LEAD: SignedDuration = SignedDuration::from_secs(100);
/// How long after the due time the jobs are awaited before the run fails.
const PATIENCE: Duration = Duration::from_secs(120);

/// Runs the figure on both backends.
pub fn run() -> anyhow::Result<()> {
    on_both_backends(|server, backend| Box::pin(figure(server, backend)))
}

fn spec(i: usize, host: HostId, due: Timestamp) -> anyhow::Result<ScheduleSpec> {
    let at = due.to_zoned(jiff::tz::TimeZone::UTC);
    Ok(ScheduleSpec {
        name: format!("bench-{i:05}"),
        cron: format!("0 {} {} * * *", at.minute(), at.hour()),
        timezone: "UTC".into(),
        template: ScheduleTemplate {
            hosts: vec![host],
            kind: JobKind::Command(CommandSpec {
                program: "/usr/bin/true".into(),
                args: vec![],
                cwd: None,
                env: Default::default(),
            }),
            timeout_secs: None,
            output_cap_bytes: None,
            deadline_secs: None,
        },
        conditions: Default::default(),
        concurrency_policy: Default::default(),
        starting_deadline_secs: None,
        history_limit: 5,
        suspend: false,
    })
}

async fn figure(server: &mut Server, backend: Backend) -> anyhow::Result<()> {
    let mut hosts = Vec::with_capacity(HOSTS);
    for i in 0..HOSTS {
        hosts.push(server.api.create_host(&format!("bench-{i:02}")).await?.host.id);
    }
    let start = Timestamp::now();
    let due = start
        .checked_add(LEAD)?
        .round(jiff::TimestampRound::new().smallest(Unit::Minute).mode(jiff::RoundMode::Ceil))?;
    let http = reqwest::Client::new();
    let mut workers = JoinSet::new();
    for worker in 0..WORKERS {
        let (http, url, key) =
            (http.clone(), server.api.org_url("/schedules"), server.api.key().to_owned());
        let hosts = hosts.clone();
        workers.spawn(async move {
            for i in (worker..SCHEDULES).step_by(WORKERS) {
                let body = spec(i, hosts[i % HOSTS], due)?;
                let response = http.post(&url).bearer_auth(&key).json(&body).send().await?;
                ensure!(
                    response.status() == StatusCode::CREATED,
                    "creating schedule {i}: {}",
                    response.text().await?
                );
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let created_in = Timestamp::now().duration_since(start);
    if Timestamp::now() >= due.checked_sub(2.seconds())? {
        bail!(
            "creating {SCHEDULES} schedules took {:.0} s, past the due minute {due}; raise LEAD",
            created_in.as_secs_f64()
        );
    }
    let load_before = load_average()?;
    let wait = due.duration_since(Timestamp::now()).unsigned_abs() + Duration::from_secs(6);
    tokio::time::sleep(wait).await;
    let jobs = await_jobs(&http, server, due).await?;
    let load_after = load_average()?;
    server.check_alive()?;
    let mut samples = Samples::with_capacity(jobs.len());
    let mut early = 0;
    for job in &jobs {
        let created: Timestamp = job.created_at.parse().context("a job's created_at")?;
        let late = created.duration_since(due);
        if late.is_negative() {
            early += 1;
        }
        samples.push(late.unsigned_abs());
    }
    ensure!(early == 0, "{early} jobs were created before their due time");
    println!(
        "schedules [{backend}]: {SCHEDULES} schedules due at {due} ({HOSTS} hosts), made in {:.1} s: \
         {} jobs, created after the due time p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms \
         (target: max <= 5000 ms); load average {load_before} before, {load_after} after",
        created_in.as_secs_f64(),
        jobs.len(),
        ms(samples.percentile(50.0)),
        ms(samples.percentile(99.0)),
        ms(samples.max()),
    );
    Ok(())
}

/// Reads every job back until there are [`SCHEDULES`] of them.
async fn await_jobs(
    http: &reqwest::Client,
    server: &Server,
    due: Timestamp,
) -> anyhow::Result<Vec<Job>> {
    let give_up = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut jobs = Vec::with_capacity(SCHEDULES);
        let mut cursor: Option<String> = None;
        loop {
            let mut url = server.api.org_url("/jobs?limit=500");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let response = http.get(url).bearer_auth(server.api.key()).send().await?;
            ensure!(response.status() == StatusCode::OK, "GET jobs: {}", response.status());
            let page: Page<Job> = response.json().await?;
            jobs.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if jobs.len() >= SCHEDULES {
            ensure!(jobs.len() == SCHEDULES, "{} jobs for {SCHEDULES} due times", jobs.len());
            return Ok(jobs);
        }
        if tokio::time::Instant::now() > give_up {
            bail!("only {} of {SCHEDULES} jobs exist {PATIENCE:?} after {due}", jobs.len());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The 1-minute load average.
fn load_average() -> anyhow::Result<String> {
    let text = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    Ok(text.split_whitespace().next().unwrap_or("?").to_owned())
}
