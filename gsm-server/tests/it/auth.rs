//! Users through a real socket: login, refresh rotation, logout, JWT refusals (A1–A4), login rate
//! limits (A6), API key ceilings and lifetimes (T3, A5), members, invites, the audit log, and
//! another org's access resources answering 404 (T1, T5).

use std::time::Duration;

use gsm_proto::rest::{
    ApiKeyCreated, AuditEntry, ErrorBody, InviteCreated, Me, Member, Org, OrgInitialized, Page,
    TokenPair,
};
use gsm_server::store::OrgId;
use gsm_server::store::access::{NewUser, UserId};
use gsm_server::tokens::{Kind, Tokens};
use jiff::Timestamp;
use serde_json::json;
use uuid::Uuid;

use crate::harness::TestServer;

const PASSWORD: &str = "correct horse battery staple";

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.error.code)
}

/// Creates a user who is `role` in `org`.
async fn user_in(server: &TestServer, org: OrgId, email: &str, role: &str) -> UserId {
    let user = NewUser {
        id: UserId(Uuid::now_v7()),
        email: email.to_owned(),
        display_name: email.to_owned(),
        password_hash: server.state.auth.passwords.hash(PASSWORD).unwrap(),
        now: Timestamp::now(),
    };
    let created = server.state.store.create_user(&user).await.unwrap();
    server.state.store.add_member(org, created.id, role, Timestamp::now()).await.unwrap();
    created.id
}

fn org_of(server: &TestServer) -> OrgId {
    OrgId(server.org.org)
}

