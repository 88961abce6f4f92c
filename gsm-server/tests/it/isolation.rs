//! Tenant isolation (reliability.md T1, T5, T10), driven by the OpenAPI document: every org route
//! is called on org A's path with org B's key, and on org B's path with org A's ids. Each answers
//! 404 or shows nothing of A, and A's stored state is unchanged after every call.
//!
//! [`CASES`] says how to call each route; a route in the document without a case fails the suite,
//! so a route added later is covered or the build is red. The role matrix (`roles.rs`) uses the
//! same table. Org B is made afresh for every route, since some routes (deleting the org) end it.

use gsm_core::job::{HostId, JobId};
use gsm_core::job::{Requester, RequesterKind};
use gsm_core::runner::Stream;
use gsm_proto::rest::{ApiKeyCreated, ErrorBody, HostCreated, InviteCreated, Job};
use gsm_server::discord_bot::link;
use gsm_server::store::access::{AuditEntry, NewSession, NewUser, SessionId, UserId};
use gsm_server::store::alerts::{AlertFilter, NewAlert, NotificationFilter};
use gsm_server::store::discord::NewLinkCode;
use gsm_server::store::games::{EventPlayer, GameEventFilter, NewGameEvent};
use gsm_server::store::{JobFilter, NewLogChunk, OrgId};
use gsm_server::tokens::Kind;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

use crate::harness::TestServer;
use crate::openapi::{operations, spec};

/// The prefix of org-scoped routes in the document.
pub const ORG_ROUTES: &str = "/api/v1/orgs/{org}";

/// The ids a call puts in its path, query and body.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    pub org: Uuid,
    pub host: HostId,
    pub job: JobId,
    /// A viewer member's user id.
    pub user: Uuid,
    /// An open invite.
    pub invite: Uuid,
    /// A viewer API key's id, as a number (ids are 16 hex digits).
    pub key: u64,
    /// A schedule running a command on the host.
    pub schedule: Uuid,
    /// An alert rule.
    pub rule: Uuid,
    /// An alert the rule raised about the host.
    pub alert: Uuid,
    /// The alert's in-app notification.
    pub notification: Uuid,
    /// The bits of an open Discord link code of the org (`link::code_from_bits`).
    pub link_code: u64,
}

impl Ids {
    /// The API key id as the API spells it.
    pub fn key_id(&self) -> String {
        format!("{:016x}", self.key)
    }

    /// Every id of the org's data, as text.
    pub fn all(&self) -> [String; 10] {
        [
            self.rule.to_string(),
            self.alert.to_string(),
            self.notification.to_string(),
            self.schedule.to_string(),
            self.org.to_string(),
            self.host.to_string(),
            self.job.to_string(),
            self.user.to_string(),
            self.invite.to_string(),
            self.key_id(),
        ]
    }
}

/// What org B's path answers when given org A's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// 404: the id names nothing in B.
    NotFound,
    /// 200 with an empty page: the filter names nothing in B.
    EmptyPage,
    /// The route takes no id of A's (it lists or creates in B only).
    NoIds,
}

/// How to call one org route.
pub struct Case {
    pub method: &'static str,
    pub path: &'static str,
    /// The query string, without `?`.
    pub query: fn(&Ids) -> String,
    /// The JSON body, if the route takes one.
    pub body: fn(&Ids) -> Option<Value>,
    /// The status of an allowed call on a fresh [`Fixture`].
    pub ok: u16,
    /// The row of ARCHITECTURE.md's Roles table this route needs.
    pub action: &'static str,
    /// What org B's path with org A's ids answers.
    pub foreign: Foreign,
    /// The route is a WebSocket: an allowed call answers 101 to an upgrade request.
    pub websocket: bool,
    /// The route acts as a signed-in member: the call is made with the access token of a new
    /// member holding the key's role (and a linked Discord account), not with the key.
    pub user: bool,
}

fn no_query(_: &Ids) -> String {
    String::new()
}

fn no_body(_: &Ids) -> Option<Value> {
    None
}

