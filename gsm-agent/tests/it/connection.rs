//! `gsm-agent run` end to end against the fake server: hello/welcome, heartbeats, jobs run once,
//! rejections, cancel, fatal errors, reconnects with re-sending, and recovery after a crash.

use gsm_core::job::{JobId, Termination};
use gsm_proto::agent::{
    Ack, AgentMessage, ErrorMessage, JobAssignment, JobRef, ServerMessage, VersionRange,
};

use crate::fake_server::{FakeConn, FakeServer};
use crate::harness::{AgentSetup, CREDENTIAL, exit_of, until};

const HEARTBEAT_MS: u64 = 200;

async fn assign(conn: &FakeConn, spec: &gsm_core::job::JobSpec) -> JobRef {
    conn.send(ServerMessage::AssignJob(JobAssignment { attempt: 1, spec: spec.clone() })).await;
    JobRef { job: spec.id, attempt: 1 }
}

async fn ack_all(conn: &FakeConn, job: JobRef, chunks: u64) {
    conn.send(ServerMessage::Ack(Ack { job, chunks_stored: chunks, finished: true })).await;
}

/// Starts the fake server and an agent, and welcomes the agent's first connection.
async fn connected() -> (FakeServer, AgentSetup, tokio::process::Child, FakeConn) {
    let mut server = FakeServer::for_connections(CREDENTIAL).await;
    let setup = AgentSetup::new(&server.url);
    let agent = setup.start();
    let (conn, _hello) = server.accept().await;
    conn.welcome(setup.host, HEARTBEAT_MS).await;
    (server, setup, agent, conn)
}

fn expect_accepted(message: AgentMessage, job: JobId) {
    match message {
        AgentMessage::JobAccepted(accepted) => assert_eq!(accepted.job, job),
        other => panic!("expected job_accepted for {job}, got {other:?}"),
    }
}

#[tokio::test]
async fn the_agent_says_hello_then_heartbeats_as_the_welcomed_host() {
    let mut server = FakeServer::for_connections(CREDENTIAL).await;
    let setup = AgentSetup::new(&server.url);
    let _agent = setup.start();
    let (mut conn, hello) = server.accept().await;
    assert_eq!(hello.protocol, VersionRange::CURRENT);
    assert_eq!(hello.facts.agent_version, env!("CARGO_PKG_VERSION"));
    assert!(!hello.facts.hostname.is_empty());
    conn.welcome(setup.host, HEARTBEAT_MS).await;
    let mut seqs = Vec::new();
    while seqs.len() < 2 {
        match conn.recv().await {
            AgentMessage::Heartbeat(beat) => {
                assert_eq!(beat.host, setup.host);
                assert_eq!(beat.validate(), Ok(()));
                assert!(beat.disks.iter().any(|disk| disk.mount == "/"));
                seqs.push(beat.seq);
            }
            other => panic!("expected heartbeats, got {other:?}"),
        }
    }
    assert!(seqs[1] > seqs[0], "heartbeat seq counts up: {seqs:?}");
}

#[tokio::test]
async fn an_assigned_job_runs_once_and_a_redelivery_is_answered_from_the_ledger() {
    let (_server, setup, _agent, mut conn) = connected().await;
    let spec = setup.job("/bin/echo", &["hi"]);
    let job = assign(&conn, &spec).await;

    expect_accepted(conn.recv_job_message().await, spec.id);
    match conn.recv_job_message().await {
        AgentMessage::JobLog(chunk) => {
            assert_eq!((chunk.job, chunk.seq, chunk.data.as_slice()), (job, 0, &b"hi\n"[..]));
        }
        other => panic!("expected job_log, got {other:?}"),
    }
    let result = match conn.recv_job_message().await {
        AgentMessage::JobFinished(finished) => {
            assert_eq!((finished.job, finished.chunks), (job, 1));
            assert_eq!(finished.result.exit_code, Some(0));
            finished.result
        }
        other => panic!("expected job_finished, got {other:?}"),
    };
    ack_all(&conn, job, 1).await;

    // The same job again: accepted again, its recorded end again, and no new output.
    assign(&conn, &spec).await;
    expect_accepted(conn.recv_job_message().await, spec.id);
    match conn.recv_job_message().await {
        AgentMessage::JobFinished(finished) => {
            assert_eq!(finished.result, result, "the recorded result, not a new run");
        }
        other => panic!("expected the recorded job_finished, got {other:?}"),
    }
    let probe = setup.job("/bin/true", &[]);
    assign(&conn, &probe).await;
    expect_accepted(conn.recv_job_message().await, probe.id);
    let record = setup.ledger_record(spec.id).expect("the job is in the ledger");
    assert_eq!(record["end_acked"], true);
}

