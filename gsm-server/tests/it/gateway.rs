//! The agent gateway with a protocol-speaking fake agent: push, results, ordering, and refusals.

use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::{HostId, JobId, JobResult, Termination};
use gsm_core::policy::{ArgSlot, ProgramSummary};
use gsm_core::runner::Stream;
use gsm_proto::agent::{
    AgentMessage, EnrollResponse, Hello, HostFacts, JobFinished, JobRef, LogChunk, ServerMessage,
    VersionRange,
};
use gsm_proto::rest::{HostCreated, Job, JobLogs};
use serde_json::json;

use crate::harness::{FakeAgent, TestServer, eventually, facts};

on_both_backends!(
    a_job_is_pushed_the_moment_it_is_created_and_its_output_and_result_come_back,
    a_job_created_while_the_host_is_offline_is_sent_when_it_connects,
    a_job_its_host_never_takes_ends_lost_with_a_reason,
    only_hello_is_accepted_before_the_welcome,
    a_version_mismatch_is_refused_naming_both_sides,
    an_agent_cannot_speak_for_another_host_or_its_jobs,
    unknown_message_kinds_are_unsupported_but_malformed_frames_close,
    a_deleted_host_is_disconnected_and_its_credential_refused,
    a_deleted_orgs_agents_are_cut_at_once_and_refused_after,
    heartbeats_make_a_host_online_and_silence_makes_it_offline,
    a_log_follower_sees_chunks_live_and_ends_when_the_job_does,
    an_oversized_frame_closes_the_connection_and_nothing_else,
    a_burst_of_output_from_two_jobs_and_a_forged_one_is_stored_in_order,
    allowed_programs_from_enrollment_and_hello_show_on_the_host_detail_and_bad_ones_are_ignored,
);

fn heartbeat(host: HostId, seq: u64) -> AgentMessage {
    AgentMessage::Heartbeat(Heartbeat {
        host,
        agent_version: "0.1.0".into(),
        seq,
        uptime_secs: 1,
        load: None,
        memory: None,
        disks: vec![],
        running_jobs: vec![],
        games: vec![],
    })
}

fn ok_result() -> JobResult {
    JobResult {
        termination: Termination::Exited,
        exit_code: Some(0),
        signal: None,
        duration_ms: 2,
        output_bytes: 6,
        kept_bytes: 6,
        truncated: false,
    }
}

async fn create_job(server: &TestServer, host: HostId) -> Job {
    let body =
        json!({"host": host, "kind": {"type": "command", "program": "/bin/echo", "args": ["hi"]}});
    server.post("/jobs").json(&body).send().await.unwrap().json().await.unwrap()
}

async fn expect_assignment(agent: &mut FakeAgent) -> JobRef {
    match agent.recv().await {
        ServerMessage::AssignJob(assignment) => {
            JobRef { job: assignment.spec.id, attempt: assignment.attempt }
        }
        other => panic!("expected assign_job, got {other:?}"),
    }
}

async fn job_state(server: &TestServer, job: JobId) -> String {
    let job: Job = server.get_json(&format!("/jobs/{job}")).await;
    job.state.as_str().to_string()
}

fn chunk(job: JobRef, seq: u64, data: &[u8]) -> AgentMessage {
    AgentMessage::JobLog(LogChunk { job, seq, stream: Stream::Stdout, data: data.to_vec() })
}