async fn login(server: &TestServer, email: &str, password: &str) -> reqwest::Response {
    server
        .http
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn tokens_for(server: &TestServer, email: &str) -> TokenPair {
    let response = login(server, email, PASSWORD).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    response.json().await.unwrap()
}

async fn refresh(server: &TestServer, token: &str) -> reqwest::Response {
    server
        .http
        .post(format!("{}/api/v1/auth/refresh", server.base))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

/// GET `path` under the org with `token`; the status.
async fn status_with(server: &TestServer, path: &str, token: &str) -> u16 {
    server.http.get(server.url(path)).bearer_auth(token).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_user_logs_in_reads_their_orgs_and_their_token_works_on_org_routes() {
    let server = TestServer::start().await;
    let user = user_in(&server, org_of(&server), "Ada@Example.com", "operator").await;
    let pair = tokens_for(&server, "ada@example.COM").await;
    assert_eq!((pair.expires_in, pair.token_type.as_str()), (900, "Bearer"));
    let me: Me = server
        .http
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(&pair.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.user.id, user.0);
    assert_eq!(me.memberships.len(), 1);
    assert_eq!(
        (me.memberships[0].org.id, me.memberships[0].role.as_str()),
        (server.org.org, "operator")
    );
    assert_eq!(status_with(&server, "/hosts", &pair.access_token).await, 200);
    // An operator may run jobs but not manage hosts.
    let response = server
        .http
        .post(server.url("/hosts"))
        .bearer_auth(&pair.access_token)
        .json(&json!({"name": "eu-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (403, "forbidden".into()));
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_rotated_token_revokes_the_whole_session() {
    let server = TestServer::start().await;
    user_in(&server, org_of(&server), "bo@example.com", "viewer").await;
    let first = tokens_for(&server, "bo@example.com").await;
    let response = refresh(&server, &first.refresh_token).await;
    assert_eq!(response.status(), 200);
    let second: TokenPair = response.json().await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(status_with(&server, "/hosts", &second.access_token).await, 200);

    // The first token again: a copy exists, so the family dies — the current tokens too.
    assert_eq!(refresh(&server, &first.refresh_token).await.status(), 401);
    assert_eq!(refresh(&server, &second.refresh_token).await.status(), 401);
    assert_eq!(status_with(&server, "/hosts", &second.access_token).await, 401);
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let server = TestServer::start().await;
    user_in(&server, org_of(&server), "cy@example.com", "viewer").await;
    let pair = tokens_for(&server, "cy@example.com").await;
    let response = server
        .http
        .post(format!("{}/api/v1/auth/logout", server.base))
        .bearer_auth(&pair.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(status_with(&server, "/hosts", &pair.access_token).await, 401);
    assert_eq!(refresh(&server, &pair.refresh_token).await.status(), 401);
}

#[tokio::test]
async fn forged_expired_early_and_misdirected_tokens_are_refused() {
    let server = TestServer::start().await;
    user_in(&server, org_of(&server), "di@example.com", "owner").await;
    let pair = tokens_for(&server, "di@example.com").await;
    let verified = server.state.auth.tokens.verify(Kind::Access, &pair.access_token).unwrap();
    let (user, session) = (verified.user, verified.session);
    let now = Timestamp::now();
    let tokens = &server.state.auth.tokens;
    let hour = jiff::SignedDuration::from_hours(1);
    let (expired, _) = tokens.issue(Kind::Access, user, session, now - hour).unwrap();
    let (early, _) = tokens.issue(Kind::Access, user, session, now + hour).unwrap();
    let other_key = Tokens::new(&[9u8; 32], Duration::from_secs(900), Duration::from_secs(3600));
    let (foreign, _) = other_key.issue(Kind::Access, user, session, now).unwrap();
    let mut bad_signature = pair.access_token.clone();
    let last = bad_signature.pop().unwrap();
    bad_signature.push(if last == 'A' { 'B' } else { 'A' });
    let payload = pair.access_token.split('.').nth(1).unwrap();
    // {"alg":"none","typ":"JWT"}
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let cases = [
        ("expired", expired),
        ("not yet valid", early),
        ("another key", foreign),
        ("wrong signature", bad_signature),
        ("alg none", alg_none),
        ("refresh token as access token", pair.refresh_token.clone()),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (name, token) in cases {
        assert_eq!(status_with(&server, "/hosts", &token).await, 401, "{name}");
    }
    assert_eq!(status_with(&server, "/hosts", &pair.access_token).await, 200);
    // An access token is not a refresh token either.
    assert_eq!(refresh(&server, &pair.access_token).await.status(), 401);
}

#[tokio::test]
async fn a_deleted_user_or_a_removed_member_is_refused_at_once() {
    let server = TestServer::start().await;
    let org = org_of(&server);
    let gone = user_in(&server, org, "gone@example.com", "admin").await;
    let removed = user_in(&server, org, "removed@example.com", "admin").await;
    let gone_pair = tokens_for(&server, "gone@example.com").await;
    let removed_pair = tokens_for(&server, "removed@example.com").await;
    server.state.store.delete_user(gone, Timestamp::now()).await.unwrap();
    assert_eq!(status_with(&server, "/hosts", &gone_pair.access_token).await, 401);
    assert_eq!(refresh(&server, &gone_pair.refresh_token).await.status(), 401);

    let response = server
        .http
        .delete(server.url(&format!("/members/{removed}")))
        .bearer_auth(&server.org.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(status_with(&server, "/hosts", &removed_pair.access_token).await, 404);
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let server = TestServer::start().await;
    user_in(&server, org_of(&server), "eve@example.com", "viewer").await;
    let wrong = login(&server, "eve@example.com", "not the password at all").await;
    let unknown = login(&server, "nobody@example.com", PASSWORD).await;
    let wrong = (wrong.status(), wrong.text().await.unwrap());
    let unknown = (unknown.status(), unknown.text().await.unwrap());
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.0, 401);
}

#[tokio::test]
async fn logins_are_rate_limited_per_account_with_retry_after_and_other_accounts_are_unaffected() {
    let server = TestServer::start().await;
    user_in(&server, org_of(&server), "flood@example.com", "viewer").await;
    user_in(&server, org_of(&server), "calm@example.com", "viewer").await;
    let burst = server.state.settings.auth.login_per_account.burst;
    let mut limited = None;
    for _ in 0..=burst {
        let response = login(&server, "flood@example.com", "wrong password, again").await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), 401);
    }
    let limited = limited.expect("the account's bucket ran out");
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(error_code(limited).await, (429, "rate_limited".into()));
    // Even the right password waits.
    assert_eq!(login(&server, "flood@example.com", PASSWORD).await.status(), 429);
    assert_eq!(login(&server, "calm@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn host_credentials_and_join_tokens_are_refused_on_the_rest_api() {
    let server = TestServer::start().await;
    let created = server.create_host("h1").await;
    assert_eq!(status_with(&server, "/hosts", &created.join_token).await, 401);
    let (_, credential) = server.enrolled_host("h2").await;
    assert_eq!(status_with(&server, "/hosts", &credential).await, 401);
}

async fn create_key(
    server: &TestServer,
    token: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    server.http.post(server.url("/api-keys")).bearer_auth(token).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn an_api_key_never_exceeds_its_creators_role_and_dies_when_revoked_or_expired() {
    let server = TestServer::start().await;
    user_in(&server, org_of(&server), "admin@example.com", "admin").await;
    let admin = tokens_for(&server, "admin@example.com").await.access_token;
    let too_high = create_key(&server, &admin, json!({"name": "x", "role": "owner"})).await;
    assert_eq!(error_code(too_high).await, (403, "forbidden".into()));

    let response = create_key(&server, &admin, json!({"name": "ci", "role": "operator"})).await;
    assert_eq!(response.status(), 201);
    let created: ApiKeyCreated = response.json().await.unwrap();
    assert!(created.key.starts_with(&created.api_key.prefix));
    assert_eq!(status_with(&server, "/hosts", &created.key).await, 200);
    let keys: Page<gsm_proto::rest::ApiKey> =
        server.get("/api-keys").send().await.unwrap().json().await.unwrap();
    let listed = keys.items.iter().find(|k| k.id == created.api_key.id).unwrap();
    assert!(listed.last_used_at.is_some(), "the first use is recorded");
    assert!(!keys.items.iter().any(|k| serde_json::to_string(k).unwrap().contains(&created.key)));

    let revoke = server
        .http
        .delete(server.url(&format!("/api-keys/{}", created.api_key.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    assert_eq!(status_with(&server, "/hosts", &created.key).await, 401);

    let soon = (Timestamp::now() + jiff::SignedDuration::from_secs(1)).to_string();
    let response =
        create_key(&server, &admin, json!({"name": "brief", "role": "viewer", "expires_at": soon}))
            .await;
    let brief: ApiKeyCreated = response.json().await.unwrap();
    assert_eq!(status_with(&server, "/hosts", &brief.key).await, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(status_with(&server, "/hosts", &brief.key).await, 401);
    let past = create_key(
        &server,
        &admin,
        json!({"name": "old", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(past.status(), 422);
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let server = TestServer::start().await;
    let owner = user_in(&server, org_of(&server), "owner@example.com", "owner").await;
    let demote = server
        .http
        .patch(server.url(&format!("/members/{owner}")))
        .bearer_auth(&server.org.api_key)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(demote).await, (409, "last_owner".into()));
    let remove = server
        .http
        .delete(server.url(&format!("/members/{owner}")))
        .bearer_auth(&server.org.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(remove).await, (409, "last_owner".into()));
    let second = user_in(&server, org_of(&server), "second@example.com", "owner").await;
    let remove = server
        .http
        .delete(server.url(&format!("/members/{owner}")))
        .bearer_auth(&server.org.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(remove.status(), 204);
    let members: Page<Member> = server.get_json("/members").await;
    assert_eq!(members.items.iter().map(|m| m.user.id).collect::<Vec<_>>(), vec![second.0]);
}

#[tokio::test]
async fn an_invite_admits_a_new_user_once() {
    let server = TestServer::start().await;
    let response = server
        .post("/invites")
        .json(&json!({"email": "new@example.com", "role": "operator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let invite: InviteCreated = response.json().await.unwrap();
    let accept = |email: &str| {
        server
            .http
            .post(format!("{}/api/v1/invites/accept", server.base))
            .json(&json!({"token": invite.token, "email": email, "password": PASSWORD,
                          "display_name": "New"}))
            .send()
    };
    let first = accept("new@example.com").await.unwrap();
    assert_eq!(first.status(), 200, "{:?}", first.text().await);
    let again = accept("other@example.com").await.unwrap();
    assert_eq!(error_code(again).await, (404, "invite_not_found".into()));
    // The rejected second account was not left behind.
    assert_eq!(login(&server, "other@example.com", PASSWORD).await.status(), 401);
    let pair = tokens_for(&server, "new@example.com").await;
    assert_eq!(status_with(&server, "/jobs", &pair.access_token).await, 200);
}

#[tokio::test]
async fn an_existing_user_accepts_with_their_token_and_a_revoked_invite_admits_nobody() {
    let server = TestServer::start().await;
    let other = server.other_org().await;
    user_in(&server, OrgId(other.org), "fay@example.com", "owner").await;
    let fay = tokens_for(&server, "fay@example.com").await.access_token;
    assert_eq!(status_with(&server, "/hosts", &fay).await, 404);
    let create = || {
        server.post("/invites").json(&json!({"email": "fay@example.com", "role": "viewer"})).send()
    };
    let revoked: InviteCreated = create().await.unwrap().json().await.unwrap();
    let response = server
        .http
        .delete(server.url(&format!("/invites/{}", revoked.invite.id)))
        .bearer_auth(&server.org.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let accept = |token: String| {
        server
            .http
            .post(format!("{}/api/v1/invites/accept", server.base))
            .bearer_auth(&fay)
            .json(&json!({ "token": token }))
            .send()
    };
    assert_eq!(accept(revoked.token).await.unwrap().status(), 404);
    let open: InviteCreated = create().await.unwrap().json().await.unwrap();
    assert_eq!(accept(open.token).await.unwrap().status(), 200);
    assert_eq!(status_with(&server, "/hosts", &fay).await, 200);
}

#[tokio::test]
async fn a_user_creates_an_org_owns_it_and_nobody_else_sees_it() {
    let server = TestServer::start().await;
    user_in(&server, org_of(&server), "gil@example.com", "viewer").await;
    let gil = tokens_for(&server, "gil@example.com").await.access_token;
    let response = server
        .http
        .post(format!("{}/api/v1/orgs", server.base))
        .bearer_auth(&gil)
        .json(&json!({"name": "Gil's"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let org: Org = response.json().await.unwrap();
    let own = format!("{}/api/v1/orgs/{}/members", server.base, org.id);
    let members: Page<Member> =
        server.http.get(&own).bearer_auth(&gil).send().await.unwrap().json().await.unwrap();
    assert_eq!(members.items[0].role, "owner");
    // The first org's owner key sees nothing of it.
    let foreign = server.http.get(&own).bearer_auth(&server.org.api_key).send().await.unwrap();
    assert_eq!(error_code(foreign).await, (404, "org_not_found".into()));
}

#[tokio::test]
async fn another_orgs_members_invites_keys_and_audit_answer_404() {
    let server = TestServer::start().await;
    let other: OrgInitialized = server.other_org().await;
    for path in ["", "/members", "/invites", "/api-keys", "/audit"] {
        let url = format!("{}/api/v1/orgs/{}{path}", server.base, server.org.org);
        let response = server.http.get(&url).bearer_auth(&other.api_key).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let url = format!("{}/api/v1/orgs/{}/invites", server.base, server.org.org);
    let response = server
        .http
        .post(&url)
        .bearer_auth(&other.api_key)
        .json(&json!({"email": "x@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn access_changes_are_in_the_audit_log_with_who_and_from_where() {
    let server = TestServer::start().await;
    let key: ApiKeyCreated = server
        .post("/api-keys")
        .json(&json!({"name": "ci", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server
        .post("/invites")
        .json(&json!({"email": "h@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    let page: Page<AuditEntry> = server.get_json("/audit").await;
    let actions: Vec<&str> = page.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["invite.create", "api_key.create"]);
    let entry = &page.items[1];
    assert_eq!(entry.target_id, key.api_key.id);
    assert_eq!(entry.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(entry.outcome, "success");
    let filtered: Page<AuditEntry> = server.get_json("/audit?action=api_key.create&limit=1").await;
    assert_eq!(filtered.items.len(), 1);
    assert!(filtered.next_cursor.is_some());
    let next: Page<AuditEntry> = server
        .get_json(&format!("/audit?action=api_key.create&cursor={}", filtered.next_cursor.unwrap()))
        .await;
    assert!(next.items.is_empty());
}

/// PostgreSQL cannot hold a NUL character in text; each way in is a 4xx that says so, never a 503.
#[tokio::test]
async fn text_with_a_nul_character_is_refused_as_the_clients_error_on_postgres() {
    let server = TestServer::start_postgres().await;
    let response = server.get("/audit?action=host%00create").send().await.unwrap();
    assert_eq!(error_code(response).await, (400, "invalid_query".into()));
    let response = server.get("/hosts?cursor=a%00b").send().await.unwrap();
    assert_eq!(error_code(response).await, (400, "invalid_query".into()));
    let response = login(&server, "a\u{0}b@example.com", PASSWORD).await;
    assert_eq!(error_code(response).await, (401, "invalid_credentials".into()));
    let response = server.post("/api-keys").json(&json!({"name": "a\u{0}b", "role": "viewer"}));
    assert_eq!(error_code(response.send().await.unwrap()).await, (422, "invalid_name".into()));
    let response =
        server.post("/invites").json(&json!({"email": "n@example.com", "role": "viewer"}));
    let invite: InviteCreated = response.send().await.unwrap().json().await.unwrap();
    let response = server
        .http
        .post(format!("{}/api/v1/invites/accept", server.base))
        .json(&json!({"token": invite.token, "email": "n@example.com", "password": PASSWORD,
                      "display_name": "N\u{0}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (422, "invalid_display_name".into()));
    let response = server.http.delete(server.url("/api-keys/%00")).bearer_auth(&server.org.api_key);
    assert_eq!(error_code(response.send().await.unwrap()).await, (404, "api_key_not_found".into()));
    // Behind the handlers' checks, the store itself names the client's text, not a failure.
    let found = server.state.store.user_by_email("a\u{0}b").await;
    assert!(matches!(found, Err(gsm_server::store::StoreError::InvalidText { .. })), "{found:?}");
    server.finish().await;
}

/// Walks a list route one item per page; returns the ids, in order.
async fn walk(server: &TestServer, path: &str, id: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let page: serde_json::Value = server.get_json(&format!("{path}?limit=1{query}")).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 1, "{path}: {page}");
        ids.extend(items.iter().map(|item| item.pointer(id).unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
        assert!(ids.len() < 20, "{path} never ends");
    }
}

#[tokio::test]
async fn members_invites_and_api_keys_page_by_the_previous_next_cursor() {
    let server = TestServer::start().await;
    for n in 0..3 {
        user_in(&server, org_of(&server), &format!("m{n}@example.com"), "viewer").await;
        let body = json!({"email": format!("i{n}@example.com"), "role": "viewer"});
        assert_eq!(server.post("/invites").json(&body).send().await.unwrap().status(), 201);
        let body = json!({"name": format!("key {n}"), "role": "viewer"});
        assert_eq!(server.post("/api-keys").json(&body).send().await.unwrap().status(), 201);
    }
    for (path, id, count) in
        [("/members", "/user/id", 3), ("/invites", "/id", 3), ("/api-keys", "/id", 4)]
    {
        let all: serde_json::Value = server.get_json(path).await;
        let all: Vec<_> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item.pointer(id).unwrap().to_string())
            .collect();
        assert_eq!(all.len(), count, "{path}");
        assert_eq!(walk(&server, path, id).await, all, "{path}");
    }
    let response = server.get("/api-keys?cursor=not-a-key").send().await.unwrap();
    assert_eq!(error_code(response).await, (400, "invalid_query".into()));
}
