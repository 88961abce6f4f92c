//! The Discord bot's commands, driven through `discord_bot::commands::handle` exactly as the
//! serenity adapter calls it, against a real server: every command for every role, the
//! refusals (unlinked guild, unlinked user, a role that may not, another org's host), hostile
//! text, the link flow end to end through REST, and a job command whose reply is edited when
//! its job ends. Store-touching flows run on SQLite and PostgreSQL.

use gsm_core::job::{JobKind, JobResult, JobState, RequesterKind, Termination};
use gsm_proto::agent::{AgentMessage, JobFinished, JobRef, ServerMessage};
use gsm_proto::rest::ErrorBody;
use gsm_server::discord_bot::commands::{Answer, Command, Invocation, handle};
use gsm_server::discord_bot::reply::Reply;
use gsm_server::store::access::{AuditFilter, NewSession, NewUser, SessionId, UserId};
use gsm_server::store::games::{EventPlayer, NewGameEvent};
use gsm_server::store::{JobFilter, OrgId};
use gsm_server::tokens::Kind;
use jiff::Timestamp;
use serde_json::json;
use uuid::Uuid;

use crate::harness::{TestServer, WAIT};
use crate::isolation::{game_body, schedule_body};

const GUILD: &str = "81384788765712384";

fn invocation(guild: Option<&str>, user: &str, command: Command) -> Invocation {
    Invocation {
        guild_id: guild.map(str::to_owned),
        user_id: user.to_owned(),
        user_name: format!("discord-{user}"),
        command,
    }
}

/// `command` typed by Discord user `user` in the test guild.
async fn ask(server: &TestServer, user: &str, command: Command) -> Answer {
    handle(&server.state, invocation(Some(GUILD), user, command)).await
}

/// The reply of a command answered at once.
#[track_caller]
fn now(answer: Answer) -> Reply {
    match answer {
        Answer::Now(reply) => reply,
        Answer::Deferred { first, .. } => panic!("expected an answer at once, got {first:?}"),
    }
}

/// A private refusal containing `text`.
#[track_caller]
fn refused(answer: Answer, text: &str) {
    let reply = now(answer);
    assert!(reply.ephemeral, "a refusal is private: {reply:?}");
    assert!(reply.content.contains(text), "expected {text:?} in {:?}", reply.content);
}

/// A user who is `role` in the org, and an access token of theirs.
async fn member(server: &TestServer, org: Uuid, role: &str) -> (UserId, String) {
    let store = &server.state.store;
    let now = Timestamp::now();
    let user = NewUser {
        id: UserId(Uuid::now_v7()),
        email: format!("{}@example.com", Uuid::new_v4().simple()),
        display_name: role.to_owned(),
        password_hash: "unused".to_owned(),
        now,
    };
    store.create_user(&user).await.unwrap();
    store.add_member(OrgId(org), user.id, role, now).await.unwrap();
    let session = SessionId(Uuid::now_v7());
    let new = NewSession {
        id: session,
        user: user.id,
        refresh_hash: gsm_server::secrets::hash(&Uuid::new_v4().to_string()),
        expires_at: now + jiff::SignedDuration::from_hours(1),
        now,
    };
    store.create_session(&new).await.unwrap();
    let (token, _) = server.state.auth.tokens.issue(Kind::Access, user.id, session, now).unwrap();
    (user.id, token)
}

async fn link_guild(server: &TestServer, key: &str, org: Uuid, guild: &str) -> reqwest::Response {
    let url = format!("{}/api/v1/orgs/{org}/settings/discord-bot", server.base);
    server.http.put(url).bearer_auth(key).json(&json!({"guild_id": guild})).send().await.unwrap()
}

async fn redeem(server: &TestServer, token: &str, code: &str) -> reqwest::Response {
    let url = server.url("/discord/link");
    server.http.post(url).bearer_auth(token).json(&json!({"code": code})).send().await.unwrap()
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.error.code)
}

/// The code in a `/link` reply.
fn code_in(reply: &Reply) -> String {
    reply.content.split('`').nth(1).expect("the reply quotes the code").to_owned()
}

