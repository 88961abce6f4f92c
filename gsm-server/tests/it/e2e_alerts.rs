//! Alerts end to end with the real binaries: a `gsm-server` process configured through the REST
//! API (a Discord webhook pointing at a local stand-in, a host-offline rule), a real `gsm-agent`
//! killed with SIGKILL and started again, and the webhook requests the stand-in records.
//!
//! Readiness is awaited by polling (the host's presence, the stand-in's requests, the outbox row
//! in the server's database file), never by sleeping; the few fixed waits only give a duplicate
//! the chance to show up before the count is checked.

use std::time::Duration;

use gsm_core::presence::Presence;
use serde_json::{Value, json};

use crate::alerts::{Discord, requests_at_least};
use crate::e2e::{Fixture, eventually};

/// How long a test waits after the last expected request before checking nothing more came.
const QUIET: Duration = Duration::from_millis(1500);

/// Points the org's `ops` webhook at the stand-in and adds a host-offline rule delivering to it.
async fn alert_to(fx: &Fixture, url: &str) {
    let http = reqwest::Client::new();
    let base = format!("{}/api/v1/orgs/{}", fx.server.base(), fx.org.org);
    let settings = json!({"discord_webhooks": {"ops": url}});
    let response = http
        .patch(format!("{base}/settings"))
        .bearer_auth(&fx.org.api_key)
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let rule = json!({
        "name": "host offline",
        "kind": "host.offline",
        "severity": "critical",
        "channels": ["discord:ops", "in_app"],
    });
    let response = http
        .post(format!("{base}/alert-rules"))
        .bearer_auth(&fx.org.api_key)
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
}

/// Waits until the server sees the host `online`.
async fn await_online(fx: &Fixture) {
    eventually(|| async {
        let host = fx.client.get_host(fx.host).await.ok()?;
        (host.presence == Some(Presence::Online)).then_some(())
    })
    .await;
}

fn embed(request: &Value) -> &Value {
    &request["embeds"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_raises_one_webhook_and_its_return_resolves_it_once() {
    let mut fx = Fixture::new().await;
    let (discord, url) = Discord::start(0, 0.0).await;
    alert_to(&fx, &url).await;
    let base = fx.server.base();
    let mut agent = fx.start_agent(&base);
    await_online(&fx).await;

    agent.kill();
    let raised = requests_at_least(&discord, 1).await;
    let alert = embed(&raised[0].1);
    assert_eq!(alert["title"], "Alert: host offline");
    assert_eq!(alert["color"], 0xE7_4C_3C, "critical is red: {alert}");
    assert_eq!(alert["fields"][1]["value"], "e2e-host", "{alert}");
    assert_eq!(raised[0].1["allowed_mentions"]["parse"], json!([]));
    tokio::time::sleep(QUIET).await;
    assert_eq!(discord.requests().len(), 1, "one webhook per alert, however long it stays down");

    let _agent = fx.start_agent(&base);
    let resolved = requests_at_least(&discord, 2).await;
    assert_eq!(embed(&resolved[1].1)["title"], "Resolved: host offline");
    assert_eq!(embed(&resolved[1].1)["color"], 0x2E_CC_71);
    tokio::time::sleep(QUIET).await;
    assert_eq!(discord.requests().len(), 2, "one raise, one resolve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_webhook_waits_retry_after_and_arrives_once() {
    let mut fx = Fixture::new().await;
    let (discord, url) = Discord::start(1, 1.5).await;
    alert_to(&fx, &url).await;
    let base = fx.server.base();
    let mut agent = fx.start_agent(&base);
    await_online(&fx).await;

    agent.kill();
    let seen = requests_at_least(&discord, 2).await;
    let waited = seen[1].0 - seen[0].0;
    assert!(waited >= Duration::from_millis(1450), "retried after {waited:?}, before retry_after");
    assert_eq!(seen[0].1, seen[1].1, "the retry posts the same alert");
    tokio::time::sleep(QUIET).await;
    assert_eq!(discord.requests().len(), 2, "delivered once after the 429");
}

/// The outbox row of the `ops` webhook: its attempts and last error, read from the server's
/// database file (SQLite, WAL: a second reader is fine while the server runs).
async fn outbox_row(fx: &Fixture) -> Option<(i64, Option<String>)> {
    let options =
        sqlx::sqlite::SqliteConnectOptions::new().filename(fx.server.database()).read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.ok()?;
    let row: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT attempts, last_error FROM alert_outbox WHERE channel = 'discord:ops' AND state = 'pending'",
    )
    .fetch_optional(&pool)
    .await
    .ok()?;
    pool.close().await;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_between_the_event_and_the_delivery_delivers_once_after_restart() {
    let mut fx = Fixture::new().await;
    // The first attempt is refused with a long retry_after, so the delivery is still pending
    // (recorded, not delivered) when the server is killed.
    let (discord, url) = Discord::start(1, 4.0).await;
    alert_to(&fx, &url).await;
    let base = fx.server.base();
    let mut agent = fx.start_agent(&base);
    await_online(&fx).await;
    agent.kill();
    requests_at_least(&discord, 1).await;
    eventually(|| async {
        let (attempts, error) = outbox_row(&fx).await?;
        (attempts == 1 && error.is_some_and(|e| e.contains("429"))).then_some(())
    })
    .await;

    fx.server.crash_and_restart().await;
    let seen = requests_at_least(&discord, 2).await;
    assert_eq!(seen[0].1, seen[1].1, "the restarted server delivers the same alert");
    assert!(seen[1].0 - seen[0].0 >= Duration::from_millis(3900), "retry_after still holds");
    tokio::time::sleep(QUIET).await;
    assert_eq!(discord.requests().len(), 2, "delivered once");
    assert_eq!(outbox_row(&fx).await, None, "nothing left pending");
}