async fn a_job_is_pushed_the_moment_it_is_created_and_its_output_and_result_come_back(
    server: &TestServer,
) {
    let (host, credential) = server.enrolled_host("eu-1").await;
    let mut agent = server.connect(&credential).await;
    let job = create_job(server, host).await;
    assert_eq!(job.state.as_str(), "dispatched", "pushed in the create request itself");
    let job_ref = expect_assignment(&mut agent).await;
    assert_eq!((job_ref.job, job_ref.attempt), (job.id, 1));

    agent.send(&AgentMessage::JobAccepted(job_ref)).await;
    for (seq, data) in [(0, b"he".as_slice()), (1, b"llo"), (2, b"\n")] {
        agent.send(&chunk(job_ref, seq, data)).await;
        let ServerMessage::Ack(ack) = agent.recv().await else { panic!("expected ack") };
        assert_eq!(ack.chunks_stored, seq + 1);
    }
    // A re-sent chunk (at-least-once delivery) is stored once.
    agent.send(&chunk(job_ref, 1, b"XXX")).await;
    let ServerMessage::Ack(ack) = agent.recv().await else { panic!("expected ack") };
    assert_eq!(ack.chunks_stored, 3);

    agent
        .send(&AgentMessage::JobFinished(JobFinished {
            job: job_ref,
            result: ok_result(),
            chunks: 3,
        }))
        .await;
    let ServerMessage::Ack(ack) = agent.recv().await else { panic!("expected ack") };
    assert!(ack.finished && ack.chunks_stored == 3);

    let done: Job = server.get_json(&format!("/jobs/{}", job.id)).await;
    assert_eq!(done.state.as_str(), "succeeded");
    assert_eq!(done.result.unwrap().exit_code, Some(0));
    let logs: JobLogs = server.get_json(&format!("/jobs/{}/logs", job.id)).await;
    let text: Vec<u8> = logs.chunks.iter().flat_map(|c| c.data.clone()).collect();
    assert_eq!(text, b"hello\n");
    assert!(logs.complete);
    let after: JobLogs = server.get_json(&format!("/jobs/{}/logs?after_seq=1", job.id)).await;
    assert_eq!(after.chunks.iter().map(|c| c.seq).collect::<Vec<_>>(), [2]);

    // A duplicate finish is a no-op that is acked again.
    agent
        .send(&AgentMessage::JobFinished(JobFinished {
            job: job_ref,
            result: ok_result(),
            chunks: 3,
        }))
        .await;
    let ServerMessage::Ack(ack) = agent.recv().await else { panic!("expected ack") };
    assert!(ack.finished);
}

async fn a_job_created_while_the_host_is_offline_is_sent_when_it_connects(server: &TestServer) {
    let (host, credential) = server.enrolled_host("eu-1").await;
    let job = create_job(server, host).await;
    assert_eq!(job.state.as_str(), "queued");
    let mut agent = server.connect(&credential).await;
    let job_ref = expect_assignment(&mut agent).await;
    assert_eq!(job_ref.job, job.id);
    assert_eq!(job_state(server, job.id).await, "dispatched");
    // Disconnecting before accepting: the job is sent again, same attempt, on the next connect.
    drop(agent);
    let mut agent = server.connect(&credential).await;
    let again = expect_assignment(&mut agent).await;
    assert_eq!(again, job_ref);
}

async fn a_job_its_host_never_takes_ends_lost_with_a_reason(server: &TestServer) {
    let host = server.create_host("eu-1").await.host.id;
    let body = json!({"host": host, "kind": {"type": "command", "program": "/bin/true"}, "deadline_secs": 1});
    let job: Job = server.post("/jobs").json(&body).send().await.unwrap().json().await.unwrap();
    let lost: Job = eventually(|| async {
        let job: Job = server.get_json(&format!("/jobs/{}", job.id)).await;
        (job.state.as_str() == "lost").then_some(job)
    })
    .await;
    assert!(lost.reason.unwrap().contains("deadline"));
}

async fn only_hello_is_accepted_before_the_welcome(server: &TestServer) {
    let (host, credential) = server.enrolled_host("eu-1").await;
    let job_ref = JobRef { job: JobId::new(), attempt: 1 };
    let firsts = [
        heartbeat(host, 0),
        AgentMessage::JobAccepted(job_ref),
        chunk(job_ref, 0, b"x"),
        AgentMessage::JobFinished(JobFinished { job: job_ref, result: ok_result(), chunks: 0 }),
    ];
    for first in firsts {
        let mut agent = server.connect_raw(&credential).await.unwrap();
        agent.send(&first).await;
        let seen = agent.drain_until_closed().await;
        assert!(
            matches!(seen.as_slice(), [ServerMessage::Error(e)] if e.code == "unauthenticated"),
            "{} first gave {seen:?}",
            first.kind()
        );
    }
}