/// Links Discord user `discord_user` to a new member of `role` through `/link` and REST.
async fn linked(server: &TestServer, discord_user: &str, role: &str) -> UserId {
    let (user, token) = member(server, server.org.org, role).await;
    let reply = now(ask(server, discord_user, Command::Link).await);
    let response = redeem(server, &token, &code_in(&reply)).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    user
}

async fn link_flow(server: &TestServer) {
    let org = server.org.org;
    let hosts = || Command::Hosts;

    // No guild linked yet; a direct message never works.
    refused(ask(server, "1", hosts()).await, "not linked to a gsm org");
    refused(ask(server, "1", Command::Link).await, "not linked to a gsm org");
    refused(handle(&server.state, invocation(None, "1", hosts())).await, "direct messages");

    // An admin links the guild; another org cannot take it.
    let response = link_guild(server, &server.org.api_key, org, GUILD).await;
    assert_eq!(response.status(), 200);
    let settings: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (settings["guild_id"].as_str(), settings["bot_enabled"].as_bool()),
        (Some(GUILD), Some(false))
    );
    let other = server.other_org().await;
    let taken = link_guild(server, &other.api_key, other.org, GUILD).await;
    assert_eq!(error_code(taken).await, (409, "guild_linked_elsewhere".to_owned()));
    let bad = link_guild(server, &server.org.api_key, org, "12ab").await;
    assert_eq!(error_code(bad).await, (422, "invalid_guild_id".to_owned()));

    // An unlinked user may only link.
    refused(ask(server, "1", hosts()).await, "can only use `/link`");
    let reply = now(ask(server, "1", Command::Link).await);
    assert!(reply.ephemeral, "a link code is for the caller's eyes only");
    let code = code_in(&reply);

    // Redeemed by the member as themselves: not with an API key, not a malformed or unknown code.
    let (user, token) = member(server, org, "viewer").await;
    let (status, code_name) = error_code(redeem(server, &server.org.api_key, &code).await).await;
    assert_eq!((status, code_name.as_str()), (403, "forbidden"));
    let malformed = redeem(server, &token, "not a code").await;
    assert_eq!(error_code(malformed).await, (422, "invalid_link_code".to_owned()));
    let unknown = redeem(server, &token, "0000-0000-0000").await;
    assert_eq!(error_code(unknown).await, (404, "link_code_not_found".to_owned()));
    // A member of another org cannot redeem it on their org's path.
    let (_, outsider) = member(server, other.org, "owner").await;
    let url = format!("{}/api/v1/orgs/{}/discord/link", server.base, other.org);
    let response =
        server.http.post(url).bearer_auth(&outsider).json(&json!({"code": code})).send().await;
    assert_eq!(error_code(response.unwrap()).await, (404, "link_code_not_found".to_owned()));

    let response = redeem(server, &token, &code.to_lowercase()).await;
    assert_eq!(response.status(), 201);
    let link: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (link["discord_user_id"].as_str(), link["discord_name"].as_str()),
        (Some("1"), Some("discord-1"))
    );
    assert_eq!(error_code(redeem(server, &token, &code).await).await.0, 404, "a code works once");
    let reply = now(ask(server, "1", hosts()).await);
    assert!(!reply.ephemeral && reply.content.contains("no hosts"), "{reply:?}");

    let filter = AuditFilter { limit: 50, ..AuditFilter::default() };
    let audit = server.state.store.list_audit(OrgId(org), &filter).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|entry| entry.action.as_str()).collect();
    assert!(actions.contains(&"discord.member.link"), "{actions:?}");
    assert!(actions.contains(&"discord.guild.link"), "{actions:?}");
    let link_entry = audit.iter().find(|e| e.action == "discord.member.link").unwrap();
    assert_eq!(link_entry.target_id, user.to_string());

    // Unlinked: back to `/link` only.
    let url = server.url("/discord/link");
    let response = server.http.delete(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 204);
    refused(ask(server, "1", hosts()).await, "can only use `/link`");
    let response = server.http.delete(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(error_code(response).await, (404, "discord_link_not_found".to_owned()));

    // The guild unlinked: the bot answers for no org there.
    let url = server.url("/settings/discord-bot");
    let response = server.http.delete(&url).bearer_auth(&server.org.api_key).send().await;
    assert_eq!(response.unwrap().status(), 204);
    let settings: serde_json::Value =
        server.get("/settings/discord-bot").send().await.unwrap().json().await.unwrap();
    assert_eq!(settings["guild_id"], serde_json::Value::Null);
    refused(ask(server, "1", hosts()).await, "not linked to a gsm org");
}

