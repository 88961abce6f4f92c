//! Many hosts at once: enrolling them through the API and connecting virtual agents for them,
//! both with bounded concurrency.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::api::{Api, Enrolled};
use super::virtual_agent::{Buffers, VirtualAgent, WorkerEvents};

/// Creates and enrolls `n` hosts named `{prefix}-{i}`, `concurrency` at a time.
pub async fn enroll_many(
    api: &Api,
    prefix: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Enrolled>> {
    let mut enrolled: Vec<Enrolled> = futures_util::stream::iter(0..n)
        .map(|i| {
            let name = format!("{prefix}-{i:05}");
            async move { api.enrolled_host(&name).await.with_context(|| format!("host {name}")) }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    enrolled.sort_by_key(|e| e.host);
    Ok(enrolled)
}

/// Connects one virtual agent per host, `concurrency` at a time.
pub async fn connect_many(
    api: &Api,
    hosts: &[Enrolled],
    concurrency: usize,
    buffers: Buffers,
) -> anyhow::Result<Vec<VirtualAgent>> {
    let ws = api.ws_base();
    futures_util::stream::iter(hosts)
        .map(|host| {
            let ws = ws.clone();
            async move {
                VirtualAgent::connect(&ws, host, buffers)
                    .await
                    .with_context(|| format!("connecting host {}", host.host))
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Connected agents that only heartbeat; a probe makes one heartbeat at once with a chosen
/// sequence number. Dropping the fleet disconnects every agent.
pub struct IdleFleet {
    tasks: JoinSet<anyhow::Result<()>>,
    probes: Vec<mpsc::Sender<u64>>,
}

impl IdleFleet {
    /// Connects `hosts`, `concurrency` at a time, each agent heartbeating as soon as it is
    /// connected, the first beats spread evenly over one interval. Returns once all are connected.
    pub async fn connect(
        api: &Api,
        hosts: &[Enrolled],
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        let n = hosts.len().max(1) as u32;
        let permits = Arc::new(Semaphore::new(concurrency));
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        let mut probes = Vec::with_capacity(hosts.len());
        for (i, host) in hosts.iter().enumerate() {
            let (tx, rx) = mpsc::channel(1);
            probes.push(tx);
            let (ws, host, permits, ready) =
                (api.ws_base(), host.clone(), Arc::clone(&permits), ready_tx.clone());
            tasks.spawn(async move {
                let permit = permits.acquire_owned().await.context("the connect semaphore")?;
                let agent = VirtualAgent::connect(&ws, &host, Buffers::Small)
                    .await
                    .with_context(|| format!("connecting host {}", host.host))?;
                drop(permit);
                let _ = ready.send(());
                let interval = agent.heartbeat_interval();
                agent.idle(interval * i as u32 / n, rx).await
            });
        }
        drop(ready_tx);
        let mut fleet = Self { tasks, probes };
        for _ in 0..hosts.len() {
            tokio::select! {
                ready = ready_rx.recv() => if ready.is_none() { fleet.check()?; bail!("agents ended while connecting") },
                ended = fleet.tasks.join_next() => {
                    match ended {
                        Some(Ok(Err(err))) => return Err(err),
                        Some(Err(err)) => bail!("an idle agent's task failed: {err}"),
                        _ => bail!("an idle agent's connection ended while others connected"),
                    }
                }
            }
        }
        Ok(fleet)
    }

    /// How many agents are connected.
    pub fn len(&self) -> usize {
        self.probes.len()
    }

    /// Makes agent `i` heartbeat now with sequence number `seq`.
    pub async fn probe(&self, i: usize, seq: u64) -> anyhow::Result<()> {
        let probe = self.probes.get(i).context("no such agent")?;
        probe.send(seq).await.ok().context("the agent's task has ended")
    }

    /// Fails when any agent's connection has ended.
    pub fn check(&mut self) -> anyhow::Result<()> {
        if let Some(ended) = self.tasks.try_join_next() {
            match ended {
                Ok(Ok(())) => bail!("an idle agent's connection ended"),
                Ok(Err(err)) => return Err(err.context("an idle agent failed")),
                Err(err) => bail!("an idle agent's task failed: {err}"),
            }
        }
        Ok(())
    }
}

/// Virtual workers: each runs every job it is given. Dropping the set disconnects them.
pub struct Workers {
    tasks: JoinSet<anyhow::Result<()>>,
}

impl Workers {
    /// Connects one worker per host, reporting to `events`.
    pub async fn connect(
        api: &Api,
        hosts: &[Enrolled],
        events: &WorkerEvents,
    ) -> anyhow::Result<Self> {
        let agents = connect_many(api, hosts, 32, Buffers::Default).await?;
        let mut tasks = JoinSet::new();
        for agent in agents {
            tasks.spawn(agent.work(events.clone()));
        }
        for host in hosts {
            api.wait_connected(host.host, Duration::from_secs(10)).await?;
        }
        Ok(Self { tasks })
    }

    /// Fails when any worker's connection has ended.
    pub fn check(&mut self) -> anyhow::Result<()> {
        if let Some(ended) = self.tasks.try_join_next() {
            match ended {
                Ok(Ok(())) => bail!("a worker's connection ended"),
                Ok(Err(err)) => return Err(err.context("a worker failed")),
                Err(err) => bail!("a worker's task failed: {err}"),
            }
        }
        Ok(())
    }
}
