//! Test harness: a real gsm-server (in-process, on 127.0.0.1:0, SQLite in a temp dir) and a
//! protocol-speaking fake agent over a real WebSocket.

use std::sync::Arc;
use std::time::Duration;

use gsm_core::job::HostId;
use gsm_proto::agent::{
    AgentMessage, EnrollRequest, EnrollResponse, GameConfig, Hello, HostFacts, ServerMessage,
    VersionRange,
};
use gsm_proto::codec;
use gsm_proto::rest::{HostCreated, OrgInitialized};
use gsm_server::app::{self, AppState};
use gsm_server::config::Settings;
use gsm_server::store::{SqliteStore, Store};

use crate::store::PostgresSchema;
use serde_json::json;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for anything before failing.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub base: String,
    pub org: OrgInitialized,
    pub state: AppState,
    pub http: reqwest::Client,
    _dir: TempDir,
    tasks: tokio::task::JoinSet<()>,
    postgres: Option<PostgresSchema>,
}

impl TestServer {
    /// A server on a fresh SQLite file.
    pub async fn start() -> TestServer {
        Self::start_in(tempfile::tempdir().unwrap()).await
    }

    /// A server on `dir/gsm.sqlite3`, which may hold data from an earlier server.
    pub async fn start_in(dir: TempDir) -> TestServer {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("gsm.sqlite3")).await.unwrap());
        Self::start_on(store, dir, None).await
    }

    /// A server on a fresh PostgreSQL schema; call [`finish`](Self::finish) to drop it.
    pub async fn start_postgres() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let schema = PostgresSchema::create().await;
        Self::start_on(schema.store(), dir, Some(schema)).await
    }

    /// Stops the server and drops its PostgreSQL schema, if it has one.
    pub async fn finish(mut self) {
        self.tasks.shutdown().await;
        let postgres = self.postgres.take();
        drop(self);
        if let Some(schema) = postgres {
            schema.drop_schema().await;
        }
    }

    async fn start_on(
        store: Arc<dyn Store>,
        dir: TempDir,
        postgres: Option<PostgresSchema>,
    ) -> TestServer {
        let mut settings = Settings::for_data_dir(dir.path());
        settings.presence.interval = Duration::from_millis(200);
        settings.heartbeat_flush = Duration::from_millis(100);
        // Alert tests deliver to a local stand-in for Discord.
        settings.alerts.webhook_hosts = vec!["127.0.0.1".to_owned()];
        // Scheduler tests drive `scheduler::tick` with their own clock.
        settings.scheduler_tick = None;
        let org = gsm_server::init::create_org(store.as_ref(), "test-org").await.unwrap();
        let state = AppState::new(store, settings).unwrap();
        let mut tasks = gsm_server::background::spawn(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app::router(state.clone())
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        tasks.spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        TestServer {
            base: format!("http://{addr}"),
            org,
            state,
            http: reqwest::Client::new(),
            _dir: dir,
            tasks,
            postgres,
        }
    }

    /// A second server replica on the same PostgreSQL schema: its own store connection pool
    /// and its own state, no HTTP listener and no background tasks.
    pub async fn replica(&self) -> AppState {
        let schema = self.postgres.as_ref().expect("a replica needs a PostgreSQL server");
        let mut settings = Settings::for_data_dir(self._dir.path());
        settings.scheduler_tick = None;
        AppState::new(schema.another_store().await, settings).unwrap()
    }

    /// A second org with its own owner key, on the same server.
    pub async fn other_org(&self) -> OrgInitialized {
        gsm_server::init::create_org(self.state.store.as_ref(), "other-org").await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1/orgs/{}{}", self.base, self.org.org, path)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.org.api_key)
    }

    /// `GET` of an org path that must answer 2xx with `T` as JSON.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.get(path).send().await.expect("request sent");
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.json().await.expect("a JSON body of the expected shape")
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(&self.org.api_key)
    }

    pub async fn create_host(&self, name: &str) -> HostCreated {
        let response = self.post("/hosts").json(&json!({"name": name})).send().await.unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        response.json().await.unwrap()
    }

    pub async fn enroll(&self, token: &str) -> reqwest::Response {
        let request = EnrollRequest { token: token.into(), facts: facts() };
        self.http
            .post(format!("{}/agent/v1/enroll", self.base))
            .json(&request)
            .send()
            .await
            .unwrap()
    }

    /// Creates a host and enrolls it; returns the host id and its credential.
    pub async fn enrolled_host(&self, name: &str) -> (HostId, String) {
        let created = self.create_host(name).await;
        let response = self.enroll(&created.join_token).await;
        assert_eq!(response.status(), 200);
        let enrolled: EnrollResponse = response.json().await.unwrap();
        (enrolled.host, enrolled.credential)
    }

    pub async fn connect_raw(
        &self,
        credential: &str,
    ) -> Result<FakeAgent, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}/agent/v1/connect", self.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {credential}").parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(FakeAgent { socket, game_config: None })
    }

    /// Connects and completes hello/welcome.
    pub async fn connect(&self, credential: &str) -> FakeAgent {
        let mut agent = self.connect_raw(credential).await.unwrap();
        agent
            .send(&AgentMessage::Hello(Hello { protocol: VersionRange::CURRENT, facts: facts() }))
            .await;
        match agent.recv().await {
            ServerMessage::Welcome(_) => {}
            other => panic!("expected welcome, got {other:?}"),
        }
        match agent.recv().await {
            ServerMessage::GameConfig(config) => agent.game_config = Some(config),
            other => panic!("expected game_config after the welcome, got {other:?}"),
        }
        agent
    }
}

