//! Figure 2, throughput: trivial jobs per second end to end, spread over 100 virtual agents.
//!
//! Concurrent HTTP clients create the jobs as fast as the server answers (an open loop: nobody
//! waits for a job to end before creating the next), while one watcher reads
//! `GET …/jobs?state=succeeded` (the newest page) every few milliseconds and, once every job is
//! created, reads the jobs it has not yet seen succeed one by one. The rate is jobs over the time
//! from the first create until the watcher has seen the last one succeed. The server's own
//! timestamps give each job's create-to-succeeded time under that load, and the CPU the server
//! and gsm-bench used (they share the machine) is reported beside it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gsm_core::job::{HostId, JobId, JobState};
use gsm_proto::rest::Job;
use tokio::task::JoinSet;

use super::api::{Api, command_job};
use super::fleet::{Workers, enroll_many};
use super::procfs::{Contention, CpuWindow};
use super::server::{Backend, Server};
use super::stats::{Samples, ms};
use super::virtual_agent::WorkerEvents;
use super::{Bench, sqlite_verdict};

/// Virtual agents the jobs are spread over.
const AGENTS: usize = 100;
/// Concurrent HTTP clients creating jobs.
const CLIENTS: usize = 64;
/// Jobs run before the measured ones.
const WARMUP: usize = 300;
/// The watcher's page of succeeded jobs, and how often it reads it.
const PAGE: u32 = 200;
const WATCH_EVERY: Duration = Duration::from_millis(20);
/// How long the run may take before the figure fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// The target, in jobs per second.
const TARGET: f64 = 1000.0;

pub async fn run(bench: &Bench, backend: Backend) -> anyhow::Result<()> {
    let server = Server::start(&bench.binaries, &bench.server_config(backend)).await?;
    let api = server.api.clone();
    let hosts = enroll_many(&api, "worker", AGENTS, 16).await?;
    let events = WorkerEvents::default();
    let mut workers = Workers::connect(&api, &hosts, &events).await?;
    let host_ids: Arc<[HostId]> = hosts.iter().map(|h| h.host).collect();

    run_jobs(&api, &host_ids, WARMUP).await.context("warm-up")?;
    let jobs = bench.args.throughput_jobs;
    let server_cpu = CpuWindow::start(server.pid())?;
    let bench_cpu = CpuWindow::start(std::process::id())?;
    let contention = Contention::start(backend, &[server.pid()])?;
    let started = Instant::now();
    let mut finished = run_jobs(&api, &host_ids, jobs).await?;
    let took = started.elapsed();
    let (server_cpu, _) = server_cpu.percent()?;
    let (bench_cpu, _) = bench_cpu.percent()?;
    workers.check()?;
    // The watcher saw each job once, as it succeeded; read them all back for their timestamps.
    let mut latency = Samples::with_capacity(jobs);
    for job in finished.drain(..) {
        latency.push(server_side_latency(&job)?);
    }

    let rate = jobs as f64 / took.as_secs_f64();
    println!(
        "throughput ({backend}, {AGENTS} virtual agents, {CLIENTS} concurrent clients, {jobs} jobs): {rate:.0} jobs/s ({:.1} s); created to succeeded by the server's clock p50 {:.0} ms, p99 {:.0} ms; CPU server {server_cpu:.0} %, gsm-bench {bench_cpu:.0} % of one core (target ≥ {TARGET:.0} jobs/s) {} [{}]",
        took.as_secs_f64(),
        ms(latency.percentile(50.0)),
        ms(latency.percentile(99.0)),
        sqlite_verdict(backend, rate >= TARGET),
        contention.note(),
    );
    drop(workers);
    server.stop().await
}

/// Creates `jobs` jobs through [`CLIENTS`] clients, round-robin over `hosts`, and returns once
/// every one reads `succeeded`, with each as it was then.
async fn run_jobs(api: &Api, hosts: &Arc<[HostId]>, jobs: usize) -> anyhow::Result<Vec<Job>> {
    let next = Arc::new(AtomicUsize::new(0));
    let created: Arc<Mutex<Vec<JobId>>> = Arc::new(Mutex::new(Vec::with_capacity(jobs)));
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let (api, hosts, next, created) =
            (api.clone(), Arc::clone(hosts), Arc::clone(&next), Arc::clone(&created));
        clients.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    return anyhow::Ok(());
                }
                let job =
                    api.create_job(&command_job(hosts[i % hosts.len()], "/bin/true", &[])).await?;
                created.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(job.id);
            }
        });
    }

    let started = Instant::now();
    let mut seen: HashSet<JobId> = HashSet::with_capacity(jobs);
    let mut finished = Vec::with_capacity(jobs);
    let mut creating = true;
    loop {
        if creating {
            while let Some(client) = clients.try_join_next() {
                client.context("a client task failed")??;
            }
            creating = !clients.is_empty();
        }
        for job in api.jobs_in_state("succeeded", PAGE).await?.items {
            if seen.insert(job.id) {
                finished.push(job);
            }
        }
        if !creating {
            let missing: Vec<JobId> = {
                let created = created.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                created.iter().filter(|id| !seen.contains(id)).copied().collect()
            };
            if missing.is_empty() {
                return Ok(finished);
            }
            // The page only shows the newest; jobs that ended before the watcher looked are read
            // one by one (few: the page is read far more often than it fills).
            if missing.len() < PAGE as usize {
                for id in missing {
                    let job = api.job(id).await?;
                    match job.state {
                        JobState::Succeeded => {
                            seen.insert(id);
                            finished.push(job);
                        }
                        state if state.is_terminal() => bail!("job {id} ended {state:?}"),
                        _ => {}
                    }
                }
            }
        }
        if started.elapsed() > RUN_TIMEOUT {
            bail!("{} of {jobs} jobs succeeded within {RUN_TIMEOUT:?}", seen.len());
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// `updated_at - created_at` of a succeeded job: its create-to-succeeded time by the server's
/// clock.
fn server_side_latency(job: &Job) -> anyhow::Result<Duration> {
    let created: jiff::Timestamp = job.created_at.parse().context("parsing created_at")?;
    let updated: jiff::Timestamp = job.updated_at.parse().context("parsing updated_at")?;
    let took = updated.duration_since(created);
    Ok(Duration::try_from(took).unwrap_or_default())
}