const fn case(method: &'static str, path: &'static str, ok: u16, action: &'static str) -> Case {
    Case {
        method,
        path,
        query: no_query,
        body: no_body,
        ok,
        action,
        foreign: Foreign::NotFound,
        websocket: false,
        user: false,
    }
}

/// Every org route, how to call it, and what it needs.
pub const CASES: &[Case] = &[
    Case { foreign: Foreign::NoIds, ..case("GET", "/api/v1/orgs/{org}/hosts", 200, "Read") },
    Case {
        body: |_| Some(json!({"name": format!("new-{}", Uuid::new_v4().simple())})),
        foreign: Foreign::NoIds,
        ..case("POST", "/api/v1/orgs/{org}/hosts", 201, "ManageHosts")
    },
    case("GET", "/api/v1/orgs/{org}/hosts/{host}", 200, "Read"),
    case("DELETE", "/api/v1/orgs/{org}/hosts/{host}", 204, "ManageHosts"),
    case("POST", "/api/v1/orgs/{org}/hosts/{host}/join-tokens", 201, "ManageHosts"),
    case("GET", "/api/v1/orgs/{org}/hosts/{host}/metrics", 200, "Read"),
    Case {
        query: |ids| format!("host={}", ids.host),
        foreign: Foreign::EmptyPage,
        ..case("GET", "/api/v1/orgs/{org}/jobs", 200, "Read")
    },
    Case {
        body: |ids| {
            Some(json!({"host": ids.host, "kind": {"type": "command", "program": "/bin/true"}}))
        },
        ..case("POST", "/api/v1/orgs/{org}/jobs", 201, "RunJobs")
    },
    case("GET", "/api/v1/orgs/{org}/jobs/{job}", 200, "Read"),
    case("POST", "/api/v1/orgs/{org}/jobs/{job}/cancel", 200, "RunJobs"),
    case("GET", "/api/v1/orgs/{org}/jobs/{job}/logs", 200, "Read"),
    case("GET", "/api/v1/orgs/{org}/hosts/{host}/games", 200, "Read"),
    case("GET", "/api/v1/orgs/{org}/hosts/{host}/games/{game}", 200, "Read"),
    Case {
        body: |_| Some(game_body(9000)),
        ..case("PUT", "/api/v1/orgs/{org}/hosts/{host}/games/{game}", 200, "ManageGames")
    },
    case("DELETE", "/api/v1/orgs/{org}/hosts/{host}/games/{game}", 204, "ManageGames"),
    Case {
        query: |ids| format!("host={}", ids.host),
        foreign: Foreign::EmptyPage,
        ..case("GET", "/api/v1/orgs/{org}/events", 200, "Read")
    },
    Case {
        websocket: true,
        ..case("GET", "/api/v1/orgs/{org}/jobs/{job}/logs/follow", 101, "Read")
    },
    Case { foreign: Foreign::NoIds, ..case("GET", "/api/v1/orgs/{org}", 200, "Read") },
    Case {
        body: |_| Some(json!({"name": "renamed"})),
        foreign: Foreign::NoIds,
        ..case("PATCH", "/api/v1/orgs/{org}", 200, "UpdateOrg")
    },
    Case { foreign: Foreign::NoIds, ..case("DELETE", "/api/v1/orgs/{org}", 204, "DeleteOrg") },
    Case { foreign: Foreign::NoIds, ..case("GET", "/api/v1/orgs/{org}/members", 200, "Read") },
    Case {
        body: |_| Some(json!({"role": "viewer"})),
        ..case("PATCH", "/api/v1/orgs/{org}/members/{user}", 204, "ManageMembers")
    },
    case("DELETE", "/api/v1/orgs/{org}/members/{user}", 204, "ManageMembers"),
    Case {
        foreign: Foreign::NoIds,
        ..case("GET", "/api/v1/orgs/{org}/invites", 200, "ManageMembers")
    },
    Case {
        body: |_| Some(json!({"email": "invitee@example.com", "role": "viewer"})),
        foreign: Foreign::NoIds,
        ..case("POST", "/api/v1/orgs/{org}/invites", 201, "ManageMembers")
    },
    case("DELETE", "/api/v1/orgs/{org}/invites/{invite}", 204, "ManageMembers"),
    Case {
        foreign: Foreign::NoIds,
        ..case("GET", "/api/v1/orgs/{org}/api-keys", 200, "ManageApiKeys")
    },
    Case {
        body: |_| Some(json!({"name": "made by a test", "role": "viewer"})),
        foreign: Foreign::NoIds,
        ..case("POST", "/api/v1/orgs/{org}/api-keys", 201, "ManageApiKeys")
    },
    case("DELETE", "/api/v1/orgs/{org}/api-keys/{key}", 204, "ManageApiKeys"),
    Case {
        query: |ids| format!("target_id={}", ids.host),
        foreign: Foreign::EmptyPage,
        ..case("GET", "/api/v1/orgs/{org}/audit", 200, "ReadAudit")
    },
    Case { foreign: Foreign::NoIds, ..case("GET", "/api/v1/orgs/{org}/schedules", 200, "Read") },
    Case {
        body: |ids| Some(schedule_body(&format!("new-{}", Uuid::new_v4().simple()), ids.host)),
        ..case("POST", "/api/v1/orgs/{org}/schedules", 201, "ManageSchedules")
    },
    case("GET", "/api/v1/orgs/{org}/schedules/{schedule}", 200, "Read"),
    Case {
        body: |ids| Some(schedule_body(&format!("renamed-{}", Uuid::new_v4().simple()), ids.host)),
        ..case("PUT", "/api/v1/orgs/{org}/schedules/{schedule}", 200, "ManageSchedules")
    },
    Case {
        body: |_| Some(json!({"suspend": true})),
        ..case("PATCH", "/api/v1/orgs/{org}/schedules/{schedule}", 200, "ManageSchedules")
    },
    case("DELETE", "/api/v1/orgs/{org}/schedules/{schedule}", 204, "ManageSchedules"),
    case("GET", "/api/v1/orgs/{org}/schedules/{schedule}/fires", 200, "Read"),
    Case {
        websocket: true,
        foreign: Foreign::NoIds,
        ..case("GET", "/api/v1/orgs/{org}/stream", 101, "Read")
    },
    Case { foreign: Foreign::NoIds, ..case("GET", "/api/v1/orgs/{org}/alert-rules", 200, "Read") },
    Case {
        body: |_| Some(rule_body(&format!("new-{}", Uuid::new_v4().simple()))),
        foreign: Foreign::NoIds,
        ..case("POST", "/api/v1/orgs/{org}/alert-rules", 201, "ManageAlerts")
    },
    case("GET", "/api/v1/orgs/{org}/alert-rules/{rule}", 200, "Read"),
    Case {
        body: |_| Some(rule_body(&format!("renamed-{}", Uuid::new_v4().simple()))),
        ..case("PUT", "/api/v1/orgs/{org}/alert-rules/{rule}", 200, "ManageAlerts")
    },
    case("DELETE", "/api/v1/orgs/{org}/alert-rules/{rule}", 204, "ManageAlerts"),
    Case {
        query: |ids| format!("host={}&rule={}", ids.host, ids.rule),
        foreign: Foreign::EmptyPage,
        ..case("GET", "/api/v1/orgs/{org}/alerts", 200, "Read")
    },
    Case {
        foreign: Foreign::NoIds,
        ..case("GET", "/api/v1/orgs/{org}/notifications", 200, "Read")
    },
    Case {
        foreign: Foreign::NoIds,
        ..case("GET", "/api/v1/orgs/{org}/notifications/unread-count", 200, "Read")
    },
    case("POST", "/api/v1/orgs/{org}/notifications/{notification}/read", 200, "Read"),
    Case {
        foreign: Foreign::NoIds,
        ..case("POST", "/api/v1/orgs/{org}/notifications/read-all", 200, "Read")
    },
    Case { foreign: Foreign::NoIds, ..case("GET", "/api/v1/orgs/{org}/settings", 200, "Read") },
    Case {
        body: |_| {
            Some(json!({
                "discord_webhooks": {"new": "https://discord.com/api/webhooks/2/newTOKEN", "ops": null},
                "default_channels": ["in_app", "discord:new"],
            }))
        },
        foreign: Foreign::NoIds,
        ..case("PATCH", "/api/v1/orgs/{org}/settings", 200, "ManageAlerts")
    },
    Case {
        foreign: Foreign::NoIds,
        ..case("GET", "/api/v1/orgs/{org}/settings/discord-bot", 200, "Read")
    },
    Case {
        body: |_| Some(json!({"guild_id": random_guild()})),
        foreign: Foreign::NoIds,
        ..case("PUT", "/api/v1/orgs/{org}/settings/discord-bot", 200, "UpdateOrg")
    },
    Case {
        foreign: Foreign::NoIds,
        ..case("DELETE", "/api/v1/orgs/{org}/settings/discord-bot", 204, "UpdateOrg")
    },
    Case {
        body: |ids| Some(json!({"code": link::code_from_bits(ids.link_code)})),
        user: true,
        ..case("POST", "/api/v1/orgs/{org}/discord/link", 201, "Read")
    },
    Case {
        user: true,
        foreign: Foreign::NoIds,
        ..case("DELETE", "/api/v1/orgs/{org}/discord/link", 204, "Read")
    },
];