#[tokio::test]
async fn jobs_the_policy_forbids_are_rejected_with_the_policys_reason() {
    let (_server, setup, _agent, mut conn) = connected().await;
    let check = |message: AgentMessage, job: JobId, reason: &str| match message {
        AgentMessage::JobRejected(rejected) => {
            assert_eq!(rejected.job.job, job);
            assert_eq!(rejected.reason, reason, "{}", rejected.message);
        }
        other => panic!("expected job_rejected {reason}, got {other:?}"),
    };
    let forbidden = setup.job("/bin/cat", &["/etc/shadow"]);
    assign(&conn, &forbidden).await;
    check(conn.recv_job_message().await, forbidden.id, "program_not_allowed");

    let option = setup.job("/bin/sleep", &["--help"]);
    assign(&conn, &option).await;
    check(conn.recv_job_message().await, option.id, "option_not_allowed");

    // A rejection is recorded: the same job is answered from the ledger, not re-checked.
    assign(&conn, &forbidden).await;
    check(conn.recv_job_message().await, forbidden.id, "program_not_allowed");
    assert_eq!(setup.ledger_record(forbidden.id).unwrap()["end"]["kind"], "rejected");
}

#[tokio::test]
async fn a_cancelled_job_ends_cancelled_and_is_listed_in_heartbeats_while_it_runs() {
    let (_server, setup, _agent, mut conn) = connected().await;
    let spec = setup.job("/bin/sleep", &["30"]);
    let job = assign(&conn, &spec).await;
    expect_accepted(conn.recv_job_message().await, spec.id);
    loop {
        match conn.recv().await {
            AgentMessage::Heartbeat(beat) if beat.running_jobs.contains(&spec.id) => break,
            AgentMessage::Heartbeat(_) => continue,
            other => panic!("expected heartbeats, got {other:?}"),
        }
    }
    conn.send(ServerMessage::CancelJob(job)).await;
    match conn.recv_job_message().await {
        AgentMessage::JobFinished(finished) => {
            assert_eq!(finished.job, job);
            assert_eq!(finished.result.termination, Termination::Cancelled);
        }
        other => panic!("expected job_finished, got {other:?}"),
    }
}

#[tokio::test]
async fn a_version_mismatch_stops_the_agent_with_a_clear_error() {
    let mut server = FakeServer::for_connections(CREDENTIAL).await;
    let setup = AgentSetup::new(&server.url);
    let agent = setup.start_captured();
    let (conn, _hello) = server.accept().await;
    conn.send(ServerMessage::Error(ErrorMessage {
        code: "version_mismatch".to_owned(),
        message: "the server speaks 7..=9, the agent 1".to_owned(),
    }))
    .await;
    let (code, stderr) = exit_of(agent).await;
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("no agent protocol version"), "{stderr}");
    assert!(stderr.contains("the server speaks 7..=9"), "{stderr}");
}

#[tokio::test]
async fn a_refused_credential_stops_the_agent_and_says_to_enroll_again() {
    let server = FakeServer::for_connections("another-credential").await;
    let setup = AgentSetup::new(&server.url);
    let (code, stderr) = exit_of(setup.start_captured()).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("revoked"), "{stderr}");
    assert!(stderr.contains("gsm-agent enroll --force"), "{stderr}");
}