#[tokio::test]
async fn the_link_flow_runs_from_the_slash_command_through_rest_on_sqlite() {
    link_flow(&TestServer::start().await).await;
}

#[tokio::test]
async fn the_link_flow_runs_from_the_slash_command_through_rest_on_postgres() {
    let server = TestServer::start_postgres().await;
    link_flow(&server).await;
    server.finish().await;
}

/// A host `eu-1` with a game server `main`, a schedule `backup` and a player online.
async fn fleet(server: &TestServer) -> gsm_core::job::HostId {
    let host = server.create_host("eu-1").await.host.id;
    let response = server.http.put(server.url(&format!("/hosts/{host}/games/main")));
    let response = response.bearer_auth(&server.org.api_key).json(&game_body(8081)).send().await;
    assert_eq!(response.unwrap().status(), 201);
    let response = server.post("/schedules").json(&schedule_body("backup", host)).send().await;
    assert_eq!(response.unwrap().status(), 201);
    let event = NewGameEvent {
        id: Uuid::now_v7(),
        instance: "main".to_owned(),
        game: "7dtd".to_owned(),
        kind: "player_connected".to_owned(),
        player: Some(EventPlayer { id: Some("Steam_1".to_owned()), name: "Alice".to_owned() }),
        at: Timestamp::now(),
        data: json!({}),
    };
    server.state.store.record_game_events(host, &[event]).await.unwrap();
    host
}

fn every_command() -> Vec<(Command, bool)> {
    let host = || "eu-1".to_owned();
    vec![
        (Command::Hosts, false),
        (Command::Status { host: host() }, false),
        (Command::Players { host: host() }, false),
        (Command::Jobs { host: None }, false),
        (Command::Jobs { host: Some(host()) }, false),
        (Command::Run { host: host(), template: "backup".to_owned() }, true),
        (Command::Restart { host: host(), delay_secs: Some(120), game: None }, true),
        (Command::Say { host: host(), message: "hello".to_owned(), game: None }, true),
    ]
}

