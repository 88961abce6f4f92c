use super::*;

const HOST: &str = "01936f1e-7c2a-7000-8000-000000000001";
const JOB: &str = "01936f1e-7c2a-7000-8000-0000000000aa";

fn full() -> Heartbeat {
    Heartbeat {
        host: HOST.parse().unwrap(),
        agent_version: "0.1.0".to_owned(),
        seq: 42,
        uptime_secs: 86_400,
        load: Some(LoadAvg { one: 0.5, five: 0.25, fifteen: 0.125 }),
        memory: Some(Memory { total_bytes: 16 << 30, available_bytes: 8 << 30 }),
        disks: vec![Disk {
            mount: "/".to_owned(),
            total_bytes: 100 << 30,
            available_bytes: 40 << 30,
        }],
        running_jobs: vec![JOB.parse().unwrap()],
        games: vec![GameStatus {
            game: "7dtd".to_owned(),
            instance: "main".to_owned(),
            up: true,
            version: Some("V 1.2 (b27)".to_owned()),
            players_online: 1,
            max_players: Some(8),
            players: vec![Player { id: "76561198000000000".to_owned(), name: "Alice".to_owned() }],
            world_time: Some("Day 7, 22:00".to_owned()),
        }],
    }
}

#[test]
fn a_full_heartbeat_survives_a_json_round_trip() {
    let hb = full();
    let json = serde_json::to_string(&hb).unwrap();
    let back: Heartbeat = serde_json::from_str(&json).unwrap();
    assert_eq!(back, hb);
    assert_eq!(back.validate(), Ok(()));
}

#[test]
fn the_wire_shape_uses_snake_case_names() {
    let value = serde_json::to_value(full()).unwrap();
    assert_eq!(value["host"], HOST);
    assert_eq!(value["agent_version"], "0.1.0");
    assert_eq!(value["memory"]["available_bytes"], 8u64 << 30);
    assert_eq!(value["games"][0]["players_online"], 1);
    assert_eq!(value["games"][0]["world_time"], "Day 7, 22:00");
    assert_eq!(value["running_jobs"][0], JOB);
}

#[test]
fn an_older_agents_payload_without_optional_fields_parses() {
    let json = format!(r#"{{"host": "{HOST}", "agent_version": "0.0.9", "seq": 1}}"#);
    let hb: Heartbeat = serde_json::from_str(&json).unwrap();
    assert_eq!(hb.uptime_secs, 0);
    assert_eq!(hb.load, None);
    assert_eq!(hb.memory, None);
    assert!(hb.disks.is_empty() && hb.running_jobs.is_empty() && hb.games.is_empty());
    assert_eq!(hb.validate(), Ok(()));
}

#[test]
fn a_game_status_with_only_its_required_fields_parses() {
    let json = format!(
        r#"{{"host": "{HOST}", "agent_version": "0.1.0", "seq": 1,
            "games": [{{"game": "7dtd", "up": false}}]}}"#
    );
    let hb: Heartbeat = serde_json::from_str(&json).unwrap();
    let game = &hb.games[0];
    assert_eq!(game.instance, "");
    assert_eq!(game.players_online, 0);
    assert_eq!(game.version, None);
    assert!(game.players.is_empty());
}

#[test]
fn a_newer_agents_extra_fields_are_ignored() {
    let json = format!(
        r#"{{"host": "{HOST}", "agent_version": "9.0.0", "seq": 1, "gpu": {{"count": 2}}}}"#
    );
    let hb: Heartbeat = serde_json::from_str(&json).unwrap();
    assert_eq!(hb.agent_version, "9.0.0");
}

#[test]
fn a_payload_without_its_host_is_refused_by_the_parser() {
    let err =
        serde_json::from_str::<Heartbeat>(r#"{"agent_version": "0.1.0", "seq": 1}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `host`"), "{err}");
}

fn check(mutate: impl FnOnce(&mut Heartbeat), expected: &str) {
    let mut hb = full();
    mutate(&mut hb);
    let err = hb.validate().unwrap_err();
    assert_eq!(err.to_string(), expected);
}

#[test]
fn validation_names_the_field_and_the_limit() {
    let long = "x".repeat(MAX_STRING_BYTES + 1);
    check(
        |hb| hb.agent_version.clear(),
        "heartbeat field agent_version is empty; expected a non-empty string",
    );
    check(
        |hb| hb.agent_version = long.clone(),
        "heartbeat field agent_version is 257 bytes long; at most 256 are allowed",
    );
    check(
        |hb| {
            let disk = hb.disks[0].clone();
            hb.disks = vec![disk; MAX_DISKS + 1];
        },
        "heartbeat field disks has 65 entries; at most 64 are allowed",
    );
    check(
        |hb| hb.disks[0].mount.clear(),
        "heartbeat field disks[0].mount is empty; expected a non-empty string",
    );
    check(
        |hb| hb.disks[0].available_bytes = hb.disks[0].total_bytes + 1,
        "heartbeat field disks[0] reports 107374182401 bytes available of 107374182400 in total; \
         available cannot exceed total",
    );
    check(
        |hb| hb.memory = Some(Memory { total_bytes: 1, available_bytes: 2 }),
        "heartbeat field memory reports 2 bytes available of 1 in total; \
         available cannot exceed total",
    );
    check(
        |hb| hb.running_jobs = vec![JobId::new(); MAX_RUNNING_JOBS + 1],
        "heartbeat field running_jobs has 1025 entries; at most 1024 are allowed",
    );
    check(
        |hb| {
            let game = hb.games[0].clone();
            hb.games = vec![game; MAX_GAMES + 1];
        },
        "heartbeat field games has 33 entries; at most 32 are allowed",
    );
    check(
        |hb| hb.games[0].game.clear(),
        "heartbeat field games[0].game is empty; expected a non-empty string",
    );
    check(
        |hb| hb.games[0].world_time = Some(long.clone()),
        "heartbeat field games[0].world_time is 257 bytes long; at most 256 are allowed",
    );
    check(
        |hb| {
            let player = hb.games[0].players[0].clone();
            hb.games[0].players = vec![player; MAX_PLAYERS + 1];
        },
        "heartbeat field games[0].players has 1001 entries; at most 1000 are allowed",
    );
    check(
        |hb| hb.games[0].players[0].name = long.clone(),
        "heartbeat field games[0].players[0].name is 257 bytes long; at most 256 are allowed",
    );
    check(
        |hb| hb.load.as_mut().unwrap().five = -1.0,
        "heartbeat field load.five is -1; expected a finite number of at least 0",
    );
    check(
        |hb| hb.load.as_mut().unwrap().fifteen = f64::NAN,
        "heartbeat field load.fifteen is NaN; expected a finite number of at least 0",
    );
}

#[test]
fn sizes_at_the_limits_are_accepted() {
    let mut hb = full();
    hb.agent_version = "v".repeat(MAX_STRING_BYTES);
    hb.disks = vec![hb.disks[0].clone(); MAX_DISKS];
    hb.running_jobs = vec![JobId::new(); MAX_RUNNING_JOBS];
    hb.games[0].players = vec![hb.games[0].players[0].clone(); MAX_PLAYERS];
    hb.games = vec![hb.games[0].clone(); MAX_GAMES];
    assert_eq!(hb.validate(), Ok(()));
}
