//! `gsm-agent enroll` against the fake server: a private credential file on success, a clear
//! error for a refused token, an unreachable server or a bad URL, and no silent re-enrollment.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use crate::fake_server::{EnrollAnswer, FakeServer, WAIT, enrolled};

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn enroll(server: &str, state_dir: &Path, extra: &[&str]) -> Outcome {
    let output = Command::new(env!("CARGO_BIN_EXE_gsm-agent"))
        .args(["enroll", "--server", server, "--token", "join-token-1", "--state-dir"])
        .arg(state_dir)
        .args(extra)
        .env_clear()
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(WAIT, output).await.expect("enroll finished").unwrap();
    Outcome {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn enrolling_writes_a_private_credential_file_from_the_servers_answer() {
    let answer = enrolled("host-credential-abc");
    let server = FakeServer::start("unused", EnrollAnswer::Enrolled(answer.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");

    let outcome = enroll(&server.url, &state, &[]).await;
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.contains(&answer.host.to_string()), "{}", outcome.stdout);
    assert!(!outcome.stderr.contains("host-credential-abc"), "the secret is never logged");

    let file = state.join("credential.json");
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&file), 0o600);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["host"], answer.host.to_string());
    assert_eq!(written["org"], answer.org.to_string());
    assert_eq!(written["credential"], "host-credential-abc");
    assert!(written["server"].as_str().unwrap().starts_with(&server.url));

    let requests = server.enroll_requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].token, "join-token-1");
    assert_eq!(requests[0].facts.agent_version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn a_refused_join_token_says_to_ask_for_a_new_one() {
    let server = FakeServer::start("unused", EnrollAnswer::InvalidToken).await;
    let dir = tempfile::tempdir().unwrap();
    let outcome = enroll(&server.url, dir.path(), &[]).await;
    assert_eq!(outcome.code, 3, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("invalid_join_token"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("new join token"), "{}", outcome.stderr);
    assert!(!dir.path().join("credential.json").exists());
}

#[tokio::test]
async fn an_existing_enrollment_is_replaced_only_with_force() {
    let server = FakeServer::start("unused", EnrollAnswer::Enrolled(enrolled("second"))).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credential.json");
    std::fs::write(&file, "{\"the\": \"first enrollment\"}").unwrap();

    let outcome = enroll(&server.url, dir.path(), &[]).await;
    assert_eq!(outcome.code, 3, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("already enrolled"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("--force"), "{}", outcome.stderr);
    assert_eq!(server.enroll_calls(), 0, "the token is not spent on a refused overwrite");
    assert!(std::fs::read_to_string(&file).unwrap().contains("first enrollment"));

    let outcome = enroll(&server.url, dir.path(), &["--force"]).await;
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(std::fs::read_to_string(&file).unwrap().contains("second"));
}

#[tokio::test]
async fn an_unreachable_server_is_reported_as_such() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let outcome = enroll(&url, dir.path(), &[]).await;
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("cannot reach the server"), "{}", outcome.stderr);
}

#[tokio::test]
async fn a_server_url_that_is_not_http_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = enroll("gsm.example.com", dir.path(), &[]).await;
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("is not a URL"), "{}", outcome.stderr);
}