pub fn facts() -> HostFacts {
    HostFacts {
        hostname: "test-host".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        cpus: 2,
        memory_total_bytes: 1 << 30,
        agent_version: "0.1.0".into(),
        allowed_programs: Vec::new(),
    }
}

pub struct FakeAgent {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The game config the server sent after the welcome.
    pub game_config: Option<GameConfig>,
}

impl FakeAgent {
    pub async fn send(&mut self, message: &AgentMessage) {
        self.send_text(&codec::encode(message)).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.socket.send(Message::text(text)).await.unwrap();
    }

    /// The next server message; panics after [`WAIT`] or if the connection ends.
    pub async fn recv(&mut self) -> ServerMessage {
        match self.next_message().await {
            Some(message) => message,
            None => panic!("connection closed while waiting for a message"),
        }
    }

    /// The next server message, or `None` when the server closed the connection.
    pub async fn next_message(&mut self) -> Option<ServerMessage> {
        use futures_util::StreamExt;
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("timed out waiting for the server");
            match frame {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Text(text))) => {
                    return Some(codec::decode_server(text.as_str()).unwrap());
                }
                Some(Ok(Message::Close(_))) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads messages until the connection closes, returning them.
    pub async fn drain_until_closed(&mut self) -> Vec<ServerMessage> {
        let mut seen = Vec::new();
        while let Some(message) = self.next_message().await {
            seen.push(message);
        }
        seen
    }
}

/// Polls `check` until it returns `Some`, for at most [`WAIT`].
pub async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "condition not met within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An audit entry for store calls that need one and tests that do not look at it.
pub fn audit(org: gsm_server::store::OrgId) -> gsm_server::store::access::AuditEntry {
    gsm_server::store::access::AuditEntry {
        id: uuid::Uuid::now_v7(),
        org,
        at: jiff::Timestamp::now(),
        actor: gsm_core::job::Requester {
            kind: gsm_core::job::RequesterKind::User,
            id: "test".into(),
        },
        action: "test".into(),
        target_kind: "test".into(),
        target_id: "test".into(),
        client_ip: None,
        outcome: "success".into(),
    }
}
