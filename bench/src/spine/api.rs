//! The REST client the figures drive the server with: hosts, enrollment, jobs.
//!
//! Every call checks the status and turns a refusal into an error that carries the server's body,
//! so a figure that fails says why.

use std::time::Duration;

use anyhow::{Context, ensure};
use gsm_core::job::{HostId, JobId, JobKind};
use gsm_proto::agent::{ENROLL_PATH, EnrollRequest, EnrollResponse, HostFacts};
use gsm_proto::rest::{CreateHost, CreateJob, Host, HostCreated, Job, OrgInitialized, Page};
use reqwest::StatusCode;
use uuid::Uuid;

/// A host enrolled through the API, ready for an agent to connect as.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The host.
    pub host: HostId,
    /// Its credential.
    pub credential: String,
}

/// A client for one org of one server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    org: Uuid,
    key: String,
}

impl Api {
    /// A client for `org` (its owner key); the base URL is set once the server listens.
    pub fn new(base: String, org: OrgInitialized) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { http, base, org: org.org, key: org.api_key })
    }

    /// Sets the server's base URL (`http://127.0.0.1:PORT`).
    pub fn set_base(&mut self, base: String) {
        self.base = base;
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The org's owner API key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The WebSocket base URL (`ws://127.0.0.1:PORT`).
    pub fn ws_base(&self) -> String {
        self.base.replacen("http://", "ws://", 1)
    }

    /// The URL of an org resource.
    pub fn org_url(&self, path: &str) -> String {
        format!("{}/api/v1/orgs/{}{path}", self.base, self.org)
    }

    /// Whether `/readyz` answers 200.
    pub async fn ready(&self) -> bool {
        let response = self.http.get(format!("{}/readyz", self.base)).send().await;
        response.is_ok_and(|r| r.status() == StatusCode::OK)
    }

    /// Creates a host and returns it with its join token.
    pub async fn create_host(&self, name: &str) -> anyhow::Result<HostCreated> {
        let body = CreateHost { name: name.into(), labels: Default::default() };
        let response = self
            .http
            .post(self.org_url("/hosts"))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .context("POST …/hosts")?;
        json(response, StatusCode::CREATED, "creating a host").await
    }

    /// Trades a join token for a credential, as an agent would.
    pub async fn enroll(&self, token: &str) -> anyhow::Result<EnrollResponse> {
        let request = EnrollRequest { token: token.into(), facts: facts() };
        let response = self
            .http
            .post(format!("{}{ENROLL_PATH}", self.base))
            .json(&request)
            .send()
            .await
            .context("POST /agent/v1/enroll")?;
        json(response, StatusCode::OK, "enrolling").await
    }

    /// Creates a host and enrolls it.
    pub async fn enrolled_host(&self, name: &str) -> anyhow::Result<Enrolled> {
        let created = self.create_host(name).await?;
        let enrolled = self.enroll(&created.join_token).await?;
        Ok(Enrolled { host: enrolled.host, credential: enrolled.credential })
    }

    /// Creates a job.
    pub async fn create_job(&self, request: &CreateJob) -> anyhow::Result<Job> {
        let response = self
            .http
            .post(self.org_url("/jobs"))
            .bearer_auth(&self.key)
            .json(request)
            .send()
            .await
            .context("POST …/jobs")?;
        json(response, StatusCode::CREATED, "creating a job").await
    }

    /// Reads a job.
    pub async fn job(&self, id: JobId) -> anyhow::Result<Job> {
        let response = self
            .http
            .get(self.org_url(&format!("/jobs/{id}")))
            .bearer_auth(&self.key)
            .send()
            .await
            .context("GET …/jobs/{id}")?;
        json(response, StatusCode::OK, "reading a job").await
    }

    /// The newest jobs in `state`, at most `limit`.
    pub async fn jobs_in_state(&self, state: &str, limit: u32) -> anyhow::Result<Page<Job>> {
        let response = self
            .http
            .get(self.org_url(&format!("/jobs?state={state}&limit={limit}")))
            .bearer_auth(&self.key)
            .send()
            .await
            .context("GET …/jobs?state=")?;
        json(response, StatusCode::OK, "listing jobs").await
    }

    /// Reads a host.
    pub async fn host(&self, id: HostId) -> anyhow::Result<Host> {
        let response = self
            .http
            .get(self.org_url(&format!("/hosts/{id}")))
            .bearer_auth(&self.key)
            .send()
            .await
            .context("GET …/hosts/{id}")?;
        json(response, StatusCode::OK, "reading a host").await
    }

    /// Waits until the host's agent is connected.
    pub async fn wait_connected(&self, id: HostId, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.host(id).await?.connected {
                return Ok(());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "host {id} has no agent connected after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    expected: StatusCode,
    what: &str,
) -> anyhow::Result<T> {
    let status = response.status();
    if status != expected {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("{what}: the server answered {status}: {body}");
    }
    response.json().await.with_context(|| format!("{what}: parsing the answer"))
}

/// What virtual agents say about their machine.
pub fn facts() -> HostFacts {
    HostFacts {
        hostname: "gsm-bench".into(),
        os: "linux".into(),
        arch: std::env::consts::ARCH.into(),
        cpus: 1,
        memory_total_bytes: 1 << 30,
        agent_version: "0.0.0-bench".into(),
        allowed_programs: Vec::new(),
    }
}

/// A job request for `host` running `program` with `args`.
pub fn command_job(host: HostId, program: &str, args: &[&str]) -> CreateJob {
    CreateJob {
        host,
        kind: JobKind::Command(gsm_core::job::CommandSpec {
            program: program.into(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            cwd: None,
            env: Default::default(),
        }),
        timeout_secs: None,
        output_cap_bytes: None,
        deadline_secs: None,
    }
}
