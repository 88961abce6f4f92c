use super::*;

/// The one table-test helper: `parse(input)` must equal `expected`.
fn check<T: PartialEq + std::fmt::Debug>(
    parse: impl Fn(&str) -> Result<T, Error>,
    input: &str,
    expected: Result<T, Error>,
) {
    assert_eq!(parse(input), expected, "input {input:?}");
}

fn player(entity_id: i64, name: &str) -> OnlinePlayer {
    OnlinePlayer {
        entity_id,
        name: name.to_owned(),
        position: None,
        remote: None,
        health: None,
        deaths: None,
        zombies: None,
        players: None,
        score: None,
        level: None,
        platform_id: None,
        cross_id: None,
        ip: None,
        ping: None,
    }
}

const LP_V24: &str = "0. id=171, Catalysm, pos=(1873.0, 66.0, 347.0), rot=(0.0, 90.0, 0.0), \
    remote=True, health=100, deaths=0, zombies=0, players=0, score=0, level=1, \
    pltfmid=Steam_76561198028175941, crossid=EOS_0002b5d970954287afdcb5dc35af0424, ip=1.2.3.4, \
    ping=20\r\nTotal of 1 in the game";

#[test]
fn version_outputs() {
    check(
        version,
        "Game version: V 2.4 (b7) Compatibility Version: V 2.4\nMod TFP_Harmony: 2.4.0.7\nMod Odd: <unknown version>",
        Ok(Version {
            game: "V 2.4 (b7)".to_owned(),
            compatibility: Some("V 2.4".to_owned()),
            mods: vec![
                ModVersion { name: "TFP_Harmony".to_owned(), version: Some("2.4.0.7".to_owned()) },
                ModVersion { name: "Odd".to_owned(), version: None },
            ],
        }),
    );
    check(
        version,
        "Game version: Alpha 16.4 (b8) Compatibility Version: Alpha 16.4",
        Ok(Version {
            game: "Alpha 16.4 (b8)".to_owned(),
            compatibility: Some("Alpha 16.4".to_owned()),
            mods: vec![],
        }),
    );
    check(
        version,
        "Game version: V 2.4",
        Ok(Version { game: "V 2.4".to_owned(), compatibility: None, mods: vec![] }),
    );
    check(version, "", Err(Error::Missing { command: "version", expected: "Game version: …" }));
    check(
        version,
        "Game version: V 1\nMod broken",
        Err(Error::Malformed { command: "version", line: "Mod broken".to_owned() }),
    );
}

#[test]
fn player_list_outputs() {
    check(
        players,
        LP_V24,
        Ok(PlayerList {
            players: vec![OnlinePlayer {
                position: Some([1873.0, 66.0, 347.0]),
                remote: Some(true),
                health: Some(100),
                deaths: Some(0),
                zombies: Some(0),
                players: Some(0),
                score: Some(0),
                level: Some(1),
                platform_id: Some("Steam_76561198028175941".to_owned()),
                cross_id: Some("EOS_0002b5d970954287afdcb5dc35af0424".to_owned()),
                ip: Some("1.2.3.4".to_owned()),
                ping: Some(20),
                ..player(171, "Catalysm")
            }],
            total: 1,
        }),
    );
    check(players, "Total of 0 in the game", Ok(PlayerList { players: vec![], total: 0 }));
    // Names with spaces, commas and colour codes; unknown ids; an A16 steamid.
    check(
        players,
        "0. id=5, Cata lysm, pos=(1.0, 2.0, 3.0), rot=(0.0, 0.0, 0.0), pltfmid=<unknown>, ping=3\n\
         1. id=6, [FF0000]Red, Dead[-], pos=(-1.5, 0.0, 2.0), steamid=76561198040658370\n\
         Total of 2 in the game",
        Ok(PlayerList {
            players: vec![
                OnlinePlayer {
                    position: Some([1.0, 2.0, 3.0]),
                    ping: Some(3),
                    ..player(5, "Cata lysm")
                },
                OnlinePlayer {
                    position: Some([-1.5, 0.0, 2.0]),
                    platform_id: Some("76561198040658370".to_owned()),
                    ..player(6, "[FF0000]Red, Dead[-]")
                },
            ],
            total: 2,
        }),
    );
    check(
        players,
        "0. id=171, Catalysm, pos=(1.0, 2.0, 3.0)",
        Err(Error::Missing { command: "lp", expected: "Total of N in the game" }),
    );
    check(
        players,
        "0. id=x, Catalysm, pos=(1.0, 2.0, 3.0)\nTotal of 1 in the game",
        Err(Error::Malformed {
            command: "lp",
            line: "0. id=x, Catalysm, pos=(1.0, 2.0, 3.0)".to_owned(),
        }),
    );
    check(
        players,
        "Total of many in the game",
        Err(Error::Malformed { command: "lp", line: "Total of many in the game".to_owned() }),
    );
}