async fn every_command_for_every_role(server: &TestServer) {
    let response = link_guild(server, &server.org.api_key, server.org.org, GUILD).await;
    assert_eq!(response.status(), 200);
    let host = fleet(server).await;
    let (org, store) = (OrgId(server.org.org), server.state.store.clone());
    let jobs = || {
        let filter = JobFilter { host: Some(host), limit: 500, ..JobFilter::default() };
        let store = store.clone();
        async move { store.list_jobs(org, &filter).await.unwrap() }
    };
    for (i, role) in ["owner", "admin", "operator", "viewer"].into_iter().enumerate() {
        let discord_user = format!("{}", 100 + i);
        linked(server, &discord_user, role).await;
        for (command, runs_a_job) in every_command() {
            let before = jobs().await.len();
            let answer = ask(server, &discord_user, command.clone()).await;
            if runs_a_job && role == "viewer" {
                refused(answer, "(viewer) may not run jobs");
                assert_eq!(jobs().await.len(), before, "{command:?} refused but ran");
                continue;
            }
            let first = answer.first().clone();
            assert!(!first.ephemeral, "{role} {command:?}: {first:?}");
            match (&command, &answer) {
                (_, Answer::Deferred { .. }) if runs_a_job => {
                    let all = jobs().await;
                    assert_eq!(all.len(), before + 1, "{role} {command:?} made one job");
                    let job = &all[0];
                    assert_eq!(job.requested_by.kind, RequesterKind::Discord);
                    assert_eq!(job.requested_by.id, discord_user);
                    assert!(first.content.contains(&job.id.to_string()), "{first:?}");
                    let filter = AuditFilter {
                        target_id: Some(job.id.to_string()),
                        limit: 5,
                        ..AuditFilter::default()
                    };
                    let audit = server.state.store.list_audit(OrgId(server.org.org), &filter).await;
                    let audit = audit.unwrap();
                    assert_eq!(audit.len(), 1, "one audit entry for {command:?}");
                    assert_eq!(audit[0].action, "job.create");
                    assert_eq!(audit[0].actor, job.requested_by);
                    match (&command, &job.kind) {
                        (Command::Run { .. }, JobKind::Command(spec)) => {
                            assert_eq!(spec.program, "/usr/bin/true");
                        }
                        (Command::Restart { .. }, JobKind::Game(action)) => {
                            assert_eq!(
                                (action.game.as_str(), action.action.as_str()),
                                ("main", "restart")
                            );
                            assert_eq!(action.args["warnings_secs"], json!([120, 60, 30, 10]));
                        }
                        (Command::Say { .. }, JobKind::Game(action)) => {
                            assert_eq!(action.action, "say");
                            assert_eq!(action.args["message"], json!("hello"));
                        }
                        other => panic!("unexpected job {other:?}"),
                    }
                }
                (_, Answer::Now(reply)) if !runs_a_job => match &command {
                    Command::Hosts => assert!(reply.content.contains("eu\\-1"), "{reply:?}"),
                    Command::Status { .. } => {
                        let embed = reply.embed.as_ref().expect("a status is an embed");
                        assert_eq!(embed.title, "eu\\-1");
                    }
                    Command::Players { .. } => {
                        assert!(reply.content.contains("Alice"), "{reply:?}")
                    }
                    Command::Jobs { .. } => {
                        assert!(reply.content.contains("eu\\-1") || reply.content == "No jobs yet.")
                    }
                    _ => unreachable!(),
                },
                _ => panic!("{role} {command:?}: unexpected answer {answer:?}"),
            }
        }
    }
    // The jobs list shows what the commands started, newest first.
    let reply = now(ask(server, "100", Command::Jobs { host: Some("eu-1".into()) }).await);
    assert_eq!(reply.content.lines().count(), 9, "3 jobs by each of 3 roles: {reply:?}");
    assert!(reply.content.lines().next().unwrap().contains("main say"), "{reply:?}");
}

#[tokio::test]
async fn every_command_answers_every_role_as_the_roles_table_says_on_sqlite() {
    every_command_for_every_role(&TestServer::start().await).await;
}

#[tokio::test]
async fn every_command_answers_every_role_as_the_roles_table_says_on_postgres() {
    let server = TestServer::start_postgres().await;
    every_command_for_every_role(&server).await;
    server.finish().await;
}

