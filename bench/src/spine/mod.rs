//! Spine figures (issue #3): the control plane measured from outside, against the real
//! `gsm-server` release binary on loopback — dispatch latency, job throughput, ten thousand
//! connected agents, large job output, and the real agent at rest.
//!
//! Agents are mostly virtual (see [`virtual_agent`]): the protocol spoken from inside gsm-bench
//! over real WebSockets, so the figures measure the server and not a host's `fork`. Where the
//! real `gsm-agent` binary is built beside gsm-bench, the dispatch and logs figures are repeated
//! with it, and figure 5 measures it at rest. Each figure starts its own server on a fresh
//! database and stops it, so figures do not disturb each other; a figure that fails is reported
//! and the others still run.

mod agent_rest;
mod api;
mod dispatch;
mod fleet;
mod logs;
mod procfs;
pub mod real_agent;
mod scale;
pub(crate) mod server;
pub(crate) mod stats;
mod throughput;
mod virtual_agent;

use anyhow::{Context, bail};
use clap::ValueEnum;

use server::{Backend, Binaries, ServerConfig};

/// The local PostgreSQL server (trust auth); each run creates and drops its own database.
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
const DEFAULT_DISPATCH_JOBS: usize = 500;
const DEFAULT_THROUGHPUT_JOBS: usize = 5000;
const DEFAULT_AGENTS: usize = 10_000;
const DEFAULT_LOG_MIB: u64 = 1024;

/// One figure of the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Figure {
    /// Job create to `succeeded`, one at a time.
    Dispatch,
    /// Jobs per second over 100 agents.
    Throughput,
    /// 10,000 agents heartbeating.
    Scale,
    /// 1 GiB of one job's output.
    Logs,
    /// The real agent idle, and binary sizes.
    Agent,
}

/// Which databases the figures run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backends {
    /// SQLite only.
    Sqlite,
    /// PostgreSQL only.
    Postgres,
    /// Both, SQLite first.
    Both,
}

/// Flags of `gsm-bench spine`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Run only these figures (comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Figure>,
    /// Databases to run on [default: throughput and scale on both, the others on SQLite].
    #[arg(long, value_enum)]
    pub backend: Option<Backends>,
    /// The PostgreSQL server to create throwaway databases on.
    #[arg(long, default_value = DEFAULT_POSTGRES)]
    pub postgres_url: String,
    /// Measured jobs per dispatch-latency variant.
    #[arg(long, default_value_t = DEFAULT_DISPATCH_JOBS)]
    pub dispatch_jobs: usize,
    /// Measured jobs of the throughput figure.
    #[arg(long, default_value_t = DEFAULT_THROUGHPUT_JOBS)]
    pub throughput_jobs: usize,
    /// Agents of the scale figure.
    #[arg(long, default_value_t = DEFAULT_AGENTS)]
    pub agents: usize,
    /// MiB of output in the logs figure.
    #[arg(long, default_value_t = DEFAULT_LOG_MIB)]
    pub log_mib: u64,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            only: Vec::new(),
            backend: None,
            postgres_url: DEFAULT_POSTGRES.into(),
            dispatch_jobs: DEFAULT_DISPATCH_JOBS,
            throughput_jobs: DEFAULT_THROUGHPUT_JOBS,
            agents: DEFAULT_AGENTS,
            log_mib: DEFAULT_LOG_MIB,
        }
    }
}

/// What every figure needs.
pub struct Bench {
    binaries: Binaries,
    args: Args,
}

impl Bench {
    fn server_config(&self, backend: Backend) -> ServerConfig {
        ServerConfig {
            backend,
            postgres_url: self.args.postgres_url.clone(),
            heartbeat_interval_ms: None,
            webhook_hosts: Vec::new(),
        }
    }
}

/// "met" or "MISSED", after a figure and its target.
fn verdict(met: bool) -> &'static str {
    if met { "— met" } else { "— MISSED" }
}

/// The verdict of a figure whose target issue #3 sets on SQLite (dispatch, throughput); the
/// PostgreSQL figure is reported beside it, without one.
fn sqlite_verdict(backend: Backend, met: bool) -> &'static str {
    match backend {
        Backend::Sqlite => verdict(met),
        Backend::Postgres => "— reported (the target is set on SQLite)",
    }
}

/// The backends a figure runs on.
fn backends(figure: Figure, choice: Option<Backends>) -> &'static [Backend] {
    const SQLITE: &[Backend] = &[Backend::Sqlite];
    const POSTGRES: &[Backend] = &[Backend::Postgres];
    const BOTH: &[Backend] = &[Backend::Sqlite, Backend::Postgres];
    match (figure, choice) {
        // The idle agent's figure does not depend on the server's database.
        (Figure::Agent, _) => SQLITE,
        (_, Some(Backends::Sqlite)) => SQLITE,
        (_, Some(Backends::Postgres)) => POSTGRES,
        (_, Some(Backends::Both)) => BOTH,
        (Figure::Throughput | Figure::Scale, None) => BOTH,
        (Figure::Dispatch | Figure::Logs, None) => SQLITE,
    }
}

/// Runs the selected figures, printing one line per figure.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let nofile = procfs::raise_nofile()?;
    let binaries = Binaries::find()?;
    let figures =
        if args.only.is_empty() { Figure::value_variants().to_vec() } else { args.only.clone() };
    // Each side of every agent connection is one descriptor in its process: gsm-bench holds the
    // agents' ends, the server (which inherits the limit) the others.
    if figures.contains(&Figure::Scale) && nofile < args.agents as u64 + 1024 {
        println!(
            "note: RLIMIT_NOFILE is {nofile}; {} agents need about {} descriptors in gsm-bench and as many in gsm-server; raise the hard limit (ulimit -Hn, or LimitNOFILE= in a unit)",
            args.agents,
            args.agents + 1024
        );
    }
    println!(
        "spine: gsm-server {}, gsm-agent {}, RLIMIT_NOFILE {nofile} (inherited by the server)",
        binaries.server.display(),
        binaries
            .agent
            .as_ref()
            .map_or("not built (real-agent variants skipped)".into(), |p| p.display().to_string()),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let bench = Bench { binaries, args: args.clone() };
    let mut failed = Vec::new();
    for figure in figures {
        for &backend in backends(figure, args.backend) {
            let outcome = runtime.block_on(async {
                match figure {
                    Figure::Dispatch => dispatch::run(&bench, backend).await,
                    Figure::Throughput => throughput::run(&bench, backend).await,
                    Figure::Scale => scale::run(&bench, backend).await,
                    Figure::Logs => logs::run(&bench, backend).await,
                    Figure::Agent => agent_rest::run(&bench).await,
                }
            });
            if let Err(err) = outcome {
                println!("{figure:?} ({backend}): FAILED: {err:#}");
                failed.push(format!("{figure:?} ({backend})"));
            }
        }
    }
    if !failed.is_empty() {
        bail!("spine figures failed: {}", failed.join(", "));
    }
    Ok(())
}
