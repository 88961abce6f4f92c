//! `GET …/hosts/{host}/metrics` through a real socket: heartbeats a fake agent sends come back as
//! per-minute points, ranges are checked, and another org's host is not found.

use gsm_core::heartbeat::{Disk, GameStatus, Heartbeat, LoadAvg, Memory};
use gsm_core::job::HostId;
use gsm_proto::agent::AgentMessage;
use gsm_proto::rest::{ErrorBody, HostMetrics};
use jiff::{SignedDuration, Timestamp};

use crate::harness::{TestServer, eventually};

on_both_backends!(
    heartbeats_come_back_as_minute_points_of_their_host_only,
    a_bad_metrics_range_is_a_400_naming_the_problem,
    the_prune_sweep_deletes_minutes_older_than_seven_days_only,
);

fn heartbeat(host: HostId, seq: u64, load: f64, players: u32) -> AgentMessage {
    AgentMessage::Heartbeat(beat(host, seq, load, players))
}

fn beat(host: HostId, seq: u64, load: f64, players: u32) -> Heartbeat {
    Heartbeat {
        host,
        agent_version: "0.1.0".into(),
        seq,
        uptime_secs: 1,
        load: Some(LoadAvg { one: load, five: 0.0, fifteen: 0.0 }),
        memory: Some(Memory { total_bytes: 8 << 30, available_bytes: 2 << 30 }),
        disks: vec![Disk { mount: "/".into(), total_bytes: 100 << 30, available_bytes: 75 << 30 }],
        running_jobs: Vec::new(),
        games: vec![GameStatus {
            game: "7dtd".into(),
            instance: String::new(),
            up: true,
            version: None,
            players_online: players,
            max_players: Some(8),
            players: Vec::new(),
            world_time: None,
        }],
    }
}

async fn metrics(server: &TestServer, host: HostId, query: &str) -> reqwest::Response {
    server.get(&format!("/hosts/{host}/metrics{query}")).send().await.unwrap()
}

async fn heartbeats_come_back_as_minute_points_of_their_host_only(server: &TestServer) {
    let (host, credential) = server.enrolled_host("eu-1").await;
    let mut agent = server.connect(&credential).await;
    let start = Timestamp::now();
    agent.send(&heartbeat(host, 1, 0.5, 2)).await;
    // The first is flushed (100 ms) before the second, so both are folded into the history.
    eventually(|| async {
        let body: HostMetrics = metrics(server, host, "").await.json().await.unwrap();
        (body.points.iter().map(|p| p.samples).sum::<u32>() == 1).then_some(())
    })
    .await;
    agent.send(&heartbeat(host, 2, 1.5, 5)).await;
    let body = eventually(|| async {
        let body: HostMetrics = metrics(server, host, "").await.json().await.unwrap();
        (body.points.iter().map(|p| p.samples).sum::<u32>() == 2).then_some(body)
    })
    .await;
    assert_eq!(body.host, host);
    let until: Timestamp = body.until.parse().unwrap();
    let since: Timestamp = body.since.parse().unwrap();
    assert_eq!(until.duration_since(since), SignedDuration::from_hours(24));
    assert!(until >= start);
    // Both heartbeats fall in one minute unless the test straddled a minute boundary.
    let last = body.points.last().unwrap();
    assert_eq!(last.memory_used_bytes, Some(6 << 30));
    assert_eq!(last.memory_total_bytes, Some(8 << 30));
    assert_eq!((last.disk_used_bytes, last.disk_total_bytes), (Some(25 << 30), Some(100 << 30)));
    if body.points.len() == 1 {
        assert_eq!(last.samples, 2);
        assert_eq!(last.cpu_load, Some(1.0));
        assert_eq!(last.cpu_load_max, Some(1.5));
        assert_eq!(last.players_online, 5);
    } else {
        assert_eq!(body.points.len(), 2);
        assert!(body.points[0].at < body.points[1].at, "oldest first");
        assert_eq!((last.cpu_load, last.players_online), (Some(1.5), 5));
    }

    // A range that ends before the heartbeats holds none.
    let early = (start - SignedDuration::from_hours(1)).to_string();
    let response = metrics(server, host, &format!("?until={early}")).await;
    let body: HostMetrics = response.json().await.unwrap();
    assert!(body.points.is_empty());

    // The host seen through another org's key, and an unknown host, are 404s.
    let other = server.other_org().await;
    let response = server
        .http
        .get(format!("{}/api/v1/orgs/{}/hosts/{host}/metrics", server.base, other.org))
        .bearer_auth(&other.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = metrics(server, HostId::new(), "").await;
    assert_eq!(response.status(), 404);
}

async fn a_bad_metrics_range_is_a_400_naming_the_problem(server: &TestServer) {
    let (host, _) = server.enrolled_host("eu-1").await;
    let cases = [
        ("?since=yesterday", "invalid_query"),
        ("?until=2026-01-31", "invalid_query"),
        ("?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "invalid_range"),
        ("?since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "invalid_range"),
        ("?since=2026-01-01T00:00:00Z&until=2026-01-08T00:00:01Z", "invalid_range"),
        ("?step=5m", "invalid_query"),
    ];
    for (query, code) in cases {
        let response = metrics(server, host, query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.error.code, code, "{query}");
    }
    let week = "?since=2026-01-01T00:00:00Z&until=2026-01-08T00:00:00Z";
    assert_eq!(metrics(server, host, week).await.status(), 200);
}

async fn the_prune_sweep_deletes_minutes_older_than_seven_days_only(server: &TestServer) {
    let (host, _) = server.enrolled_host("eu-1").await;
    let now = Timestamp::now();
    let ago = |minutes: i64| now - SignedDuration::from_mins(minutes);
    let week = 7 * 24 * 60;
    // Minutes well past the retention, just past it, just within it, and recent.
    for (seq, minutes) in [(1, week + 600), (2, week + 2), (3, week - 2), (4, 5)] {
        let beat = beat(host, seq, 1.0, 1);
        server.state.store.record_heartbeats(&[(host, ago(minutes), beat)]).await.unwrap();
    }
    let pruned = gsm_server::background::prune_metrics(&server.state, now).await;
    assert_eq!(pruned, 2);
    let kept =
        server.state.store.host_metrics(server_org(server), host, ago(week + 700), now).await;
    assert_eq!(kept.unwrap().len(), 2, "the minute within the week and the recent one stay");
    assert_eq!(gsm_server::background::prune_metrics(&server.state, now).await, 0);
}

fn server_org(server: &TestServer) -> gsm_server::store::OrgId {
    gsm_server::store::OrgId(server.org.org)
}
