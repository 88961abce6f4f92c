//! A stand-in gsm server for the agent's end-to-end tests, written from `docs/agent-protocol.md`:
//! `POST /agent/v1/enroll` and the `/agent/v1/connect` WebSocket, on 127.0.0.1:0.
//!
//! The test drives it: every accepted WebSocket connection is handed to the test as a
//! [`FakeConn`], which yields what the agent sent and sends what the test says. Waiting is always
//! on a message, bounded by [`WAIT`] so a broken agent fails the test instead of hanging it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Json, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gsm_core::job::HostId;
use gsm_proto::agent::{
    AgentMessage, EnrollRequest, EnrollResponse, Hello, ServerMessage, Welcome,
};
use gsm_proto::codec;
use tokio::sync::{Mutex, mpsc};
use uuid::Uuid;

/// The longest any one expected message may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// What the enrollment endpoint answers.
#[derive(Clone)]
pub enum EnrollAnswer {
    /// 200 with this host, org and credential.
    Enrolled(EnrollResponse),
    /// 401 `invalid_join_token`.
    InvalidToken,
}

struct Shared {
    credential: String,
    enroll: EnrollAnswer,
    enroll_requests: Mutex<Vec<EnrollRequest>>,
    enroll_calls: AtomicUsize,
    connections: mpsc::Sender<FakeConn>,
}

/// The running fake server.
pub struct FakeServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Shared>,
    connections: mpsc::Receiver<FakeConn>,
}

impl FakeServer {
    /// Starts a server that accepts `credential` on connect and answers enrollment with `enroll`.
    pub async fn start(credential: &str, enroll: EnrollAnswer) -> FakeServer {
        let (connections_tx, connections) = mpsc::channel(8);
        let shared = Arc::new(Shared {
            credential: credential.to_owned(),
            enroll,
            enroll_requests: Mutex::new(Vec::new()),
            enroll_calls: AtomicUsize::new(0),
            connections: connections_tx,
        });
        let app = Router::new()
            .route("/agent/v1/enroll", post(enroll_handler))
            .route("/agent/v1/connect", get(connect_handler))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeServer { url, shared, connections }
    }

    /// A server for connection tests: any enrollment is refused.
    pub async fn for_connections(credential: &str) -> FakeServer {
        FakeServer::start(credential, EnrollAnswer::InvalidToken).await
    }

    /// Waits for the agent's next WebSocket connection and its hello.
    pub async fn accept(&mut self) -> (FakeConn, Hello) {
        let mut conn = tokio::time::timeout(WAIT, self.connections.recv())
            .await
            .expect("the agent did not connect in time")
            .expect("the fake server stopped");
        let hello = match conn.recv().await {
            AgentMessage::Hello(hello) => hello,
            other => panic!("the first message must be hello, got {other:?}"),
        };
        (conn, hello)
    }

    /// Enrollment requests received so far.
    pub async fn enroll_requests(&self) -> Vec<EnrollRequest> {
        self.shared.enroll_requests.lock().await.clone()
    }

    /// How many times the enrollment endpoint was called.
    pub fn enroll_calls(&self) -> usize {
        self.shared.enroll_calls.load(Ordering::SeqCst)
    }
}

/// What the test tells a connection to do.
enum Outgoing {
    Send(Box<ServerMessage>),
    Close,
}

/// One agent connection, as the test sees it.
pub struct FakeConn {
    incoming: mpsc::Receiver<AgentMessage>,
    outgoing: mpsc::Sender<Outgoing>,
}

impl FakeConn {
    /// The agent's next message, whatever it is.
    pub async fn recv(&mut self) -> AgentMessage {
        tokio::time::timeout(WAIT, self.incoming.recv())
            .await
            .expect("the agent sent nothing in time")
            .expect("the connection closed while a message was expected")
    }

    /// The agent's next message that is not a heartbeat.
    pub async fn recv_job_message(&mut self) -> AgentMessage {
        loop {
            match self.recv().await {
                AgentMessage::Heartbeat(_) => continue,
                other => return other,
            }
        }
    }

    /// Sends a message to the agent.
    pub async fn send(&self, message: ServerMessage) {
        self.outgoing.send(Outgoing::Send(Box::new(message))).await.expect("connection open");
    }

    /// Welcomes the agent as `host`, asking for a heartbeat every `heartbeat_ms`.
    pub async fn welcome(&self, host: HostId, heartbeat_ms: u64) {
        self.send(ServerMessage::Welcome(Welcome {
            protocol: 1,
            host,
            heartbeat_interval_ms: heartbeat_ms,
        }))
        .await;
    }

    /// Closes the WebSocket from the server's side.
    pub async fn close(self) {
        let _ = self.outgoing.send(Outgoing::Close).await;
    }
}

async fn enroll_handler(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<EnrollRequest>,
) -> Response {
    shared.enroll_calls.fetch_add(1, Ordering::SeqCst);
    shared.enroll_requests.lock().await.push(request);
    match &shared.enroll {
        EnrollAnswer::Enrolled(response) => Json(response.clone()).into_response(),
        EnrollAnswer::InvalidToken => (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({
                "error": {"code": "invalid_join_token", "message": "the join token is not valid"}
            })),
        )
            .into_response(),
    }
}

async fn connect_handler(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let expected = format!("Bearer {}", shared.credential);
    let authorized =
        headers.get(header::AUTHORIZATION).is_some_and(|value| value == expected.as_str());
    if !authorized {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    upgrade.on_upgrade(move |socket| serve_socket(socket, shared))
}

async fn serve_socket(mut socket: WebSocket, shared: Arc<Shared>) {
    let (incoming_tx, incoming) = mpsc::channel(1024);
    let (outgoing, mut outgoing_rx) = mpsc::channel(64);
    if shared.connections.send(FakeConn { incoming, outgoing }).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let message = codec::decode_agent(text.as_str())
                        .unwrap_or_else(|err| panic!("the agent sent an invalid frame ({err}): {text}"));
                    if incoming_tx.send(message).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Binary(_))) => panic!("the agent sent a binary frame"),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            command = outgoing_rx.recv() => match command {
                Some(Outgoing::Send(message)) => {
                    if socket.send(Message::Text(codec::encode(&*message).into())).await.is_err() {
                        return;
                    }
                }
                Some(Outgoing::Close) | None => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
        }
    }
}

/// A successful enrollment answer with fresh ids.
pub fn enrolled(credential: &str) -> EnrollResponse {
    EnrollResponse { host: HostId::new(), org: Uuid::now_v7(), credential: credential.to_owned() }
}
