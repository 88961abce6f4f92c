use gsm_core::adapters::config::{GameInstance, GameSettings, RestartSettings};
use gsm_core::adapters::{ConsoleConfig, SecretSource};
use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::{
    CommandSpec, HostId, JobId, JobKind, JobResult, JobSpec, Requester, RequesterKind, Termination,
};
use gsm_core::policy::{ArgSlot, ProgramSummary};
use gsm_core::runner::Stream;
use gsm_proto::agent::{
    Ack, AgentMessage, ErrorMessage, GameConfig, GameEventMessage, GameEvents, GameEventsAck,
    Hello, HostFacts, JobAssignment, JobFinished, JobLost, JobRef, JobRejected, LogChunk,
    MAX_PROGRAM_SLOTS, MAX_PROGRAM_TEXT_BYTES, MAX_SLOT_VALUES, ServerMessage, VersionRange,
    Welcome, program_fits,
};
use gsm_proto::codec::{MAX_FRAME_BYTES, ProtocolError, decode_agent, decode_server, encode};
use gsm_proto::rest::EventPlayer;
use proptest::prelude::*;

fn job_ref() -> JobRef {
    JobRef { job: JobId::new(), attempt: 1 }
}

fn facts() -> HostFacts {
    HostFacts {
        hostname: "eu-1".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        cpus: 2,
        memory_total_bytes: 1 << 30,
        agent_version: "0.1.0".into(),
        allowed_programs: Vec::new(),
    }
}

/// One example of every agent message, so a new variant without an example fails the test below.
fn agent_examples() -> Vec<AgentMessage> {
    let result = JobResult {
        termination: Termination::Exited,
        exit_code: Some(0),
        signal: None,
        duration_ms: 3,
        output_bytes: 5,
        kept_bytes: 5,
        truncated: false,
    };
    vec![
        AgentMessage::Hello(Hello { protocol: VersionRange::CURRENT, facts: facts() }),
        AgentMessage::Heartbeat(Heartbeat {
            host: HostId::new(),
            agent_version: "0.1.0".into(),
            seq: 7,
            uptime_secs: 100,
            load: None,
            memory: None,
            disks: vec![],
            running_jobs: vec![JobId::new()],
            games: vec![],
        }),
        AgentMessage::JobAccepted(job_ref()),
        AgentMessage::JobRejected(JobRejected {
            job: job_ref(),
            reason: "program_not_allowed".into(),
            message: "no".into(),
        }),
        AgentMessage::JobLog(LogChunk {
            job: job_ref(),
            seq: 0,
            stream: Stream::Stdout,
            data: (0..=255u8).collect(),
        }),
        AgentMessage::JobFinished(JobFinished { job: job_ref(), result, chunks: 1 }),
        AgentMessage::JobLost(JobLost { job: job_ref(), reason: "agent restarted".into() }),
        AgentMessage::GameEvents(GameEvents {
            batch: 3,
            events: vec![GameEventMessage {
                id: uuid::Uuid::now_v7(),
                instance: "main".into(),
                game: "7dtd".into(),
                kind: "chat".into(),
                player: Some(EventPlayer { id: Some("Steam_1".into()), name: "Alice".into() }),
                at_ms: 1_700_000_000_000,
                data: serde_json::json!({"kind": "chat", "message": "hi", "raw": "…"}),
            }],
        }),
    ]
}

fn server_examples() -> Vec<ServerMessage> {
    let spec = JobSpec {
        id: JobId::new(),
        host: HostId::new(),
        kind: JobKind::Command(CommandSpec {
            program: "/bin/echo".into(),
            args: vec!["hi; rm -rf /".into()],
            cwd: None,
            env: Default::default(),
        }),
        timeout_secs: Some(5),
        output_cap_bytes: None,
        idempotency_key: None,
        requested_by: Requester { kind: RequesterKind::ApiKey, id: "k1".into() },
    };
    vec![
        ServerMessage::Welcome(Welcome {
            protocol: 1,
            host: HostId::new(),
            heartbeat_interval_ms: 5000,
        }),
        ServerMessage::AssignJob(JobAssignment { attempt: 1, spec }),
        ServerMessage::CancelJob(job_ref()),
        ServerMessage::Ack(Ack { job: job_ref(), chunks_stored: 3, finished: true }),
        ServerMessage::Error(ErrorMessage { code: "malformed".into(), message: "bad".into() }),
        ServerMessage::GameConfig(GameConfig {
            games: vec![GameInstance {
                name: "main".into(),
                game: "7dtd".into(),
                settings: GameSettings {
                    console: ConsoleConfig {
                        address: "127.0.0.1".into(),
                        port: 8081,
                        password: Some(SecretSource::File("/etc/gsm/7dtd.pw".into())),
                        timeout_ms: None,
                    },
                    restart: RestartSettings::default(),
                },
            }],
        }),
        ServerMessage::GameEventsAck(GameEventsAck { batch: 3 }),
    ]
}

