//! Game servers through the API and the agent gateway, with a protocol-speaking fake agent: the
//! config is validated and pushed, events are stored and acked, players show on the host.

use gsm_proto::agent::{AgentMessage, GameEventMessage, GameEvents, ServerMessage};
use gsm_proto::rest::{
    ErrorBody, EventPlayer, Game, GameEvent, GameList, GameTypeList, Host, Page,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::TestServer;
use crate::isolation::game_body;

on_both_backends!(
    a_game_config_is_validated_stored_and_pushed_to_the_agent_at_once,
    game_events_are_stored_acked_filtered_and_shown_as_players,
);

async fn put_game(server: &TestServer, host: &str, name: &str, body: &Value) -> (u16, Value) {
    let url = server.url(&format!("/hosts/{host}/games/{name}"));
    let response =
        server.http.put(url).bearer_auth(&server.org.api_key).json(body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

fn code(body: &Value) -> String {
    serde_json::from_value::<ErrorBody>(body.clone()).map(|e| e.error.code).unwrap_or_default()
}

#[tokio::test]
async fn game_types_list_each_type_with_its_config_schema() {
    let server = TestServer::start().await;
    let url = format!("{}/api/v1/game-types", server.base);
    let types: GameTypeList = server.http.get(url).send().await.unwrap().json().await.unwrap();
    let names: Vec<_> = types.items.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["7dtd", "source-rcon"]);
    for game in &types.items {
        let properties = &game.config_schema["properties"];
        assert!(properties["console"].is_object(), "{}", game.config_schema);
        assert!(properties["restart"].is_object(), "{}", game.config_schema);
    }
}

async fn a_game_config_is_validated_stored_and_pushed_to_the_agent_at_once(server: &TestServer) {
    let (host, credential) = server.enrolled_host("eu-1").await;
    let mut agent = server.connect(&credential).await;
    assert_eq!(agent.game_config.as_ref().map(|c| c.games.len()), Some(0));
    let host_id = host.to_string();

    let (status, body) = put_game(server, &host_id, "main", &game_body(8081)).await;
    assert_eq!(status, 201, "{body}");
    let ServerMessage::GameConfig(config) = agent.recv().await else { panic!("expected config") };
    assert_eq!(config.games.len(), 1);
    assert_eq!(
        (config.games[0].name.as_str(), config.games[0].settings.console.port),
        ("main", 8081)
    );

    let (status, body) = put_game(server, &host_id, "main", &game_body(9000)).await;
    assert_eq!(status, 200, "{body}");
    let game: Game = serde_json::from_value(body).unwrap();
    assert_eq!(game.settings.console.port, 9000);
    let ServerMessage::GameConfig(config) = agent.recv().await else { panic!("expected config") };
    assert_eq!(config.games[0].settings.console.port, 9000);

    // Each invalid field is refused, naming it, and nothing is pushed.
    let mut bad_type = game_body(1);
    bad_type["game"] = json!("quake");
    let mut bad_port = game_body(1);
    bad_port["settings"]["console"]["port"] = json!(0);
    let mut relative = game_body(1);
    relative["settings"]["console"]["password"] = json!({"file": "pw.txt"});
    let mut plain_password = game_body(1);
    plain_password["settings"]["console"]["password"] = json!("hunter2");
    for (name, body, status, expected) in [
        ("x", &bad_type, 422, "unknown_game_type"),
        ("x", &bad_port, 422, "invalid_game_config"),
        ("x", &relative, 422, "invalid_game_config"),
        ("x", &plain_password, 400, "invalid_request"),
        ("bad name", &game_body(1), 422, "invalid_game_config"),
    ] {
        let (got, answer) = put_game(server, &host_id, name, body).await;
        assert_eq!((got, code(&answer).as_str()), (status, expected), "{answer}");
    }
    let listed: GameList =
        server.get(&format!("/hosts/{host}/games")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.items.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["main"]);

    let url = server.url(&format!("/hosts/{host}/games/main"));
    let response = server.http.delete(url).bearer_auth(&server.org.api_key).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let ServerMessage::GameConfig(config) = agent.recv().await else { panic!("expected config") };
    assert!(config.games.is_empty());

    // A reconnecting agent gets the current config after its welcome.
    put_game(server, &host_id, "again", &game_body(7000)).await;
    drop(agent);
    let agent = server.connect(&credential).await;
    let config = agent.game_config.unwrap();
    assert_eq!(config.games.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["again"]);
}

fn event(kind: &str, player: Option<(&str, &str)>, at_ms: i64) -> GameEventMessage {
    GameEventMessage {
        id: Uuid::now_v7(),
        instance: "main".into(),
        game: "7dtd".into(),
        kind: kind.into(),
        player: player.map(|(id, name)| EventPlayer { id: Some(id.into()), name: name.into() }),
        at_ms,
        data: json!({"kind": kind, "raw": format!("line at {at_ms}")}),
    }
}

async fn events(server: &TestServer, query: &str) -> Page<GameEvent> {
    let response = server.get(&format!("/events?{query}")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn game_events_are_stored_acked_filtered_and_shown_as_players(server: &TestServer) {
    let (host, credential) = server.enrolled_host("eu-1").await;
    let mut agent = server.connect(&credential).await;
    let now = jiff::Timestamp::now().as_millisecond();
    let mut invalid = event("chat", None, now);
    invalid.kind = "bad\nkind".into();
    let batch = vec![
        event("player_connected", Some(("Steam_1", "Alice")), now),
        event("chat", Some(("Steam_1", "Alice")), now + 1),
        event("player_connected", Some(("Steam_2", "Bob")), now + 2),
        event("player_disconnected", Some(("Steam_2", "Bob")), now + 3),
        invalid,
    ];
    let message = AgentMessage::GameEvents(GameEvents { batch: 7, events: batch.clone() });
    agent.send(&message).await;
    let ServerMessage::GameEventsAck(ack) = agent.recv().await else { panic!("expected ack") };
    assert_eq!(ack.batch, 7);
    // A re-sent batch is acked and stored once.
    agent.send(&message).await;
    let ServerMessage::GameEventsAck(_) = agent.recv().await else { panic!("expected ack") };

    let all = events(server, "").await;
    let kinds: Vec<_> = all.items.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["player_disconnected", "player_connected", "chat", "player_connected"]);
    assert!(all.items.iter().all(|e| e.host == host && e.instance == "main"));
    assert_eq!(events(server, "kind=chat").await.items.len(), 1);
    assert_eq!(events(server, "player=Bob").await.items.len(), 2);
    assert_eq!(events(server, &format!("host={host}&player=Steam_1")).await.items.len(), 2);
    assert_eq!(events(server, &format!("host={}", Uuid::new_v4())).await.items.len(), 0);
    let page = events(server, "limit=3").await;
    let cursor = page.next_cursor.expect("a full page has a cursor");
    let rest = events(server, &format!("limit=3&cursor={cursor}")).await;
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].id, batch[0].id);
    for bad in ["since=yesterday", "limit=0", "kind=", "nope=1"] {
        let response = server.get(&format!("/events?{bad}")).send().await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }

    let shown: Host =
        server.get(&format!("/hosts/{host}")).send().await.unwrap().json().await.unwrap();
    let players: Vec<_> =
        shown.players.iter().map(|p| (p.id.as_str(), p.name.as_str(), p.online)).collect();
    assert_eq!(players, [("Steam_1", "Alice", true), ("Steam_2", "Bob", false)]);
}

#[tokio::test]
async fn a_game_job_with_an_unknown_action_or_no_game_is_refused_naming_the_actions() {
    let server = TestServer::start().await;
    let host = server.create_host("eu-1").await.host.id;
    for (kind, expected) in [
        (json!({"type": "game", "game": "main", "action": "explode"}), "use one of command, say"),
        (json!({"type": "game", "game": "", "action": "say"}), "needs `game`"),
    ] {
        let response = server.post("/jobs").json(&json!({"host": host, "kind": kind})).send();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 422);
        let body: ErrorBody = response.json().await.unwrap();
        assert!(body.error.message.contains(expected), "{}", body.error.message);
    }
    let kind = json!({"type": "game", "game": "main", "action": "say", "args": {"message": "hi"}});
    let response = server.post("/jobs").json(&json!({"host": host, "kind": kind})).send().await;
    assert_eq!(response.unwrap().status(), 201);
}
