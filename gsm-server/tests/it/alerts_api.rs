//! The alert REST API through a real socket: rules validated field by field and audited, the
//! history and notifications with their filters and read marks, settings that never give a
//! webhook URL back, and a rule's remediation creating one real job per alert.

use gsm_core::job::{HostId, JobKind, JobState, RequesterKind};
use gsm_core::rules::{Event, RuleId, Subject};
use gsm_proto::rest::{
    Alert, AlertRule, AuditEntry, ErrorBody, Job, MarkedRead, Notification, OrgSettings, Page,
    UnreadCount,
};
use gsm_server::alerts::remediation::{self, RemediationJob};
use gsm_server::store::OrgId;
use gsm_server::store::alerts::NewAlert;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{TestServer, eventually};

async fn error(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.error.code, body.error.message)
}

async fn post_rule(server: &TestServer, body: &Value) -> reqwest::Response {
    server.post("/alert-rules").json(body).send().await.unwrap()
}

async fn audit_actions(server: &TestServer) -> Vec<String> {
    let page: Page<AuditEntry> = server.get_json("/audit").await;
    page.items.into_iter().map(|entry| entry.action).collect()
}

#[tokio::test]
async fn alert_rules_are_validated_field_by_field_stored_audited_and_deleted() {
    let server = TestServer::start().await;
    let check = async |body: Value, field: &str| {
        let (status, code, message) = error(post_rule(&server, &body).await).await;
        assert_eq!(status, 422, "{body}: {message}");
        assert!(code.starts_with("invalid_"), "{body}: {code}");
        assert!(message.contains(field), "{body}: {message:?} should name {field}");
    };
    check(json!({"name": "", "kind": "host.offline"}), "name").await;
    check(json!({"name": "x", "kind": "host.exploded"}), "kind").await;
    check(json!({"name": "x", "kind": "host.offline", "resolve_kind": "nope"}), "resolve_kind")
        .await;
    check(json!({"name": "x", "kind": "host.offline", "channels": ["discord:nope"]}), "channels")
        .await;
    check(json!({"name": "x", "kind": "host.offline", "channels": ["email"]}), "channels").await;
    check(json!({"name": "x", "kind": "game.chat", "text": "("}), "text").await;
    let players = json!({"name": "x", "kind": "game.chat", "players_above": 5, "players_below": 6});
    check(players, "players_above").await;
    let threshold =
        json!({"name": "x", "kind": "job.failed", "threshold": {"count": 0, "window_secs": 60}});
    check(threshold, "threshold").await;
    let dance = json!({"name": "x", "kind": "game.crash",
        "remediation": {"action": "dance", "max_runs": 1, "per_secs": 60}});
    check(dance, "remediation.action").await;
    let no_game = json!({"name": "x", "kind": "host.offline",
        "remediation": {"action": "restart", "max_runs": 1, "per_secs": 60}});
    check(no_game, "remediation").await;
    check(json!({"name": "x", "kind": "host.offline", "host": HostId::new()}), "host").await;
    let unknown_field = json!({"name": "x", "kind": "host.offline", "colour": 1});
    assert_eq!(error(post_rule(&server, &unknown_field).await).await.0, 400);

    let body = json!({"name": "offline", "kind": "host.offline", "severity": "critical"});
    let response = post_rule(&server, &body).await;
    assert_eq!(response.status(), 201);
    let rule: AlertRule = response.json().await.unwrap();
    assert_eq!((rule.spec.name.as_str(), rule.spec.enabled), ("offline", true));
    let (status, _, _) = error(post_rule(&server, &body).await).await;
    assert_eq!(status, 409, "a second rule of the same name");

    let page: Page<AlertRule> =
        server.get("/alert-rules").send().await.unwrap().json().await.unwrap();
    assert_eq!(page.items, vec![rule.clone()]);
    let url = server.url(&format!("/alert-rules/{}", rule.id));
    let replaced = json!({"name": "stale", "kind": "host.stale", "cooldown_secs": 300});
    let response = server.http.put(&url).bearer_auth(&server.org.api_key).json(&replaced);
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let got: AlertRule = server.get_json(&format!("/alert-rules/{}", rule.id)).await;
    assert_eq!((got.spec.kind.as_str(), got.spec.cooldown_secs), ("host.stale", 300));
    let deleted = server.http.delete(&url).bearer_auth(&server.org.api_key).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = server.get(&format!("/alert-rules/{}", rule.id)).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    let actions = audit_actions(&server).await;
    for action in ["alert_rule.create", "alert_rule.replace", "alert_rule.delete"] {
        assert!(actions.iter().any(|a| a == action), "{action} not audited: {actions:?}");
    }
}

