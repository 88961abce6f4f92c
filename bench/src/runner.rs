//! Runner figures (issue #2): spawn overhead, output capture throughput and memory, and how long
//! a process group that ignores `SIGTERM` takes to be gone.
//!
//! Commands are approved through a real [`Policy`], as the agent does; the policy check itself is
//! done once per figure, outside the timed loops, because the figures are about the runner.
//! Runs on a two-worker tokio runtime, the shape the agent uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use gsm_core::job::{CommandSpec, HostId, JobId, JobKind, JobSpec, Requester, RequesterKind};
use gsm_core::policy::{ApprovedCommand, Policy};
use gsm_core::runner::{self, Cancel, ChunkSink, OutputChunk, SinkClosed};
use tokio::sync::mpsc;

/// Spawns timed for the overhead figure, per side.
const OVERHEAD_RUNS: usize = 500;
/// Untimed spawns first, so page cache and allocator are warm on both sides.
const WARMUP_RUNS: usize = 20;
/// Bytes the throughput child writes.
const THROUGHPUT_BYTES: u64 = 1 << 30;
/// Chunks in flight between the runner and the consumer in the throughput figure.
const CHANNEL_CHUNKS: usize = 16;
/// Stop sequences timed for the kill figure.
const KILL_RUNS: usize = 5;
/// The kill grace the policy grants in the kill figure.
const GRACE: Duration = Duration::from_secs(1);
/// The child in the kill figure: ignores SIGTERM, as do the two grandchildren it forks.
const STUBBORN: &str = r#"trap "" TERM; sleep 300 & sleep 300 & echo $$; wait"#;

pub fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let root = tempfile::tempdir().context("creating the working-directory root")?;
    let root = root.path().canonicalize().context("canonicalising the root")?;
    let programs = Programs::find()?;
    let policy = Policy::from_toml_str(&policy_toml(&root, &programs))
        .context("loading the bench policy")?;

    overhead(&runtime, &policy, &programs)?;
    throughput(&runtime, &policy, &programs)?;
    kill_latency(&runtime, &policy, &programs)
}

/// The canonical paths of the programs the figures run (the policy wants canonical paths).
struct Programs {
    bin_true: PathBuf,
    head: PathBuf,
    sh: PathBuf,
}

impl Programs {
    fn find() -> anyhow::Result<Self> {
        let canonical =
            |path: &str| Path::new(path).canonicalize().with_context(|| format!("finding {path}"));
        Ok(Self {
            bin_true: canonical("/bin/true")?,
            head: canonical("/usr/bin/head")?,
            sh: canonical("/bin/sh")?,
        })
    }
}

fn policy_toml(root: &Path, programs: &Programs) -> String {
    format!(
        r#"
version = 1
roots = ["{root}"]

[limits]
max_timeout_secs = 600
default_timeout_secs = 600
max_output_cap_bytes = {THROUGHPUT_BYTES}
default_output_cap_bytes = {THROUGHPUT_BYTES}
kill_grace_secs = {grace}

[[program]]
path = "{bin_true}"

[[program]]
path = "{head}"
args = [{{ fixed = "-c" }}, {{ int = {{ min = 0, max = {THROUGHPUT_BYTES} }} }}, {{ fixed = "/dev/zero" }}]

[[program]]
path = "{sh}"
args = [{{ fixed = "-c" }}, {{ fixed = '{STUBBORN}' }}]
"#,
        root = root.display(),
        grace = GRACE.as_secs(),
        bin_true = programs.bin_true.display(),
        head = programs.head.display(),
        sh = programs.sh.display(),
    )
}