#[test]
fn every_agent_message_kind_round_trips() {
    let examples = agent_examples();
    let kinds: Vec<_> = examples.iter().map(AgentMessage::kind).collect();
    assert_eq!(kinds, AgentMessage::KINDS, "every kind needs an example");
    for message in examples {
        let text = encode(&message);
        assert!(text.contains(&format!("\"type\":\"{}\"", message.kind())), "{text}");
        assert_eq!(decode_agent(&text).unwrap(), message);
    }
}

#[test]
fn every_server_message_kind_round_trips() {
    let examples = server_examples();
    let kinds: Vec<_> = examples.iter().map(ServerMessage::kind).collect();
    assert_eq!(kinds, ServerMessage::KINDS, "every kind needs an example");
    for message in examples {
        assert_eq!(decode_server(&encode(&message)).unwrap(), message);
    }
}

#[test]
fn log_bytes_travel_as_base64_and_survive_any_value() {
    let AgentMessage::JobLog(chunk) = &agent_examples()[4] else { unreachable!() };
    let text = encode(&AgentMessage::JobLog(chunk.clone()));
    assert!(text.contains("\"data\":\"AAECAwQF"), "{text}");
    let AgentMessage::JobLog(back) = decode_agent(&text).unwrap() else { unreachable!() };
    assert_eq!(back.data, chunk.data);
}

