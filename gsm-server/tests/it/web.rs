//! The dashboard's serving through a real socket (fallback, headers) and the WebSocket credential
//! a browser sends as a subprotocol (`gsm.v1, gsm.bearer.<token>`).

use gsm_proto::rest::{Job, TokenPair};
use gsm_server::store::OrgId;
use gsm_server::store::access::{NewUser, UserId};
use jiff::Timestamp;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use uuid::Uuid;

use crate::harness::TestServer;

#[tokio::test]
async fn pages_fall_back_to_the_dashboard_and_api_paths_keep_their_json_404() {
    let server = TestServer::start().await;
    let root = server.http.get(format!("{}/", server.base)).send().await.unwrap();
    let csp = root.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert_eq!(csp, gsm_server::http::web::CONTENT_SECURITY_POLICY);
    assert_eq!(root.headers()["cache-control"], "no-cache");
    let root_body = root.text().await.unwrap();
    // Built with the dashboard or without it (then the page says how), `/` and a client route
    // answer the same document.
    let deep = server.http.get(format!("{}/hosts/some-host", server.base)).send().await.unwrap();
    assert_eq!(deep.text().await.unwrap(), root_body);
    assert!(
        root_body.contains("<div id=\"root\">") || root_body.contains("make web"),
        "{root_body}"
    );

    for path in ["/api/v1/nope", "/agent/v1/nope", "/api"] {
        let response = server.http.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "route_not_found", "{path}");
    }
    let metrics = server.http.get(format!("{}/metrics", server.base)).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers().get("content-security-policy").is_none());
}

/// A queued job in the server's org (its host never connects).
async fn queued_job(server: &TestServer) -> Job {
    let (host, _) = server.enrolled_host("web-1").await;
    let body =
        json!({"host": host, "kind": {"type": "command", "program": "/bin/echo", "args": ["hi"]}});
    server.post("/jobs").json(&body).send().await.unwrap().json().await.unwrap()
}

/// Opens `…/jobs/{job}/logs/follow` with the given headers; the upgrade's status, and the
/// protocol the server chose.
async fn follow(
    server: &TestServer,
    org: Uuid,
    job: &Job,
    authorization: Option<&str>,
    protocols: Option<&str>,
) -> (u16, Option<String>) {
    let url = format!("{}/api/v1/orgs/{org}/jobs/{}/logs/follow", server.base, job.id)
        .replace("http://", "ws://");
    let mut request = url.into_client_request().unwrap();
    if let Some(value) = authorization {
        request.headers_mut().insert("authorization", HeaderValue::from_str(value).unwrap());
    }
    if let Some(value) = protocols {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_str(value).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_socket, response)) => (
            response.status().as_u16(),
            response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_owned()),
        ),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            (response.status().as_u16(), None)
        }
        Err(other) => panic!("unexpected WebSocket error: {other}"),
    }
}

async fn user_token(server: &TestServer, email: &str) -> String {
    let password = "correct horse battery staple";
    let user = NewUser {
        id: UserId(Uuid::now_v7()),
        email: email.to_owned(),
        display_name: email.to_owned(),
        password_hash: server.state.auth.passwords.hash(password).unwrap(),
        now: Timestamp::now(),
    };
    let created = server.state.store.create_user(&user).await.unwrap();
    let org = OrgId(server.org.org);
    server.state.store.add_member(org, created.id, "viewer", Timestamp::now()).await.unwrap();
    let response = server
        .http
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let pair: TokenPair = response.json().await.unwrap();
    pair.access_token
}

#[tokio::test]
async fn a_browser_socket_authenticates_with_the_bearer_subprotocol_and_is_answered_gsm_v1() {
    let server = TestServer::start().await;
    let job = queued_job(&server).await;
    let org = server.org.org;
    let key = server.org.api_key.clone();
    let with_key =
        follow(&server, org, &job, None, Some(&format!("gsm.v1, gsm.bearer.{key}"))).await;
    assert_eq!(with_key, (101, Some("gsm.v1".to_owned())));
    let token = user_token(&server, "viewer@example.com").await;
    // The two entries may come in either order.
    let with_user =
        follow(&server, org, &job, None, Some(&format!("gsm.bearer.{token},gsm.v1"))).await;
    assert_eq!(with_user, (101, Some("gsm.v1".to_owned())));
    // A client that sends the header and no protocol still works, and is answered none.
    let plain = follow(&server, org, &job, Some(&format!("Bearer {key}")), None).await;
    assert_eq!(plain, (101, None));
}

#[tokio::test]
async fn only_the_exact_subprotocol_form_is_read_as_a_credential() {
    let server = TestServer::start().await;
    let job = queued_job(&server).await;
    let org = server.org.org;
    let key = server.org.api_key.clone();
    for protocols in [
        format!("gsm.bearer.{key}"),
        format!("gsm.v2, gsm.bearer.{key}"),
        format!("gsm.v1, gsm.bearer.{key}, chat"),
        format!("gsm.v1, bearer.{key}"),
        "gsm.v1, gsm.bearer.".to_owned(),
        "gsm.v1, gsm.bearer.gsm_nope_nope".to_owned(),
        "gsm.v1, gsm.bearer.not-a-jwt".to_owned(),
    ] {
        let (status, _) = follow(&server, org, &job, None, Some(&protocols)).await;
        assert_eq!(status, 401, "{protocols}");
    }
}

#[tokio::test]
async fn the_authorization_header_wins_over_the_subprotocol() {
    let server = TestServer::start().await;
    let job = queued_job(&server).await;
    let org = server.org.org;
    let key = server.org.api_key.clone();
    let good_header =
        follow(&server, org, &job, Some(&format!("Bearer {key}")), Some("gsm.v1, gsm.bearer.x"))
            .await;
    assert_eq!(good_header.0, 101);
    let bad_header = follow(
        &server,
        org,
        &job,
        Some("Bearer gsm_nope_nope"),
        Some(&format!("gsm.v1, gsm.bearer.{key}")),
    )
    .await;
    assert_eq!(bad_header.0, 401);
}

#[tokio::test]
async fn a_subprotocol_credential_of_another_org_gets_404() {
    let server = TestServer::start().await;
    let job = queued_job(&server).await;
    let other = server.other_org().await;
    let theirs = format!("gsm.v1, gsm.bearer.{}", other.api_key);
    let (status, _) = follow(&server, server.org.org, &job, None, Some(&theirs)).await;
    assert_eq!(status, 404);
    // With their own org in the path, our job is still not theirs.
    let (status, _) = follow(&server, other.org, &job, None, Some(&theirs)).await;
    assert_eq!(status, 404);
}
