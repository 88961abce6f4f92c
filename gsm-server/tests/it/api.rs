//! The REST API through a real socket: hosts, jobs, errors, isolation between orgs, idempotency.

use gsm_proto::rest::{ErrorBody, Host, HostCreated, Job, Page};
use serde_json::json;

use crate::harness::TestServer;

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.error.code)
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = server.http.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let metrics = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "gsm_connected_agents",
        "gsm_heartbeats_total",
        "gsm_dispatch_latency_seconds",
        "gsm_jobs{state=\"queued\"}",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}:\n{metrics}");
    }
}

#[tokio::test]
async fn requests_without_a_valid_key_are_refused() {
    let server = TestServer::start().await;
    let url = server.url("/hosts");
    let none = server.http.get(&url).send().await.unwrap();
    assert_eq!(error_code(none).await, (401, "unauthorized".into()));
    let wrong = format!("{}x", server.org.api_key);
    let bad = server.http.get(&url).bearer_auth(wrong).send().await.unwrap();
    assert_eq!(error_code(bad).await, (401, "unauthorized".into()));
    let malformed = server.http.get(&url).bearer_auth("hello").send().await.unwrap();
    assert_eq!(error_code(malformed).await.0, 401);
}

#[tokio::test]
async fn a_created_host_is_listed_and_fetched_with_its_presence_unknown_until_it_heartbeats() {
    let server = TestServer::start().await;
    let created = server.create_host("eu-1").await;
    assert!(created.join_token.starts_with("gsmj_") && created.join_token.len() == 48);
    let page: Page<Host> = server.get_json("/hosts").await;
    assert_eq!(page.items.len(), 1);
    let host: Host = server.get_json(&format!("/hosts/{}", created.host.id)).await;
    assert_eq!(host.name, "eu-1");
    assert!(!host.enrolled && !host.connected && host.presence.is_none());
}

#[tokio::test]
async fn invalid_hosts_get_clear_errors() {
    let server = TestServer::start().await;
    let cases = [
        (json!({"name": ""}), 422, "invalid_host_name"),
        (json!({"name": "a b"}), 422, "invalid_host_name"),
        (json!({"name": "x".repeat(65)}), 422, "invalid_host_name"),
        (json!({"name": "ok", "colour": "red"}), 400, "invalid_request"),
        (json!({"nom": "ok"}), 400, "invalid_request"),
    ];
    for (body, status, code) in cases {
        let response = server.post("/hosts").json(&body).send().await.unwrap();
        assert_eq!(error_code(response).await, (status, code.to_string()), "{body}");
    }
    server.create_host("eu-1").await;
    let duplicate = server.post("/hosts").json(&json!({"name": "eu-1"})).send().await.unwrap();
    assert_eq!(error_code(duplicate).await, (409, "host_name_taken".into()));
}

#[tokio::test]
async fn a_repeated_idempotency_key_never_makes_a_second_job() {
    let server = TestServer::start().await;
    let host = server.create_host("eu-1").await.host.id;
    let body = json!({"host": host, "kind": {"type": "command", "program": "/bin/true"}});
    let first = server
        .post("/jobs")
        .header("Idempotency-Key", "nightly-42")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: Job = first.json().await.unwrap();
    let again = server
        .post("/jobs")
        .header("Idempotency-Key", "nightly-42")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let again: Job = again.json().await.unwrap();
    assert_eq!(first.id, again.id);
    let page: Page<Job> = server.get_json("/jobs").await;
    assert_eq!(page.items.len(), 1);
    // Without a key, each request is a new job.
    server.post("/jobs").json(&body).send().await.unwrap();
    let page: Page<Job> = server.get_json("/jobs").await;
    assert_eq!(page.items.len(), 2);
}

#[tokio::test]
async fn invalid_jobs_get_clear_errors() {
    let server = TestServer::start().await;
    let host = server.create_host("eu-1").await.host.id;
    let cases = [
        (json!({"host": host, "kind": {"type": "command", "program": "ls"}}), 422, "invalid_job"),
        (
            json!({"host": host, "kind": {"type": "command", "program": "/bin/echo", "args": ["a\u{0}b"]}}),
            422,
            "invalid_job",
        ),
        (
            json!({"host": host, "kind": {"type": "command", "program": "/bin/true"}, "timeout_secs": 0}),
            422,
            "invalid_job",
        ),
        (
            json!({"host": host, "kind": {"type": "shell", "script": "rm -rf /"}}),
            400,
            "invalid_request",
        ),
        (
            json!({"host": "not-a-uuid", "kind": {"type": "command", "program": "/bin/true"}}),
            400,
            "invalid_request",
        ),
        (
            json!({"host": gsm_core::job::HostId::new(), "kind": {"type": "command", "program": "/bin/true"}}),
            404,
            "host_not_found",
        ),
    ];
    for (body, status, code) in cases {
        let response = server.post("/jobs").json(&body).send().await.unwrap();
        assert_eq!(error_code(response).await, (status, code.to_string()), "{body}");
    }
}

