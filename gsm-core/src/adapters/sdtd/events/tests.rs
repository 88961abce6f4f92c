use std::collections::BTreeSet;
use std::path::Path;

use super::*;

/// Real-format log lines (A16 to V 2.4), one per line, and what each parses to.
const CORPUS: &str = include_str!("../testdata/log-corpus.txt");
const EXPECTED_PATH: &str = "src/adapters/sdtd/testdata/log-corpus.expected.jsonl";

fn parsed_corpus() -> Vec<(&'static str, Option<LogEvent>)> {
    CORPUS.lines().map(|line| (line, parse_line(line))).collect()
}

fn render(event: Option<&LogEvent>) -> String {
    match event {
        Some(event) => serde_json::to_string(event).unwrap(),
        None => "null".to_owned(),
    }
}

/// Every corpus line parses to the committed expectation, line for line.
/// `GSM_BLESS=1` rewrites the expectation file after a deliberate change; review its diff.
#[test]
fn the_corpus_parses_to_the_committed_expectations() {
    let rendered: Vec<String> =
        parsed_corpus().iter().map(|(_, event)| render(event.as_ref())).collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(EXPECTED_PATH);
    if std::env::var_os("GSM_BLESS").is_some() {
        std::fs::write(&path, rendered.join("\n") + "\n").unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    let expected: Vec<&str> = expected.lines().collect();
    assert_eq!(expected.len(), rendered.len(), "one expectation per corpus line");
    for ((line, want), got) in CORPUS.lines().zip(&expected).zip(&rendered) {
        assert_eq!(got, want, "corpus line {line:?}");
    }
}

#[test]
fn the_corpus_has_over_a_hundred_lines_and_covers_every_event_kind() {
    let corpus = parsed_corpus();
    assert!(corpus.len() >= 100, "{} lines", corpus.len());
    let seen: BTreeSet<&str> =
        corpus.iter().filter_map(|(_, event)| Some(event.as_ref()?.event.kind())).collect();
    let all: BTreeSet<&str> = [
        "player_connected",
        "player_joined",
        "player_spawned",
        "player_disconnected",
        "player_left",
        "player_died",
        "entity_killed",
        "chat",
        "command_executed",
        "server_started",
        "server_stopping",
        "stats",
        "console_login_blocked",
        "error",
    ]
    .into();
    assert_eq!(seen, all);
    assert!(corpus.iter().any(|(_, event)| event.is_none()), "unknown lines are in the corpus too");
}

#[test]
fn every_event_keeps_its_raw_line_and_survives_a_json_round_trip() {
    for (line, event) in parsed_corpus() {
        let Some(event) = event else { continue };
        assert_eq!(event.raw, line.strip_suffix('\r').unwrap_or(line));
        let json = serde_json::to_string(&event).unwrap();
        let back: LogEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event, "{json}");
        let tag = serde_json::from_str::<serde_json::Value>(&json).unwrap()["kind"].clone();
        assert_eq!(tag, event.event.kind(), "the kind() name is the serialised tag");
    }
}

#[test]
fn the_event_schema_names_every_kind() {
    let schema = serde_json::to_string(&schemars::schema_for!(LogEvent)).unwrap();
    for kind in ["player_spawned", "chat", "server_stopping", "stats", "error"] {
        assert!(schema.contains(kind), "{kind} missing from the schema");
    }
}

fn check(line: &str, expected: Option<Event>) {
    assert_eq!(parse_line(line).map(|event| event.event), expected, "line {line:?}");
}

#[test]
fn spawn_and_disconnect_lines_from_every_era() {
    check(
        "PlayerSpawnedInWorld (reason: JoinMultiplayer, position: 1873, 66, 347): EntityID=171, \
         PltfmId='Steam_1', CrossId='EOS_2', OwnerID='Steam_1', PlayerName='Cata lysm', ClientNumber='6'",
        Some(Event::PlayerSpawned {
            reason: "JoinMultiplayer".to_owned(),
            position: Some([1873.0, 66.0, 347.0]),
            player: PlayerRef {
                name: "Cata lysm".to_owned(),
                entity_id: Some(171),
                platform_id: Some("Steam_1".to_owned()),
                cross_id: Some("EOS_2".to_owned()),
                owner_id: Some("Steam_1".to_owned()),
                client_number: Some(6),
            },
        }),
    );
    check(
        "Player disconnected: EntityID=3825, PlayerID='7656', OwnerID='7656', PlayerName='ecv'",
        Some(Event::PlayerDisconnected {
            player: PlayerRef {
                name: "ecv".to_owned(),
                entity_id: Some(3825),
                platform_id: Some("7656".to_owned()),
                owner_id: Some("7656".to_owned()),
                ..PlayerRef::default()
            },
        }),
    );
    check("Player disconnected: EntityID=1", None);
}