async fn a_version_mismatch_is_refused_naming_both_sides(server: &TestServer) {
    let (_, credential) = server.enrolled_host("eu-1").await;
    let mut agent = server.connect_raw(&credential).await.unwrap();
    let hello = Hello { protocol: VersionRange { min: 7, max: 9 }, facts: facts() };
    agent.send(&AgentMessage::Hello(hello)).await;
    let seen = agent.drain_until_closed().await;
    let [ServerMessage::Error(error)] = seen.as_slice() else { panic!("{seen:?}") };
    assert_eq!(error.code, "version_mismatch");
    assert!(error.message.contains("7..=9") && error.message.contains('1'), "{}", error.message);
}

async fn an_agent_cannot_speak_for_another_host_or_its_jobs(server: &TestServer) {
    let (host_a, credential_a) = server.enrolled_host("a").await;
    let (host_b, _) = server.enrolled_host("b").await;
    let job_b = create_job(server, host_b).await;
    let mut agent = server.connect(&credential_a).await;

    agent.send(&heartbeat(host_b, 1)).await;
    let ServerMessage::Error(error) = agent.recv().await else { panic!("expected an error") };
    assert_eq!(error.code, "forbidden");

    let forged = JobRef { job: job_b.id, attempt: 1 };
    agent.send(&AgentMessage::JobAccepted(forged)).await;
    let ServerMessage::Error(error) = agent.recv().await else { panic!("expected an error") };
    assert_eq!(error.code, "forbidden");
    agent.send(&chunk(forged, 0, b"evil")).await;
    let ServerMessage::Error(error) = agent.recv().await else { panic!("expected an error") };
    assert_eq!(error.code, "forbidden");
    agent
        .send(&AgentMessage::JobFinished(JobFinished {
            job: forged,
            result: ok_result(),
            chunks: 0,
        }))
        .await;
    let ServerMessage::Error(error) = agent.recv().await else { panic!("expected an error") };
    assert_eq!(error.code, "forbidden");

    // Nothing was written, and the connection still works for its own host.
    assert_eq!(job_state(server, job_b.id).await, "queued");
    let logs: JobLogs = server.get_json(&format!("/jobs/{}/logs", job_b.id)).await;
    assert!(logs.chunks.is_empty());
    agent.send(&heartbeat(host_a, 1)).await;
    eventually(|| async {
        server.state.presence().status(host_a).filter(|p| p.as_str() == "online")
    })
    .await;
}