fn approve(policy: &Policy, program: &Path, args: &[&str]) -> anyhow::Result<ApprovedCommand> {
    let job = JobSpec {
        id: JobId::new(),
        host: HostId::new(),
        kind: JobKind::Command(CommandSpec {
            program: program.display().to_string(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            cwd: None,
            env: BTreeMap::new(),
        }),
        timeout_secs: None,
        output_cap_bytes: None,
        idempotency_key: None,
        requested_by: Requester { kind: RequesterKind::Local, id: "gsm-bench".to_owned() },
    };
    policy.check(&job).with_context(|| format!("the bench policy refused {}", program.display()))
}

/// A sink that only counts: the overhead figure measures the runner, not a consumer.
struct Counting(u64);

impl ChunkSink for Counting {
    async fn send(&mut self, chunk: OutputChunk) -> Result<(), SinkClosed> {
        self.0 += chunk.data.len() as u64;
        Ok(())
    }
}

/// Figure 1: `runner::run` of `/bin/true` against a bare `Command::status()`.
fn overhead(
    runtime: &tokio::runtime::Runtime,
    policy: &Policy,
    programs: &Programs,
) -> anyhow::Result<()> {
    let mut bare = Vec::with_capacity(OVERHEAD_RUNS);
    for i in 0..WARMUP_RUNS + OVERHEAD_RUNS {
        let started = Instant::now();
        let status = Command::new(&programs.bin_true).status().context("spawning /bin/true")?;
        let took = started.elapsed();
        ensure!(status.success(), "/bin/true failed: {status}");
        if i >= WARMUP_RUNS {
            bare.push(took);
        }
    }

    let cmd = approve(policy, &programs.bin_true, &[])?;
    let cancel = Cancel::new();
    let ran = runtime.block_on(async {
        let mut ran = Vec::with_capacity(OVERHEAD_RUNS);
        for i in 0..WARMUP_RUNS + OVERHEAD_RUNS {
            let started = Instant::now();
            let result = runner::run(&cmd, Counting(0), &cancel).await?;
            let took = started.elapsed();
            ensure!(result.exit_code == Some(0), "/bin/true under the runner: {result:?}");
            if i >= WARMUP_RUNS {
                ran.push(took);
            }
        }
        Ok(ran)
    })?;

    let (bare, ran) = (median(bare), median(ran));
    println!(
        "runner overhead: bare spawn+wait median {:.3} ms, runner::run median {:.3} ms, difference {:.3} ms over {OVERHEAD_RUNS} runs each (target ≤ 1 ms)",
        ms(bare),
        ms(ran),
        ms(ran.saturating_sub(bare)),
    );
    Ok(())
}

/// Figure 2: 1 GiB of zeros through the runner into a channel whose consumer counts bytes.
fn throughput(
    runtime: &tokio::runtime::Runtime,
    policy: &Policy,
    programs: &Programs,
) -> anyhow::Result<()> {
    let total = THROUGHPUT_BYTES.to_string();
    let cmd = approve(policy, &programs.head, &["-c", &total, "/dev/zero"])?;
    ensure!(cmd.output_cap_bytes() >= THROUGHPUT_BYTES, "the cap must not truncate this figure");

    // Reset the peak so VmHWM afterwards is the peak of this run alone (Linux ≥ 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = proc_status_kib("VmRSS")?;
    let counted = Arc::new(AtomicU64::new(0));
    let (result, took) = runtime.block_on(async {
        let (tx, mut rx) = mpsc::channel::<OutputChunk>(CHANNEL_CHUNKS);
        let consumer_count = Arc::clone(&counted);
        let consumer = tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                consumer_count.fetch_add(chunk.data.len() as u64, Ordering::Relaxed);
            }
        });
        let started = Instant::now();
        let result = runner::run(&cmd, tx, &Cancel::new()).await;
        let took = started.elapsed();
        consumer.await.context("the consumer task")?;
        anyhow::Ok((result?, took))
    })?;
    let peak = proc_status_kib("VmHWM")?;

    let counted = counted.load(Ordering::Relaxed);
    ensure!(result.exit_code == Some(0) && !result.truncated, "unexpected result: {result:?}");
    ensure!(counted == THROUGHPUT_BYTES, "the consumer counted {counted} bytes");
    let mb_per_s = counted as f64 / took.as_secs_f64() / 1e6;
    println!(
        "output capture: {} MiB in {:.2} s = {mb_per_s:.0} MB/s (target ≥ 300 MB/s)",
        counted >> 20,
        took.as_secs_f64(),
    );
    println!(
        "output capture memory: VmRSS {rss_before} KiB before, VmHWM {peak} KiB during, growth {:.2} MiB (target ≤ 16 MiB)",
        peak.saturating_sub(rss_before) as f64 / 1024.0,
    );
    Ok(())
}