#[test]
fn chat_lines_with_and_without_a_sender_name() {
    let chat = |from: &str, entity_id, name: Option<&str>, message: &str, handled: Option<&str>| {
        Some(Event::Chat {
            channel: "Global".to_owned(),
            from: from.to_owned(),
            entity_id,
            name: name.map(str::to_owned),
            message: message.to_owned(),
            handled_by_mod: handled.map(str::to_owned),
        })
    };
    check(
        "Chat (from 'Steam_1', entity id '171', to 'Global'): 'Cata': it's: fine",
        chat("Steam_1", 171, Some("Cata"), "it's: fine", None),
    );
    check(
        "Chat (from '-non-player-', entity id '-1', to 'Global'): hi",
        chat("-non-player-", -1, None, "hi", None),
    );
    check(
        "Chat handled by mod 'CSMM Patrons': Chat (from '7656', entity id '549', to 'Global'): 'A': /x",
        chat("7656", 549, Some("A"), "/x", Some("CSMM Patrons")),
    );
}

#[test]
fn deaths_kills_and_lifecycle_lines() {
    check(
        "GMSG: Player 'A' killed by 'B'",
        Some(Event::PlayerDied { name: "A".to_owned(), killer: Some("B".to_owned()) }),
    );
    check("GMSG: Player 'A' died", Some(Event::PlayerDied { name: "A".to_owned(), killer: None }));
    check(
        "Entity zombieNurse 613814 killed by Cata lysm 54854",
        Some(Event::EntityKilled {
            entity: "zombieNurse".to_owned(),
            entity_id: 613814,
            killer: "Cata lysm".to_owned(),
            killer_id: 54854,
        }),
    );
    check("Started Telnet on 8081", Some(Event::ServerStarted { telnet_port: 8081 }));
    check("[NET] ServerShutdown", Some(Event::ServerStopping));
}

#[test]
fn errors_need_an_error_level_and_spam_is_dropped() {
    let line = "2024-06-01T12:30:00 1799.000 ERR Error loading region file";
    check(line, Some(Event::Error { message: "Error loading region file".to_owned() }));
    check("2024-06-01T12:30:00 1799.000 WRN Error loading region file", None);
    check("Error loading region file", None);
    check("2024-06-01T12:30:00 1799.000 EXC NullReferenceException: Object reference", None);
}

#[test]
fn the_prefix_is_split_into_time_uptime_and_level() {
    let event = parse_line("2018-01-09T19:39:39 9965.002 INF GMSG: Player 'ecv' joined the game\r")
        .unwrap();
    assert_eq!(event.time.as_deref(), Some("2018-01-09T19:39:39"));
    assert_eq!(event.uptime_s, Some(9965.002));
    assert_eq!(event.level.as_deref(), Some("INF"));
    assert_eq!(event.raw, "2018-01-09T19:39:39 9965.002 INF GMSG: Player 'ecv' joined the game");
    assert_eq!(split_prefix("2018-01-09T19:39:39 9965.002 INFO x"), None);
    assert_eq!(split_prefix("2018-01-09T19:39:39 99x5 INF x"), None);
    assert_eq!(split_prefix("2018-01-09T19:39:39 1 INF").map(|(_, message)| message), Some(""));
    assert_eq!(split_prefix("ü018-01-09T19:39:39 1 INF x"), None);
}

#[test]
fn a_field_list_with_a_hundred_thousand_separators_parses() {
    // Scanning for the next key stops at the first byte that cannot be in one, so this is linear;
    // a quadratic scan would keep this test busy for minutes.
    let line = format!("Player disconnected: PlayerName='{}'", ", a".repeat(100_000));
    let event = parse_line(&line).map(|event| event.event);
    assert!(matches!(event, Some(Event::PlayerDisconnected { .. })));
}