async fn unknown_message_kinds_are_unsupported_but_malformed_frames_close(server: &TestServer) {
    let (host, credential) = server.enrolled_host("eu-1").await;
    let mut agent = server.connect(&credential).await;
    agent.send_text(r#"{"type":"teleport","to":"moon"}"#).await;
    let ServerMessage::Error(error) = agent.recv().await else { panic!("expected an error") };
    assert_eq!(error.code, "unsupported");
    agent.send(&heartbeat(host, 1)).await;
    agent.send_text("{not json").await;
    let seen = agent.drain_until_closed().await;
    assert!(
        matches!(seen.as_slice(), [ServerMessage::Error(e)] if e.code == "malformed"),
        "{seen:?}"
    );
}

async fn a_deleted_host_is_disconnected_and_its_credential_refused(server: &TestServer) {
    let (host, credential) = server.enrolled_host("eu-1").await;
    let mut agent = server.connect(&credential).await;
    let job = create_job(server, host).await;
    expect_assignment(&mut agent).await;
    let deleted = server
        .http
        .delete(server.url(&format!("/hosts/{host}")))
        .bearer_auth(&server.org.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    agent.drain_until_closed().await;
    let refused = server.connect_raw(&credential).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected a 401, got {:?}", other.map(|_| "a connection")),
    }
    let lost: Job = server.get_json(&format!("/jobs/{}", job.id)).await;
    assert_eq!(lost.state.as_str(), "lost");
}

async fn a_deleted_orgs_agents_are_cut_at_once_and_refused_after(server: &TestServer) {
    let (first, first_credential) = server.enrolled_host("eu-1").await;
    let (second, second_credential) = server.enrolled_host("eu-2").await;
    let mut agents =
        [server.connect(&first_credential).await, server.connect(&second_credential).await];
    // Another org's agent stays connected through it.
    let other = server.other_org().await;
    let url = format!("{}/api/v1/orgs/{}/hosts", server.base, other.org);
    let response =
        server.http.post(url).bearer_auth(&other.api_key).json(&json!({"name": "us-1"})).send();
    let created: HostCreated = response.await.unwrap().json().await.unwrap();
    let response = server.enroll(&created.join_token).await;
    let enrolled: EnrollResponse = response.json().await.unwrap();
    let _bystander = server.connect(&enrolled.credential).await;
    assert!(server.state.agents.is_connected(first) && server.state.agents.is_connected(second));
    let deleted = server
        .http
        .delete(format!("{}/api/v1/orgs/{}", server.base, server.org.org))
        .bearer_auth(&server.org.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    // Its keys die with it at once, even one this server has just used.
    assert_eq!(server.get("/hosts").send().await.unwrap().status(), 401);
    for agent in &mut agents {
        agent.drain_until_closed().await;
    }
    assert!(!server.state.agents.is_connected(first) && !server.state.agents.is_connected(second));
    assert!(server.state.agents.is_connected(enrolled.host), "the other org's agent was cut");
    for credential in [&first_credential, &second_credential] {
        match server.connect_raw(credential).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401)
            }
            other => panic!("expected a 401, got {:?}", other.map(|_| "a connection")),
        }
    }
}

async fn heartbeats_make_a_host_online_and_silence_makes_it_offline(server: &TestServer) {
    let (host, credential) = server.enrolled_host("eu-1").await;
    let mut agent = server.connect(&credential).await;
    agent.send(&heartbeat(host, 1)).await;
    let view = eventually(|| async {
        let view: gsm_proto::rest::Host = server.get_json(&format!("/hosts/{host}")).await;
        (view.last_heartbeat.is_some() && view.connected).then_some(view)
    })
    .await;
    assert_eq!(view.presence.unwrap().as_str(), "online");
    assert!(view.enrolled && view.facts.is_some());
    // 200 ms interval: offline after 3 missed heartbeats.
    eventually(|| async {
        server.state.presence().status(host).filter(|p| p.as_str() == "offline")
    })
    .await;
}

async fn a_log_follower_sees_chunks_live_and_ends_when_the_job_does(server: &TestServer) {
    use futures_util::StreamExt;
    let (host, credential) = server.enrolled_host("eu-1").await;
    let mut agent = server.connect(&credential).await;
    let job = create_job(server, host).await;
    let job_ref = expect_assignment(&mut agent).await;

    let url = format!("{}/follow", server.url(&format!("/jobs/{}/logs", job.id)))
        .replace("http://", "ws://");
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {}", server.org.api_key).parse().unwrap());
    let (mut follower, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    agent.send(&AgentMessage::JobAccepted(job_ref)).await;
    let mut received = Vec::new();
    for seq in 0..5u64 {
        agent.send(&chunk(job_ref, seq, format!("line {seq}\n").as_bytes())).await;
        agent.recv().await;
    }
    agent
        .send(&AgentMessage::JobFinished(JobFinished {
            job: job_ref,
            result: ok_result(),
            chunks: 5,
        }))
        .await;
    agent.recv().await;
    loop {
        let frame = tokio::time::timeout(crate::harness::WAIT, follower.next()).await.unwrap();
        let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) = frame else { break };
        let page: JobLogs = serde_json::from_str(text.as_str()).unwrap();
        received.extend(page.chunks.iter().map(|c| c.seq));
        if page.complete {
            break;
        }
    }
    assert_eq!(received, [0, 1, 2, 3, 4]);
}

