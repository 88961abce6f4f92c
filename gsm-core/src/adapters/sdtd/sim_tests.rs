//! The 7DTD client against the simulated console (`gsm-sim-7dtd`) over real loopback sockets:
//! login, delimiting, hostile framing, faults and reconnection. Nothing here sleeps to wait:
//! every wait is for an event, under a deadline.

use std::time::Duration;

use gsm_sim_7dtd::{Chunking, Config, Fault, LineEnding, Sim};
use tokio::sync::mpsc;

use super::client::{Client, ClientConfig, LogSink, Password};
use super::events::{self, Event};
use super::reconnect::{Backoff, Reconnecting};
use crate::adapters::{AdapterError, GameAdapter};

const PASSWORD: &str = "s3cret pass";
const DEADLINE: Duration = Duration::from_secs(10);

async fn sim(config: Config) -> Sim {
    Sim::start(Config { password: Some(PASSWORD.to_owned()), ..config }).await.unwrap()
}

fn config(sim: &Sim, password: Option<&str>) -> ClientConfig {
    let mut config = ClientConfig::new(sim.addr().to_string());
    config.password = password.map(Password::new);
    config
}

async fn connect(sim: &Sim) -> (Client, mpsc::Receiver<String>) {
    let (logs, lines) = LogSink::channel(1024);
    let client = Client::connect(&config(sim, Some(PASSWORD)), logs).await.unwrap();
    (client, lines)
}

/// Reads log lines until one parses to an event `wanted` accepts.
async fn await_event(lines: &mut mpsc::Receiver<String>, wanted: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let line = lines.recv().await.expect("the log stream ended");
            if let Some(event) = events::parse_line(&line).filter(|event| wanted(&event.event)) {
                return event.event;
            }
        }
    })
    .await
    .expect("the event did not arrive in time")
}

#[tokio::test]
async fn login_with_the_right_password_reads_the_banner() {
    let sim = sim(Config::default()).await;
    let (client, _lines) = connect(&sim).await;
    assert_eq!(client.banner().version.as_deref(), Some("V 2.4 (b7)"));
    assert_eq!(client.banner().max_players, Some(8));
    assert_eq!(client.banner().world.as_deref(), Some("Navezgane"));
    assert_eq!(sim.logged_in(), 1);
}

#[tokio::test]
async fn a_wrong_password_fails_once_without_a_retry() {
    let sim = sim(Config { failed_login_limit: 2, ..Config::default() }).await;
    let (logs, _lines) = LogSink::channel(16);
    let refused = Client::connect(&config(&sim, Some("wrong")), logs.clone()).await;
    assert!(matches!(refused, Err(AdapterError::AuthFailed)), "{refused:?}");
    // A retry would have been the second wrong password and locked the address out.
    let accepted = Client::connect(&config(&sim, Some(PASSWORD)), logs).await;
    assert!(accepted.is_ok(), "{accepted:?}");
}

