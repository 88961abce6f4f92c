//! Conformance behaviours of the game half of the store: game configs, events and players.

use std::sync::Arc;

use gsm_core::adapters::config::{GameInstance, GameSettings, RestartSettings};
use gsm_core::adapters::{ConsoleConfig, SecretSource};
use gsm_core::job::HostId;
use gsm_server::store::games::{EventPlayer, GameEventFilter, NewGameEvent};
use gsm_server::store::{Created, OrgId, Store};
use serde_json::json;
use uuid::Uuid;

use super::{assert_not_found, at, audit_log, audit_of, create_host, new_org};

fn instance(name: &str, port: u16) -> GameInstance {
    GameInstance {
        name: name.to_owned(),
        game: "7dtd".to_owned(),
        settings: GameSettings {
            console: ConsoleConfig {
                address: "127.0.0.1".to_owned(),
                port,
                password: Some(SecretSource::File("/etc/gsm/7dtd.pw".to_owned())),
                timeout_ms: None,
            },
            restart: RestartSettings { warnings_secs: vec![60, 10], ..RestartSettings::default() },
        },
    }
}

fn event(kind: &str, player: Option<(&str, &str)>, ms: i64) -> NewGameEvent {
    NewGameEvent {
        id: Uuid::now_v7(),
        instance: "main".to_owned(),
        game: "7dtd".to_owned(),
        kind: kind.to_owned(),
        player: player.map(|(id, name)| EventPlayer {
            id: (!id.is_empty()).then(|| id.to_owned()),
            name: name.to_owned(),
        }),
        at: at(ms),
        data: json!({"kind": kind, "raw": format!("line {ms}")}),
    }
}

async fn host_in(store: &dyn Store, name: &str) -> (OrgId, HostId) {
    let org = new_org(store).await;
    (org, create_host(store, org, name).await.id)
}

pub(super) async fn a_game_config_is_created_replaced_listed_and_deleted_with_audit(
    store: Arc<dyn Store>,
) {
    let (org, host) = host_in(store.as_ref(), "box").await;
    assert!(store.list_games(org, host).await.unwrap().is_empty());
    let first = instance("main", 8081);
    let (record, created) =
        store.put_game(org, host, &first, &audit_of(org, "game.put", "main")).await.unwrap();
    assert_eq!((record.instance.clone(), created), (first.clone(), Created::New));
    assert_eq!((record.org, record.host), (org, host));
    let changed = instance("main", 9091);
    let (record, created) =
        store.put_game(org, host, &changed, &audit_of(org, "game.put", "main")).await.unwrap();
    assert_eq!((record.instance, created), (changed.clone(), Created::Existing));
    store
        .put_game(org, host, &instance("alpha", 1), &audit_of(org, "game.put", "alpha"))
        .await
        .unwrap();
    let names: Vec<_> =
        store.list_games(org, host).await.unwrap().into_iter().map(|g| g.instance.name).collect();
    assert_eq!(names, ["alpha", "main"]);
    assert_eq!(store.get_game(org, host, "main").await.unwrap().instance, changed);
    let for_agent = store.games_for_host(host).await.unwrap();
    assert_eq!(for_agent.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["alpha", "main"]);
    store.delete_game(org, host, "alpha", &audit_of(org, "game.delete", "alpha")).await.unwrap();
    assert_not_found(store.get_game(org, host, "alpha").await, "game");
    assert_not_found(
        store.delete_game(org, host, "alpha", &audit_of(org, "game.delete", "alpha")).await,
        "game",
    );
    let actions: Vec<_> = audit_log(store.as_ref(), org)
        .await
        .into_iter()
        .map(|entry| entry.action)
        .filter(|action| action.starts_with("game."))
        .collect();
    assert_eq!(actions, ["game.delete", "game.put", "game.put", "game.put"]);
}

pub(super) async fn another_orgs_or_a_deleted_hosts_games_are_not_found(store: Arc<dyn Store>) {
    let (org, host) = host_in(store.as_ref(), "box").await;
    let other = new_org(store.as_ref()).await;
    store
        .put_game(org, host, &instance("main", 8081), &audit_of(org, "game.put", "m"))
        .await
        .unwrap();
    assert_not_found(store.list_games(other, host).await, "host");
    assert_not_found(store.get_game(other, host, "main").await, "game");
    assert_not_found(
        store.put_game(other, host, &instance("x", 1), &audit_of(other, "game.put", "x")).await,
        "host",
    );
    assert_not_found(
        store.delete_game(other, host, "main", &audit_of(other, "game.delete", "m")).await,
        "host",
    );
    assert!(audit_log(store.as_ref(), other).await.is_empty(), "a refused change was audited");
    store.delete_host(org, host, at(5), &audit_of(org, "host.delete", host)).await.unwrap();
    assert_not_found(store.list_games(org, host).await, "host");
    assert_not_found(store.get_game(org, host, "main").await, "game");
    assert_not_found(
        store.put_game(org, host, &instance("x", 1), &audit_of(org, "game.put", "x")).await,
        "host",
    );
}