#[tokio::test]
async fn settings_take_webhook_urls_and_never_give_them_back() {
    let server = TestServer::start().await;
    let secret = "https://discord.com/api/webhooks/123/SuperSecretTokenWXYZ";
    let patch = |body: Value| {
        server
            .http
            .patch(server.url("/settings"))
            .bearer_auth(&server.org.api_key)
            .json(&body)
            .send()
    };
    let body =
        json!({"discord_webhooks": {"ops": secret}, "default_channels": ["in_app", "discord:ops"]});
    let response = patch(body).await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains("SuperSecret"), "the answer carries the URL: {text}");
    let settings: OrgSettings = serde_json::from_str(&text).unwrap();
    assert_eq!(settings.discord_webhooks.len(), 1);
    assert_eq!(settings.discord_webhooks[0].name, "ops");
    assert_eq!(settings.discord_webhooks[0].url_last4, "WXYZ");
    assert_eq!(settings.default_channels, ["in_app", "discord:ops"]);
    assert_eq!(settings.webhook_hosts, ["127.0.0.1"]);
    let text = server.get("/settings").send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("SuperSecret"), "GET carries the URL: {text}");
    let audit = server.get("/audit").send().await.unwrap().text().await.unwrap();
    assert!(!audit.contains("SuperSecret"), "the audit log carries the URL");
    assert!(audit.contains("settings.webhook.put") && audit.contains("settings.default_channels"));

    // A URL elsewhere is refused without echoing it; nothing was stored.
    let elsewhere = "https://evil.example/api/webhooks/1/OtherSecretToken";
    let (status, code, message) =
        error(patch(json!({"discord_webhooks": {"evil": elsewhere}})).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (422, "invalid_settings"));
    assert!(
        message.contains("discord_webhooks.evil") && !message.contains("OtherSecret"),
        "{message}"
    );
    let bad_name = patch(json!({"discord_webhooks": {"no spaces": secret}})).await.unwrap();
    assert_eq!(error(bad_name).await.0, 422);
    let unknown = patch(json!({"default_channels": ["discord:evil"]})).await.unwrap();
    assert_eq!(error(unknown).await.0, 422);
    let missing = patch(json!({"discord_webhooks": {"never": null}})).await.unwrap();
    assert_eq!(error(missing).await.0, 404);

    // Removing the webhook and the channel naming it in one change.
    let body = json!({"discord_webhooks": {"ops": null}, "default_channels": ["in_app"]});
    let settings: OrgSettings = patch(body).await.unwrap().json().await.unwrap();
    assert!(settings.discord_webhooks.is_empty());
    assert_eq!(settings.default_channels, ["in_app"]);
    let stale = patch(json!({"discord_webhooks": {"ops": null}})).await.unwrap();
    assert_eq!(error(stale).await.0, 404);
}

/// Raises an alert through the store (as the engine does) to the app; returns its id.
async fn raise(server: &TestServer, rule: Uuid, host: HostId, open: bool) -> Uuid {
    let alert = NewAlert {
        id: Uuid::now_v7(),
        org: OrgId(server.org.org),
        rule,
        rule_name: "r".into(),
        host: Some(host),
        game: None,
        kind: "host.offline".into(),
        severity: gsm_core::rules::Severity::Warning,
        message: "m".into(),
        open,
        at: jiff::Timestamp::now(),
    };
    let store = &server.state.store;
    store.raise_alert(&alert, &["in_app".to_owned()]).await.unwrap().unwrap();
    server.state.alerts.outbox.notify_one();
    alert.id
}