/// An `AlertRuleSpec` body: a host going offline, to the app.
pub fn rule_body(name: &str) -> Value {
    json!({"name": name, "kind": "host.offline", "channels": ["in_app"], "cooldown_secs": 60})
}

/// A Discord guild id no other test uses.
fn random_guild() -> String {
    (rand_key() >> 1).max(1).to_string()
}

/// The access token of a new member of the key's org with the key's role, whose Discord account
/// is linked there (so routes acting as a member have someone to act as).
async fn member_token(server: &TestServer, key: &str) -> String {
    let store = &server.state.store;
    let (key_id, _) = gsm_server::secrets::parse_api_key(key).unwrap();
    let key = store.find_api_key(key_id).await.unwrap().unwrap();
    let now = jiff::Timestamp::now();
    let user = NewUser {
        id: UserId(Uuid::now_v7()),
        email: format!("linked-{}@example.com", Uuid::new_v4().simple()),
        display_name: "A linked member".into(),
        password_hash: "unused".into(),
        now,
    };
    store.create_user(&user).await.unwrap();
    store.add_member(key.org, user.id, &key.role, now).await.unwrap();
    let code = link::new_code();
    let new_code = NewLinkCode {
        code_hash: link::hash_code(&code),
        org: key.org,
        discord_user: rand_key().to_string(),
        discord_name: "linked".into(),
        now,
        expires_at: now + jiff::SignedDuration::from_mins(10),
    };
    store.create_link_code(&new_code).await.unwrap();
    let audit = AuditEntry {
        id: Uuid::now_v7(),
        org: key.org,
        at: now,
        actor: Requester { kind: RequesterKind::User, id: user.id.to_string() },
        action: "discord.member.link".into(),
        target_kind: "member".into(),
        target_id: user.id.to_string(),
        client_ip: None,
        outcome: "success".into(),
    };
    store.redeem_link_code(key.org, new_code.code_hash, user.id, now, &audit).await.unwrap();
    let session = SessionId(Uuid::now_v7());
    let new = NewSession {
        id: session,
        user: user.id,
        refresh_hash: gsm_server::secrets::hash(&Uuid::new_v4().to_string()),
        expires_at: now + jiff::SignedDuration::from_hours(1),
        now,
    };
    store.create_session(&new).await.unwrap();
    let (token, _) = server.state.auth.tokens.issue(Kind::Access, user.id, session, now).unwrap();
    token
}