#[tokio::test]
async fn another_orgs_hosts_and_schedules_are_not_found_and_bad_options_are_refused() {
    let server = TestServer::start().await;
    link_guild(&server, &server.org.api_key, server.org.org, GUILD).await;
    fleet(&server).await;
    // Another org with its own guild, host and schedule.
    let other = server.other_org().await;
    link_guild(&server, &other.api_key, other.org, "42").await;
    let url = format!("{}/api/v1/orgs/{}/hosts", server.base, other.org);
    let body = json!({"name": "secret-host"});
    let response = server.http.post(url).bearer_auth(&other.api_key).json(&body).send().await;
    assert_eq!(response.unwrap().status(), 201);
    linked(&server, "7", "owner").await;

    let host = || "secret-host".to_owned();
    for command in [
        Command::Status { host: host() },
        Command::Players { host: host() },
        Command::Jobs { host: Some(host()) },
        Command::Say { host: host(), message: "hi".into(), game: None },
        Command::Restart { host: host(), delay_secs: None, game: None },
        Command::Run { host: host(), template: "backup".into() },
    ] {
        refused(ask(&server, "7", command).await, "No host named secret\\-host");
    }
    let run = Command::Run { host: "eu-1".into(), template: "nightly".into() };
    refused(ask(&server, "7", run).await, "No schedule named nightly");
    let restart = Command::Restart { host: "eu-1".into(), delay_secs: Some(3601), game: None };
    refused(ask(&server, "7", restart).await, "0 to 3600 seconds");
    let restart =
        Command::Restart { host: "eu-1".into(), delay_secs: None, game: Some("x".into()) };
    refused(ask(&server, "7", restart).await, "no game server x");
    let say = Command::Say { host: "eu-1".into(), message: "x".repeat(501), game: None };
    refused(ask(&server, "7", say).await, "1 to 500 characters");
    let say = Command::Say { host: "eu-1".into(), message: "a\nb".into(), game: None };
    refused(ask(&server, "7", say).await, "line breaks");
    // The same Discord user in the other org's guild is nobody there.
    let answer = handle(&server.state, invocation(Some("42"), "7", Command::Hosts)).await;
    refused(answer, "can only use `/link`");

    let filter = JobFilter { host: None, limit: 10, ..JobFilter::default() };
    let other_jobs = server.state.store.list_jobs(OrgId(other.org), &filter).await.unwrap();
    assert!(other_jobs.is_empty(), "nothing ran in the other org");
    let jobs = server.state.store.list_jobs(OrgId(server.org.org), &filter).await.unwrap();
    assert!(jobs.is_empty(), "no refused command ran: {jobs:?}");
}

#[tokio::test]
async fn hostile_names_and_messages_are_inert_in_replies() {
    let server = TestServer::start().await;
    link_guild(&server, &server.org.api_key, server.org.org, GUILD).await;
    let host = fleet(&server).await;
    let event = NewGameEvent {
        id: Uuid::now_v7(),
        instance: "main".to_owned(),
        game: "7dtd".to_owned(),
        kind: "player_connected".to_owned(),
        player: Some(EventPlayer {
            id: Some("Steam_2".to_owned()),
            name: "@everyone <@&1> **[x](https://evil)**".to_owned(),
        }),
        at: Timestamp::now(),
        data: json!({}),
    };
    server.state.store.record_game_events(host, &[event]).await.unwrap();
    linked(&server, "7", "operator").await;

    let reply = now(ask(&server, "7", Command::Players { host: "eu-1".into() }).await);
    assert!(!reply.content.contains("@everyone"), "{reply:?}");
    assert!(!reply.content.contains("<@&1>"), "{reply:?}");
    assert!(!reply.content.contains("**["), "{reply:?}");
    assert!(reply.content.contains("@\u{200b}everyone"), "{reply:?}");

    // What is typed reaches the game as typed; the reply about it is inert.
    let message = "@here look **now**";
    let say =
        Command::Say { host: "eu-1".into(), message: message.into(), game: Some("main".into()) };
    let answer = ask(&server, "7", say).await;
    assert!(!answer.first().content.contains("@here"), "{answer:?}");
    let filter = JobFilter { host: None, limit: 1, ..JobFilter::default() };
    let job = server.state.store.list_jobs(OrgId(server.org.org), &filter).await.unwrap();
    let JobKind::Game(action) = &job[0].kind else { panic!("a game job") };
    assert_eq!(action.args["message"], json!(message));

    // A huge host name typed into a command is cut in the refusal.
    let huge = "@everyone".repeat(1000);
    let answer = now(ask(&server, "7", Command::Status { host: huge }).await);
    assert!(answer.content.chars().count() < 200, "{answer:?}");
    assert!(!answer.content.contains("@everyone"), "{answer:?}");
}

