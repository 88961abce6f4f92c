//! Conformance behaviours of the heartbeat metrics history: minutes folded from stored heartbeats,
//! read by org and range, and pruned by age in bounded batches.

use std::sync::Arc;

use gsm_core::heartbeat::{Disk, GameStatus, Heartbeat, LoadAvg, Memory};
use gsm_core::job::HostId;
use gsm_server::store::Store;
use jiff::Timestamp;

use super::{at, audit, create_host, new_org};

/// `second` seconds into the `minute`th whole minute after the suite's epoch (`at(40_000)` is
/// a minute boundary).
fn moment(minute: i64, second: i64) -> Timestamp {
    at(40_000 + minute * 60_000 + second * 1000)
}

fn beat(host: HostId, load: Option<f64>, used_gib: u64, disk_free: u64, players: u32) -> Heartbeat {
    Heartbeat {
        host,
        agent_version: "0.1.0".to_owned(),
        seq: 0,
        uptime_secs: 0,
        load: load.map(|one| LoadAvg { one, five: 0.0, fifteen: 0.0 }),
        memory: Some(Memory { total_bytes: 16 << 30, available_bytes: (16 - used_gib) << 30 }),
        disks: vec![Disk { mount: "/".to_owned(), total_bytes: 1000, available_bytes: disk_free }],
        running_jobs: Vec::new(),
        games: vec![GameStatus {
            game: "7dtd".to_owned(),
            instance: String::new(),
            up: true,
            version: None,
            players_online: players,
            max_players: None,
            players: Vec::new(),
            world_time: None,
        }],
    }
}

pub(super) async fn heartbeats_fold_into_minutes_read_oldest_first_by_org_and_range(
    store: Arc<dyn Store>,
) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let other = create_host(store.as_ref(), org, "other").await.id;
    // Three flushes in minute 0 (one without a load reading), one in minute 2; another host's
    // beat shares a batch and stays its own.
    store
        .record_heartbeats(&[
            (host, moment(0, 5), beat(host, Some(1.0), 4, 900, 2)),
            (other, moment(0, 5), beat(other, Some(9.0), 15, 0, 50)),
        ])
        .await
        .unwrap();
    store
        .record_heartbeats(&[(host, moment(0, 25), beat(host, Some(3.0), 10, 500, 7))])
        .await
        .unwrap();
    store.record_heartbeats(&[(host, moment(0, 45), beat(host, None, 6, 400, 1))]).await.unwrap();
    store
        .record_heartbeats(&[(host, moment(2, 0), beat(host, Some(0.5), 5, 300, 0))])
        .await
        .unwrap();

    let points = store.host_metrics(org, host, moment(0, 0), moment(3, 0)).await.unwrap();
    assert_eq!(points.len(), 2, "{points:?}");
    let first = &points[0];
    assert_eq!((first.minute, first.samples), (moment(0, 0), 3));
    assert_eq!((first.load_avg, first.load_max), (Some(2.0), Some(3.0)));
    assert_eq!((first.memory_used, first.memory_total), (Some(10 << 30), Some(16 << 30)));
    // Disk figures are the minute's latest reading, not its worst.
    assert_eq!((first.disk_used, first.disk_total), (Some(600), Some(1000)));
    assert_eq!(first.players, 7);
    let second = &points[1];
    assert_eq!((second.minute, second.samples, second.load_avg), (moment(2, 0), 1, Some(0.5)));
    assert_eq!((second.disk_used, second.players), (Some(700), 0));

    // The range is [since, until) on the minute's start.
    let later = store.host_metrics(org, host, moment(0, 1), moment(3, 0)).await.unwrap();
    assert_eq!(later.iter().map(|p| p.minute).collect::<Vec<_>>(), [moment(2, 0)]);
    let earlier = store.host_metrics(org, host, moment(0, 0), moment(2, 0)).await.unwrap();
    assert_eq!(earlier.iter().map(|p| p.minute).collect::<Vec<_>>(), [moment(0, 0)]);
    let others = store.host_metrics(org, other, moment(0, 0), moment(3, 0)).await.unwrap();
    assert_eq!(others.len(), 1);
    assert_eq!((others[0].load_max, others[0].players), (Some(9.0), 50));

    // Another org sees nothing of the host, and a deleted host gains no more minutes.
    let stranger = new_org(store.as_ref()).await;
    assert!(
        store.host_metrics(stranger, host, moment(0, 0), moment(3, 0)).await.unwrap().is_empty()
    );
    store.delete_host(org, other, moment(1, 0), &audit(org)).await.unwrap();
    store
        .record_heartbeats(&[(other, moment(2, 0), beat(other, Some(1.0), 1, 1, 1))])
        .await
        .unwrap();
    let others = store.host_metrics(org, other, moment(0, 0), moment(3, 0)).await.unwrap();
    assert_eq!(others.len(), 1);
}

pub(super) async fn old_metrics_are_pruned_in_bounded_batches(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    for minute in 0..5 {
        let beat = beat(host, Some(1.0), 1, 1, 1);
        store.record_heartbeats(&[(host, moment(minute, 0), beat)]).await.unwrap();
    }
    // Minutes 0-2 are older than minute 3: two go in the first batch, one in the next.
    assert_eq!(store.prune_host_metrics(moment(3, 0), 2).await.unwrap(), 2);
    assert_eq!(store.prune_host_metrics(moment(3, 0), 2).await.unwrap(), 1);
    assert_eq!(store.prune_host_metrics(moment(3, 0), 2).await.unwrap(), 0);
    let left = store.host_metrics(org, host, moment(0, 0), moment(10, 0)).await.unwrap();
    assert_eq!(left.iter().map(|p| p.minute).collect::<Vec<_>>(), [moment(3, 0), moment(4, 0)]);
}
