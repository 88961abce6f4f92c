//! End to end with a game: the real `gsm-server`, `gsm-agent` and `gsm-sim-7dtd` binaries. A
//! game configured through the API reaches the agent; the simulator's players and events show in
//! `GET …/hosts/{host}` and `GET …/events`; a `say` job and a `restart` job succeed with each step
//! in their logs. The test plays the supervisor that starts the game again after its shutdown.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use gsm_core::job::{GameAction, JobKind, JobState};
use gsm_proto::client::EventQuery;
use gsm_proto::rest::{CreateJob, GameEvent, Host, Page, PutGame};
use serde_json::{Value, json};

use crate::e2e::{Fixture, Process, WAIT, eventually, eventually_within, server_bin};

/// The simulator binary, built beside the server's; built on demand when a test runs alone.
fn sim_bin() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let path = server_bin().with_file_name("gsm-sim-7dtd");
    BUILT.call_once(|| {
        if !path.exists() {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-p", "gsm-sim-7dtd", "--bin", "gsm-sim-7dtd"])
                .status()
                .expect("running cargo to build gsm-sim-7dtd");
            assert!(status.success(), "could not build gsm-sim-7dtd");
        }
    });
    assert!(path.exists(), "gsm-sim-7dtd is not at {}", path.display());
    path
}

/// Starts the simulator on `listen` and returns it with its bound port.
async fn start_sim(fx: &Fixture, listen: &str, generation: u32) -> (Process, u16) {
    let log = fx.dir.path().join(format!("sim-{generation}.log"));
    let mut sim = Process::spawn(
        Command::new(sim_bin()).args(["--listen", listen, "--script-speed", "20"]),
        log,
    );
    let port = eventually(|| {
        let log = sim.log();
        let port = log
            .lines()
            .next()
            .and_then(|line| line.trim().rsplit(':').next())
            .and_then(|port| port.parse::<u16>().ok());
        async move { port }
    })
    .await;
    assert!(sim.child.try_wait().unwrap().is_none(), "the simulator exited:\n{}", sim.log());
    (sim, port)
}

async fn game_job(fx: &Fixture, action: &str, args: Value) -> gsm_proto::rest::Job {
    let args = match args {
        Value::Object(map) => map.into_iter().collect(),
        _ => Default::default(),
    };
    let job = CreateJob {
        host: fx.host,
        kind: JobKind::Game(GameAction { game: "main".into(), action: action.into(), args }),
        timeout_secs: None,
        output_cap_bytes: None,
        deadline_secs: None,
    };
    fx.client.create_job(&job, None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_game_shows_players_and_events_and_runs_say_and_restart_jobs() {
    let mut fx = Fixture::new().await;
    let (sim, port) = start_sim(&fx, "127.0.0.1:0", 0).await;

    let body = json!({
        "game": "7dtd",
        "settings": {
            "console": {"address": "127.0.0.1", "port": port, "timeout_ms": 3000},
            "restart": {"warnings_secs": [2, 1], "start_command": ["/usr/bin/echo", "starting the game"], "ready_timeout_secs": 60},
        },
    });
    let put: PutGame = serde_json::from_value(body).unwrap();
    let game = fx.client.put_game(fx.host, "main", &put).await.unwrap();
    assert_eq!((game.name.as_str(), game.settings.console.port), ("main", port));
    let listed = fx.client.list_games(fx.host).await.unwrap();
    assert_eq!(listed.items, [game]);
    let base = fx.server.base();
    let _agent = fx.start_agent(&base);

    // Game status in the heartbeat, players seen, and events from the game's log.
    let host: Host = eventually(|| async {
        let host = fx.client.get_host(fx.host).await.ok()?;
        let beat = host.last_heartbeat.as_ref()?;
        let up = beat.games.first().is_some_and(|g| g.up && !g.players.is_empty());
        (up && host.players.iter().any(|p| p.online)).then_some(host)
    })
    .await;
    let game = &host.last_heartbeat.as_ref().unwrap().games[0];
    assert_eq!((game.game.as_str(), game.instance.as_str()), ("7dtd", "main"));
    assert!(game.version.is_some() && game.world_time.is_some(), "{game:?}");
    let events: Page<GameEvent> = eventually(|| async {
        let page = fx.client.list_events(&EventQuery::default()).await.ok()?;
        page.items.iter().any(|e| e.kind == "chat").then_some(page)
    })
    .await;
    assert!(events.items.iter().all(|e| e.host == fx.host && e.instance == "main"));
    let player = host.players[0].name.clone();
    let filter = EventQuery { player: Some(player.clone()), ..EventQuery::default() };
    let theirs = fx.client.list_events(&filter).await.unwrap();
    assert!(!theirs.items.is_empty(), "no events name {player}");

    // A say job; the game logs it as server chat, which comes back as a chat event.
    let job = game_job(&fx, "say", json!({"message": "hello from gsm"})).await;
    fx.await_state(job.id, JobState::Succeeded).await;
    assert_eq!(fx.output(job.id).await, "said: hello from gsm\n");
    let said = eventually(|| async {
        let query =
            EventQuery { kind: Some("chat".into()), limit: Some(500), ..EventQuery::default() };
        let page = fx.client.list_events(&query).await.ok()?;
        page.items.into_iter().find(|e| e.data["message"] == "hello from gsm")
    })
    .await;
    assert!(said.player.is_none(), "server chat names no player: {said:?}");

    // A restart job; the supervisor starts the game again on the same port once it exits.
    let supervisor = {
        let mut sim = sim;
        let listen = format!("127.0.0.1:{port}");
        let dir = fx.dir.path().to_path_buf();
        tokio::spawn(async move {
            let exited = eventually_within(Duration::from_secs(60), || {
                let done = sim.child.try_wait().unwrap().is_some();
                async move { done.then_some(()) }
            })
            .await;
            let () = exited;
            // A real server takes a while to start; the agent must see it gone first.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let log = dir.join("sim-1.log");
            eventually(|| {
                let mut next = Process::spawn(
                    Command::new(sim_bin()).args(["--listen", &listen, "--script-speed", "20"]),
                    log.clone(),
                );
                std::thread::sleep(Duration::from_millis(200));
                let running = next.child.try_wait().unwrap().is_none();
                async move { running.then_some(next) }
            })
            .await
        })
    };
    let job = game_job(&fx, "restart", json!({})).await;
    let done = eventually_within(WAIT * 2, || async {
        let job = fx.client.get_job(job.id).await.ok()?;
        job.state.is_terminal().then_some(job)
    })
    .await;
    let output = fx.output(job.id).await;
    assert_eq!(done.state, JobState::Succeeded, "{output}");
    let steps: Vec<&str> = output
        .lines()
        .filter_map(|line| line.split(':').next())
        .filter(|step| step.starts_with("step "))
        .collect();
    assert_eq!(
        steps,
        [
            "step warn",
            "step warn",
            "step save",
            "step shutdown",
            "step start",
            "step start",
            "step ready"
        ],
        "{output}"
    );
    assert!(output.contains("starting the game"), "{output}");
    let _sim = supervisor.await.unwrap();
}
