//! Alerts through a real server (in-process, real sockets): a host that goes silent raises one
//! Discord delivery at a local stand-in for Discord, its return resolves it once, and a 429 with
//! `retry_after` delays the delivery without duplicating it, and a delivery still pending when a
//! server stopped is delivered once by the next server on the same database.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use gsm_core::job::HostId;
use gsm_core::rules::Severity;
use gsm_proto::agent::AgentMessage;
use gsm_proto::rest::AlertRuleSpec;
use gsm_server::store::alerts::{AlertFilter, AlertStore, NewAlert, NotificationFilter};
use gsm_server::store::{OrgId, SqliteStore, Store};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{TestServer, audit, eventually};

/// A stand-in for Discord's webhook endpoint: records every request with its arrival time and
/// answers 429 (with `retry_after`) to the first `limited` of them, 204 after.
#[derive(Clone)]
pub(crate) struct Discord {
    seen: Arc<Mutex<Vec<(Instant, Value)>>>,
    limited: usize,
    retry_after: f64,
}

impl Discord {
    pub(crate) async fn start(limited: usize, retry_after: f64) -> (Discord, String) {
        let discord = Discord { seen: Arc::default(), limited, retry_after };
        let app = Router::new().route("/hook", post(hook)).with_state(discord.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (discord, url)
    }

    pub(crate) fn requests(&self) -> Vec<(Instant, Value)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn hook(
    axum::extract::State(discord): axum::extract::State<Discord>,
    axum::Json(body): axum::Json<Value>,
) -> axum::response::Response {
    let n = {
        let mut seen = discord.seen.lock().unwrap();
        seen.push((Instant::now(), body));
        seen.len()
    };
    if n <= discord.limited {
        let body = json!({"message": "You are being rate limited.", "retry_after": discord.retry_after, "global": false});
        return (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// An offline rule delivering to the stand-in, stored and loaded by the engine.
async fn offline_rule(server: &TestServer, url: &str) {
    let org = OrgId(server.org.org);
    let store = server.state.store.as_ref();
    store.put_discord_webhook(org, "ops", url, &audit(org)).await.unwrap();
    let spec = AlertRuleSpec {
        name: "host offline".into(),
        kind: "host.offline".into(),
        host: None,
        game: None,
        text: None,
        players_above: None,
        players_below: None,
        threshold: None,
        resolve_kind: None,
        cooldown_secs: 0,
        severity: Severity::Critical,
        channels: Some(vec!["discord:ops".into(), "in_app".into()]),
        remediation: None,
        enabled: true,
    };
    store.create_alert_rule(org, Uuid::now_v7(), &spec, &audit(org)).await.unwrap();
    server.state.alerts.rules_changed.notify_one();
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

fn unread(unread_only: bool) -> NotificationFilter {
    NotificationFilter { unread_only, before: None, limit: 10 }
}

fn all_alerts(before: Option<Uuid>) -> AlertFilter {
    AlertFilter { status: None, rule: None, host: None, before, limit: 10 }
}

pub(crate) async fn requests_at_least(discord: &Discord, n: usize) -> Vec<(Instant, Value)> {
    eventually(|| async {
        let seen = discord.requests();
        (seen.len() >= n).then_some(seen)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_host_raises_one_discord_alert_and_its_return_resolves_it_once() {
    let server = TestServer::start().await;
    let (discord, url) = Discord::start(0, 0.0).await;
    offline_rule(&server, &url).await;
    let (host, credential) = server.enrolled_host("eu-1").await;
    let mut agent = server.connect(&credential).await;
    agent.send(&heartbeat(host, 1)).await;
    drop(agent);

    let raised = requests_at_least(&discord, 1).await;
    let embed = &raised[0].1["embeds"][0];
    assert_eq!(embed["title"], "Alert: host offline");
    assert_eq!(embed["color"], 0xE7_4C_3C);
    assert_eq!(embed["fields"][1]["value"], "eu-1", "{embed}");
    assert_eq!(raised[0].1["allowed_mentions"]["parse"], json!([]));

    let mut agent = server.connect(&credential).await;
    agent.send(&heartbeat(host, 2)).await;
    let resolved = requests_at_least(&discord, 2).await;
    assert_eq!(resolved[1].1["embeds"][0]["title"], "Resolved: host offline");
    assert_eq!(resolved[1].1["embeds"][0]["color"], 0x2E_CC_71);
    // Nothing more arrives: one raise, one resolve.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(discord.requests().len(), 2);

    let org = OrgId(server.org.org);
    let notifications = server.state.store.list_notifications(org, &unread(false)).await.unwrap();
    assert_eq!(notifications.len(), 2, "one in-app notification per change");
    let alerts = server.state.store.list_alerts(org, &all_alerts(None)).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].resolved_at.is_some());
    drop(agent);
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_delivery_waits_retry_after_and_arrives_once() {
    let server = TestServer::start().await;
    let (discord, url) = Discord::start(1, 1.0).await;
    offline_rule(&server, &url).await;
    let (host, credential) = server.enrolled_host("eu-2").await;
    let mut agent = server.connect(&credential).await;
    agent.send(&heartbeat(host, 1)).await;
    drop(agent);

    let seen = requests_at_least(&discord, 2).await;
    let waited = seen[1].0 - seen[0].0;
    assert!(waited >= Duration::from_millis(950), "retried after {waited:?}, before retry_after");
    assert_eq!(seen[0].1, seen[1].1, "the retry posts the same alert");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(discord.requests().len(), 2, "delivered once after the 429");
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_queued_before_a_restart_arrives_once_after_it() {
    let (discord, url) = Discord::start(0, 0.0).await;
    let dir = tempfile::tempdir().unwrap();
    // The server that raised the alert stopped before delivering it: its outbox row is pending.
    {
        let store = SqliteStore::open(&dir.path().join("gsm.sqlite3")).await.unwrap();
        let org = OrgId(Uuid::now_v7());
        store.create_org(org, "before-restart", jiff::Timestamp::now()).await.unwrap();
        store.put_discord_webhook(org, "ops", &url, &audit(org)).await.unwrap();
        let alert = NewAlert {
            id: Uuid::now_v7(),
            org,
            rule: Uuid::now_v7(),
            rule_name: "host offline".into(),
            host: None,
            game: None,
            kind: "host.offline".into(),
            severity: Severity::Warning,
            message: "raised before the restart".into(),
            open: true,
            at: jiff::Timestamp::now(),
        };
        store.raise_alert(&alert, &["discord:ops".to_owned()]).await.unwrap().unwrap();
    }
    let server = TestServer::start_in(dir).await;
    let seen = requests_at_least(&discord, 1).await;
    assert_eq!(seen[0].1["embeds"][0]["description"], "raised before the restart");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(discord.requests().len(), 1, "delivered once");
    server.finish().await;
}
