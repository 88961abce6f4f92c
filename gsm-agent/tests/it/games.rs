//! The real agent with a fake server and the 7DTD simulator: the game config starts an adapter,
//! status rides in heartbeats, events arrive in acked batches, and game jobs (`say`, `restart`)
//! run through the adapter with each step in the job's log.

use gsm_core::adapters::ConsoleConfig;
use gsm_core::adapters::config::{GameInstance, GameSettings, RestartSettings};
use gsm_core::job::{JobId, Termination};
use gsm_proto::agent::{AgentMessage, GameConfig, GameEventsAck, JobAssignment, ServerMessage};
use gsm_sim_7dtd::{Config, Sim};
use serde_json::json;

use crate::fake_server::{FakeConn, FakeServer};
use crate::harness::{AgentSetup, CREDENTIAL};

const HEARTBEAT_MS: u64 = 200;

fn instance(port: u16) -> GameInstance {
    GameInstance {
        name: "main".to_owned(),
        game: "7dtd".to_owned(),
        settings: GameSettings {
            console: ConsoleConfig {
                address: "127.0.0.1".to_owned(),
                port,
                password: None,
                timeout_ms: Some(2000),
            },
            restart: RestartSettings {
                warnings_secs: vec![2, 1],
                start_command: None,
                ready_timeout_secs: 30,
            },
        },
    }
}

fn sim_config() -> Config {
    Config { script_speed: 20.0, players: vec!["Alice".to_owned()], ..Config::default() }
}

/// Reads messages until `pick` takes one; acks event batches on the way.
async fn until_message<T>(
    conn: &mut FakeConn,
    what: &str,
    mut pick: impl FnMut(&AgentMessage) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            let message = conn.recv().await;
            if let AgentMessage::GameEvents(batch) = &message {
                let ack = GameEventsAck { batch: batch.batch };
                conn.send(ServerMessage::GameEventsAck(ack)).await;
            }
            if let Some(found) = pick(&message) {
                return found;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The job's stdout and stderr lines and its exit code, once it finishes.
async fn job_outcome(conn: &mut FakeConn, job: JobId) -> (String, Option<i32>, Termination) {
    let mut text = String::new();
    loop {
        let message = until_message(conn, "the job's messages", |message| match message {
            AgentMessage::JobLog(chunk) if chunk.job.job == job => Some(message.clone()),
            AgentMessage::JobFinished(end) if end.job.job == job => Some(message.clone()),
            _ => None,
        })
        .await;
        match message {
            AgentMessage::JobLog(chunk) => text.push_str(&String::from_utf8_lossy(&chunk.data)),
            AgentMessage::JobFinished(end) => {
                return (text, end.result.exit_code, end.result.termination);
            }
            _ => unreachable!("filtered above"),
        }
    }
}

async fn run_job(
    conn: &mut FakeConn,
    setup: &AgentSetup,
    action: &str,
    args: serde_json::Value,
) -> (String, Option<i32>, Termination) {
    let spec = setup.game_job(action, args);
    conn.send(ServerMessage::AssignJob(JobAssignment { attempt: 1, spec: spec.clone() })).await;
    job_outcome(conn, spec.id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_game_reports_status_streams_events_and_runs_say_and_restart() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let addr = sim.addr();
    let mut server = FakeServer::for_connections(CREDENTIAL).await;
    let setup = AgentSetup::new(&server.url);
    let _agent = setup.start();
    let (mut conn, _hello) = server.accept().await;
    conn.welcome(setup.host, HEARTBEAT_MS).await;

    // Before a config, a game job fails saying what to configure.
    let (text, code, _) = run_job(&mut conn, &setup, "say", json!({"message": "hi"})).await;
    assert_eq!(code, Some(1));
    assert!(text.contains("no game server named or of type \"7dtd\""), "{text}");

    conn.send(ServerMessage::GameConfig(GameConfig { games: vec![instance(addr.port())] })).await;
    let status =
        until_message(&mut conn, "a heartbeat with the game up", |message| match message {
            AgentMessage::Heartbeat(beat) => beat.games.first().filter(|g| g.up).cloned(),
            _ => None,
        })
        .await;
    assert_eq!((status.game.as_str(), status.instance.as_str()), ("7dtd", "main"));
    assert!(status.version.is_some(), "{status:?}");
    assert!(status.players.iter().any(|p| p.name == "Alice"), "{status:?}");
    assert!(status.world_time.is_some(), "{status:?}");

    // The simulator's script makes players join and chat; their events come in batches.
    let events = until_message(&mut conn, "game events", |message| match message {
        AgentMessage::GameEvents(batch) => Some(batch.events.clone()),
        _ => None,
    })
    .await;
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e.instance == "main" && e.game == "7dtd"));
    assert!(events.iter().all(|e| e.data["raw"].is_string()), "{events:?}");

    let (text, code, _) = run_job(&mut conn, &setup, "say", json!({"message": "hello all"})).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("said: hello all"), "{text}");

    let (text, code, _) = run_job(&mut conn, &setup, "kick", json!({})).await;
    assert_eq!(code, Some(1));
    assert!(text.contains("needs a non-empty string argument \"player\""), "{text}");

    // Restart: the test plays the supervisor that starts the server again after it stops.
    let supervisor = tokio::spawn(async move {
        sim.stopped().await;
        drop(sim);
        // A real server takes a while to start; the agent must see it gone first.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        // The port may take a moment to be free again.
        loop {
            match Sim::start_on(&addr.to_string(), sim_config()).await {
                Ok(sim) => return sim,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    });
    let (text, code, termination) = run_job(&mut conn, &setup, "restart", json!({})).await;
    assert_eq!((code, termination), (Some(0), Termination::Exited), "{text}");
    let steps: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split(':').next())
        .filter(|s| s.starts_with("step"))
        .collect();
    assert_eq!(
        steps,
        ["step warn", "step warn", "step save", "step shutdown", "step start", "step ready"],
        "{text}"
    );
    assert!(text.contains("Server restart in 2 seconds"), "{text}");
    let _sim = supervisor.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_whose_password_file_appears_later_comes_up_without_a_new_config() {
    let sim = Sim::start(Config { password: Some("s3cret".to_owned()), ..sim_config() }).await;
    let sim = sim.unwrap();
    let mut server = FakeServer::for_connections(CREDENTIAL).await;
    let setup = AgentSetup::new(&server.url);
    let _agent = setup.start();
    let (mut conn, _hello) = server.accept().await;
    conn.welcome(setup.host, HEARTBEAT_MS).await;
    let password = setup.state().with_file_name("7dtd-password");
    let mut game = instance(sim.addr().port());
    game.settings.console.password =
        Some(gsm_core::adapters::SecretSource::File(password.display().to_string()));
    conn.send(ServerMessage::GameConfig(GameConfig { games: vec![game] })).await;

    let (text, code, _) = run_job(&mut conn, &setup, "save", json!({})).await;
    assert_eq!(code, Some(1));
    assert!(text.contains("game_secret_unreadable"), "{text}");
    assert!(!text.contains("s3cret"));

    std::fs::write(&password, "s3cret\n").unwrap();
    until_message(&mut conn, "a heartbeat with the game up", |message| match message {
        AgentMessage::Heartbeat(beat) => beat.games.first().filter(|g| g.up).map(drop),
        _ => None,
    })
    .await;
    let (text, code, _) = run_job(&mut conn, &setup, "save", json!({})).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("world saved"), "{text}");
}