#[test]
fn unknown_kind_is_unsupported_and_names_what_this_side_speaks() {
    let err = decode_agent(r#"{"type":"teleport","to":"moon"}"#).unwrap_err();
    assert_eq!(err.code(), "unsupported");
    let message = err.to_string();
    assert!(message.contains("\"teleport\"") && message.contains("heartbeat"), "{message}");
    // A server message kind is not an agent message kind.
    assert_eq!(decode_agent(r#"{"type":"welcome"}"#).unwrap_err().code(), "unsupported");
}

#[test]
fn a_long_non_ascii_unknown_kind_is_cut_on_a_character_boundary() {
    // Found by the agent_frame fuzz target: cutting at byte 64 split a multi-byte character.
    let kind = format!("job_{}", "Ν̛͞".repeat(40));
    let err = decode_agent(&format!(r#"{{"type":"{kind}"}}"#)).unwrap_err();
    let ProtocolError::Unsupported { kind: echoed, .. } = err else { panic!("{err:?}") };
    assert!(echoed.len() <= 64 && kind.starts_with(&echoed), "{echoed:?}");
}

#[test]
fn allowed_programs_round_trip_and_an_older_agents_facts_have_none() {
    let programs = vec![ProgramSummary {
        path: "/usr/bin/systemctl".into(),
        args: vec![
            ArgSlot::OneOf { values: vec!["start".into(), "stop".into()] },
            ArgSlot::Regex { pattern: "[a-z]+".into(), options: false },
            ArgSlot::Int { min: 1, max: 9 },
        ],
        repeat: Some(ArgSlot::Fixed { value: "x".into() }),
        allow_extra: true,
    }];
    let hello = AgentMessage::Hello(Hello {
        protocol: VersionRange::CURRENT,
        facts: HostFacts { allowed_programs: programs.clone(), ..facts() },
    });
    assert_eq!(decode_agent(&encode(&hello)).unwrap(), hello);

    // What an agent built before the field existed sends: no `allowed_programs` at all.
    let old = r#"{"type":"hello","protocol":{"min":1,"max":1},"facts":{"hostname":"eu-1",
        "os":"linux","arch":"x86_64","cpus":2,"memory_total_bytes":1,"agent_version":"0.1.0"}}"#;
    let AgentMessage::Hello(decoded) = decode_agent(old).unwrap() else { panic!("not a hello") };
    assert!(decoded.facts.allowed_programs.is_empty());
    // And the empty list is not sent, so an older server sees the facts it knows.
    let sent = serde_json::to_value(&decoded.facts).unwrap();
    assert!(sent.get("allowed_programs").is_none());
}

#[test]
fn allowed_programs_within_bounds_fit_and_others_do_not() {
    let program = |path: &str, args: Vec<ArgSlot>| ProgramSummary {
        path: path.into(),
        args,
        repeat: None,
        allow_extra: false,
    };
    let long = "x".repeat(MAX_PROGRAM_TEXT_BYTES + 1);
    let many = vec!["v".to_owned(); MAX_SLOT_VALUES + 1];
    let check = |p: ProgramSummary| program_fits(&p);
    assert!(check(program("/bin/tar", vec![ArgSlot::Int { min: 0, max: 1 }, ArgSlot::Other])));
    assert!(!check(program("bin/tar", vec![])));
    assert!(!check(program(&format!("/{long}"), vec![])));
    assert!(!check(program("/bin/tar", vec![ArgSlot::Fixed { value: "a\u{7}".into() }])));
    assert!(!check(program("/bin/tar", vec![ArgSlot::Regex { pattern: long, options: false }])));
    assert!(!check(program("/bin/tar", vec![ArgSlot::OneOf { values: many }])));
    assert!(!check(program("/bin/tar", vec![ArgSlot::Other; MAX_PROGRAM_SLOTS + 1])));
}

#[test]
fn unknown_fields_from_a_newer_peer_are_ignored() {
    let mut value = serde_json::to_value(&agent_examples()[0]).unwrap();
    value["facts"]["gpu"] = "yes".into();
    value["compression"] = "zstd".into();
    let decoded = decode_agent(&value.to_string()).unwrap();
    assert_eq!(decoded.kind(), "hello");
}

fn check_malformed(text: &str, expected_code: &str) {
    let err = decode_agent(text).unwrap_err();
    assert_eq!(err.code(), expected_code, "{text:?} gave {err}");
}

#[test]
fn malformed_frames_get_typed_errors() {
    for text in [
        "",
        "null",
        "[]",
        "{",
        "{}",
        r#"{"type": 7}"#,
        r#"{"type": "job_accepted"}"#,
        r#"{"type": "job_accepted", "job": "not-a-uuid", "attempt": 1}"#,
        r#"{"type": "job_accepted", "job": "0190c4b2-8f6a-7cc1-9b0e-5c1b2a3d4e5f", "attempt": -1}"#,
        r#"{"type": "job_log", "job": "0190c4b2-8f6a-7cc1-9b0e-5c1b2a3d4e5f", "attempt": 1, "seq": 0, "stream": "stdout", "data": "!!!"}"#,
        r#"{"type": "job_log", "job": "0190c4b2-8f6a-7cc1-9b0e-5c1b2a3d4e5f", "attempt": 1, "seq": 0, "stream": "stdin", "data": ""}"#,
    ] {
        check_malformed(text, "malformed");
    }
}

#[test]
fn oversized_frames_are_refused_before_parsing() {
    let text = format!(r#"{{"type":"hello","pad":"{}"}}"#, "x".repeat(MAX_FRAME_BYTES));
    assert!(matches!(decode_agent(&text), Err(ProtocolError::TooLarge { .. })));
    // Just under the limit is parsed (and here ignored as an unknown field).
    let just_fits =
        format!(r#"{{"type":"job_lost","pad":"{}"}}"#, "x".repeat(MAX_FRAME_BYTES - 40));
    assert_eq!(decode_agent(&just_fits).unwrap_err().code(), "malformed");
}

#[test]
fn version_ranges_negotiate_the_newest_common_version() {
    let range = |min, max| VersionRange { min, max };
    assert_eq!(range(1, 3).negotiate(range(2, 5)), Some(3));
    assert_eq!(range(1, 1).negotiate(range(1, 1)), Some(1));
    assert_eq!(range(1, 1).negotiate(range(2, 3)), None);
    assert_eq!(range(2, 3).to_string(), "2..=3");
}

proptest! {
    /// No input, however hostile, panics either decoder.
    #[test]
    fn decoders_never_panic(text in ".{0,512}") {
        let _ = decode_agent(&text);
        let _ = decode_server(&text);
    }

    /// Frames built around real kinds with random bodies never panic either.
    #[test]
    fn decoders_never_panic_on_known_kinds(kind in proptest::sample::select(AgentMessage::KINDS.to_vec()), body in "[ -~]{0,200}") {
        let text = format!(r#"{{"type":"{kind}",{body}}}"#);
        let _ = decode_agent(&text);
    }
}