#[tokio::test]
async fn a_queued_job_is_cancelled_at_once_and_a_finished_one_cannot_be() {
    let server = TestServer::start().await;
    let host = server.create_host("eu-1").await.host.id;
    let body = json!({"host": host, "kind": {"type": "command", "program": "/bin/true"}});
    let job: Job = server.post("/jobs").json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(job.state.as_str(), "queued");
    let cancelled = server.post(&format!("/jobs/{}/cancel", job.id)).send().await.unwrap();
    assert_eq!(cancelled.status(), 200);
    let cancelled: Job = cancelled.json().await.unwrap();
    assert_eq!(cancelled.state.as_str(), "cancelled");
    let again = server.post(&format!("/jobs/{}/cancel", job.id)).send().await.unwrap();
    assert_eq!(error_code(again).await, (409, "job_finished".into()));
}

#[tokio::test]
async fn another_orgs_resources_answer_404_to_every_route() {
    let server = TestServer::start().await;
    let host = server.create_host("eu-1").await.host.id;
    let job: Job = server
        .post("/jobs")
        .json(&json!({"host": host, "kind": {"type": "command", "program": "/bin/true"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = server.other_org().await;
    let base = &server.base;
    // Org B's key on org A's paths, and org B's paths with org A's ids.
    let a = server.org.org;
    let b = other.org;
    let paths = [
        ("GET", format!("/api/v1/orgs/{a}/hosts")),
        ("GET", format!("/api/v1/orgs/{a}/hosts/{host}")),
        ("DELETE", format!("/api/v1/orgs/{a}/hosts/{host}")),
        ("GET", format!("/api/v1/orgs/{a}/jobs")),
        ("GET", format!("/api/v1/orgs/{a}/jobs/{}", job.id)),
        ("POST", format!("/api/v1/orgs/{a}/jobs/{}/cancel", job.id)),
        ("GET", format!("/api/v1/orgs/{a}/jobs/{}/logs", job.id)),
        ("GET", format!("/api/v1/orgs/{b}/hosts/{host}")),
        ("DELETE", format!("/api/v1/orgs/{b}/hosts/{host}")),
        ("GET", format!("/api/v1/orgs/{b}/jobs/{}", job.id)),
        ("POST", format!("/api/v1/orgs/{b}/jobs/{}/cancel", job.id)),
        ("GET", format!("/api/v1/orgs/{b}/jobs/{}/logs", job.id)),
    ];
    for (method, path) in paths {
        let request = server
            .http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(&other.api_key);
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    // A job on org A's host, created with org B's key, is refused as not found.
    let response = server
        .http
        .post(format!("{base}/api/v1/orgs/{b}/jobs"))
        .bearer_auth(&other.api_key)
        .json(&json!({"host": host, "kind": {"type": "command", "program": "/bin/true"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (404, "host_not_found".into()));
    // Org A still sees its host and job untouched.
    let host_view: Host =
        server.get(&format!("/hosts/{host}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(host_view.name, "eu-1");
    let job_view: Job =
        server.get(&format!("/jobs/{}", job.id)).send().await.unwrap().json().await.unwrap();
    assert_eq!(job_view.state.as_str(), "queued");
}

#[tokio::test]
async fn a_repeated_host_create_returns_the_same_host_with_a_fresh_token() {
    let server = TestServer::start().await;
    let send = || {
        server.post("/hosts").header("Idempotency-Key", "k-1").json(&json!({"name": "eu-1"})).send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: HostCreated = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 200);
    let again: HostCreated = again.json().await.unwrap();
    assert_eq!(first.host.id, again.host.id);
    assert_ne!(first.join_token, again.join_token);
    assert_eq!(error_code(server.enroll(&first.join_token).await).await.0, 401);
    assert_eq!(server.enroll(&again.join_token).await.status(), 200);
    let page: Page<Host> = server.get_json("/hosts").await;
    assert_eq!(page.items.len(), 1);
}

#[tokio::test]
async fn a_new_join_token_re_enrolls_a_host_and_cuts_off_the_old_credential() {
    let server = TestServer::start().await;
    let (host, old_credential) = server.enrolled_host("eu-1").await;
    let response = server.post(&format!("/hosts/{host}/join-tokens")).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let issued: HostCreated = response.json().await.unwrap();
    assert_eq!(issued.host.id, host);
    assert_eq!(server.enroll(&issued.join_token).await.status(), 200);
    assert!(server.connect_raw(&old_credential).await.is_err());
}

#[tokio::test]
async fn a_join_token_works_once() {
    let server = TestServer::start().await;
    let created: HostCreated = server.create_host("eu-1").await;
    assert_eq!(server.enroll(&created.join_token).await.status(), 200);
    let again = server.enroll(&created.join_token).await;
    assert_eq!(error_code(again).await, (401, "invalid_join_token".into()));
    let made_up = server.enroll("not-a-token").await;
    assert_eq!(error_code(made_up).await, (401, "invalid_join_token".into()));
}

#[tokio::test]
async fn jobs_are_filtered_by_creation_time_and_a_bad_time_is_a_400() {
    let server = TestServer::start().await;
    let host = server.create_host("eu-1").await.host.id;
    let body = json!({"host": host, "kind": {"type": "command", "program": "/bin/true"}});
    let job: Job = server.post("/jobs").json(&body).send().await.unwrap().json().await.unwrap();
    let created: jiff::Timestamp = job.created_at.parse().unwrap();
    let second = jiff::SignedDuration::from_secs(1);
    let list = |query: String| {
        let request = server.get(&format!("/jobs?{query}"));
        async move {
            let page: Page<Job> = request.send().await.unwrap().json().await.unwrap();
            page.items.into_iter().map(|job| job.id).collect::<Vec<_>>()
        }
    };
    let before = (created - second).to_string();
    let after = (created + second).to_string();
    assert_eq!(list(format!("since={before}")).await, [job.id]);
    assert_eq!(list(format!("since={before}&until={after}")).await, [job.id]);
    assert_eq!(list(format!("since={}", job.created_at)).await, [job.id], "since is inclusive");
    assert_eq!(list(format!("until={}", job.created_at)).await, [], "until is exclusive");
    assert_eq!(list(format!("since={after}")).await, []);
    for query in [
        "since=yesterday",
        "until=2026-01-31",
        "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
    ] {
        let response = server.get(&format!("/jobs?{query}")).send().await.unwrap();
        let (status, code) = error_code(response).await;
        assert_eq!(status, 400, "{query}");
        assert!(code == "invalid_query" || code == "invalid_range", "{query}: {code}");
    }
}

#[tokio::test]
async fn an_invalid_alert_rule_names_the_field_it_is_about() {
    let server = TestServer::start().await;
    let rule = |extra: serde_json::Value| {
        let mut spec = json!({"name": "r", "kind": "game.server_stopping", "severity": "warning"});
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        spec
    };
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"kind": "nope"}), "kind"),
        (json!({"threshold": {"count": 0, "window_secs": 60}}), "threshold.count"),
        (json!({"threshold": {"count": 3, "window_secs": 0}}), "threshold.window_secs"),
        (
            json!({"remediation": {"action": "dance", "max_runs": 1, "per_secs": 60}}),
            "remediation.action",
        ),
        (
            json!({"remediation": {"action": "restart", "max_runs": 0, "per_secs": 60}}),
            "remediation.max_runs",
        ),
        (json!({"text": "("}), "text"),
        (json!({"players_above": 5, "players_below": 6}), "players_below"),
        (json!({"channels": ["pager"]}), "channels"),
        (json!({"host": uuid::Uuid::nil()}), "host"),
    ];
    for (extra, field) in cases {
        let response = server.post("/alert-rules").json(&rule(extra.clone())).send().await.unwrap();
        assert_eq!(response.status(), 422, "{extra}");
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.error.field.as_deref(), Some(field), "{extra}: {}", body.error.message);
    }
    let fine = server.post("/alert-rules").json(&rule(json!({}))).send().await.unwrap();
    assert_eq!(fine.status(), 201);
}