#[test]
fn a_player_position_never_holds_nan_or_infinity() {
    let huge = "9".repeat(400);
    let list = players(&format!("0. id=1, a, pos=(NaN, {huge}, 1.0)\nTotal of 1 in the game"));
    assert_eq!(list.map(|list| list.players[0].position), Ok(None));
}

#[test]
fn world_time_outputs() {
    check(world_time, "Day 12, 07:05", Ok(WorldTime { day: 12, hour: 7, minute: 5 }));
    check(
        world_time,
        "Day 7, 22:00\n6 days to next horde.",
        Ok(WorldTime { day: 7, hour: 22, minute: 0 }),
    );
    check(
        world_time,
        "nothing",
        Err(Error::Missing { command: "gettime", expected: "Day N, HH:MM" }),
    );
    check(
        world_time,
        "Day 1, 25:00",
        Err(Error::Malformed { command: "gettime", line: "Day 1, 25:00".to_owned() }),
    );
    assert_eq!(WorldTime { day: 3, hour: 4, minute: 5 }.to_string(), "Day 3, 04:05");
}

#[test]
fn mem_outputs() {
    let full = MemStats {
        uptime_minutes: Some(12.34),
        fps: Some(35.12),
        heap_mb: Some(512.3),
        heap_max_mb: Some(600.1),
        chunks: Some(400),
        chunk_game_objects: Some(30),
        players: Some(1),
        zombies: Some(5),
        entities: Some(10),
        entities_total: Some(30),
        items: Some(0),
        co: Some(1),
        rss_mb: Some(2048.0),
    };
    check(
        mem,
        "Time: 12.34m FPS: 35.12 Heap: 512.3MB Max: 600.1MB Chunks: 400 CGO: 30 Ply: 1 Zom: 5 \
         Ent: 10 (30) Items: 0 CO: 1 RSS: 2048.0MB\nObservers\n id=1",
        Ok(full),
    );
    check(
        mem,
        "Time: 0.50m FPS: 60.00 New: 3",
        Ok(MemStats { uptime_minutes: Some(0.5), fps: Some(60.0), ..MemStats::default() }),
    );
    check(mem, "", Err(Error::Missing { command: "mem", expected: "Time: …" }));
    check(
        mem,
        "Time: soon",
        Err(Error::Malformed { command: "mem", line: "Time: soon".to_owned() }),
    );
}

#[test]
fn banner_lines() {
    let lines = [
        "*** Connected with 7DTD server.",
        "*** Server version: V 2.4 (b7) Compatibility Version: V 2.4",
        "",
        "Server IP:   Any",
        "Server port: 26900",
        "Max players: 8",
        "Game mode:   GameModeSurvival",
        "World:       Navezgane",
        "Game name:   My Game",
        "Difficulty:  2",
        "Press 'help' to get a list of all commands. Press 'exit' to end session.",
    ];
    assert_eq!(
        banner(&lines),
        Banner {
            version: Some("V 2.4 (b7)".to_owned()),
            compatibility: Some("V 2.4".to_owned()),
            max_players: Some(8),
            port: Some(26900),
            game_mode: Some("GameModeSurvival".to_owned()),
            world: Some("Navezgane".to_owned()),
            game_name: Some("My Game".to_owned()),
        }
    );
    assert_eq!(banner::<&str>(&[]), Banner::default());
}
