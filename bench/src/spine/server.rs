//! The real `gsm-server` binary as a child process: `init`, then `serve` on `127.0.0.1:0`, on
//! SQLite in a temporary directory or on a fresh PostgreSQL database created for the run and
//! dropped after it.
//!
//! The bound port is read from the server's `gsm-server listening addr=…` log line and readiness
//! is awaited by polling `/readyz`, never by sleeping. The server's standard error is drained by a
//! thread for the server's whole life (a full pipe would stall its logging, and with it the
//! server); the last lines are kept to explain a failure. Dropping a [`Server`] kills the child
//! and drops its database, so a failed figure leaves nothing running behind.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::future::BoxFuture;
use gsm_proto::rest::OrgInitialized;
use rustix::process::{Pid, Signal, kill_process};
use tempfile::TempDir;

use super::api::Api;

/// How long the server may take to print its address and answer `/readyz`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping server may take before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines kept to explain a failure.
const KEPT_LINES: usize = 40;

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in the data directory.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// The release binaries beside the running gsm-bench.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `gsm-server`.
    pub server: PathBuf,
    /// `gsm-agent`, when it has been built.
    pub agent: Option<PathBuf>,
}

impl Binaries {
    /// Finds the binaries in the directory of the running executable.
    pub fn find() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the gsm-bench executable")?;
        let dir = exe.parent().context("the gsm-bench executable has no directory")?;
        let server = dir.join("gsm-server");
        ensure!(
            server.is_file(),
            "{} is missing; build it first: cargo build --release -p gsm-server -p gsm-agent",
            server.display()
        );
        let agent = Some(dir.join("gsm-agent")).filter(|path| path.is_file());
        Ok(Self { server, agent })
    }
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The database.
    pub backend: Backend,
    /// The PostgreSQL server (no database path), for [`Backend::Postgres`].
    pub postgres_url: String,
    /// `GSM_HEARTBEAT_INTERVAL_MS`, when not the default.
    pub heartbeat_interval_ms: Option<u64>,
    /// `GSM_ALERT_WEBHOOK_HOSTS`: hosts webhooks may point at besides Discord's.
    pub webhook_hosts: Vec<String>,
}

/// A running `gsm-server` child.
pub struct Server {
    child: Child,
    /// Its REST client, authenticated as the org's owner.
    pub api: Api,
    lines: Arc<Mutex<VecDeque<String>>>,
    warnings: Arc<AtomicU64>,
    database: Option<PostgresDatabase>,
    _dir: TempDir,
}