/// A `ScheduleSpec` body: a nightly command on `host`.
pub fn schedule_body(name: &str, host: HostId) -> Value {
    json!({
        "name": name,
        "cron": "0 4 * * *",
        "timezone": "Europe/Berlin",
        "template": {"hosts": [host], "kind": {"type": "command", "program": "/usr/bin/true"}},
        "conditions": {"max_players": 0},
    })
}

/// The name of the game server every fixture host has.
pub const GAME: &str = "main";

/// A `PutGame` body for a 7DTD console on `port`.
pub fn game_body(port: u16) -> Value {
    json!({
        "game": "7dtd",
        "settings": {
            "console": {"address": "127.0.0.1", "port": port, "password": {"env": "SDTD_PASSWORD"}},
            "restart": {"warnings_secs": [60, 10]},
        },
    })
}

/// The case of every org route in the document; fails naming the routes without one.
pub async fn cases_for_every_org_route(server: &TestServer) -> Vec<&'static Case> {
    let spec = spec(server).await;
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for (method, path) in operations(&spec, ORG_ROUTES) {
        match CASES.iter().find(|c| c.method == method && c.path == path) {
            Some(case) => found.push(case),
            None => missing.push(format!("{method} {path}")),
        }
    }
    assert!(missing.is_empty(), "org routes without a case in isolation::CASES: {missing:?}");
    let stale: Vec<_> =
        CASES.iter().filter(|c| !found.iter().any(|f| std::ptr::eq(*f, *c))).collect();
    assert!(
        stale.is_empty(),
        "cases for routes not in the document: {:?}",
        stale.iter().map(|c| c.path).collect::<Vec<_>>()
    );
    found
}

