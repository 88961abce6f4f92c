//! Figure 1, dispatch latency: from `POST …/jobs` until `GET …/jobs/{id}` reads `succeeded`,
//! sequentially, over loopback.
//!
//! The job is read back to back until it shows `succeeded`, so the figure has no polling
//! interval in it (one read is well under a millisecond on loopback: that is its resolution), and
//! the next job is created at once. With a virtual worker, the time until the worker held the
//! server's ack of each job's end is reported too: it is what an agent waits for before it
//! forgets a job. The same server serves every variant; only the agents connected change.

use std::time::{Duration, Instant};

use anyhow::bail;
use gsm_core::job::{HostId, JobState};

use super::api::{Api, command_job};
use super::fleet::{IdleFleet, Workers, enroll_many};
use super::procfs::Contention;
use super::real_agent::RealAgent;
use super::server::{Backend, Server};
use super::stats::{Samples, ms};
use super::virtual_agent::WorkerEvents;
use super::{Bench, sqlite_verdict};

/// Jobs run before the measured ones, to warm connections and caches.
const WARMUP: usize = 20;
/// How long one trivial job may take before the figure fails.
const JOB_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle agents beside the worker in the crowded variant.
const IDLE_AGENTS: usize = 99;

pub async fn run(bench: &Bench, backend: Backend) -> anyhow::Result<()> {
    let server = Server::start(&bench.binaries, &bench.server_config(backend)).await?;
    let api = server.api.clone();
    let jobs = bench.args.dispatch_jobs;
    let worker = api.enrolled_host("worker").await?;
    let idle_hosts = enroll_many(&api, "idle", IDLE_AGENTS, 16).await?;
    let events = WorkerEvents::default();

    {
        let workers = Workers::connect(&api, std::slice::from_ref(&worker), &events).await?;
        let contention = Contention::start(backend, &[server.pid()])?;
        let samples = measure(&api, worker.host, jobs, Some(&events)).await?;
        report(backend, "1 virtual agent", jobs, samples, &contention);
        drop(workers);
    }
    if let Some(binary) = &bench.binaries.agent {
        let agent = RealAgent::start(binary, &api, "real-worker", &[]).await?;
        let contention = Contention::start(backend, &[server.pid(), agent.pid()])?;
        let samples = measure(&api, agent.host, jobs, None)
            .await
            .map_err(|err| err.context(format!("the real agent's log:\n{}", agent.log_tail())))?;
        report(backend, "1 real gsm-agent running /bin/true", jobs, samples, &contention);
    }

    let mut idle = IdleFleet::connect(&api, &idle_hosts, 32).await?;
    {
        let mut workers = Workers::connect(&api, std::slice::from_ref(&worker), &events).await?;
        let contention = Contention::start(backend, &[server.pid()])?;
        let samples = measure(&api, worker.host, jobs, Some(&events)).await?;
        workers.check()?;
        idle.check()?;
        let agents = "1 virtual worker + 99 idle virtual agents heartbeating";
        report(backend, agents, jobs, samples, &contention);
    }
    if let Some(binary) = &bench.binaries.agent {
        let agent = RealAgent::start(binary, &api, "real-worker-2", &[]).await?;
        let contention = Contention::start(backend, &[server.pid(), agent.pid()])?;
        let samples = measure(&api, agent.host, jobs, None)
            .await
            .map_err(|err| err.context(format!("the real agent's log:\n{}", agent.log_tail())))?;
        idle.check()?;
        let agents = "1 real gsm-agent running /bin/true + 99 idle virtual agents";
        report(backend, agents, jobs, samples, &contention);
    }
    drop(idle);
    if server.warnings() > 0 {
        println!(
            "  (the server logged {} warnings; last lines:\n{})",
            server.warnings(),
            server.last_lines()
        );
    }
    server.stop().await
}

fn report(
    backend: Backend,
    agents: &str,
    jobs: usize,
    measured: Measured,
    contention: &Contention,
) {
    let Measured { succeeded: mut samples, end_acked } = measured;
    let (p50, p99) = (samples.percentile(50.0), samples.percentile(99.0));
    let met = p50 <= Duration::from_millis(5) && p99 <= Duration::from_millis(20);
    println!(
        "dispatch latency ({backend}, {agents}, {jobs} sequential jobs): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p50 ≤ 5 ms, p99 ≤ 20 ms) {} [{}]",
        ms(p50),
        ms(p99),
        ms(samples.max()),
        sqlite_verdict(backend, met),
        contention.note(),
    );
    if let Some(mut acked) = end_acked {
        println!(
            "  the worker had the server's ack of each job's end after p50 {:.2} ms, p99 {:.2} ms",
            ms(acked.percentile(50.0)),
            ms(acked.percentile(99.0)),
        );
    }
}

/// What one variant measured.
struct Measured {
    /// Created until a read shows `succeeded`.
    succeeded: Samples,
    /// Created until the virtual worker had the server's ack of the end.
    end_acked: Option<Samples>,
}

/// Runs `jobs` trivial jobs one after another on `host` (after a warm-up) and times each: the job
/// is read back to back until it shows `succeeded`, and the next is created at once, as a client
/// running jobs in sequence would. With a virtual worker, when the worker got the server's ack
/// of each job's end is collected afterwards; nothing waits for it.
async fn measure(
    api: &Api,
    host: HostId,
    jobs: usize,
    events: Option<&WorkerEvents>,
) -> anyhow::Result<Measured> {
    let request = command_job(host, "/bin/true", &[]);
    let mut succeeded = Samples::with_capacity(jobs);
    let mut created = Vec::with_capacity(jobs);
    for i in 0..WARMUP + jobs {
        let started = Instant::now();
        let job = api.create_job(&request).await?;
        loop {
            let now = api.job(job.id).await?;
            match now.state {
                JobState::Succeeded => break,
                state if state.is_terminal() => {
                    bail!("job {} ended {state:?}: {:?} {:?}", job.id, now.reason, now.result)
                }
                _ if started.elapsed() > JOB_TIMEOUT => {
                    bail!("job {} is still {:?} after {JOB_TIMEOUT:?}", job.id, now.state)
                }
                _ => {}
            }
        }
        if i >= WARMUP {
            succeeded.push(started.elapsed());
            created.push((job.id, started));
        }
    }
    let Some(events) = events else { return Ok(Measured { succeeded, end_acked: None }) };
    let mut end_acked = Samples::with_capacity(jobs);
    for (job, started) in created {
        let acked = events.acked.wait(job, JOB_TIMEOUT).await?;
        end_acked.push(acked.saturating_duration_since(started));
    }
    events.acked.clear();
    Ok(Measured { succeeded, end_acked: Some(end_acked) })
}
