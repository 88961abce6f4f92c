//! Starting the real `gsm-agent run` against a [`FakeServer`](crate::fake_server::FakeServer):
//! a temporary state dir with a credential, a test policy, and a config with a fast reconnect.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use gsm_agent::ledger::Ledger;
use gsm_core::job::{
    CommandSpec, GameAction, HostId, JobId, JobKind, JobSpec, Requester, RequesterKind,
};
use tokio::process::{Child, Command};

use crate::fake_server::WAIT;

/// The credential every test agent holds.
pub const CREDENTIAL: &str = "test-credential-0123456789";

/// A state dir, policy and config for one agent, in a temporary directory.
pub struct AgentSetup {
    pub dir: tempfile::TempDir,
    pub host: HostId,
}

impl AgentSetup {
    /// Writes the credential (pointing at `server_url`), the policy and the config.
    pub fn new(server_url: &str) -> AgentSetup {
        let dir = tempfile::tempdir().unwrap();
        let setup = AgentSetup { dir, host: HostId::new() };
        std::fs::create_dir_all(setup.work()).unwrap();
        std::fs::create_dir_all(setup.state()).unwrap();
        let credential = serde_json::json!({
            "server": server_url,
            "host": setup.host,
            "org": uuid::Uuid::now_v7(),
            "credential": CREDENTIAL,
        });
        std::fs::write(setup.state().join("credential.json"), credential.to_string()).unwrap();
        let policy = format!(
            r#"
version = 1
roots = ["{work}"]

[limits]
kill_grace_secs = 2

[[program]]
path = "/bin/echo"
repeat = {{ regex = '(?s).*' }}

[[program]]
path = "/bin/true"

[[program]]
path = "/bin/sleep"
args = [{{ int = {{ min = 0, max = 60 }} }}]
"#,
            work = setup.work().canonicalize().unwrap().display()
        );
        std::fs::write(setup.policy(), policy).unwrap();
        let config = format!(
            "state_dir = \"{}\"\npolicy = \"{}\"\nreconnect_backoff_initial_ms = 10\nreconnect_backoff_max_ms = 100\n",
            setup.state().display(),
            setup.policy().display()
        );
        std::fs::write(setup.config(), config).unwrap();
        setup
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    pub fn policy(&self) -> PathBuf {
        self.dir.path().join("policy.toml")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("agent.toml")
    }

    /// Starts `gsm-agent run --config …` with its log on the test's stderr.
    pub fn start(&self) -> Child {
        self.command().stderr(Stdio::inherit()).spawn().unwrap()
    }

    /// Starts the agent with its stderr captured (for agents expected to exit soon).
    pub fn start_captured(&self) -> Child {
        self.command().stderr(Stdio::piped()).spawn().unwrap()
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gsm-agent"));
        command
            .arg("run")
            .arg("--config")
            .arg(self.config())
            .env_clear()
            .env("RUST_LOG", "gsm_agent=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// A command job for this host.
    pub fn job(&self, program: &str, args: &[&str]) -> JobSpec {
        spec(
            self.host,
            JobKind::Command(CommandSpec {
                program: program.to_owned(),
                args: args.iter().map(|arg| (*arg).to_owned()).collect(),
                cwd: None,
                env: BTreeMap::new(),
            }),
        )
    }

    /// A game action for this host.
    pub fn game_job(&self, action: &str, args: serde_json::Value) -> JobSpec {
        let args = match args {
            serde_json::Value::Object(map) => map.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        spec(
            self.host,
            JobKind::Game(GameAction { game: "7dtd".to_owned(), action: action.to_owned(), args }),
        )
    }

    /// The ledger record of `job`, as JSON, if the agent wrote one.
    pub fn ledger_record(&self, job: JobId) -> Option<serde_json::Value> {
        let record = Ledger::read_record(&self.state().join("jobs"), job).ok()??;
        serde_json::to_value(record).ok()
    }
}

fn spec(host: HostId, kind: JobKind) -> JobSpec {
    JobSpec {
        id: JobId::new(),
        host,
        kind,
        timeout_secs: None,
        output_cap_bytes: None,
        idempotency_key: None,
        requested_by: Requester { kind: RequesterKind::User, id: "tester".to_owned() },
    }
}

/// Waits for the agent to exit on its own; returns its exit code and stderr.
pub async fn exit_of(child: Child) -> (i32, String) {
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("the agent did not exit in time")
        .unwrap();
    (
        output.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Polls `condition` until it holds, failing the test after [`WAIT`]. For state the agent
/// writes to disk, which sends no message to wait on.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The absolute path of a file in the test's own tree.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}