pub(super) async fn game_events_are_stored_once_and_filtered_newest_first(store: Arc<dyn Store>) {
    let (org, host) = host_in(store.as_ref(), "box").await;
    let other_host = create_host(store.as_ref(), org, "box2").await.id;
    let events = vec![
        event("player_connected", Some(("Steam_1", "Alice")), 10),
        event("chat", Some(("Steam_1", "Alice")), 20),
        event("server_started", None, 30),
        event("player_connected", Some(("Steam_2", "Bob")), 40),
    ];
    assert_eq!(store.record_game_events(host, &events).await.unwrap(), 4);
    assert_eq!(store.record_game_events(host, &events).await.unwrap(), 0, "a repeat is ignored");
    let elsewhere = event("chat", Some(("Steam_3", "Carol")), 50);
    store.record_game_events(other_host, std::slice::from_ref(&elsewhere)).await.unwrap();

    let list = async |filter: GameEventFilter| -> Vec<Uuid> {
        let filter = GameEventFilter { limit: filter.limit.max(1), ..filter };
        store.list_game_events(org, &filter).await.unwrap().into_iter().map(|e| e.id).collect()
    };
    let all = GameEventFilter { limit: 100, ..GameEventFilter::default() };
    let id = |i: usize| events[i].id;
    assert_eq!(list(all.clone()).await, [elsewhere.id, id(3), id(2), id(1), id(0)]);
    assert_eq!(
        list(GameEventFilter { host: Some(host), ..all.clone() }).await,
        [id(3), id(2), id(1), id(0)]
    );
    assert_eq!(
        list(GameEventFilter { kind: Some("chat".into()), ..all.clone() }).await,
        [elsewhere.id, id(1)]
    );
    assert_eq!(
        list(GameEventFilter { player: Some("Alice".into()), ..all.clone() }).await,
        [id(1), id(0)]
    );
    assert_eq!(
        list(GameEventFilter { player: Some("Steam_2".into()), ..all.clone() }).await,
        [id(3)]
    );
    assert_eq!(
        list(GameEventFilter { since: Some(at(20)), until: Some(at(40)), ..all.clone() }).await,
        [id(2), id(1)]
    );
    // Paging by cursor walks every event once.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = list(GameEventFilter { before, limit: 2, ..GameEventFilter::default() }).await;
        if page.is_empty() {
            break;
        }
        before = page.last().copied();
        seen.extend(page);
    }
    assert_eq!(seen, list(all.clone()).await);
    // The stored event reads back whole.
    let stored = store.list_game_events(org, &GameEventFilter { limit: 1, ..all }).await.unwrap();
    assert_eq!((stored[0].host, &stored[0].event), (other_host, &elsewhere));
    // Another org sees none of them.
    let other = new_org(store.as_ref()).await;
    let theirs = GameEventFilter { limit: 100, ..GameEventFilter::default() };
    assert!(store.list_game_events(other, &theirs).await.unwrap().is_empty());
}

pub(super) async fn players_are_online_from_connect_to_disconnect_with_last_seen(
    store: Arc<dyn Store>,
) {
    let (org, host) = host_in(store.as_ref(), "box").await;
    let events = vec![
        event("player_connected", Some(("Steam_1", "Alice")), 10),
        event("player_connected", Some(("Steam_2", "Bob")), 20),
        event("player_disconnected", Some(("Steam_1", "Alice")), 30),
        // A name-only line updates the player of that name.
        event("player_died", Some(("", "Bob")), 40),
    ];
    store.record_game_events(host, &events).await.unwrap();
    // An older event arriving late changes nothing.
    let late = event("player_connected", Some(("Steam_1", "Alice")), 5);
    store.record_game_events(host, &[late]).await.unwrap();
    let players = store.host_players(org, host, 100).await.unwrap();
    let got: Vec<_> = players
        .iter()
        .map(|p| (p.player.id.as_str(), p.player.name.as_str(), p.online, p.last_seen_at))
        .collect();
    assert_eq!(got, [("Steam_2", "Bob", true, at(40)), ("Steam_1", "Alice", false, at(30))]);
    assert_eq!(players[0].first_seen_at, at(20));
    let other = new_org(store.as_ref()).await;
    assert!(store.host_players(other, host, 100).await.unwrap().is_empty());
    assert_not_found(store.record_game_events(HostId::new(), &events).await, "host");
}