/// An org's data: a host with an unused join token, a queued job with output, a viewer member,
/// an open invite and a viewer API key.
pub struct Fixture {
    pub ids: Ids,
    pub join_token: String,
}

impl Fixture {
    /// Creates a fixture in the org `owner_key` belongs to.
    pub async fn create(server: &TestServer, org: Uuid, owner_key: &str) -> Fixture {
        let url = format!("{}/api/v1/orgs/{org}/hosts", server.base);
        let name = format!("host-{}", Uuid::new_v4().simple());
        let response =
            server.http.post(url).bearer_auth(owner_key).json(&json!({"name": name})).send();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 201);
        let created: HostCreated = response.json().await.unwrap();
        let url = format!("{}/api/v1/orgs/{org}/jobs", server.base);
        let body =
            json!({"host": created.host.id, "kind": {"type": "command", "program": "/bin/true"}});
        let response = server.http.post(url).bearer_auth(owner_key).json(&body).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), 201);
        let job: Job = response.json().await.unwrap();
        let chunk = NewLogChunk { seq: 0, stream: Stream::Stdout, data: b"secret output".to_vec() };
        let store = &server.state.store;
        store.append_log_chunks(job.id, &[chunk]).await.unwrap();
        let user = NewUser {
            id: UserId(Uuid::now_v7()),
            email: format!("member-{}@example.com", Uuid::new_v4().simple()),
            display_name: "A member".into(),
            password_hash: "unused".into(),
            now: jiff::Timestamp::now(),
        };
        store.create_user(&user).await.unwrap();
        store.add_member(OrgId(org), user.id, "viewer", user.now).await.unwrap();
        let url = format!("{}/api/v1/orgs/{org}/invites", server.base);
        let body = json!({"email": "invitee@example.com", "role": "viewer"});
        let response = server.http.post(url).bearer_auth(owner_key).json(&body).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), 201);
        let invite: InviteCreated = response.json().await.unwrap();
        let url = format!("{}/api/v1/orgs/{org}/api-keys", server.base);
        let body = json!({"name": "fixture key", "role": "viewer"});
        let response = server.http.post(url).bearer_auth(owner_key).json(&body).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), 201);
        let key: ApiKeyCreated = response.json().await.unwrap();
        let url =
            format!("{}/api/v1/orgs/{org}/hosts/{}/games/{GAME}", server.base, created.host.id);
        let response = server.http.put(url).bearer_auth(owner_key).json(&game_body(8081)).send();
        assert_eq!(response.await.unwrap().status(), 201);
        let event = NewGameEvent {
            id: Uuid::now_v7(),
            instance: GAME.to_owned(),
            game: "7dtd".to_owned(),
            kind: "player_connected".to_owned(),
            player: Some(EventPlayer { id: Some("Steam_1".to_owned()), name: "Alice".to_owned() }),
            at: jiff::Timestamp::now(),
            data: json!({"raw": "secret line"}),
        };
        store.record_game_events(created.host.id, &[event]).await.unwrap();
        let url = format!("{}/api/v1/orgs/{org}/schedules", server.base);
        let body = schedule_body(&format!("nightly-{}", Uuid::new_v4().simple()), created.host.id);
        let response = server.http.post(url).bearer_auth(owner_key).json(&body).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), 201);
        let schedule: Value = response.json().await.unwrap();
        let schedule = schedule["id"].as_str().unwrap().parse().unwrap();
        let url = format!("{}/api/v1/orgs/{org}/settings", server.base);
        let body =
            json!({"discord_webhooks": {"ops": "https://discord.com/api/webhooks/1/secretTOKEN"}});
        let response = server.http.patch(url).bearer_auth(owner_key).json(&body).send().await;
        assert_eq!(response.unwrap().status(), 200);
        let url = format!("{}/api/v1/orgs/{org}/alert-rules", server.base);
        let body = rule_body(&format!("offline-{}", Uuid::new_v4().simple()));
        let response = server.http.post(url).bearer_auth(owner_key).json(&body).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), 201);
        let rule: Value = response.json().await.unwrap();
        let rule: Uuid = rule["id"].as_str().unwrap().parse().unwrap();
        // The engine raises alerts from events; the fixture raises one the way it would.
        let alert = NewAlert {
            id: Uuid::now_v7(),
            org: OrgId(org),
            rule,
            rule_name: "offline".into(),
            host: Some(created.host.id),
            game: None,
            kind: "host.offline".into(),
            severity: gsm_core::rules::Severity::Critical,
            message: "host.offline on a fixture host".into(),
            open: true,
            at: jiff::Timestamp::now(),
        };
        store.raise_alert(&alert, &["in_app".to_owned()]).await.unwrap().unwrap();
        server.state.alerts.outbox.notify_one();
        let notification = crate::harness::eventually(|| async {
            let filter = NotificationFilter { unread_only: false, before: None, limit: 10 };
            let listed = store.list_notifications(OrgId(org), &filter).await.unwrap();
            listed.first().map(|n| n.id)
        })
        .await;
        let url = format!("{}/api/v1/orgs/{org}/settings/discord-bot", server.base);
        let body = json!({"guild_id": random_guild()});
        let response = server.http.put(url).bearer_auth(owner_key).json(&body).send().await;
        assert_eq!(response.unwrap().status(), 200);
        let link_code = rand_key();
        let now = jiff::Timestamp::now();
        let code = NewLinkCode {
            code_hash: link::hash_code(&link::code_from_bits(link_code)),
            org: OrgId(org),
            discord_user: "4242".into(),
            discord_name: "fixture".into(),
            now,
            expires_at: now + jiff::SignedDuration::from_mins(10),
        };
        store.create_link_code(&code).await.unwrap();
        Fixture {
            ids: Ids {
                org,
                host: created.host.id,
                job: job.id,
                user: user.id.0,
                invite: invite.invite.id,
                key: u64::from_str_radix(&key.api_key.id, 16).unwrap(),
                schedule,
                rule,
                alert: alert.id,
                notification,
                link_code,
            },
            join_token: created.join_token,
        }
    }
}

