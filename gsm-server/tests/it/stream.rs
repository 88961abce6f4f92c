//! The org's live stream (`…/stream`) over a real WebSocket: a job's life, a host's presence, an
//! alert and its notification arrive as typed frames, and nothing of another org ever does.

use futures_util::StreamExt;
use gsm_core::job::{HostId, JobState};
use gsm_core::presence::Presence;
use gsm_proto::agent::AgentMessage;
use gsm_proto::rest::{AlertChange, Job, Notification, OrgInitialized, StreamEvent};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use gsm_server::store::OrgId;
use uuid::Uuid;

use crate::harness::{TestServer, WAIT, audit, eventually};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `org`'s stream with its key, offering the dashboard's subprotocol.
async fn open(server: &TestServer, org: &OrgInitialized) -> Socket {
    let url = format!("{}/api/v1/orgs/{}/stream", server.base, org.org).replace("http://", "ws://");
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("authorization", format!("Bearer {}", org.api_key).parse().unwrap());
    headers.insert("sec-websocket-protocol", "gsm.v1".parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()),
        Some("gsm.v1"),
        "the server answers with the subprotocol browsers offered"
    );
    socket
}

/// Reads frames until `until` matches one; returns every frame read.
async fn read_until(socket: &mut Socket, until: impl Fn(&StreamEvent) -> bool) -> Vec<StreamEvent> {
    let mut seen = Vec::new();
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no matching frame within {WAIT:?}; saw {seen:#?}"));
        match frame {
            Some(Ok(Message::Text(text))) => {
                let event: StreamEvent = serde_json::from_str(text.as_str()).unwrap();
                let done = until(&event);
                seen.push(event);
                if done {
                    return seen;
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("stream ended: {other:?}; saw {seen:#?}"),
        }
    }
}

fn job_in(state: JobState, id: gsm_core::job::JobId) -> impl Fn(&StreamEvent) -> bool {
    move |event| matches!(event, StreamEvent::Job(job) if job.id == id && job.state == state)
}

async fn create_job(server: &TestServer, org: &OrgInitialized, host: HostId) -> Job {
    let url = format!("{}/api/v1/orgs/{}/jobs", server.base, org.org);
    let body = json!({"host": host, "kind": {"type": "command", "program": "/bin/true"}});
    let response = server.http.post(url).bearer_auth(&org.api_key).json(&body).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

fn heartbeat(host: HostId, seq: u64) -> AgentMessage {
    AgentMessage::Heartbeat(gsm_core::heartbeat::Heartbeat {
        host,
        agent_version: "0.1.0".into(),
        seq,
        uptime_secs: 1,
        load: None,
        memory: None,
        disks: vec![],
        running_jobs: vec![],
        games: vec![],
    })
}

async fn a_stream_carries_its_orgs_changes_and_nothing_of_another_org(server: &TestServer) {
    let a = server.org.clone();
    let b = server.other_org().await;
    let mut stream_a = open(server, &a).await;
    let mut stream_b = open(server, &b).await;

    // B's changes come first: if A's stream were sent them, they would reach it before A's own.
    let url = format!("{}/api/v1/orgs/{}/hosts", server.base, b.org);
    let response = server.http.post(url).bearer_auth(&b.api_key).json(&json!({"name": "b-1"}));
    let b_host: gsm_proto::rest::HostCreated = response.send().await.unwrap().json().await.unwrap();
    let b_job = create_job(server, &b, b_host.host.id).await;
    let seen_b = read_until(&mut stream_b, job_in(JobState::Queued, b_job.id)).await;
    assert_eq!(seen_b.len(), 1, "{seen_b:#?}");

    // A: an agent connects (presence), a job is created for it (stored dispatched: its agent is
    // connected) and pushed, the agent reports it running, then the agent goes silent (offline).
    let (host, credential) = server.enrolled_host("a-1").await;
    let mut agent = server.connect(&credential).await;
    let mut seen = read_until(&mut stream_a, |event| {
        matches!(event, StreamEvent::Presence { host: h, status: Presence::Online, .. } if *h == host)
    })
    .await;
    let job = create_job(server, &a, host).await;
    seen.extend(read_until(&mut stream_a, job_in(JobState::Dispatched, job.id)).await);
    let assignment = match agent.recv().await {
        gsm_proto::agent::ServerMessage::AssignJob(assignment) => assignment,
        other => panic!("expected the job, got {other:?}"),
    };
    let job_ref = gsm_proto::agent::JobRef { job: job.id, attempt: assignment.attempt };
    agent.send(&AgentMessage::JobAccepted(job_ref)).await;
    seen.extend(read_until(&mut stream_a, job_in(JobState::Running, job.id)).await);
    agent.send(&heartbeat(host, 1)).await;
    drop(agent);
    seen.extend(
        read_until(&mut stream_a, |event| {
            matches!(event, StreamEvent::Presence { status: Presence::Offline, .. })
        })
        .await,
    );

    let dispatched = seen.iter().position(job_in(JobState::Dispatched, job.id));
    let running = seen.iter().position(job_in(JobState::Running, job.id));
    assert!(dispatched.is_some() && dispatched < running, "dispatched, then running: {seen:#?}");
    let created =
        seen.iter().filter(|event| matches!(event, StreamEvent::Job(j) if j.id == job.id));
    assert_eq!(created.count(), 2, "one event per state, no queued step: {seen:#?}");
    let text = serde_json::to_string(&seen).unwrap();
    for foreign in [b.org.to_string(), b_host.host.id.to_string(), b_job.id.to_string()] {
        assert!(!text.contains(&foreign), "A's stream carried B's {foreign}: {text}");
    }
    let text = serde_json::to_string(&seen_b).unwrap();
    assert!(!text.contains(&job.id.to_string()) && !text.contains(&host.to_string()));
}

async fn an_alert_and_its_notification_reach_the_stream(server: &TestServer) {
    let org = server.org.clone();
    let mut stream = open(server, &org).await;
    let rule = json!({"name": "offline", "kind": "host.offline", "channels": ["in_app"]});
    let spec = serde_json::from_value(rule).unwrap();
    let store = &server.state.store;
    store
        .create_alert_rule(OrgId(org.org), Uuid::now_v7(), &spec, &audit(OrgId(org.org)))
        .await
        .unwrap();
    server.state.alerts.rules_changed.notify_one();
    let (host, credential) = server.enrolled_host("a-2").await;
    let mut agent = server.connect(&credential).await;
    agent.send(&heartbeat(host, 1)).await;
    drop(agent);
    let seen = read_until(&mut stream, |event| matches!(event, StreamEvent::Notification(_))).await;
    let raised = seen.iter().find_map(|event| match event {
        StreamEvent::Alert { change: AlertChange::Raised, alert } => Some(alert),
        _ => None,
    });
    let raised =
        raised.unwrap_or_else(|| panic!("no raised alert before the notification: {seen:#?}"));
    assert_eq!((raised.host, raised.rule_name.as_str()), (Some(host), "offline"));
    let Some(StreamEvent::Notification(notification)) = seen.last() else { unreachable!() };
    assert_eq!(notification.alert, raised.id);
    assert_eq!(notification.read_at, None);
}

/// Reads until the server's close frame; returns its code and reason.
async fn close_frame(socket: &mut Socket, within: std::time::Duration) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no close frame within {within:?}"));
        match frame {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (frame.code.into(), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                panic!("the stream ended without a close frame")
            }
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_told_it_lagged() {
    let server = TestServer::start().await;
    let mut socket = open(&server, &server.org).await;
    let org = OrgId(server.org.org);
    eventually(|| async { (server.state.live.watchers(org) == 1).then_some(()) }).await;
    // The client reads nothing while ~64 MiB of changes are published: the socket buffers fill,
    // the connection's queue fills, and the hub drops it without ever waiting.
    let big = Notification {
        id: Uuid::now_v7(),
        alert: Uuid::now_v7(),
        change: AlertChange::Raised,
        severity: gsm_core::rules::Severity::Info,
        title: "x".repeat(32 * 1024),
        created_at: "2026-01-01T00:00:00Z".into(),
        read_at: None,
    };
    let event = StreamEvent::Notification(big);
    for _ in 0..2048 {
        server.state.live.publish(org, &event);
        if server.state.live.watchers(org) == 0 {
            break;
        }
    }
    assert_eq!(server.state.live.watchers(org), 0, "the slow client was dropped");
    assert_eq!(server.state.live.lagged.load(std::sync::atomic::Ordering::Relaxed), 1);
    let (code, reason) = close_frame(&mut socket, WAIT).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("too slow"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_key_is_revoked_is_closed() {
    let server = TestServer::start().await;
    let body = json!({"name": "dashboard", "role": "viewer"});
    let response = server.post("/api-keys").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let created: gsm_proto::rest::ApiKeyCreated = response.json().await.unwrap();
    let viewer = OrgInitialized { api_key: created.key.clone(), ..server.org.clone() };
    let mut socket = open(&server, &viewer).await;
    let url = server.url(&format!("/api-keys/{}", created.api_key.id));
    let response = server.http.delete(url).bearer_auth(&server.org.api_key).send().await.unwrap();
    assert_eq!(response.status(), 204);
    // The credential is checked again every 15 s.
    let (code, reason) = close_frame(&mut socket, std::time::Duration::from_secs(30)).await;
    assert_eq!(code, 1008, "{reason}");
}

on_both_backends!(
    a_stream_carries_its_orgs_changes_and_nothing_of_another_org,
    an_alert_and_its_notification_reach_the_stream,
);
