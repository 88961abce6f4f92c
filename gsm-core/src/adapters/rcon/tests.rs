//! The RCON client and adapter over real loopback sockets against gsm-sim-rcon: logins, framing
//! (split reads, coalesced packets, long and multibyte outputs, empty outputs), the flavours'
//! end-of-response strategies, every hostile knob of the stand-in, and the actions.
//!
//! Every hostile case checks three things: a typed error (not a hang, not a panic), bounded
//! reads (the error comes from the Size field or the response cap, not from memory), and a
//! client that works again on its next call. Nothing sleeps to wait: tests await the client, the
//! stand-in's `stopped()`, or a timeout the client itself enforces.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use gsm_sim_rcon::{Config as SimConfig, Hostile, Server, Trigger};
use tempfile::TempDir;

use super::client::{Flavor, MAX_RESPONSE_BYTES, RconClient, RconConfig};
use super::packet::VALVE_MAX_SIZE;
use crate::adapters::sdtd::client::Password;
use crate::adapters::{AdapterError, ConsoleConfig, GameAdapter, SecretSource};

const PASSWORD: &str = "correct-horse-battery-staple";
/// A bound on any one test, so a client bug fails the test instead of hanging it.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// The client timeout for the cases that end in one.
const SHORT: Duration = Duration::from_millis(400);

async fn within<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, test).await.expect("the test finished within its limit")
}

async fn serve(config: SimConfig) -> Server {
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("a socket address");
    Server::start(any_port, config).await.expect("the stand-in starts")
}

/// A client for `address` whose password lives in a file of the returned directory.
fn client_at(address: SocketAddr, flavor: Flavor, password: &str) -> (RconClient, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("rcon-password");
    std::fs::write(&path, format!("{password}\n")).expect("the password file is written");
    let console = ConsoleConfig {
        address: address.ip().to_string(),
        port: address.port(),
        password: Some(SecretSource::File(path.display().to_string())),
        timeout_ms: Some(5000),
    };
    (RconClient::new(RconConfig::new(console, flavor)), dir)
}

fn client_for(server: &Server, flavor: Flavor) -> (RconClient, TempDir) {
    client_at(server.address(), flavor, PASSWORD)
}

fn with_timeout(client: &RconClient, timeout: Duration) -> RconClient {
    let mut config = client.config().clone();
    config.console.timeout_ms = Some(u64::try_from(timeout.as_millis()).expect("a short timeout"));
    RconClient::new(config)
}

/// The client answers `list` correctly: the check that it is usable again after a failure.
async fn assert_usable(client: &mut RconClient) {
    let output = client.command("list").await.expect("list succeeds after the failure");
    assert!(output.starts_with("There are "), "unexpected list output {output:?}");
}