#[tokio::test]
async fn a_locked_out_address_is_closed_silently_and_told_apart_from_a_wrong_password() {
    let sim = sim(Config { failed_login_limit: 1, ..Config::default() }).await;
    let (logs, _lines) = LogSink::channel(16);
    let too_many = Client::connect(&config(&sim, Some("wrong")), logs.clone()).await;
    assert!(matches!(too_many, Err(AdapterError::AuthFailed)), "{too_many:?}");
    let blocked = Client::connect(&config(&sim, Some(PASSWORD)), logs).await;
    match blocked {
        Err(AdapterError::Protocol(message)) => assert!(message.contains("blocks"), "{message}"),
        other => panic!("expected the silent-close protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_console_without_a_password_starts_at_the_banner() {
    let sim = Sim::start(Config::default()).await.unwrap();
    let (logs, _lines) = LogSink::channel(16);
    let mut client = Client::connect(&config(&sim, None), logs.clone()).await.unwrap();
    assert_eq!(client.banner().max_players, Some(8));
    assert!(client.world_time().await.is_ok());
    // A configured password is simply not needed.
    assert!(Client::connect(&config(&sim, Some("unused")), logs).await.is_ok());
}

#[tokio::test]
async fn a_console_that_asks_for_a_password_refuses_a_client_without_one() {
    let sim = sim(Config::default()).await;
    let (logs, _lines) = LogSink::channel(16);
    let refused = Client::connect(&config(&sim, None), logs).await;
    assert!(matches!(refused, Err(AdapterError::AuthFailed)), "{refused:?}");
}

#[tokio::test]
async fn command_outputs_parse_into_typed_values_and_a_status() {
    let players = vec!["Catalysm".to_owned(), "Cata lysm".to_owned()];
    let sim = sim(Config { players, ..Config::default() }).await;
    let (mut client, _lines) = connect(&sim).await;
    let version = client.version().await.unwrap();
    assert_eq!(version.game, "V 2.4 (b7)");
    assert_eq!(version.mods.len(), 2);
    let list = client.players().await.unwrap();
    assert_eq!(list.total, 2);
    assert_eq!(list.players[1].name, "Cata lysm");
    assert!(list.players[0].platform_id.as_deref().is_some_and(|id| id.starts_with("Steam_")));
    let time = client.world_time().await.unwrap();
    assert_eq!(time.day, 1);
    let mem = client.mem().await.unwrap();
    assert_eq!(mem.players, Some(2));
    let status = client.status().await.unwrap();
    assert_eq!(status.game, "7dtd");
    assert!(status.up);
    assert_eq!(status.players_online, 2);
    assert_eq!(status.max_players, Some(8));
    assert_eq!(status.version.as_deref(), Some("V 2.4 (b7)"));
    assert_eq!(status.players[0].name, "Catalysm");
    assert!(status.world_time.is_some_and(|time| time.starts_with("Day 1, ")));
}

#[tokio::test]
async fn a_response_written_byte_by_byte_is_reassembled() {
    let players = vec!["Zoë ✓".to_owned(), "Cata lysm".to_owned()];
    let sim = sim(Config { players, chunking: Chunking::ByteByByte, ..Config::default() }).await;
    let (mut client, _lines) = connect(&sim).await;
    let list = client.players().await.unwrap();
    let names: Vec<&str> = list.players.iter().map(|player| player.name.as_str()).collect();
    assert_eq!(names, ["Zoë ✓", "Cata lysm"]);
}

#[tokio::test]
async fn log_lines_interleaved_with_a_response_go_to_the_log_stream() {
    let players = vec!["Catalysm".to_owned(), "Lake".to_owned()];
    let sim = sim(Config { players, interleave_logs: true, ..Config::default() }).await;
    let (mut client, mut lines) = connect(&sim).await;
    let response = client.command("lp").await.unwrap();
    assert_eq!(response.lines().count(), 3, "{response}");
    assert!(!response.contains("WRN"), "{response}");
    let echo =
        await_event(&mut lines, |event| matches!(event, Event::CommandExecuted { .. })).await;
    assert!(matches!(echo, Event::CommandExecuted { command, .. } if command == "lp"));
    let mut interleaved = 0;
    while interleaved < 3 {
        let line = tokio::time::timeout(DEADLINE, lines.recv()).await.unwrap().unwrap();
        interleaved += usize::from(line.contains(" WRN Entity FallingBlock"));
    }
}

#[tokio::test]
async fn responses_are_delimited_without_the_echo_line() {
    let sim =
        sim(Config { hide_command_log: 1, players: vec!["Lake".to_owned()], ..Config::default() })
            .await;
    let (mut client, mut lines) = connect(&sim).await;
    for _ in 0..3 {
        assert_eq!(client.players().await.unwrap().total, 1);
        assert!(client.world_time().await.is_ok());
    }
    while let Ok(line) = lines.try_recv() {
        assert!(!line.contains("Executing command"), "{line}");
    }
}

#[tokio::test]
async fn lf_line_ends_work_like_crlf() {
    let sim = sim(Config {
        line_ending: LineEnding::Lf,
        players: vec!["Lake".to_owned()],
        ..Config::default()
    })
    .await;
    let (mut client, _lines) = connect(&sim).await;
    assert_eq!(client.banner().max_players, Some(8));
    assert_eq!(client.players().await.unwrap().players[0].name, "Lake");
}

#[tokio::test]
async fn non_utf8_bytes_decode_lossily_and_colour_codes_survive() {
    let players = vec!["[FF0000]Zoë[-]".to_owned()];
    let sim = sim(Config { latin1: true, players, ..Config::default() }).await;
    let (mut client, _lines) = connect(&sim).await;
    let list = client.players().await.unwrap();
    assert_eq!(list.players[0].name, "[FF0000]Zo\u{fffd}[-]");
}

#[tokio::test]
async fn a_very_long_output_arrives_whole() {
    let sim = sim(Config { bulk_players: 5000, ..Config::default() }).await;
    let (mut client, _lines) = connect(&sim).await;
    let list = client.players().await.unwrap();
    assert_eq!((list.total, list.players.len()), (5000, 5000));
    assert_eq!(list.players[4999].name, "Survivor5000");
    let status = client.status().await.unwrap();
    assert_eq!(status.players_online, 5000);
    assert_eq!(
        status.players.len(),
        crate::heartbeat::MAX_PLAYERS,
        "clipped to the heartbeat limit"
    );
}

#[tokio::test]
async fn a_response_over_the_cap_is_a_protocol_error_that_closes_the_connection() {
    let sim = sim(Config { bulk_players: 200, ..Config::default() }).await;
    let (logs, _lines) = LogSink::channel(16);
    let mut config = config(&sim, Some(PASSWORD));
    config.max_response_bytes = 10_000;
    let mut client = Client::connect(&config, logs).await.unwrap();
    let outcome = client.command("lp").await;
    assert!(
        matches!(&outcome, Err(AdapterError::Protocol(message)) if message.contains("10000")),
        "{outcome:?}"
    );
    tokio::time::timeout(DEADLINE, client.closed()).await.unwrap();
}

#[tokio::test]
async fn the_server_closing_mid_command_ends_in_closed() {
    let sim = sim(Config { fault: Fault::CloseMidCommand, ..Config::default() }).await;
    let (mut client, _lines) = connect(&sim).await;
    let outcome = client.command("lp").await;
    assert!(matches!(outcome, Err(AdapterError::Closed)), "{outcome:?}");
    assert!(client.is_closed());
    assert!(matches!(client.command("gt").await, Err(AdapterError::Closed)));
}

#[tokio::test]
async fn a_console_that_never_answers_times_the_login_out() {
    let sim = sim(Config { fault: Fault::NeverAnswer, ..Config::default() }).await;
    let (logs, _lines) = LogSink::channel(16);
    let mut config = config(&sim, Some(PASSWORD));
    config.connect_timeout = Duration::from_millis(300);
    let outcome = Client::connect(&config, logs).await;
    assert!(
        matches!(outcome, Err(AdapterError::Timeout(t)) if t == Duration::from_millis(300)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_hung_server_times_the_command_out() {
    let sim = sim(Config { fault: Fault::Hang, ..Config::default() }).await;
    let (logs, _lines) = LogSink::channel(16);
    let mut config = config(&sim, Some(PASSWORD));
    config.command_timeout = Duration::from_millis(300);
    let mut client = Client::connect(&config, logs).await.unwrap();
    let outcome = client.command("lp").await;
    assert!(matches!(outcome, Err(AdapterError::Timeout(_))), "{outcome:?}");
}

#[tokio::test]
async fn iac_negotiation_before_the_prompt_is_ignored() {
    let sim = sim(Config { fault: Fault::IacFlood { bytes: 4096 }, ..Config::default() }).await;
    let (mut client, _lines) = connect(&sim).await;
    assert!(client.world_time().await.is_ok());
}

#[tokio::test]
async fn an_endless_iac_flood_is_a_clean_protocol_error() {
    let sim =
        sim(Config { fault: Fault::IacFlood { bytes: 1024 * 1024 }, ..Config::default() }).await;
    let (logs, _lines) = LogSink::channel(16);
    let outcome = Client::connect(&config(&sim, Some(PASSWORD)), logs).await;
    assert!(
        matches!(&outcome, Err(AdapterError::Protocol(message)) if message.contains("line longer than")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn ten_mib_without_a_newline_is_a_clean_protocol_error_that_closes_the_connection() {
    let sim =
        sim(Config { fault: Fault::NoNewline { bytes: 10 * 1024 * 1024 }, ..Config::default() })
            .await;
    let (mut client, _lines) = connect(&sim).await;
    let outcome = client.command("lp").await;
    assert!(
        matches!(&outcome, Err(AdapterError::Protocol(message)) if message.contains("65536")),
        "{outcome:?}"
    );
    tokio::time::timeout(DEADLINE, client.closed()).await.unwrap();
}

#[tokio::test]
async fn the_reconnecting_adapter_comes_back_after_the_connection_drops() {
    let sim = sim(Config::default()).await;
    let (logs, mut lines) = LogSink::channel(1024);
    let backoff = Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(50) };
    let mut adapter = Reconnecting::new(config(&sim, Some(PASSWORD)), logs, backoff);
    assert!(adapter.status().await.is_ok());
    assert_eq!(adapter.connections(), 1);
    sim.drop_connections();
    let back = tokio::time::timeout(DEADLINE, async {
        loop {
            if adapter.status().await.is_ok() && adapter.connections() == 2 {
                return;
            }
        }
    })
    .await;
    assert!(back.is_ok(), "no reconnect in time");
    // The log stream carries on through the same receiver.
    sim.log("GMSG: Player 'Lake' joined the game");
    let joined = await_event(&mut lines, |event| matches!(event, Event::PlayerJoined { .. })).await;
    assert_eq!(joined, Event::PlayerJoined { name: "Lake".to_owned() });
    assert!(adapter.last_output().is_some());
}

#[tokio::test]
async fn a_refused_password_stops_the_reconnecting_adapter_from_retrying() {
    let sim = sim(Config::default()).await;
    let (logs, _lines) = LogSink::channel(16);
    let mut adapter = Reconnecting::new(config(&sim, Some("wrong")), logs, Backoff::default());
    assert!(matches!(adapter.status().await, Err(AdapterError::AuthFailed)));
    assert!(matches!(adapter.status().await, Err(AdapterError::AuthFailed)));
    assert_eq!(sim.connections(), 1, "no second attempt with a refused password");
}

#[tokio::test]
async fn the_log_stream_carries_the_script_as_events() {
    let sim = sim(Config { script_speed: 200.0, ..Config::default() }).await;
    let (_client, mut lines) = connect(&sim).await;
    let joined =
        await_event(&mut lines, |event| matches!(event, Event::PlayerSpawned { .. })).await;
    assert!(matches!(joined, Event::PlayerSpawned { reason, .. } if reason == "JoinMultiplayer"));
    let chat = await_event(&mut lines, |event| matches!(event, Event::Chat { .. })).await;
    assert!(matches!(chat, Event::Chat { name: Some(_), .. }));
    await_event(&mut lines, |event| matches!(event, Event::Stats(_))).await;
    await_event(&mut lines, |event| matches!(event, Event::PlayerDisconnected { .. })).await;
}

#[tokio::test]
async fn a_full_log_channel_drops_and_counts_while_commands_still_work() {
    let sim = sim(Config::default()).await;
    let (logs, _lines) = LogSink::channel(1);
    let mut client = Client::connect(&config(&sim, Some(PASSWORD)), logs.clone()).await.unwrap();
    for n in 0..50 {
        sim.log(&format!("GMSG: Player 'P{n}' joined the game"));
    }
    // The markers answer after the broadcasts, so every line above has been routed by now.
    assert!(client.world_time().await.is_ok());
    assert!(logs.dropped() >= 48, "dropped {}", logs.dropped());
}

#[tokio::test]
async fn game_actions_run_against_the_simulator() {
    let players = vec!["Catalysm".to_owned(), "Cata lysm".to_owned(), "Lake".to_owned()];
    let sim = sim(Config { players, ..Config::default() }).await;
    let (mut client, mut lines) = connect(&sim).await;
    client.say("restart in \"5\" minutes").await.unwrap();
    let chat = await_event(&mut lines, |event| matches!(event, Event::Chat { .. })).await;
    assert!(matches!(chat, Event::Chat { message, .. } if message == "restart in \"5\" minutes"));
    client.kick("Cata lysm", "afk too long").await.unwrap();
    assert_eq!(sim.players(), ["Catalysm", "Lake"]);
    client.ban("Lake", Some(Duration::from_secs(3600)), "griefing").await.unwrap();
    assert!(client.command("ban list").await.unwrap().contains("griefing"));
    let unknown = client.kick("Nobody", "x").await;
    assert!(matches!(unknown, Err(AdapterError::Rejected(_))), "{unknown:?}");
    client.save().await.unwrap();
    client.shutdown().await.unwrap();
    tokio::time::timeout(DEADLINE, sim.stopped()).await.unwrap();
}

#[tokio::test]
async fn unknown_and_multi_line_commands_are_rejected() {
    let sim = sim(Config::default()).await;
    let (mut client, _lines) = connect(&sim).await;
    let unknown = client.command("foo bar").await;
    assert!(
        matches!(&unknown, Err(AdapterError::Rejected(text)) if text == "*** ERROR: unknown command 'foo'"),
        "{unknown:?}"
    );
    let injected = client.command("lp\nshutdown").await;
    assert!(matches!(injected, Err(AdapterError::Rejected(_))), "{injected:?}");
    assert!(!sim.is_stopped());
    assert!(client.world_time().await.is_ok());
}