#[tokio::test]
async fn after_the_server_drops_the_connection_the_agent_reconnects_and_resends_what_was_not_acked()
{
    let (mut server, setup, _agent, mut conn) = connected().await;
    let spec = setup.job("/bin/echo", &["resend me"]);
    let job = assign(&conn, &spec).await;
    expect_accepted(conn.recv_job_message().await, spec.id);
    let AgentMessage::JobLog(first) = conn.recv_job_message().await else { panic!("job_log") };
    let AgentMessage::JobFinished(finished) = conn.recv_job_message().await else {
        panic!("job_finished")
    };
    conn.close().await;

    let (mut conn, _hello) = server.accept().await;
    conn.welcome(setup.host, HEARTBEAT_MS).await;
    expect_accepted(conn.recv_job_message().await, spec.id);
    match conn.recv_job_message().await {
        AgentMessage::JobLog(chunk) => assert_eq!(chunk, first, "the same chunk again"),
        other => panic!("expected the unacked job_log again, got {other:?}"),
    }
    match conn.recv_job_message().await {
        AgentMessage::JobFinished(again) => assert_eq!(again, finished),
        other => panic!("expected the unacked job_finished again, got {other:?}"),
    }
    ack_all(&conn, job, 1).await;
    let path = setup.state().join("spool").join(spec.id.to_string());
    until("the acked spool is deleted", || !path.exists()).await;
    conn.close().await;

    // Acked: nothing of the job comes back on the next connection.
    let (mut conn, _hello) = server.accept().await;
    conn.welcome(setup.host, HEARTBEAT_MS).await;
    let probe = setup.job("/bin/true", &[]);
    assign(&conn, &probe).await;
    expect_accepted(conn.recv_job_message().await, probe.id);
}

#[tokio::test]
async fn a_job_running_when_the_agent_died_is_killed_and_reported_lost_by_the_next_agent() {
    let (mut server, setup, mut agent, mut conn) = connected().await;
    let spec = setup.job("/bin/sleep", &["30"]);
    assign(&conn, &spec).await;
    expect_accepted(conn.recv_job_message().await, spec.id);
    let mut pid = None;
    until("the job's process is in the ledger", || {
        pid = setup.ledger_record(spec.id).and_then(|record| record["process"]["pid"].as_u64());
        pid.is_some()
    })
    .await;
    let pid = u32::try_from(pid.unwrap()).unwrap();
    agent.kill().await.unwrap();
    assert!(
        gsm_agent::process::read_stat(pid).is_ok_and(|stat| stat.state != 'Z'),
        "the job outlives the killed agent"
    );

    let _agent = setup.start();
    let (mut conn2, _hello) = server.accept().await;
    drop(conn);
    conn2.welcome(setup.host, HEARTBEAT_MS).await;
    expect_accepted(conn2.recv_job_message().await, spec.id);
    match conn2.recv_job_message().await {
        AgentMessage::JobLost(lost) => {
            assert_eq!(lost.job.job, spec.id);
            assert_eq!(lost.reason, "agent restarted while the job ran; outcome unknown");
        }
        other => panic!("expected job_lost, got {other:?}"),
    }
    let gone =
        gsm_agent::process::read_stat(pid).map_or(true, |stat| matches!(stat.state, 'Z' | 'X'));
    assert!(gone, "the leftover job process was killed");
}

#[tokio::test]
async fn a_policy_that_does_not_load_stops_the_agent_with_its_line_and_column() {
    let server = FakeServer::for_connections(CREDENTIAL).await;
    let setup = AgentSetup::new(&server.url);
    std::fs::write(setup.policy(), "version = 1\nroots = 5\n").unwrap();
    let (code, stderr) = exit_of(setup.start_captured()).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot load the host policy"), "{stderr}");
    assert!(stderr.contains("policy.toml:2:"), "{stderr}");
}

#[tokio::test]
async fn an_agent_that_was_never_enrolled_says_how_to_enroll() {
    let server = FakeServer::for_connections(CREDENTIAL).await;
    let setup = AgentSetup::new(&server.url);
    std::fs::remove_file(setup.state().join("credential.json")).unwrap();
    let (code, stderr) = exit_of(setup.start_captured()).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("not enrolled"), "{stderr}");
    assert!(stderr.contains("gsm-agent enroll"), "{stderr}");
}