async fn an_oversized_frame_closes_the_connection_and_nothing_else(server: &TestServer) {
    let (host, credential) = server.enrolled_host("eu-1").await;
    let (other_host, other_credential) = server.enrolled_host("eu-2").await;
    let mut bystander = server.connect(&other_credential).await;
    let mut agent = server.connect(&credential).await;
    let huge = format!(r#"{{"type":"heartbeat","pad":"{}"}}"#, "x".repeat(2 * 1024 * 1024));
    // The server may reset the socket while the frame is still being written.
    use futures_util::SinkExt;
    let _ = agent.socket.send(tokio_tungstenite::tungstenite::Message::text(huge)).await;
    let seen = agent.drain_until_closed().await;
    assert!(seen.iter().all(|m| !matches!(m, ServerMessage::Ack(_))), "{seen:?}");
    // The other agent's connection, and a reconnect of the first, still work.
    bystander.send(&heartbeat(other_host, 1)).await;
    eventually(|| async {
        server.state.presence().status(other_host).filter(|p| p.as_str() == "online")
    })
    .await;
    let mut again = server.connect(&credential).await;
    again.send(&heartbeat(host, 2)).await;
    eventually(|| async {
        server.state.presence().status(host).filter(|p| p.as_str() == "online")
    })
    .await;
}

/// The agent does not wait for acks, so chunks pile up on the socket while a write commits and
/// the server stores them in runs; whatever the runs, every chunk is stored once in order, acks are
/// cumulative per job, a forged chunk in the middle is refused alone, and a message after the
/// burst is handled after the chunks before it.
async fn a_burst_of_output_from_two_jobs_and_a_forged_one_is_stored_in_order(server: &TestServer) {
    let (host, credential) = server.enrolled_host("burst").await;
    let (other_host, _) = server.enrolled_host("other").await;
    let forged = JobRef { job: create_job(server, other_host).await.id, attempt: 1 };
    let mut agent = server.connect(&credential).await;
    create_job(server, host).await;
    let first = expect_assignment(&mut agent).await;
    create_job(server, host).await;
    let second = expect_assignment(&mut agent).await;
    agent.send(&AgentMessage::JobAccepted(first)).await;
    agent.send(&AgentMessage::JobAccepted(second)).await;

    const CHUNKS: u64 = 200;
    let line = |job: &str, seq: u64| format!("{job} line {seq}\n").into_bytes();
    for seq in 0..CHUNKS {
        agent.send(&chunk(first, seq, &line("first", seq))).await;
        agent.send(&chunk(second, seq, &line("second", seq))).await;
        if seq == CHUNKS / 2 {
            agent.send(&chunk(forged, 0, b"evil")).await;
        }
    }
    agent
        .send(&AgentMessage::JobFinished(JobFinished {
            job: first,
            result: ok_result(),
            chunks: CHUNKS,
        }))
        .await;

    let (mut stored_first, mut stored_second, mut refused) = (0, 0, 0);
    loop {
        match agent.recv().await {
            ServerMessage::Ack(ack) if ack.job == first => {
                assert!(ack.chunks_stored >= stored_first, "acks never go back");
                stored_first = ack.chunks_stored;
                if ack.finished {
                    break;
                }
            }
            ServerMessage::Ack(ack) if ack.job == second => {
                assert!(ack.chunks_stored >= stored_second, "acks never go back");
                stored_second = ack.chunks_stored;
            }
            ServerMessage::Error(error) if error.code == "forbidden" => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(stored_first, CHUNKS, "the finish is handled after every chunk before it");
    assert_eq!(refused, 1);
    while stored_second < CHUNKS {
        let ServerMessage::Ack(ack) = agent.recv().await else { panic!("expected an ack") };
        assert_eq!(ack.job, second);
        stored_second = ack.chunks_stored;
    }
    assert_eq!(stored_second, CHUNKS);

    for (job, name) in [(first, "first"), (second, "second")] {
        let logs: JobLogs = server.get_json(&format!("/jobs/{}/logs?limit=1000", job.job)).await;
        let text: Vec<u8> = logs.chunks.iter().flat_map(|c| c.data.clone()).collect();
        let expected: Vec<u8> = (0..CHUNKS).flat_map(|seq| line(name, seq)).collect();
        assert_eq!(text, expected);
    }
    assert_eq!(job_state(server, first.job).await, "succeeded");
    let logs: JobLogs = server.get_json(&format!("/jobs/{}/logs", forged.job)).await;
    assert!(logs.chunks.is_empty(), "the forged chunk wrote nothing");
}

async fn hello_with(server: &TestServer, credential: &str, facts: HostFacts) {
    let mut agent = server.connect_raw(credential).await.unwrap();
    agent.send(&AgentMessage::Hello(Hello { protocol: VersionRange::CURRENT, facts })).await;
    assert!(matches!(agent.recv().await, ServerMessage::Welcome(_)));
}

async fn allowed_programs_from_enrollment_and_hello_show_on_the_host_detail_and_bad_ones_are_ignored(
    server: &TestServer,
) {
    // Enrollment may report them already (when `enroll` could read the policy).
    let early =
        ProgramSummary { path: "/bin/true".into(), args: vec![], repeat: None, allow_extra: false };
    let created = server.create_host("early").await;
    let request = gsm_proto::agent::EnrollRequest {
        token: created.join_token,
        facts: HostFacts { allowed_programs: vec![early.clone()], ..facts() },
    };
    let response = server
        .http
        .post(format!("{}/agent/v1/enroll", server.base))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let view: gsm_proto::rest::Host = server.get_json(&format!("/hosts/{}", created.host.id)).await;
    assert_eq!(view.allowed_programs, [early]);

    let (host, credential) = server.enrolled_host("eu-1").await;
    let programs = vec![
        ProgramSummary {
            path: "/usr/bin/systemctl".into(),
            args: vec![
                ArgSlot::OneOf { values: vec!["start".into(), "stop".into()] },
                ArgSlot::Fixed { value: "7dtd".into() },
            ],
            repeat: None,
            allow_extra: false,
        },
        ProgramSummary { path: "/bin/echo".into(), args: vec![], repeat: None, allow_extra: true },
    ];
    hello_with(server, &credential, HostFacts { allowed_programs: programs.clone(), ..facts() })
        .await;
    let detail =
        || async { server.get_json::<gsm_proto::rest::Host>(&format!("/hosts/{host}")).await };
    let view = detail().await;
    assert_eq!(view.allowed_programs, programs);
    assert!(view.facts.unwrap().allowed_programs.is_empty(), "shown once, not inside the facts");
    let page: gsm_proto::rest::Page<gsm_proto::rest::Host> = server.get_json("/hosts").await;
    assert_eq!(page.items.len(), 2);
    assert!(page.items.iter().all(|h| h.allowed_programs.is_empty()), "the list leaves them out");

    // A hello whose list is out of bounds keeps the facts stored before (and the agent connected).
    for bad in [
        ProgramSummary {
            path: "relative/tool".into(),
            args: vec![],
            repeat: None,
            allow_extra: false,
        },
        ProgramSummary {
            path: format!("/{}", "x".repeat(2000)),
            args: vec![],
            repeat: None,
            allow_extra: false,
        },
        ProgramSummary {
            path: "/bin/ok".into(),
            args: vec![ArgSlot::Fixed { value: "line\nbreak".into() }],
            repeat: None,
            allow_extra: false,
        },
    ] {
        let facts = HostFacts { allowed_programs: vec![bad], ..facts() };
        hello_with(server, &credential, facts).await;
        assert_eq!(detail().await.allowed_programs, programs);
    }
    let too_many = vec![programs[1].clone(); gsm_proto::agent::MAX_ALLOWED_PROGRAMS + 1];
    hello_with(server, &credential, HostFacts { allowed_programs: too_many, ..facts() }).await;
    assert_eq!(detail().await.allowed_programs, programs);
    // An agent that reports none (an older one) clears them.
    hello_with(server, &credential, facts()).await;
    assert!(detail().await.allowed_programs.is_empty());
}