/// Calls `case` on `path_ids`' org path with `key`; returns the status and the body.
pub async fn call(
    server: &TestServer,
    case: &Case,
    key: &str,
    path_ids: &Ids,
    other_ids: &Ids,
) -> (u16, Value) {
    let path = case
        .path
        .replace("{org}", &path_ids.org.to_string())
        .replace("{host}", &path_ids.host.to_string())
        .replace("{job}", &path_ids.job.to_string())
        .replace("{user}", &path_ids.user.to_string())
        .replace("{invite}", &path_ids.invite.to_string())
        .replace("{key}", &path_ids.key_id())
        .replace("{schedule}", &path_ids.schedule.to_string())
        .replace("{rule}", &path_ids.rule.to_string())
        .replace("{notification}", &path_ids.notification.to_string())
        .replace("{game}", GAME);
    let query = (case.query)(other_ids);
    let url = format!("{}{path}?{query}", server.base);
    let member;
    let key = if case.user {
        member = member_token(server, key).await;
        member.as_str()
    } else {
        key
    };
    if case.websocket {
        let mut request = url.replace("http://", "ws://").into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
        return match tokio_tungstenite::connect_async(request).await {
            Ok((_socket, response)) => (response.status().as_u16(), Value::Null),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response.body().as_deref().unwrap_or_default();
                (response.status().as_u16(), serde_json::from_slice(body).unwrap_or(Value::Null))
            }
            Err(err) => panic!("{} {}: {err}", case.method, case.path),
        };
    }
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
    let mut request = server.http.request(method, url).bearer_auth(key);
    if let Some(body) = (case.body)(other_ids) {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Everything stored for an org that a call could change, as text.
pub async fn snapshot(server: &TestServer, org: Uuid) -> String {
    let store = &server.state.store;
    let org = OrgId(org);
    let hosts = store.list_hosts(org, None, 500).await.unwrap();
    let filter = JobFilter { host: None, limit: 500, ..JobFilter::default() };
    let jobs = store.list_jobs(org, &filter).await.unwrap();
    let mut logs = Vec::new();
    for job in &jobs {
        logs.push(store.job_logs(org, job.id, None, 1000).await.unwrap());
    }
    let the_org = store.get_org(org).await.ok();
    let members = store.list_members(org, None, 500).await.unwrap_or_default();
    let invites = store.list_invites(org, None, 500).await.unwrap_or_default();
    // A key's last use moves when it is used, which is not a change to the org.
    let keys: Vec<_> = store
        .list_api_keys(org, None, 500)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|key| (key.key_id, key.role, key.revoked_at, key.expires_at))
        .collect();
    let mut games = Vec::new();
    for host in &hosts {
        let configs = store.list_games(org, host.id).await.unwrap();
        let players = store.host_players(org, host.id, 1000).await.unwrap();
        games.push(format!("{configs:?} {players:?}"));
    }
    let filter = GameEventFilter { limit: 500, ..GameEventFilter::default() };
    let events = store.list_game_events(org, &filter).await.unwrap();
    let schedules = store.list_schedules(org, None, 500).await.unwrap();
    let mut fires = Vec::new();
    for schedule in &schedules {
        fires.push(store.list_fires(org, schedule.id, None, 500).await.unwrap());
    }
    let rules = store.list_alert_rules(org, None, 500).await.unwrap();
    let all = AlertFilter { status: None, rule: None, host: None, before: None, limit: 500 };
    let alerts = store.list_alerts(org, &all).await.unwrap();
    let filter = NotificationFilter { unread_only: false, before: None, limit: 500 };
    let notifications = store.list_notifications(org, &filter).await.unwrap();
    // Debug redacts a webhook's URL; the snapshot compares it whole.
    let webhooks: Vec<_> = store
        .list_discord_webhooks(org)
        .await
        .unwrap()
        .into_iter()
        .map(|hook| (hook.name, hook.url, hook.broken_reason))
        .collect();
    let channels = store.default_channels(org).await.unwrap();
    let guild = store.org_guild(org).await.unwrap();
    let mut links = Vec::new();
    for member in &members {
        links.push(store.member_link(org, member.user).await.unwrap());
    }
    format!(
        "{guild:?}\n{links:?}\n{the_org:?}\n{hosts:?}\n{jobs:?}\n{logs:?}\n{members:?}\n{invites:?}\n{keys:?}\n{games:?}\n{events:?}\n{schedules:?}\n{fires:?}\n{rules:?}\n{alerts:?}\n{notifications:?}\n{webhooks:?}\n{channels:?}"
    )
}

