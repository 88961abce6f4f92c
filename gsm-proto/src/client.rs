//! A typed client for the REST API (feature `client`), used by the operator, scripts and tests.
//!
//! One method per route, taking and returning the [`rest`](crate::rest) types. Errors keep the
//! server's `{error: {code, message}}` so callers can branch on the code.

use gsm_core::job::{HostId, JobId, JobState};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::rest::{
    CreateHost, CreateJob, ErrorBody, Game, GameEvent, GameList, Host, HostCreated, Job, JobLogs,
    Page, PutGame,
};

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{status}: {code}: {message}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The error's stable code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The request did not complete (connection refused, timeout, bad URL, undecodable body).
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
}

impl ClientError {
    /// The API error code, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            ClientError::Transport(_) => None,
        }
    }
}

/// Filters for [`Client::list_jobs`].
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// Only this host's jobs.
    pub host: Option<HostId>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (server default 50, at most 500).
    pub limit: Option<u32>,
}

/// Filters for [`Client::list_events`].
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this host's events.
    pub host: Option<HostId>,
    /// Only this kind (`player_connected`, `chat`, ...).
    pub kind: Option<String>,
    /// Only events naming this player, by id or name.
    pub player: Option<String>,
    /// Only events at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Only events before this RFC 3339 time.
    pub until: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (server default 50, at most 500).
    pub limit: Option<u32>,
}

/// A client for one org of one server, authenticated with an API key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    org: Uuid,
    api_key: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`) acting in `org` with `api_key`.
    pub fn new(base: &str, org: Uuid, api_key: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            org,
            api_key: api_key.to_owned(),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = format!("{}/api/v1/orgs/{}{path}", self.base, self.org);
        self.http.request(method, url).bearer_auth(&self.api_key)
    }

    async fn send<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, ClientError> {
        let response = request.send().await?;
        if response.status().is_success() {
            return Ok(response.json().await?);
        }
        let status = response.status();
        match response.json::<ErrorBody>().await {
            Ok(body) => {
                Err(ClientError::Api { status, code: body.error.code, message: body.error.message })
            }
            Err(_) => Err(ClientError::Api {
                status,
                code: "unknown".into(),
                message: format!("the server answered {status} without an error body"),
            }),
        }
    }

    /// `POST …/hosts`. With `idempotency_key`, a repeat never makes a second host.
    pub async fn create_host(
        &self,
        host: &CreateHost,
        idempotency_key: Option<&str>,
    ) -> Result<HostCreated, ClientError> {
        let mut request = self.request(Method::POST, "/hosts").json(host);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        Self::send(request).await
    }

    /// `GET …/hosts`.
    pub async fn list_hosts(
        &self,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Host>, ClientError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_owned()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        Self::send(self.request(Method::GET, "/hosts").query(&query)).await
    }

    /// `GET …/hosts/{host}`.
    pub async fn get_host(&self, host: HostId) -> Result<Host, ClientError> {
        Self::send(self.request(Method::GET, &format!("/hosts/{host}"))).await
    }

    /// `DELETE …/hosts/{host}`: revokes its credential and disconnects its agent.
    pub async fn delete_host(&self, host: HostId) -> Result<(), ClientError> {
        let response = self.request(Method::DELETE, &format!("/hosts/{host}")).send().await?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status();
        let body: ErrorBody = response.json().await?;
        Err(ClientError::Api { status, code: body.error.code, message: body.error.message })
    }

    /// `POST …/jobs`. With `idempotency_key`, a repeat returns the first job.
    pub async fn create_job(
        &self,
        job: &CreateJob,
        idempotency_key: Option<&str>,
    ) -> Result<Job, ClientError> {
        let mut request = self.request(Method::POST, "/jobs").json(job);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        Self::send(request).await
    }

    /// `GET …/jobs`.
    pub async fn list_jobs(&self, filter: &JobQuery) -> Result<Page<Job>, ClientError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(host) = filter.host {
            query.push(("host", host.to_string()));
        }
        if let Some(state) = filter.state {
            query.push(("state", state.as_str().to_owned()));
        }
        if let Some(cursor) = &filter.cursor {
            query.push(("cursor", cursor.clone()));
        }
        if let Some(limit) = filter.limit {
            query.push(("limit", limit.to_string()));
        }
        Self::send(self.request(Method::GET, "/jobs").query(&query)).await
    }

    /// `GET …/jobs/{job}`.
    pub async fn get_job(&self, job: JobId) -> Result<Job, ClientError> {
        Self::send(self.request(Method::GET, &format!("/jobs/{job}"))).await
    }

    /// `POST …/jobs/{job}/cancel`.
    pub async fn cancel_job(&self, job: JobId) -> Result<Job, ClientError> {
        Self::send(self.request(Method::POST, &format!("/jobs/{job}/cancel"))).await
    }

    /// `GET …/jobs/{job}/logs?after_seq=`.
    pub async fn job_logs(
        &self,
        job: JobId,
        after_seq: Option<u64>,
    ) -> Result<JobLogs, ClientError> {
        let mut request = self.request(Method::GET, &format!("/jobs/{job}/logs"));
        if let Some(after) = after_seq {
            request = request.query(&[("after_seq", after)]);
        }
        Self::send(request).await
    }

    /// `PUT …/hosts/{host}/games/{game}`: creates or replaces a game server; its agent is told.
    pub async fn put_game(
        &self,
        host: HostId,
        name: &str,
        game: &PutGame,
    ) -> Result<Game, ClientError> {
        let path = format!("/hosts/{host}/games/{name}");
        Self::send(self.request(Method::PUT, &path).json(game)).await
    }

    /// `GET …/hosts/{host}/games`.
    pub async fn list_games(&self, host: HostId) -> Result<GameList, ClientError> {
        Self::send(self.request(Method::GET, &format!("/hosts/{host}/games"))).await
    }

    /// `GET …/events`, newest first.
    pub async fn list_events(&self, filter: &EventQuery) -> Result<Page<GameEvent>, ClientError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(host) = filter.host {
            query.push(("host", host.to_string()));
        }
        let texts = [
            ("kind", &filter.kind),
            ("player", &filter.player),
            ("since", &filter.since),
            ("until", &filter.until),
            ("cursor", &filter.cursor),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                query.push((name, value.clone()));
            }
        }
        if let Some(limit) = filter.limit {
            query.push(("limit", limit.to_string()));
        }
        Self::send(self.request(Method::GET, "/events").query(&query)).await
    }
}