#[tokio::test]
async fn the_history_filters_and_pages_and_notifications_are_marked_read() {
    let server = TestServer::start().await;
    let (rule_a, rule_b) = (Uuid::now_v7(), Uuid::now_v7());
    let (host_1, host_2) = (HostId::new(), HostId::new());
    let first = raise(&server, rule_a, host_1, true).await;
    let second = raise(&server, rule_a, host_2, false).await;
    let third = raise(&server, rule_b, host_1, true).await;
    let ids = async |query: &str| {
        let page: Page<Alert> =
            server.get(&format!("/alerts?{query}")).send().await.unwrap().json().await.unwrap();
        page.items.into_iter().map(|a| a.id).collect::<Vec<_>>()
    };
    assert_eq!(ids("").await, [third, second, first], "newest first");
    assert_eq!(ids("status=open").await, [third, first]);
    assert_eq!(ids("status=fired").await, [second]);
    assert_eq!(ids(&format!("rule={rule_a}")).await, [second, first]);
    assert_eq!(ids(&format!("host={host_1}&rule={rule_b}")).await, [third]);
    let page: Page<Alert> =
        server.get("/alerts?limit=2").send().await.unwrap().json().await.unwrap();
    let cursor = page.next_cursor.expect("a full page has a cursor");
    assert_eq!(ids(&format!("limit=2&cursor={cursor}")).await, [first]);
    let bad = server.get("/alerts?status=sleeping").send().await.unwrap();
    assert_eq!(bad.status(), 400);

    let notifications: Vec<Notification> = eventually(|| async {
        let page: Page<Notification> =
            server.get("/notifications").send().await.unwrap().json().await.unwrap();
        (page.items.len() == 3).then_some(page.items)
    })
    .await;
    assert_eq!(notifications[0].alert, third);
    let unread = async || -> u64 {
        let count: UnreadCount =
            server.get("/notifications/unread-count").send().await.unwrap().json().await.unwrap();
        count.unread
    };
    assert_eq!(unread().await, 3);
    let url = format!("/notifications/{}/read", notifications[0].id);
    let read: Notification = server.post(&url).send().await.unwrap().json().await.unwrap();
    assert!(read.read_at.is_some());
    assert_eq!(unread().await, 2);
    let page: Page<Notification> =
        server.get("/notifications?unread=true").send().await.unwrap().json().await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.items.iter().all(|n| n.id != read.id));
    let marked: MarkedRead =
        server.post("/notifications/read-all").send().await.unwrap().json().await.unwrap();
    assert_eq!(marked.marked, 2);
    assert_eq!(unread().await, 0);
    let random = server.post(&format!("/notifications/{}/read", Uuid::now_v7())).send().await;
    assert_eq!(random.unwrap().status(), 404);
}

async fn jobs(server: &TestServer) -> Vec<Job> {
    let page: Page<Job> = server.get_json("/jobs").await;
    page.items
}

#[tokio::test]
async fn a_remediation_starts_one_real_job_per_alert_within_its_limit() {
    let server = TestServer::start().await;
    let host = server.create_host("eu-1").await.host.id;
    let body = json!({
        "name": "crash restarts",
        "kind": "game.server_crashed",
        "channels": ["in_app"],
        "remediation": {"action": "restart", "max_runs": 1, "per_secs": 3600},
    });
    let response = post_rule(&server, &body).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let rule: AlertRule = response.json().await.unwrap();
    let org = OrgId(server.org.org);
    let crash = |at_ms| Event {
        kind: "game.server_crashed".into(),
        host: Some(host),
        game: Some("main".into()),
        text: "the server process exited".into(),
        players: None,
        at_ms,
    };
    // The engine loads rules when told; the first event may race the reload, so it is repeated
    // until the engine has acted on one (the limit keeps repeats from making more jobs).
    let now = jiff::Timestamp::now().as_millisecond();
    let job = eventually(|| async {
        server.state.alerts.emit(org, crash(now));
        jobs(&server).await.into_iter().next()
    })
    .await;
    assert_eq!(job.state, JobState::Queued, "the host is not connected");
    assert_eq!(job.requested_by.kind, RequesterKind::AlertRule);
    assert_eq!(job.requested_by.id, rule.id.to_string());
    let JobKind::Game(action) = &job.kind else { panic!("a game job: {:?}", job.kind) };
    assert_eq!((action.game.as_str(), action.action.as_str()), ("main", "restart"));
    let entries: Page<AuditEntry> =
        server.get("/audit").send().await.unwrap().json().await.unwrap();
    assert!(entries.items.iter().any(|e| e.action == "job.create"
        && e.target_id == job.id.to_string()
        && e.actor.kind == RequesterKind::AlertRule));

    // More crashes within the window: alerts, but no second job.
    for n in 1..4 {
        server.state.alerts.emit(org, crash(now + n));
    }
    eventually(|| async {
        let page: Page<Alert> = server.get_json("/alerts").await;
        (page.items.len() >= 4).then_some(())
    })
    .await;
    assert_eq!(jobs(&server).await.len(), 1, "the limit holds");

    // A retried decision (same key) finds the job it made.
    let subject = Subject { host: Some(host), game: Some("main".into()) };
    let key = remediation::key_for_event(RuleId(rule.id), &subject, now);
    let retry =
        RemediationJob { org, rule: RuleId(rule.id), subject: &subject, action: "restart", key };
    let first = remediation::start(&server.state, &retry).await.unwrap().unwrap();
    let again = remediation::start(&server.state, &retry).await.unwrap().unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(jobs(&server).await.len(), 2, "one job per key");
}