fn error_code(body: &Value) -> String {
    serde_json::from_value::<ErrorBody>(body.clone()).map(|e| e.error.code).unwrap_or_default()
}

async fn check_isolation(server: &TestServer) {
    let a = server.org.clone();
    for case in cases_for_every_org_route(server).await {
        let route = format!("{} {}", case.method, case.path);
        let b = server.other_org().await;
        let fixture_a = Fixture::create(server, a.org, &a.api_key).await;
        // B has data of its own, so B's lists are not trivially empty.
        Fixture::create(server, b.org, &b.api_key).await;
        let before = snapshot(server, a.org).await;

        // A's path and ids, B's key: the org is not B's, so it does not exist.
        let (status, body) = call(server, case, &b.api_key, &fixture_a.ids, &fixture_a.ids).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (404, "org_not_found"),
            "{route} on A's path with B's key"
        );
        assert_eq!(
            snapshot(server, a.org).await,
            before,
            "{route} on A's path with B's key changed A"
        );

        // B's path with A's ids.
        let path_ids = Ids { org: b.org, ..fixture_a.ids };
        let (status, body) = call(server, case, &b.api_key, &path_ids, &fixture_a.ids).await;
        match case.foreign {
            Foreign::NotFound => {
                assert_eq!(status, 404, "{route} on B's path with A's ids: {body}")
            }
            Foreign::EmptyPage => {
                assert_eq!(status, 200, "{route} on B's path with A's ids: {body}");
                assert_eq!(body["items"], json!([]), "{route} on B's path with A's ids");
            }
            Foreign::NoIds => assert_eq!(status, case.ok, "{route} on B's own path: {body}"),
        }
        let text = body.to_string();
        for id in fixture_a.ids.all() {
            assert!(!text.contains(&id), "{route} on B's path revealed A's id {id}: {text}");
        }
        assert_eq!(
            snapshot(server, a.org).await,
            before,
            "{route} on B's path with A's ids changed A"
        );

        // Nothing re-issued A's join token behind its back.
        let enrolled = server.enroll(&fixture_a.join_token).await;
        assert_eq!(enrolled.status(), 200, "{route}: A's join token stopped working");
    }
}