fn assert_protocol(result: Result<String, AdapterError>, needle: &str) {
    match result {
        Err(AdapterError::Protocol(message)) => {
            assert!(message.contains(needle), "protocol error {message:?} lacks {needle:?}")
        }
        other => panic!("expected a protocol error about {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn status_lists_the_players_online_after_login() {
    within(async {
        let server = serve(SimConfig::minecraft(PASSWORD).with_players(&["Alice", "Bob"])).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        let status = client.status().await.expect("status");
        assert!(status.up);
        assert_eq!(status.game, "source-rcon");
        assert_eq!((status.players_online, status.max_players), (2, Some(20)));
        let names: Vec<&str> = status.players.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Alice", "Bob"]);
        assert_eq!(status.version, None);
        assert_eq!(server.stats().auth_attempts, 1);
    })
    .await;
}

#[tokio::test]
async fn a_wrong_password_fails_once_and_is_not_retried_within_the_cooldown() {
    within(async {
        let server = serve(SimConfig::minecraft(PASSWORD)).await;
        let wrong = "not-the-password";
        let (mut client, _dir) = client_at(server.address(), Flavor::Minecraft, wrong);
        for _ in 0..5 {
            let err = client.command("list").await.expect_err("the password is wrong");
            assert!(matches!(err, AdapterError::AuthFailed), "got {err:?}");
            assert_eq!(err.code(), "game_auth_failed");
            assert!(!err.to_string().contains(wrong));
        }
        let stats = server.stats();
        assert_eq!((stats.auth_attempts, stats.auth_failures, stats.connections), (1, 1, 1));
        assert!(!format!("{client:?}").contains(wrong), "Debug output shows the password");
        assert!(!client.is_connected());
    })
    .await;
}

#[tokio::test]
async fn a_password_handed_over_directly_wins_over_the_configured_source() {
    within(async {
        let server = serve(SimConfig::minecraft(PASSWORD)).await;
        let (client, _dir) = client_at(server.address(), Flavor::Minecraft, "wrong");
        let mut config = client.config().clone();
        config.password = Some(Password::new(PASSWORD));
        let mut client = RconClient::new(config);
        assert_usable(&mut client).await;
        assert!(!format!("{client:?}").contains(PASSWORD), "Debug output shows the password");

        let (client, _dir) = client_at(server.address(), Flavor::Minecraft, PASSWORD);
        let mut config = client.config().clone();
        config.password = Some(Password::new("wrong"));
        let mut client = RconClient::new(config);
        assert!(matches!(client.connect().await, Err(AdapterError::AuthFailed)));
    })
    .await;
}

#[tokio::test]
async fn a_refused_password_is_tried_again_once_the_cooldown_is_over() {
    within(async {
        let server = serve(SimConfig::minecraft(PASSWORD)).await;
        let (client, _dir) = client_at(server.address(), Flavor::Minecraft, "wrong");
        let mut config = client.config().clone();
        config.auth_retry_after = Duration::ZERO;
        let mut client = RconClient::new(config);
        for _ in 0..2 {
            assert!(matches!(client.connect().await, Err(AdapterError::AuthFailed)));
        }
        assert_eq!(server.stats().auth_attempts, 2);
    })
    .await;
}

#[tokio::test]
async fn an_empty_password_is_refused_like_minecraft_refuses_it() {
    within(async {
        let server = serve(SimConfig::minecraft("")).await;
        let (mut client, _dir) = client_at(server.address(), Flavor::Minecraft, "");
        assert!(matches!(client.connect().await, Err(AdapterError::AuthFailed)));
    })
    .await;
}

#[tokio::test]
async fn the_auth_preamble_may_be_present_or_absent() {
    within(async {
        for sim in [SimConfig::minecraft(PASSWORD), SimConfig::srcds(PASSWORD)] {
            let server = serve(sim).await;
            let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
            client.connect().await.expect("login with or without the empty preamble packet");
            assert_usable(&mut client).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_response_trickling_in_over_many_tcp_reads_is_reassembled() {
    within(async {
        let trickle = Hostile::Trickle(Duration::from_millis(1));
        let sim = SimConfig::minecraft(PASSWORD)
            .with_players(&["Alice"])
            .with_hostile(Trigger::Command("list".into()), trickle);
        let server = serve(sim).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        let output = client.command("list").await.expect("a split response");
        assert_eq!(output, "There are 1 of a max of 20 players online: Alice");
    })
    .await;
}

#[tokio::test]
async fn outputs_longer_than_a_chunk_arrive_whole_from_coalesced_packets() {
    within(async {
        // The stand-in writes all chunks of a response in one write, so they coalesce.
        let long: String = (0..10_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let server = serve(SimConfig::minecraft(PASSWORD).with_canned("long", &long)).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        assert_eq!(client.command("long").await.expect("a three-chunk output"), long);
        // The first chunk was full, so one probe confirmed the end.
        assert_eq!(server.stats().unknown_requests, 1);
    })
    .await;
}

#[tokio::test]
async fn multibyte_chunks_over_4096_bytes_are_accepted() {
    within(async {
        let text = "é€😀".repeat(2000);
        let server = serve(SimConfig::minecraft(PASSWORD).with_canned("accents", &text)).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        assert_eq!(client.command("accents").await.expect("multibyte chunks"), text);
    })
    .await;
}

#[tokio::test]
async fn an_output_of_exactly_whole_chunks_ends_at_the_probe_on_the_same_session() {
    within(async {
        let one = "y".repeat(4096);
        let two = "z".repeat(8192);
        let sim = SimConfig::minecraft(PASSWORD).with_canned("one", &one).with_canned("two", &two);
        let server = serve(sim).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        assert_eq!(client.command("one").await.expect("one full chunk"), one);
        assert_eq!(client.command("two").await.expect("two full chunks"), two);
        assert_usable(&mut client).await;
        let stats = server.stats();
        assert_eq!(stats.unknown_requests, 2, "one probe per full-chunk output");
        assert_eq!((stats.connections, stats.framing_closes), (1, 0), "the session survived");
    })
    .await;
}

#[tokio::test]
async fn an_empty_output_is_an_empty_response() {
    within(async {
        let server = serve(SimConfig::minecraft(PASSWORD)).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        assert_eq!(client.command("say hello").await.expect("say"), "");
        assert_eq!(server.said(), ["hello"]);
    })
    .await;
}

#[tokio::test]
async fn many_commands_in_a_row_never_break_minecrafts_one_read_rule() {
    within(async {
        let server =
            serve(SimConfig::minecraft(PASSWORD).with_canned("one", &"y".repeat(4096))).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        for round in 0..200 {
            let command = if round % 20 == 0 { "one" } else { "list" };
            client.command(command).await.expect("each command on the same session");
        }
        let stats = server.stats();
        assert_eq!((stats.connections, stats.framing_closes, stats.commands), (1, 0, 200));
    })
    .await;
}

#[tokio::test]
async fn srcds_outputs_end_at_the_mirrored_probe_and_its_trailer_is_skipped() {
    within(async {
        let long = "0123456789".repeat(1000);
        let server = serve(SimConfig::srcds(PASSWORD).with_canned("cvarlist", &long)).await;
        let (mut client, _dir) = client_for(&server, Flavor::Source);
        for _ in 0..3 {
            assert_eq!(client.command("cvarlist").await.expect("a multi-packet output"), long);
            assert_eq!(client.command("say hi").await.expect("an empty output"), "");
        }
        assert_usable(&mut client).await;
        assert_eq!(server.stats().connections, 1);
    })
    .await;
}

#[tokio::test]
async fn servers_answering_a_fixed_id_work_with_the_unechoed_flavour_only() {
    within(async {
        for fixed in [0, 42] {
            let sim = SimConfig::minecraft(PASSWORD).with_players(&["Pal"]).with_answer_id(fixed);
            let server = serve(sim).await;
            let (mut unechoed, _dir) = client_for(&server, Flavor::Unechoed);
            let output = unechoed.command("list").await.expect("the unechoed flavour");
            assert_eq!(output, "There are 1 of a max of 20 players online: Pal");
            let (mut minecraft, _dir) = client_for(&server, Flavor::Minecraft);
            let err = minecraft.connect().await.expect_err("ids must be echoed");
            assert!(matches!(err, AdapterError::Protocol(_)), "got {err:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn size_fields_of_5_and_2_pow_31_are_protocol_errors_and_the_client_reconnects() {
    within(async {
        for size in [5, i32::MIN, i32::MAX, -1] {
            let sim = SimConfig::minecraft(PASSWORD)
                .with_hostile(Trigger::Command("bad".into()), Hostile::Size(size));
            let server = serve(sim).await;
            let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
            let expected = if size > 10 { "above the maximum" } else { "below the minimum" };
            assert_protocol(client.command("bad").await, expected);
            assert!(!client.is_connected());
            assert_usable(&mut client).await;
            assert_eq!(server.stats().connections, 2);
        }
    })
    .await;
}

#[tokio::test]
async fn a_size_of_4097_passes_the_minecraft_cap_and_fails_valves() {
    within(async {
        let sim = SimConfig::minecraft(PASSWORD)
            .with_hostile(Trigger::Command("big".into()), Hostile::Size(4097));
        let server = serve(sim).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        let output = client.command("big").await.expect("Size 4097 is a legal Minecraft chunk");
        assert_eq!(output, "a".repeat(4097 - 10));

        let mut strict = client.config().clone();
        strict.max_packet_size = VALVE_MAX_SIZE;
        let mut strict = RconClient::new(strict);
        assert_protocol(strict.command("big").await, "above the maximum of 4096");
        assert_usable(&mut strict).await;
    })
    .await;
}

#[tokio::test]
async fn a_never_ending_reply_stops_at_the_response_cap() {
    within(async {
        let sim = SimConfig::minecraft(PASSWORD)
            .with_hostile(Trigger::Command("flood".into()), Hostile::Endless);
        let server = serve(sim).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        assert_protocol(client.command("flood").await, &format!("exceeds {MAX_RESPONSE_BYTES}"));
        assert_usable(&mut client).await;
    })
    .await;
}

#[tokio::test]
async fn a_peer_trickling_a_byte_a_second_times_out() {
    within(async {
        let trickle = Hostile::Trickle(Duration::from_secs(1));
        let sim =
            SimConfig::minecraft(PASSWORD).with_hostile(Trigger::Command("slow".into()), trickle);
        let server = serve(sim).await;
        let (client, _dir) = client_for(&server, Flavor::Minecraft);
        let mut client = with_timeout(&client, SHORT);
        let err = client.command("slow").await.expect_err("too slow");
        assert!(matches!(err, AdapterError::Timeout(t) if t == SHORT), "got {err:?}");
        assert_usable(&mut client).await;
    })
    .await;
}

#[tokio::test]
async fn a_login_trickling_in_times_out() {
    within(async {
        let trickle = Hostile::Trickle(Duration::from_secs(1));
        let server =
            serve(SimConfig::minecraft(PASSWORD).with_hostile(Trigger::Auth, trickle)).await;
        let (client, _dir) = client_for(&server, Flavor::Minecraft);
        let mut client = with_timeout(&client, SHORT);
        assert!(matches!(client.connect().await, Err(AdapterError::Timeout(_))));
    })
    .await;
}

#[tokio::test]
async fn a_reply_under_another_id_is_a_protocol_error() {
    within(async {
        let sim = SimConfig::minecraft(PASSWORD)
            .with_hostile(Trigger::Command("list".into()), Hostile::WrongId)
            .with_canned("ok", "fine");
        let server = serve(sim).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        assert_protocol(client.command("list").await, "the request had");
        assert_eq!(client.command("ok").await.expect("usable again"), "fine");
    })
    .await;
}

#[tokio::test]
async fn a_connection_closed_mid_response_is_closed_and_the_client_reconnects() {
    within(async {
        let sim = SimConfig::minecraft(PASSWORD)
            .with_canned("cut", &"c".repeat(6000))
            .with_hostile(Trigger::Command("cut".into()), Hostile::CloseMidResponse);
        let server = serve(sim).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        let err = client.command("cut").await.expect_err("cut off");
        assert!(matches!(err, AdapterError::Closed), "got {err:?}");
        assert_usable(&mut client).await;
    })
    .await;
}

#[tokio::test]
async fn garbage_instead_of_rcon_is_a_protocol_error() {
    within(async {
        let at_login =
            serve(SimConfig::minecraft(PASSWORD).with_hostile(Trigger::Auth, Hostile::Garbage))
                .await;
        let (mut client, _dir) = client_for(&at_login, Flavor::Minecraft);
        let err = client.connect().await.expect_err("an HTTP server is not RCON");
        assert!(matches!(err, AdapterError::Protocol(_)), "got {err:?}");
        assert_eq!(err.code(), "game_protocol_error");

        let sim = SimConfig::minecraft(PASSWORD)
            .with_hostile(Trigger::Command("http".into()), Hostile::Garbage);
        let server = serve(sim).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        assert_protocol(client.command("http").await, "above the maximum");
        assert_usable(&mut client).await;
    })
    .await;
}

#[tokio::test]
async fn a_command_that_never_answers_times_out_then_the_client_reconnects() {
    within(async {
        let sim = SimConfig::minecraft(PASSWORD)
            .with_hostile(Trigger::Command("changelevel".into()), Hostile::Silent);
        let server = serve(sim).await;
        let (client, _dir) = client_for(&server, Flavor::Minecraft);
        let mut client = with_timeout(&client, SHORT);
        let err = client.command("changelevel").await.expect_err("no answer");
        assert!(matches!(err, AdapterError::Timeout(_)), "got {err:?}");
        assert!(!client.is_connected());
        assert_usable(&mut client).await;
        assert_eq!(server.stats().connections, 2);
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_console_is_a_connect_error() {
    within(async {
        let address = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("its address")
        };
        let (mut client, _dir) = client_at(address, Flavor::Minecraft, PASSWORD);
        let err = client.connect().await.expect_err("nothing listens");
        assert!(matches!(err, AdapterError::Connect { .. }), "got {err:?}");
    })
    .await;
}

#[tokio::test]
async fn commands_too_long_for_one_minecraft_read_are_refused_before_sending() {
    within(async {
        let server = serve(SimConfig::minecraft(PASSWORD)).await;
        let (mut client, _dir) = client_for(&server, Flavor::Minecraft);
        let longest = format!("say {}", "x".repeat(1446 - 4));
        client.command(&longest).await.expect("1446 bytes fit in one read");
        let err = client.command(&format!("{longest}x")).await.expect_err("one byte too many");
        assert!(matches!(err, AdapterError::Unsupported { .. }), "got {err:?}");
        assert_eq!(server.stats().commands, 1);
    })
    .await;
}

#[tokio::test]
async fn the_actions_kick_ban_save_say_and_stop_the_server() {
    within(async {
        let server = serve(SimConfig::minecraft(PASSWORD).with_players(&["Alice", "Bob"])).await;
        let (client, _dir) = client_for(&server, Flavor::Minecraft);
        let mut adapter: Box<dyn GameAdapter> = Box::new(client);
        adapter.say("restart in 5 minutes").await.expect("say");
        adapter.kick("Alice", "afk").await.expect("kick");
        let err = adapter.kick("Nobody", "").await.expect_err("nobody to kick");
        assert!(matches!(err, AdapterError::Rejected(ref text) if text == "No player was found"));
        adapter.ban("Bob", None, "griefing").await.expect("ban");
        let err = adapter.ban("Bob", Some(Duration::from_secs(3600)), "x").await.expect_err("temp");
        assert!(matches!(err, AdapterError::Unsupported { .. }));
        adapter.save().await.expect("save");
        assert_eq!(server.said(), ["restart in 5 minutes"]);
        assert_eq!(server.banned(), ["Bob"]);
        assert!(server.online().is_empty());
        assert_eq!(server.saves(), 1);
        adapter.shutdown().await.expect("stop");
        server.stopped().await;
    })
    .await;
}

#[tokio::test]
async fn actions_a_flavour_cannot_name_are_unsupported() {
    within(async {
        let server = serve(SimConfig::srcds(PASSWORD)).await;
        let (client, _dir) = client_for(&server, Flavor::Source);
        let mut adapter: Box<dyn GameAdapter> = Box::new(client);
        assert!(matches!(
            adapter.save().await,
            Err(AdapterError::Unsupported { action: "save", .. })
        ));
        let status = adapter.status().await.expect("the console is reached");
        assert!(status.up && status.players.is_empty());
        adapter.say("hi").await.expect("say is shared by SRCDS games");
    })
    .await;
}