/// Figure 3: cancel a child that ignores SIGTERM and has two grandchildren that do too; time from
/// the cancel until an outside observer sees no live process of the group, minus the grace.
fn kill_latency(
    runtime: &tokio::runtime::Runtime,
    policy: &Policy,
    programs: &Programs,
) -> anyhow::Result<()> {
    let cmd = approve(policy, &programs.sh, &["-c", STUBBORN])?;
    ensure!(cmd.kill_grace() == GRACE, "the policy should grant a {GRACE:?} grace");
    let mut gone = Vec::with_capacity(KILL_RUNS);
    let mut returned = Vec::with_capacity(KILL_RUNS);
    for _ in 0..KILL_RUNS {
        let (gone_after, returned_after) = runtime.block_on(stop_one(&cmd))?;
        gone.push(gone_after.saturating_sub(GRACE));
        returned.push(returned_after.saturating_sub(GRACE));
    }
    let worst = gone.iter().max().copied().unwrap_or_default();
    println!(
        "kill latency: group gone {:.1} ms (median) / {:.1} ms (worst of {KILL_RUNS}) past the {} s grace, runner::run returned {:.1} ms (median) past it (target ≤ 100 ms past the grace)",
        ms(median(gone)),
        ms(worst),
        GRACE.as_secs(),
        ms(median(returned)),
    );
    Ok(())
}

/// One stop: returns (kill decision → group gone, kill decision → `run` returned).
async fn stop_one(cmd: &ApprovedCommand) -> anyhow::Result<(Duration, Duration)> {
    let cancel = Cancel::new();
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(CHANNEL_CHUNKS);
    let decider = cancel.clone();
    let observer = tokio::spawn(async move {
        // The first line is the group's id, printed once both grandchildren are forked.
        let first = rx.recv().await.context("the child printed nothing")?;
        let pgid: i32 =
            String::from_utf8_lossy(&first.data).trim().parse().context("reading the pgid")?;
        let decided = Instant::now();
        decider.cancel();
        let gone =
            tokio::task::spawn_blocking(move || wait_group_gone(pgid, Duration::from_secs(30)))
                .await
                .context("the observer thread")??;
        while rx.recv().await.is_some() {}
        anyhow::Ok((decided, gone - decided))
    });
    let result = runner::run(cmd, tx, &cancel).await?;
    let returned = Instant::now();
    let (decided, gone_after) = observer.await.context("the observer task")??;
    ensure!(
        result.termination == gsm_core::job::Termination::Cancelled,
        "unexpected result: {result:?}"
    );
    Ok((gone_after, returned - decided))
}

/// Polls `/proc` (every 0.5 ms) until no live process has group `pgid`; returns when it saw that.
fn wait_group_gone(pgid: i32, limit: Duration) -> anyhow::Result<Instant> {
    let until = Instant::now() + limit;
    loop {
        if !group_has_live_member(pgid)? {
            return Ok(Instant::now());
        }
        if Instant::now() > until {
            bail!("process group {pgid} still alive after {limit:?}");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Whether a non-zombie process in group `pgid` exists, read from `/proc/<pid>/stat`.
fn group_has_live_member(pgid: i32) -> anyhow::Result<bool> {
    for entry in std::fs::read_dir("/proc").context("reading /proc")?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let mut fields = stat[close + 1..].split_whitespace();
        let (Some(state), Some(_ppid), Some(group)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if group.parse() == Ok(pgid) && state != "Z" && state != "X" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A `kB` field of `/proc/self/status`.
fn proc_status_kib(field: &str) -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