#[tokio::test]
async fn no_org_route_reaches_another_orgs_data_on_sqlite() {
    let server = TestServer::start().await;
    check_isolation(&server).await;
}

#[tokio::test]
async fn no_org_route_reaches_another_orgs_data_on_postgres() {
    let server = TestServer::start_postgres().await;
    check_isolation(&server).await;
    server.finish().await;
}

#[tokio::test]
async fn a_random_id_in_an_orgs_own_path_is_not_found() {
    let server = TestServer::start().await;
    let fixture = Fixture::create(&server, server.org.org, &server.org.api_key).await;
    let random = Ids {
        org: server.org.org,
        host: HostId(Uuid::new_v4()),
        job: JobId(Uuid::new_v4()),
        user: Uuid::new_v4(),
        invite: Uuid::new_v4(),
        key: rand_key(),
        schedule: Uuid::new_v4(),
        rule: Uuid::new_v4(),
        alert: Uuid::new_v4(),
        notification: Uuid::new_v4(),
        link_code: rand_key(),
    };
    for case in cases_for_every_org_route(&server).await {
        let ids = [
            "{host}",
            "{job}",
            "{user}",
            "{invite}",
            "{key}",
            "{schedule}",
            "{rule}",
            "{notification}",
        ];
        if !ids.iter().any(|id| case.path.contains(id)) {
            continue;
        }
        let (status, body) = call(&server, case, &server.org.api_key, &random, &fixture.ids).await;
        assert_eq!(status, 404, "{} {} with a random id: {body}", case.method, case.path);
    }
}

/// A key id that is almost surely no key's.
fn rand_key() -> u64 {
    u64::from_le_bytes(Uuid::new_v4().as_bytes()[..8].try_into().unwrap())
}