#[tokio::test]
async fn a_job_command_answers_at_once_and_its_reply_is_edited_when_the_job_ends() {
    let server = TestServer::start().await;
    link_guild(&server, &server.org.api_key, server.org.org, GUILD).await;
    let created = server.create_host("eu-1").await;
    let response = server.http.put(server.url(&format!("/hosts/{}/games/main", created.host.id)));
    let response = response.bearer_auth(&server.org.api_key).json(&game_body(8081)).send().await;
    assert_eq!(response.unwrap().status(), 201);
    let enrolled = server.enroll(&created.join_token).await;
    let credential: gsm_proto::agent::EnrollResponse = enrolled.json().await.unwrap();
    let mut agent = server.connect(&credential.credential).await;
    linked(&server, "7", "operator").await;

    let restart = Command::Restart { host: "eu-1".into(), delay_secs: Some(0), game: None };
    let Answer::Deferred { first, follow_up } = ask(&server, "7", restart).await else {
        panic!("a restart answers at once and follows up")
    };
    assert!(first.content.contains("started as job"), "{first:?}");
    let assignment = match agent.recv().await {
        ServerMessage::AssignJob(assignment) => assignment,
        other => panic!("expected the restart job, got {other:?}"),
    };
    let JobKind::Game(action) = &assignment.spec.kind else { panic!("a game job") };
    assert_eq!(action.args["warnings_secs"], json!([]), "no countdown for a delay of 0");
    let job = JobRef { job: assignment.spec.id, attempt: assignment.attempt };
    let follow_up = tokio::spawn(follow_up);
    agent.send(&AgentMessage::JobAccepted(job)).await;
    let result = JobResult {
        termination: Termination::Exited,
        exit_code: Some(0),
        signal: None,
        duration_ms: 5,
        output_bytes: 0,
        kept_bytes: 0,
        truncated: false,
    };
    agent.send(&AgentMessage::JobFinished(JobFinished { job, result, chunks: 0 })).await;
    let edit = tokio::time::timeout(WAIT, follow_up).await.expect("the edit comes").unwrap();
    assert!(edit.content.contains("succeeded"), "{edit:?}");
    assert!(edit.content.contains(&job.job.to_string()), "{edit:?}");
    let stored = server.state.store.get_job(OrgId(server.org.org), job.job).await.unwrap();
    assert_eq!(stored.state, JobState::Succeeded);

    // A job that fails says so, with its reason.
    let say = Command::Say { host: "eu-1".into(), message: "bye".into(), game: None };
    let Answer::Deferred { follow_up, .. } = ask(&server, "7", say).await else { panic!() };
    // The agent first hears the ack of the restart's end.
    let assignment = loop {
        match agent.recv().await {
            ServerMessage::AssignJob(assignment) => break assignment,
            ServerMessage::Ack(_) => continue,
            other => panic!("expected the say job, got {other:?}"),
        }
    };
    let job = JobRef { job: assignment.spec.id, attempt: assignment.attempt };
    agent
        .send(&AgentMessage::JobRejected(gsm_proto::agent::JobRejected {
            job,
            reason: "game_unreachable".into(),
            message: "the console did not answer".into(),
        }))
        .await;
    let edit = tokio::time::timeout(WAIT, follow_up).await.expect("the edit comes");
    assert!(edit.content.contains("rejected"), "{edit:?}");
}

#[tokio::test]
async fn a_removed_member_or_a_deleted_user_can_only_link_again() {
    let server = TestServer::start().await;
    link_guild(&server, &server.org.api_key, server.org.org, GUILD).await;
    let user = linked(&server, "7", "admin").await;
    assert!(!now(ask(&server, "7", Command::Hosts).await).ephemeral);
    let audit = gsm_server::store::access::AuditEntry {
        id: Uuid::now_v7(),
        org: OrgId(server.org.org),
        at: Timestamp::now(),
        actor: gsm_core::job::Requester { kind: RequesterKind::User, id: "test".into() },
        action: "member.remove".into(),
        target_kind: "member".into(),
        target_id: user.to_string(),
        client_ip: None,
        outcome: "success".into(),
    };
    server.state.store.remove_member(OrgId(server.org.org), user, &audit).await.unwrap();
    refused(ask(&server, "7", Command::Hosts).await, "can only use `/link`");
}
