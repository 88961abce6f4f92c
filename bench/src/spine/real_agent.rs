//! The real `gsm-agent` binary as a child process: enrolled with a join token, run under a
//! policy written for the figure, logging to a file in its temporary state directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};
use gsm_core::job::HostId;
use tempfile::TempDir;

use super::api::Api;

/// How long the agent may take to connect after it starts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A policy allowing `/bin/true`, and `head -c N /dev/zero` with up to 1 GiB of kept output.
pub fn policy(root: &Path) -> String {
    format!(
        r#"version = 1
roots = ["{root}"]

[limits]
max_timeout_secs = 900
default_timeout_secs = 60
max_output_cap_bytes = 1073741824
default_output_cap_bytes = 65536

[[program]]
path = "/bin/true"
description = "the trivial job of the dispatch figures"

[[program]]
path = "/usr/bin/head"
description = "the output of the logs figure"
args = [{{ fixed = "-c" }}, {{ int = {{ min = 0, max = 1073741824 }} }}, {{ fixed = "/dev/zero" }}]
"#,
        root = root.display()
    )
}

/// A running, enrolled `gsm-agent run`.
pub struct RealAgent {
    child: Child,
    /// The host it enrolled as.
    pub host: HostId,
    log: PathBuf,
    _dir: TempDir,
}

impl RealAgent {
    /// Creates a host named `name`, enrolls the agent as it, starts `gsm-agent run` with
    /// `extra_args` and waits until the server sees it connected.
    pub async fn start(
        binary: &Path,
        api: &Api,
        name: &str,
        extra_args: &[&str],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("gsm-bench-agent-")
            .tempdir()
            .context("creating the agent's directory")?;
        let (state, root) = (dir.path().join("state"), dir.path().join("root"));
        std::fs::create_dir(&root).context("creating the policy root")?;
        let policy_path = dir.path().join("policy.toml");
        std::fs::write(&policy_path, policy(&root)).context("writing the agent policy")?;
        let created = api.create_host(name).await?;

        let enroll = Command::new(binary)
            .arg("enroll")
            .args(["--server", api.base(), "--token", &created.join_token])
            .arg("--state-dir")
            .arg(&state)
            .stdin(Stdio::null())
            .output()
            .context("running gsm-agent enroll")?;
        ensure!(
            enroll.status.success(),
            "gsm-agent enroll failed ({}): {}",
            enroll.status,
            String::from_utf8_lossy(&enroll.stderr).trim()
        );

        let log = dir.path().join("agent.log");
        let log_file = File::create(&log).context("creating the agent log")?;
        let child = Command::new(binary)
            .arg("run")
            .arg("--state-dir")
            .arg(&state)
            .arg("--policy")
            .arg(&policy_path)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("starting gsm-agent run")?;
        let mut agent = Self { child, host: created.host.id, log, _dir: dir };
        if let Err(err) = api.wait_connected(agent.host, CONNECT_TIMEOUT).await {
            let status = agent.child.try_wait().ok().flatten();
            return Err(err.context(format!(
                "gsm-agent did not connect (exit status {status:?}); its log:\n{}",
                agent.log_tail()
            )));
        }
        Ok(agent)
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the agent with SIGKILL (no goodbye to the server) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The end of the agent's log, for an error message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for RealAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
