//! End to end: the real `gsm-server` and `gsm-agent` binaries as child processes, talking over
//! real sockets, with the delivery guarantees of the design brief under server restarts, agent
//! crashes, cut connections and cancels.
//!
//! Readiness is awaited by reading the server's bound address from its log and polling state
//! through the REST API — never by sleeping a fixed time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gsm_core::job::{CommandSpec, HostId, JobId, JobKind, JobState};
use gsm_proto::client::Client;
use gsm_proto::rest::{CreateHost, CreateJob, Job, Login, Me, OrgInitialized, TokenPair};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long an end-to-end step may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

pub(crate) fn server_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gsm-server"))
}

/// The agent binary, built beside the server's; built on demand when a test runs alone.
fn agent_bin() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let path = server_bin().with_file_name("gsm-agent");
    BUILT.call_once(|| {
        if !path.exists() {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-p", "gsm-agent", "--bin", "gsm-agent"])
                .status()
                .expect("running cargo to build gsm-agent");
            assert!(status.success(), "could not build gsm-agent");
        }
    });
    assert!(
        path.exists(),
        "gsm-agent is not at {}; run `cargo build -p gsm-agent`",
        path.display()
    );
    path
}

/// Kills and reaps a child when dropped, so a failing test leaves nothing running.
pub(crate) struct Process {
    pub(crate) child: Child,
    log: PathBuf,
}

impl Process {
    pub(crate) fn spawn(command: &mut Command, log: PathBuf) -> Process {
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Process { child, log }
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A server process on a SQLite data dir, restartable on the same port.
pub(crate) struct Server {
    process: Process,
    dir: PathBuf,
    port: u16,
    restarts: u32,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        let mut server = Server {
            process: Self::spawn(dir, 0, 0),
            dir: dir.to_path_buf(),
            port: 0,
            restarts: 0,
        };
        server.port = server.await_port().await;
        server
    }

    fn spawn(dir: &Path, port: u16, generation: u32) -> Process {
        Process::spawn(
            Command::new(server_bin())
                .args(["serve", "--data-dir"])
                .arg(dir.join("server"))
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .env("GSM_HEARTBEAT_INTERVAL_MS", "500")
                // The alert tests deliver webhooks to a local stand-in for Discord.
                .env("GSM_ALERT_WEBHOOK_HOSTS", "127.0.0.1")
                .env("RUST_LOG", "info"),
            dir.join(format!("server-{generation}.log")),
        )
    }

    async fn await_port(&mut self) -> u16 {
        eventually(|| {
            let log = self.process.log();
            let found = log
                .lines()
                .filter(|line| line.contains("gsm-server listening"))
                .find_map(|line| line.split("addr=127.0.0.1:").nth(1))
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|port| port.parse().ok());
            if found.is_none() {
                assert!(self.process.child.try_wait().unwrap().is_none(), "server exited:\n{log}");
            }
            async move { found }
        })
        .await
    }

    /// The SQLite database file the server keeps its data in.
    pub(crate) fn database(&self) -> PathBuf {
        self.dir.join("server").join("gsm.sqlite3")
    }

    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILLs the server and starts it again on the same port and data.
    pub(crate) async fn crash_and_restart(&mut self) {
        self.process.kill();
        self.restarts += 1;
        self.process = Self::spawn(&self.dir, self.port, self.restarts);
        let port = self.await_port().await;
        assert_eq!(port, self.port);
    }
}