impl Server {
    /// Creates the data dir (and database), runs `init`, starts `serve` and waits until ready.
    pub async fn start(binaries: &Binaries, config: &ServerConfig) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("gsm-bench-server-")
            .tempdir()
            .context("creating the server's data dir")?;
        let database = match config.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PostgresDatabase::create(&config.postgres_url)?),
        };
        let command = |sub: &str| {
            let mut command = Command::new(&binaries.server);
            command.arg(sub).arg("--data-dir").arg(dir.path());
            if let Some(db) = &database {
                command.arg("--database-url").arg(&db.url);
            }
            for name in ["GSM_CONFIG", "GSM_LISTEN", "GSM_DATA_DIR", "GSM_DATABASE_URL"] {
                command.env_remove(name);
            }
            if config.webhook_hosts.is_empty() {
                command.env_remove("GSM_ALERT_WEBHOOK_HOSTS");
            } else {
                command.env("GSM_ALERT_WEBHOOK_HOSTS", config.webhook_hosts.join(","));
            }
            match config.heartbeat_interval_ms {
                Some(ms) => command.env("GSM_HEARTBEAT_INTERVAL_MS", ms.to_string()),
                None => command.env_remove("GSM_HEARTBEAT_INTERVAL_MS"),
            };
            command.env("GSM_LOG_FORMAT", "human");
            command
        };

        let init = command("init")
            .args(["--org", "bench"])
            .stdin(Stdio::null())
            .output()
            .context("running gsm-server init")?;
        ensure!(
            init.status.success(),
            "gsm-server init failed ({}): {}",
            init.status,
            String::from_utf8_lossy(&init.stderr).trim()
        );
        let org: OrgInitialized =
            serde_json::from_slice(&init.stdout).context("parsing what gsm-server init printed")?;

        let mut child = command("serve")
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting gsm-server serve")?;
        let stderr = child.stderr.take().context("the server's stderr pipe")?;
        let lines = Arc::new(Mutex::new(VecDeque::with_capacity(KEPT_LINES)));
        let warnings = Arc::new(AtomicU64::new(0));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        {
            let lines = Arc::clone(&lines);
            let warnings = Arc::clone(&warnings);
            std::thread::Builder::new()
                .name("gsm-server-stderr".into())
                .spawn(move || drain(stderr, addr_tx, &lines, &warnings))
                .context("starting the server log reader")?;
        }
        // From here on, dropping `server` kills the child.
        let mut server = Server {
            child,
            api: Api::new(String::new(), org)?,
            lines,
            warnings,
            database,
            _dir: dir,
        };
        let addr = match tokio::time::timeout(START_TIMEOUT, addr_rx).await {
            Ok(Ok(addr)) => addr,
            _ => bail!(
                "gsm-server did not announce its address within {START_TIMEOUT:?}; its last lines:\n{}",
                server.last_lines()
            ),
        };
        server.api.set_base(format!("http://{addr}"));
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("checking the server")? {
                bail!("gsm-server exited ({status}) before it was ready:\n{}", self.last_lines());
            }
            if self.api.ready().await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("gsm-server was not ready within {START_TIMEOUT:?}:\n{}", self.last_lines());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the server has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait().context("checking the server")? {
            bail!("gsm-server exited ({status}); its last lines:\n{}", self.last_lines());
        }
        Ok(())
    }

    /// How many WARN or ERROR lines the server has logged.
    pub fn warnings(&self) -> u64 {
        self.warnings.load(Ordering::Relaxed)
    }

    /// The last log lines, for an error message.
    pub fn last_lines(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        lines.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }

    /// Stops the server with SIGTERM (SIGKILL after [`STOP_TIMEOUT`]) and drops its database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if self.child.try_wait().context("checking the server")?.is_none() {
            if let Some(pid) = Pid::from_raw(self.child.id() as i32) {
                let _ = kill_process(pid, Signal::TERM);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while self.child.try_wait().context("waiting for the server")?.is_none() {
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if let Some(database) = self.database.take() {
            database.drop_now()?;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(database) = self.database.take() {
            let _ = database.drop_now();
        }
    }
}

/// Reads the server's log lines: announces the listening address once, counts warnings, keeps
/// the last few.
fn drain(
    stderr: std::process::ChildStderr,
    addr_tx: tokio::sync::oneshot::Sender<String>,
    lines: &Mutex<VecDeque<String>>,
    warnings: &AtomicU64,
) {
    let mut addr_tx = Some(addr_tx);
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { return };
        if addr_tx.is_some()
            && line.contains("gsm-server listening")
            && let Some(addr) = listening_addr(&line)
            && let Some(tx) = addr_tx.take()
        {
            let _ = tx.send(addr.to_owned());
        }
        if line.contains(" WARN ") || line.contains(" ERROR ") {
            warnings.fetch_add(1, Ordering::Relaxed);
        }
        let mut kept = lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.len() == KEPT_LINES {
            kept.pop_front();
        }
        kept.push_back(line);
    }
}

/// The `addr=` field of the listening line.
fn listening_addr(line: &str) -> Option<&str> {
    let rest = &line[line.find("addr=")? + "addr=".len()..];
    let addr = rest.split_whitespace().next()?;
    Some(addr.trim_matches('"'))
}

/// A PostgreSQL database created for one server and dropped after it.
struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    fn create(server_url: &str) -> anyhow::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name =
            format!("gsm_bench_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let base = server_url.trim_end_matches('/');
        let database =
            Self { admin_url: format!("{base}/postgres"), url: format!("{base}/{name}"), name };
        psql(&database.admin_url, &format!("CREATE DATABASE {}", database.name))
            .with_context(|| format!("creating PostgreSQL database {}", database.name))?;
        Ok(database)
    }

    fn drop_now(&self) -> anyhow::Result<()> {
        psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .with_context(|| format!("dropping PostgreSQL database {}", self.name))
    }
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let output = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .context("running psql (is the PostgreSQL client installed?)")?;
    ensure!(
        output.status.success(),
        "psql failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// The size of a file in MiB.
pub fn file_mib(path: &Path) -> anyhow::Result<f64> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(meta.len() as f64 / (1024.0 * 1024.0))
}

/// The local PostgreSQL server (trust auth) the standalone figures create throwaway databases on.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// Runs `figure` against a fresh server on SQLite, then on PostgreSQL, stopping each server
/// whatever the figure's outcome: the frame of the figures that run on their own (`auth`,
/// `schedules`).
pub fn on_both_backends<F>(mut figure: F) -> anyhow::Result<()>
where
    F: for<'a> FnMut(&'a mut Server, Backend) -> BoxFuture<'a, anyhow::Result<()>>,
{
    let binaries = Binaries::find()?;
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
                webhook_hosts: Vec::new(),
            };
            let mut server = Server::start(&binaries, &config).await?;
            let outcome = figure(&mut server, backend).await;
            server.stop().await?;
            outcome
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_address_is_read_from_the_log_line() {
        let line = "2025-01-01T00:00:00.000000Z  INFO gsm_server::app: gsm-server listening addr=127.0.0.1:41234";
        assert_eq!(listening_addr(line), Some("127.0.0.1:41234"));
        assert_eq!(listening_addr("no address here"), None);
    }
}
