//! The OpenAPI document: served, committed as `docs/openapi.json` (a test fails when it drifts;
//! `GSM_BLESS=1` regenerates), self-consistent, and covering every route the router has.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::TestServer;

/// The HTTP methods a path item may hold, as the document spells them.
pub const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The document the server serves.
pub async fn spec(server: &TestServer) -> Value {
    let url = format!("{}/api/v1/openapi.json", server.base);
    let response = server.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Every `(method, path)` of the document whose path starts with `prefix`, sorted.
pub fn operations(spec: &Value, prefix: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            if path.starts_with(prefix) && item.get(method).is_some() {
                found.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    found.sort();
    found
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_docs_openapi_json() {
    let server = TestServer::start().await;
    let generated = serde_json::to_string_pretty(&spec(&server).await).unwrap() + "\n";
    let file = repo_root().join("docs/openapi.json");
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    if generated != committed && std::env::var_os("GSM_BLESS").is_some() {
        std::fs::write(&file, &generated).unwrap();
        return;
    }
    assert!(
        generated == committed,
        "docs/openapi.json drifted from the code; regenerate with \
         `GSM_BLESS=1 cargo nextest run -p gsm-server openapi` and commit the diff"
    );
}

/// Collects every `$ref` in `value`.
fn refs<'a>(value: &'a Value, found: &mut BTreeSet<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.insert(target);
            }
            map.values().for_each(|v| refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_in_the_openapi_document_resolves() {
    let server = TestServer::start().await;
    let spec = spec(&server).await;
    assert_eq!(spec["openapi"], "3.1.0");
    let mut found = BTreeSet::new();
    refs(&spec, &mut found);
    assert!(found.contains("#/components/schemas/ErrorBody"));
    let dangling: Vec<_> = found
        .iter()
        .filter(|target| spec.pointer(&target.replacen('#', "", 1)).is_none())
        .collect();
    assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
}

#[tokio::test]
async fn every_org_route_takes_a_key_or_a_members_token_and_documents_its_errors() {
    let server = TestServer::start().await;
    let spec = spec(&server).await;
    for (method, path) in operations(&spec, "/api/v1/orgs/") {
        let operation = &spec["paths"][&path][method.to_lowercase()];
        let security = serde_json::json!([{"api_key": []}, {"user_token": []}]);
        assert_eq!(operation["security"], security, "{method} {path}");
        for (status, response) in operation["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
            }
        }
        let statuses = operation["responses"].as_object().unwrap();
        for status in ["401", "404", "503"] {
            assert!(statuses.contains_key(status), "{method} {path} does not document {status}");
        }
    }
}

#[tokio::test]
async fn user_routes_take_a_users_token_and_every_error_is_an_error_body() {
    let server = TestServer::start().await;
    let spec = spec(&server).await;
    let user = serde_json::json!([{"user_token": []}]);
    for (method, path, security) in [
        ("get", "/api/v1/me", user.clone()),
        ("get", "/api/v1/orgs", user.clone()),
        ("post", "/api/v1/orgs", user.clone()),
        ("post", "/api/v1/auth/logout", user.clone()),
        ("post", "/api/v1/invites/accept", serde_json::json!([{}, {"user_token": []}])),
        ("post", "/api/v1/auth/login", Value::Null),
        ("post", "/api/v1/auth/refresh", Value::Null),
    ] {
        let operation = &spec["paths"][path][method];
        assert_eq!(operation["security"], security, "{method} {path}");
        let statuses = operation["responses"].as_object().unwrap();
        assert!(statuses.contains_key("503"), "{method} {path} does not document 503");
        for (status, response) in statuses {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
            }
        }
    }
}

/// The `(method, path)` of every `.route(…)` call in the server's HTTP and gateway modules, read
/// from the source: a route registered without a `#[utoipa::path]` in the document fails below.
fn registered_routes() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let constants = [
        ("ENROLL_PATH", gsm_proto::agent::ENROLL_PATH),
        ("CONNECT_PATH", gsm_proto::agent::CONNECT_PATH),
    ];
    let mut routes = BTreeSet::new();
    for dir in ["http", "gateway"] {
        for entry in std::fs::read_dir(src.join(dir)).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for call in text.split(".route(").skip(1) {
                let call = balanced(call);
                let (path, handlers) = call.split_once(',').unwrap();
                let path = path.trim();
                let path = match constants.iter().find(|(name, _)| *name == path) {
                    Some((_, value)) => (*value).to_owned(),
                    None => path.trim_matches('"').to_owned(),
                };
                for method in METHODS {
                    if handlers.contains(&format!("{method}(")) {
                        routes.insert((method.to_uppercase(), path.clone()));
                    }
                }
            }
        }
    }
    routes
}

/// The text up to the parenthesis that closes an already opened one.
fn balanced(text: &str) -> &str {
    let mut depth = 1;
    for (at, c) in text.char_indices() {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        if depth == 0 {
            return &text[..at];
        }
    }
    panic!("unbalanced .route( call: {text}")
}

#[tokio::test]
async fn every_registered_route_is_in_the_openapi_document() {
    let server = TestServer::start().await;
    let documented: BTreeSet<_> = operations(&spec(&server).await, "/").into_iter().collect();
    let registered = registered_routes();
    assert!(registered.len() >= 35, "the route scan found too little: {registered:?}");
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(undocumented.is_empty(), "routes without #[utoipa::path]: {undocumented:?}");
    let unrouted: Vec<_> = documented.difference(&registered).collect();
    assert!(unrouted.is_empty(), "documented routes the router lacks: {unrouted:?}");
}