fn init_org(dir: &Path) -> OrgInitialized {
    let output = Command::new(server_bin())
        .args(["init", "--org", "e2e", "--data-dir"])
        .arg(dir.join("server"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Scripts the test policy allows, written into the temp dir.
const EMIT: &str = "#!/bin/sh\n# emit COUNT DELAY: print COUNT numbered lines, DELAY seconds apart\ni=0\nwhile [ \"$i\" -lt \"$1\" ]; do echo \"line $i\"; i=$((i+1)); sleep \"$2\"; done\n";
const HOLD: &str = "#!/bin/sh\n# hold MARKS: record this start, then run a TERM-ignoring grandchild and wait\necho \"$$\" >> \"$1/runs\"\n(trap '' TERM; exec sleep 300) &\necho \"$!\" > \"$1/grandchild\"\necho started\nwait\n";

pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
    pub(crate) server: Server,
    pub(crate) client: Client,
    pub(crate) org: OrgInitialized,
    pub(crate) host: HostId,
    agent_state: PathBuf,
    policy: PathBuf,
    marks: PathBuf,
    agents_started: u32,
}

impl Fixture {
    pub(crate) async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let org = init_org(dir.path());
        let server = Server::start(dir.path()).await;
        let client = Client::new(&server.base(), org.org, &org.api_key);
        let created = client
            .create_host(&CreateHost { name: "e2e-host".into(), labels: Default::default() }, None)
            .await
            .unwrap();
        let root = dir.path().join("root");
        let marks = root.join("marks");
        std::fs::create_dir_all(&marks).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (name, text) in [("emit", EMIT), ("hold", HOLD)] {
            let path = bin.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let policy = dir.path().join("policy.toml");
        std::fs::write(
            &policy,
            format!(
                r#"version = 1
roots = ["{root}"]

[limits]
max_timeout_secs = 600
kill_grace_secs = 1

[[program]]
path = "/usr/bin/echo"
repeat = {{ regex = '[a-z ]*' }}

[[program]]
path = "{bin}/emit"
args = [{{ int = {{ min = 1, max = 1000 }} }}, {{ regex = '0|0\.[0-9]+' }}]

[[program]]
path = "{bin}/hold"
args = [{{ fixed = "{marks}" }}]
"#,
                root = root.display(),
                bin = bin.display(),
                marks = marks.display(),
            ),
        )
        .unwrap();
        let agent_state = dir.path().join("agent");
        let enrolled = Command::new(agent_bin())
            .args([
                "enroll",
                "--server",
                &server.base(),
                "--token",
                &created.join_token,
                "--state-dir",
            ])
            .arg(&agent_state)
            .output()
            .unwrap();
        assert!(enrolled.status.success(), "{}", String::from_utf8_lossy(&enrolled.stderr));
        Fixture {
            dir,
            server,
            client,
            org,
            host: created.host.id,
            agent_state,
            policy,
            marks,
            agents_started: 0,
        }
    }

    /// Starts an agent, connecting to `server` (the real server, or a proxy in front of it).
    pub(crate) fn start_agent(&mut self, server: &str) -> Process {
        self.agents_started += 1;
        Process::spawn(
            Command::new(agent_bin())
                .args(["run", "--state-dir"])
                .arg(&self.agent_state)
                .arg("--policy")
                .arg(&self.policy)
                .args([
                    "--server",
                    server,
                    "--reconnect-backoff-initial-ms",
                    "50",
                    "--reconnect-backoff-max-ms",
                    "300",
                ])
                .env("RUST_LOG", "info"),
            self.dir.path().join(format!("agent-{}.log", self.agents_started)),
        )
    }

    async fn create_job(&self, program: &str, args: &[&str]) -> Job {
        let job = CreateJob {
            host: self.host,
            kind: JobKind::Command(CommandSpec {
                program: program.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
                cwd: None,
                env: Default::default(),
            }),
            timeout_secs: Some(120),
            output_cap_bytes: None,
            deadline_secs: None,
        };
        self.client.create_job(&job, None).await.unwrap()
    }

    fn program(&self, name: &str) -> String {
        self.dir.path().join("bin").join(name).display().to_string()
    }

    async fn job(&self, id: JobId) -> Job {
        self.client.get_job(id).await.unwrap()
    }

    pub(crate) async fn await_state(&self, id: JobId, state: JobState) -> Job {
        let job = eventually_within(WAIT, || async {
            let job = self.client.get_job(id).await.ok()?;
            (job.state == state || job.state.is_terminal()).then_some(job)
        })
        .await;
        assert_eq!(job.state, state, "job ended {:?} ({:?}), not {state}", job.state, job.reason);
        job
    }

    /// Every stored chunk of the job, in order; checks that `seq` is dense from 0.
    pub(crate) async fn output(&self, id: JobId) -> String {
        let mut bytes = Vec::new();
        let mut after = None;
        let mut expected_seq = 0;
        loop {
            let page = self.client.job_logs(id, after).await.unwrap();
            for chunk in &page.chunks {
                assert_eq!(chunk.seq, expected_seq, "chunks must be dense and in order");
                expected_seq += 1;
                bytes.extend_from_slice(&chunk.data);
            }
            after = page.chunks.last().map(|c| c.seq).or(after);
            if page.complete {
                return String::from_utf8(bytes).unwrap();
            }
            if page.chunks.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn expected_lines(count: usize) -> String {
    (0..count).map(|i| format!("line {i}\n")).collect()
}

pub(crate) async fn eventually<T, F, Fut>(check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(WAIT, check).await
}

pub(crate) async fn eventually_within<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "condition not met within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a process is alive (zombies, which hold nothing, count as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_while_its_host_is_offline_runs_when_the_agent_connects() {
    let mut fx = Fixture::new().await;
    let job = fx.create_job("/usr/bin/echo", &["hello from gsm"]).await;
    assert_eq!(job.state, JobState::Queued);
    let base = fx.server.base();
    let _agent = fx.start_agent(&base);
    let done = fx.await_state(job.id, JobState::Succeeded).await;
    assert_eq!(done.result.unwrap().exit_code, Some(0));
    assert_eq!(fx.output(job.id).await, "hello from gsm\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_crash_mid_job_loses_and_duplicates_no_output() {
    let mut fx = Fixture::new().await;
    let base = fx.server.base();
    let _agent = fx.start_agent(&base);
    let job = fx.create_job(&fx.program("emit"), &["40", "0.05"]).await;
    // Crash the server once some output is stored, while the job still runs.
    eventually(|| async {
        fx.client.job_logs(job.id, None).await.ok().filter(|p| p.chunks.len() >= 3)
    })
    .await;
    fx.server.crash_and_restart().await;
    let done = fx.await_state(job.id, JobState::Succeeded).await;
    assert_eq!(done.result.unwrap().exit_code, Some(0));
    assert_eq!(fx.output(job.id).await, expected_lines(40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_job_reports_it_lost_leaves_nothing_running_and_never_reruns_it() {
    let mut fx = Fixture::new().await;
    let base = fx.server.base();
    let mut agent = fx.start_agent(&base);
    let marks = fx.marks.display().to_string();
    let job = fx.create_job(&fx.program("hold"), &[&marks]).await;
    fx.await_state(job.id, JobState::Running).await;
    let grandchild = eventually(|| async { read_pid(&fx.marks.join("grandchild")) }).await;
    assert!(alive(grandchild));

    agent.kill();
    let mut agent = fx.start_agent(&base);
    let lost = fx.await_state(job.id, JobState::Lost).await;
    assert!(lost.reason.unwrap().contains("restarted"), "the reason says what happened");
    assert!(!alive(grandchild), "the crashed agent's job group must not be left running");
    let runs = std::fs::read_to_string(fx.marks.join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "the job must never start twice");

    // A later restart does not run it either.
    agent.kill();
    let _agent = fx.start_agent(&base);
    let ok = fx.create_job("/usr/bin/echo", &["after"]).await;
    fx.await_state(ok.id, JobState::Succeeded).await;
    assert_eq!(std::fs::read_to_string(fx.marks.join("runs")).unwrap().lines().count(), 1);
    assert_eq!(fx.job(job.id).await.state, JobState::Lost);
}

/// A TCP proxy whose live connections can be cut at will.
struct Proxy {
    addr: String,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let live = Arc::clone(&connections);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                live.lock().unwrap().push(task);
            }
        });
        Proxy { addr, connections, accept }
    }

    /// Drops every connection through the proxy mid-stream.
    fn cut(&self) -> usize {
        let cut: Vec<_> = self.connections.lock().unwrap().drain(..).collect();
        let count = cut.iter().filter(|task| !task.is_finished()).count();
        for task in cut {
            task.abort();
        }
        count
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutting_the_connection_mid_stream_loses_and_duplicates_no_output() {
    let mut fx = Fixture::new().await;
    let proxy = Proxy::start(format!("127.0.0.1:{}", fx.server.port)).await;
    let proxy_url = proxy.addr.clone();
    let _agent = fx.start_agent(&proxy_url);
    let job = fx.create_job(&fx.program("emit"), &["60", "0.04"]).await;
    for cut_after in [3, 15, 30] {
        eventually(|| async {
            fx.client.job_logs(job.id, None).await.ok().filter(|p| p.chunks.len() >= cut_after)
        })
        .await;
        // Wait until the agent is connected through the proxy again before cutting once more.
        eventually(|| async { (proxy.cut() > 0).then_some(()) }).await;
    }
    fx.await_state(job.id, JobState::Succeeded).await;
    assert_eq!(fx.output(job.id).await, expected_lines(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_while_running_ends_cancelled_with_its_group_killed() {
    let mut fx = Fixture::new().await;
    let base = fx.server.base();
    let _agent = fx.start_agent(&base);
    let marks = fx.marks.display().to_string();
    let job = fx.create_job(&fx.program("hold"), &[&marks]).await;
    fx.await_state(job.id, JobState::Running).await;
    let grandchild = eventually(|| async { read_pid(&fx.marks.join("grandchild")) }).await;
    let requested = fx.client.cancel_job(job.id).await.unwrap();
    assert_eq!(requested.state, JobState::Running, "a running job ends when its agent reports");
    let cancelled = fx.await_state(job.id, JobState::Cancelled).await;
    assert!(cancelled.result.is_some());
    assert!(!alive(grandchild), "the TERM-ignoring grandchild is killed with the group");
    assert!(fx.output(job.id).await.contains("started"), "partial output is kept");
}

#[tokio::test]
async fn init_with_an_email_and_a_password_file_makes_an_owner_who_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let password = "correct horse battery staple";
    let password_file = dir.path().join("owner-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let output = Command::new(server_bin())
        .args(["init", "--org", "acme", "--email", "Owner@Example.com", "--password-file"])
        .arg(&password_file)
        .arg("--data-dir")
        .arg(dir.path().join("server"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let org: OrgInitialized = serde_json::from_slice(&output.stdout).unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("created owner user"));
    let server = Server::start(dir.path()).await;
    let http = reqwest::Client::new();
    let login = |password: &str| {
        let body = Login { email: "owner@example.com".to_owned(), password: password.to_owned() };
        http.post(format!("{}/api/v1/auth/login", server.base())).json(&body).send()
    };

    let refused = login("not the password at all").await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    let tokens: TokenPair =
        login(password).await.unwrap().error_for_status().unwrap().json().await.unwrap();
    let me: Me = http
        .get(format!("{}/api/v1/me", server.base()))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.user.email, "Owner@Example.com", "kept as typed, found in any case");
    let roles: Vec<_> = me.memberships.iter().map(|m| (m.org.id, m.role.as_str())).collect();
    assert_eq!(roles, [(org.org, "owner")]);
}
