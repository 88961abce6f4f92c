//! The scheduler with an injected clock: daylight-saving changes, an outage across several due
//! times, the concurrency policies, suspend and resume, conditions, and two replicas on one
//! PostgreSQL database firing each due time once.
//!
//! The test server runs no scheduler of its own (`scheduler_tick = None`); each test calls
//! `scheduler::tick` at the instants it chooses.

use std::collections::{BTreeMap, HashMap};

use gsm_core::cron::Schedule as Cron;
use gsm_core::heartbeat::{GameStatus, Heartbeat};
use gsm_core::job::{CommandSpec, HostId, JobKind, JobState, RequesterKind};
use gsm_proto::rest::{
    ConcurrencyPolicy, FireOutcome, Page, Schedule, ScheduleConditions, ScheduleFire, ScheduleSpec,
    ScheduleTemplate,
};
use gsm_server::app::AppState;
use gsm_server::dispatch::{self, End};
use gsm_server::scheduler::{self, next_fire};
use gsm_server::store::access::{AuditEntry, AuditFilter};
use gsm_server::store::alerts::{AlertFilter, NotificationFilter};
use gsm_server::store::schedules::{FireRecord, ScheduleRecord};
use gsm_server::store::{JobFilter, JobTransition, OrgId};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use uuid::Uuid;

use crate::harness::TestServer;

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn spec(name: &str, cron: &str, timezone: &str, hosts: &[HostId]) -> ScheduleSpec {
    ScheduleSpec {
        name: name.to_owned(),
        cron: cron.to_owned(),
        timezone: timezone.to_owned(),
        template: ScheduleTemplate {
            hosts: hosts.to_vec(),
            kind: JobKind::Command(CommandSpec {
                program: "/usr/bin/systemctl".to_owned(),
                args: vec!["restart".to_owned(), "7dtd".to_owned()],
                cwd: None,
                env: BTreeMap::new(),
            }),
            timeout_secs: None,
            output_cap_bytes: None,
            deadline_secs: None,
        },
        conditions: ScheduleConditions::default(),
        concurrency_policy: ConcurrencyPolicy::Allow,
        starting_deadline_secs: None,
        history_limit: 100,
        suspend: false,
    }
}

fn org_of(server: &TestServer) -> OrgId {
    OrgId(server.org.org)
}

/// Stores a schedule as the API would, created at `now`.
async fn add(state: &AppState, org: OrgId, spec: ScheduleSpec, now: Timestamp) -> ScheduleRecord {
    let cron = Cron::parse(&spec.cron, &spec.timezone).unwrap();
    let record = ScheduleRecord {
        id: Uuid::now_v7(),
        org,
        next_fire_at: next_fire(&cron, spec.suspend, now),
        spec,
        last_fire_at: None,
        created_at: now,
        updated_at: now,
    };
    let audit = AuditEntry {
        id: Uuid::now_v7(),
        org,
        at: now,
        actor: gsm_core::job::Requester { kind: RequesterKind::User, id: "test".into() },
        action: "schedule.create".into(),
        target_kind: "schedule".into(),
        target_id: record.id.to_string(),
        client_ip: None,
        outcome: "success".into(),
    };
    state.store.create_schedule(&record, &audit).await.unwrap()
}

/// The schedule's fires, oldest first.
async fn fires(state: &AppState, schedule: &ScheduleRecord) -> Vec<FireRecord> {
    let mut fires = state.store.list_fires(schedule.org, schedule.id, None, 500).await.unwrap();
    fires.reverse();
    fires
}

/// Ticks from `from` to `to` (inclusive) every `step`.
async fn run_between(state: &AppState, from: Timestamp, to: Timestamp, step: SignedDuration) {
    let mut now = from;
    while now <= to {
        tick(state, now).await.unwrap();
        now = now.checked_add(step).unwrap();
    }
}

/// One scheduler pass at `now`.
async fn tick(
    state: &AppState,
    now: Timestamp,
) -> gsm_server::store::StoreResult<scheduler::TickReport> {
    scheduler::tick(state, &scheduler::ManualClock::new(now)).await
}

async fn host(server: &TestServer, name: &str) -> HostId {
    server.create_host(name).await.host.id
}

#[tokio::test]
async fn spring_forward_fires_once_after_the_gap_and_fall_back_once_per_fixed_time() {
    let server = TestServer::start().await;
    let (state, org) = (&server.state, org_of(&server));
    let box1 = host(&server, "box").await;
    let berlin = add(
        state,
        org,
        spec("berlin", "30 2 * * *", "Europe/Berlin", &[box1]),
        t("2025-03-29T12:00Z"),
    )
    .await;
    let new_york = add(
        state,
        org,
        spec("ny", "30 1 * * *", "America/New_York", &[box1]),
        t("2025-11-01T12:00Z"),
    )
    .await;
    let hourly = add(
        state,
        org,
        spec("ny-hourly", "0 * * * *", "America/New_York", &[box1]),
        t("2025-11-02T03:30Z"),
    )
    .await;
    let ten_minutes = SignedDuration::from_mins(10);
    run_between(state, t("2025-03-29T12:00Z"), t("2025-03-31T12:00Z"), ten_minutes).await;
    // 02:30 did not exist on 2025-03-30 in Berlin: one fire at 03:00 CEST, then 02:30 CEST.
    let dues: Vec<_> = fires(state, &berlin).await.iter().map(|f| f.due_at).collect();
    assert_eq!(dues, [t("2025-03-30T01:00Z"), t("2025-03-31T00:30Z")]);

    run_between(state, t("2025-11-01T12:00Z"), t("2025-11-03T12:00Z"), ten_minutes).await;
    // 01:30 happened twice on 2025-11-02 in New York: the fixed-time schedule fires at the
    // first (EDT) only; the hourly one follows real time through both 01:00s.
    let dues: Vec<_> = fires(state, &new_york).await.iter().map(|f| f.due_at).collect();
    assert_eq!(dues, [t("2025-11-02T05:30Z"), t("2025-11-03T06:30Z")]);
    let hourly_fires = fires(state, &hourly).await;
    let first_five: Vec<_> = hourly_fires.iter().take(5).map(|f| f.due_at).collect();
    assert_eq!(
        first_five,
        [
            t("2025-11-02T04:00Z"),
            t("2025-11-02T05:00Z"),
            t("2025-11-02T06:00Z"),
            t("2025-11-02T07:00Z"),
            t("2025-11-02T08:00Z")
        ]
    );
    // Every fire started exactly one job, requested by its schedule.
    for fire in fires(state, &berlin).await.iter().chain(&fires(state, &new_york).await) {
        assert_eq!((fire.outcome, fire.jobs.len()), (FireOutcome::Started, 1), "{fire:?}");
        let job = state.store.get_job(org, fire.jobs[0]).await.unwrap();
        assert_eq!(job.requested_by.kind, RequesterKind::Schedule);
        assert_eq!(job.host, box1);
    }
    server.finish().await;
}

#[tokio::test]
async fn a_server_down_across_several_due_times_runs_the_latest_once_or_records_a_miss() {
    let server = TestServer::start().await;
    let (state, org) = (&server.state, org_of(&server));
    let box1 = host(&server, "box").await;
    let start = t("2026-01-10T10:00Z");
    let late_ok = add(state, org, spec("no-deadline", "*/10 * * * *", "UTC", &[box1]), start).await;
    let mut strict = spec("deadline-60s", "*/10 * * * *", "UTC", &[box1]);
    strict.starting_deadline_secs = Some(60);
    let strict = add(state, org, strict, start).await;

    // No server ran from 10:00 to 11:05: six due times passed (10:10 … 11:00).
    let report = tick(state, t("2026-01-10T11:05Z")).await.unwrap();
    assert_eq!(report.claimed, 2);
    let ran = fires(state, &late_ok).await;
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(
        (ran[0].due_at, ran[0].outcome, ran[0].jobs.len()),
        (t("2026-01-10T11:00Z"), FireOutcome::Started, 1)
    );
    assert!(ran[0].reason.as_deref().unwrap().contains("5 earlier due time(s)"), "{ran:?}");
    let missed = fires(state, &strict).await;
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(
        (missed[0].due_at, missed[0].outcome),
        (t("2026-01-10T11:00Z"), FireOutcome::Missed)
    );
    assert!(missed[0].jobs.is_empty());
    let reason = missed[0].reason.as_deref().unwrap();
    assert!(
        reason.contains("claimed 300s after its due time, past the starting deadline of 60s"),
        "{reason}"
    );
    for schedule in [&late_ok, &strict] {
        let now = state.store.get_schedule(org, schedule.id).await.unwrap();
        assert_eq!(now.next_fire_at, Some(t("2026-01-10T11:10Z")));
        assert_eq!(now.last_fire_at, Some(t("2026-01-10T11:00Z")));
    }
    // A tick again at the same instant claims nothing more: nothing is replayed.
    assert_eq!(tick(state, t("2026-01-10T11:05Z")).await.unwrap().claimed, 0);
    // Within the deadline the strict schedule runs.
    tick(state, t("2026-01-10T11:10:30Z")).await.unwrap();
    let strict_fires = fires(state, &strict).await;
    assert_eq!(strict_fires.len(), 2);
    assert_eq!(strict_fires[1].outcome, FireOutcome::Started);
    let jobs = state
        .store
        .list_jobs(org, &JobFilter { host: Some(box1), limit: 100, ..JobFilter::default() })
        .await
        .unwrap();
    // 11:00 and 11:10 of the first, 11:10 of the strict one: none for the missed and skipped times.
    assert_eq!(jobs.len(), 3, "one job per run fire");
    server.finish().await;
}

/// Moves a queued job to running, as its agent taking it would.
async fn make_running(state: &AppState, org: OrgId, job: gsm_core::job::JobId) {
    let record = state.store.get_job(org, job).await.unwrap();
    for (from, to, attempt) in [
        (JobState::Queued, JobState::Dispatched, Some(1)),
        (JobState::Dispatched, JobState::Running, None),
    ] {
        let change = JobTransition {
            job: record.id,
            from,
            to,
            attempt,
            reason: None,
            result: None,
            chunks_total: None,
            now: Timestamp::now(),
        };
        state.store.transition_job(&change).await.unwrap();
    }
}

#[tokio::test]
async fn forbid_skips_while_the_previous_job_runs_and_fires_once_it_ended() {
    let server = TestServer::start().await;
    let (state, org) = (&server.state, org_of(&server));
    let box1 = host(&server, "box").await;
    let mut forbid = spec("forbid", "*/5 * * * *", "UTC", &[box1]);
    forbid.concurrency_policy = ConcurrencyPolicy::Forbid;
    let forbid = add(state, org, forbid, t("2026-01-10T00:00Z")).await;
    tick(state, t("2026-01-10T00:05Z")).await.unwrap();
    let first = fires(state, &forbid).await[0].jobs[0];
    make_running(state, org, first).await;
    // Still running at the next two due times: both skipped, saying why.
    tick(state, t("2026-01-10T00:10Z")).await.unwrap();
    tick(state, t("2026-01-10T00:15Z")).await.unwrap();
    let history = fires(state, &forbid).await;
    for fire in &history[1..] {
        assert_eq!(fire.outcome, FireOutcome::Skipped);
        assert!(fire.jobs.is_empty());
        let reason = fire.reason.as_deref().unwrap();
        assert!(
            reason.contains("concurrency policy forbid") && reason.contains(&first.to_string()),
            "{reason}"
        );
    }
    dispatch::settle(state, first, End::Lost { reason: "test: the run ended".into() }, None)
        .await
        .unwrap();
    tick(state, t("2026-01-10T00:20Z")).await.unwrap();
    let history = fires(state, &forbid).await;
    assert_eq!(history.len(), 4);
    assert_eq!((history[3].outcome, history[3].jobs.len()), (FireOutcome::Started, 1));
    server.finish().await;
}

#[tokio::test]
async fn replace_cancels_the_previous_fires_unfinished_job_and_audits_it() {
    let server = TestServer::start().await;
    let (state, org) = (&server.state, org_of(&server));
    let box1 = host(&server, "box").await;
    let mut replace = spec("replace", "*/5 * * * *", "UTC", &[box1]);
    replace.concurrency_policy = ConcurrencyPolicy::Replace;
    let replace = add(state, org, replace, t("2026-01-10T00:00Z")).await;
    tick(state, t("2026-01-10T00:05Z")).await.unwrap();
    let first = fires(state, &replace).await[0].jobs[0];
    // The host has no agent: the first job is still queued at the next due time.
    tick(state, t("2026-01-10T00:10Z")).await.unwrap();
    let history = fires(state, &replace).await;
    assert_eq!((history[1].outcome, history[1].jobs.len()), (FireOutcome::Started, 1));
    assert!(history[1].reason.as_deref().unwrap().contains("cancelled the previous fire's job(s)"));
    assert_eq!(state.store.get_job(org, first).await.unwrap().state, JobState::Cancelled);
    let second = state.store.get_job(org, history[1].jobs[0]).await.unwrap();
    assert_eq!(second.state, JobState::Queued);
    let filter = AuditFilter { limit: 100, ..AuditFilter::default() };
    let audit = state.store.list_audit(org, &filter).await.unwrap();
    let by_schedule: Vec<_> = audit
        .iter()
        .filter(|entry| entry.actor.kind == RequesterKind::Schedule)
        .map(|entry| (entry.action.as_str(), entry.target_id.clone()))
        .collect();
    assert!(by_schedule.contains(&("job.cancel", first.to_string())), "{by_schedule:?}");
    assert!(by_schedule.contains(&("job.create", second.id.to_string())), "{by_schedule:?}");
    server.finish().await;
}

fn heartbeat(host: HostId, seq: u64, players: u32) -> Heartbeat {
    Heartbeat {
        host,
        agent_version: "0.1.0".into(),
        seq,
        uptime_secs: 100,
        load: None,
        memory: None,
        disks: vec![],
        running_jobs: vec![],
        games: vec![GameStatus {
            game: "7dtd".into(),
            instance: "main".into(),
            up: true,
            version: None,
            players_online: players,
            max_players: Some(8),
            players: vec![],
            world_time: None,
        }],
    }
}

#[tokio::test]
async fn conditions_skip_a_host_with_the_reason_and_pass_on_its_live_status() {
    let server = TestServer::start().await;
    let (state, org) = (&server.state, org_of(&server));
    let busy = host(&server, "busy").await;
    let silent = host(&server, "silent").await;
    let mut when_empty = spec("restart-when-empty", "*/5 * * * *", "UTC", &[busy, silent]);
    when_empty.conditions =
        ScheduleConditions { host_online: true, max_players: Some(0), min_players: None };
    let when_empty = add(state, org, when_empty, t("2026-01-10T00:00Z")).await;
    state.record_heartbeat(busy, heartbeat(busy, 1, 3));
    tick(state, t("2026-01-10T00:05Z")).await.unwrap();
    let fire = &fires(state, &when_empty).await[0];
    assert_eq!(fire.outcome, FireOutcome::Skipped);
    let reason = fire.reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("host {busy}: condition max_players 0: 3 player(s) online")),
        "{reason}"
    );
    assert!(reason.contains(&format!("host {silent}: condition host_online")), "{reason}");

    // The busy host empties: the next fire runs there only, and says why not on the other.
    state.record_heartbeat(busy, heartbeat(busy, 2, 0));
    tick(state, t("2026-01-10T00:10Z")).await.unwrap();
    let fire = &fires(state, &when_empty).await[1];
    assert_eq!(fire.outcome, FireOutcome::Started);
    assert_eq!(fire.jobs.len(), 1);
    assert_eq!(state.store.get_job(org, fire.jobs[0]).await.unwrap().host, busy);
    assert!(fire.reason.as_deref().unwrap().contains(&format!("host {silent}")));

    // At least N players: 0 online is too few.
    let mut when_busy = spec("announce-when-busy", "*/5 * * * *", "UTC", &[busy]);
    when_busy.conditions =
        ScheduleConditions { host_online: false, max_players: None, min_players: Some(2) };
    let when_busy = add(state, org, when_busy, t("2026-01-10T00:10Z")).await;
    tick(state, t("2026-01-10T00:15Z")).await.unwrap();
    let fire = &fires(state, &when_busy).await[0];
    assert_eq!(fire.outcome, FireOutcome::Skipped);
    assert!(
        fire.reason.as_deref().unwrap().contains("condition min_players 2: 0 player(s) online")
    );
    server.finish().await;
}

#[tokio::test]
async fn suspend_and_resume_through_the_api_never_replay_the_suspended_time() {
    let server = TestServer::start().await;
    let box1 = host(&server, "box").await;
    let body = json!({
        "name": "every-minute",
        "cron": "* * * * *",
        "timezone": "europe/berlin",
        "template": {"hosts": [box1], "kind": {"type": "command", "program": "/usr/bin/true"}},
    });
    let response = server.post("/schedules").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let created: Schedule = response.json().await.unwrap();
    assert_eq!(created.spec.timezone, "Europe/Berlin");
    assert!(created.next_fire_at.is_some());
    let patch = |suspend: bool| {
        server
            .http
            .patch(server.url(&format!("/schedules/{}", created.id)))
            .bearer_auth(&server.org.api_key)
            .json(&json!({"suspend": suspend}))
            .send()
    };
    let suspended: Schedule = patch(true).await.unwrap().json().await.unwrap();
    assert!(suspended.spec.suspend);
    assert_eq!(suspended.next_fire_at, None);
    // An hour passes while suspended: nothing fires.
    let later = Timestamp::now().checked_add(SignedDuration::from_hours(1)).unwrap();
    assert_eq!(tick(&server.state, later).await.unwrap().claimed, 0);
    let resumed: Schedule = patch(false).await.unwrap().json().await.unwrap();
    let next: Timestamp = resumed.next_fire_at.unwrap().parse().unwrap();
    let now = Timestamp::now();
    assert!(next > now && next <= now.checked_add(SignedDuration::from_mins(1)).unwrap());
    // The next tick at its due time fires once, not once per suspended minute.
    let report = tick(&server.state, next).await.unwrap();
    assert_eq!((report.claimed, report.jobs), (1, 1));
    let response = server.get(&format!("/schedules/{}/fires", created.id)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page: Page<ScheduleFire> = response.json().await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].outcome, FireOutcome::Started);
    let filter = AuditFilter { limit: 50, ..AuditFilter::default() };
    let audit = server.state.store.list_audit(org_of(&server), &filter).await.unwrap();
    let actions: Vec<_> = audit.into_iter().map(|e| e.action).collect();
    assert!(
        actions.contains(&"schedule.suspend".to_owned())
            && actions.contains(&"schedule.resume".to_owned())
    );
    server.finish().await;
}

#[tokio::test]
async fn schedules_api_validates_and_lists_with_a_cursor() {
    let server = TestServer::start().await;
    let box1 = host(&server, "box").await;
    let base = |name: &str| {
        json!({
            "name": name,
            "cron": "0 4 * * *",
            "template": {"hosts": [box1], "kind": {"type": "game", "game": "main", "action": "restart"}},
        })
    };
    for (change, needle) in [
        (json!({"cron": "61 * * * *"}), "invalid cron expression"),
        (json!({"timezone": "Mars/Olympus"}), "Mars/Olympus"),
        (json!({"history_limit": 0}), "history_limit"),
        (json!({"starting_deadline_secs": 0}), "starting_deadline_secs"),
        (json!({"conditions": {"min_players": 5, "max_players": 1}}), "min_players"),
    ] {
        let mut body = base("bad");
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        let response = server.post("/schedules").json(&body).send().await.unwrap();
        assert_eq!(response.status(), 422, "{change}");
        let text = response.text().await.unwrap();
        assert!(text.contains(needle), "{change}: {text}");
    }
    let mut foreign = base("foreign");
    foreign["template"]["hosts"] = json!([HostId::new()]);
    assert_eq!(server.post("/schedules").json(&foreign).send().await.unwrap().status(), 404);
    for name in ["c", "a", "b"] {
        assert_eq!(server.post("/schedules").json(&base(name)).send().await.unwrap().status(), 201);
    }
    assert_eq!(server.post("/schedules").json(&base("a")).send().await.unwrap().status(), 409);
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/schedules?limit=2&cursor={c}"),
            None => "/schedules?limit=2".to_owned(),
        };
        let page: Page<Schedule> = server.get_json(&query).await;
        names.extend(page.items.into_iter().map(|s| s.spec.name));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(names, ["a", "b", "c"]);
    server.finish().await;
}

#[tokio::test]
async fn two_replicas_on_one_postgres_database_fire_each_due_time_exactly_once() {
    let server = TestServer::start_postgres().await;
    let replica = server.replica().await;
    let org = org_of(&server);
    let hosts = [host(&server, "a").await, host(&server, "b").await];
    let start = t("2026-01-10T00:00Z");
    let mut schedules = Vec::new();
    for n in 0..60 {
        let cron = if n % 2 == 0 { "* * * * *" } else { "*/2 * * * *" };
        schedules.push(
            add(&server.state, org, spec(&format!("s{n:02}"), cron, "UTC", &hosts), start).await,
        );
    }
    // Both replicas tick at the same instants, concurrently, for five minutes.
    for minute in 1..=5 {
        let now = start.checked_add(SignedDuration::from_mins(minute)).unwrap();
        let (a, b) = tokio::join!(tick(&server.state, now), tick(&replica, now));
        let (a, b) = (a.unwrap(), b.unwrap());
        let expected = if minute % 2 == 0 { 60 } else { 30 };
        assert_eq!(a.claimed + b.claimed, expected, "minute {minute}: {a:?} {b:?}");
    }
    let mut per_due: HashMap<(Uuid, Timestamp), usize> = HashMap::new();
    let mut total_fires = 0;
    for schedule in &schedules {
        for fire in fires(&server.state, schedule).await {
            assert_eq!((fire.outcome, fire.jobs.len()), (FireOutcome::Started, 2), "{fire:?}");
            *per_due.entry((schedule.id, fire.due_at)).or_default() += 1;
            total_fires += 1;
        }
    }
    assert!(per_due.values().all(|&n| n == 1));
    assert_eq!(total_fires, 30 * 5 + 30 * 2);
    let jobs = server
        .state
        .store
        .list_jobs(org, &JobFilter { host: None, limit: 500, ..JobFilter::default() })
        .await
        .unwrap();
    assert_eq!(jobs.len(), total_fires * 2, "one job per host per fire, none twice");
    server.finish().await;
}

#[tokio::test]
async fn a_fire_whose_server_stopped_after_the_claim_is_finished_once_by_the_next_tick() {
    let server = TestServer::start().await;
    let (state, org) = (&server.state, org_of(&server));
    let box1 = host(&server, "box").await;
    let schedule =
        add(state, org, spec("crashy", "0 * * * *", "UTC", &[box1]), t("2026-01-10T00:30Z")).await;
    // A server claimed 01:00 and stopped before making the job.
    let due = t("2026-01-10T01:00Z");
    let claim = gsm_server::store::schedules::FireClaim {
        expected: due,
        fire: FireRecord {
            schedule: schedule.id,
            org,
            due_at: due,
            claimed_at: due,
            outcome: FireOutcome::Claimed,
            reason: None,
            jobs: vec![],
        },
        next_fire_at: Some(t("2026-01-10T02:00Z")),
    };
    assert!(state.store.claim_fire(&claim).await.unwrap());
    // Too soon to call it stalled: its server may still be working on it.
    assert_eq!(tick(state, t("2026-01-10T01:00:10Z")).await.unwrap().jobs, 0);
    assert_eq!(tick(state, t("2026-01-10T01:00:31Z")).await.unwrap().jobs, 1);
    assert_eq!(tick(state, t("2026-01-10T01:05Z")).await.unwrap().jobs, 0);
    let history = fires(state, &schedule).await;
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].outcome, history[0].jobs.len()), (FireOutcome::Started, 1));
    let jobs = state
        .store
        .list_jobs(org, &JobFilter { host: Some(box1), limit: 10, ..JobFilter::default() })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    server.finish().await;
}

#[tokio::test]
async fn a_fire_missed_past_its_starting_deadline_raises_a_schedule_missed_alert() {
    let server = TestServer::start().await;
    let (state, org) = (&server.state, org_of(&server));
    let box1 = host(&server, "box").await;
    let rule = gsm_proto::rest::AlertRuleSpec {
        name: "missed fires".into(),
        kind: gsm_core::rules::kinds::SCHEDULE_MISSED.into(),
        host: None,
        game: None,
        text: None,
        players_above: None,
        players_below: None,
        threshold: None,
        resolve_kind: None,
        cooldown_secs: 0,
        severity: gsm_core::rules::Severity::Warning,
        channels: Some(vec!["in_app".into()]),
        remediation: None,
        enabled: true,
    };
    let audit = AuditEntry {
        id: Uuid::now_v7(),
        org,
        at: Timestamp::now(),
        actor: gsm_core::job::Requester { kind: RequesterKind::User, id: "test".into() },
        action: "alert_rule.create".into(),
        target_kind: "alert_rule".into(),
        target_id: "missed fires".into(),
        client_ip: None,
        outcome: "success".into(),
    };
    state.store.create_alert_rule(org, Uuid::now_v7(), &rule, &audit).await.unwrap();
    state.alerts.rules_changed.notify_one();
    let mut strict = spec("nightly", "0 3 * * *", "UTC", &[box1]);
    strict.starting_deadline_secs = Some(60);
    add(state, org, strict, t("2026-01-10T02:00Z")).await;
    // The engine loads the rule before the event arrives: a rule-less event would be dropped.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    // The server was down at 03:00 and comes back at 03:30.
    let report = tick(state, t("2026-01-10T03:30Z")).await.unwrap();
    assert_eq!((report.claimed, report.jobs), (1, 0));
    let notification = crate::harness::eventually(|| async {
        let list = state
            .store
            .list_notifications(
                org,
                &NotificationFilter { unread_only: false, before: None, limit: 10 },
            )
            .await
            .unwrap();
        list.into_iter().next()
    })
    .await;
    let alert = state
        .store
        .list_alerts(
            org,
            &AlertFilter { status: None, rule: None, host: None, before: None, limit: 10 },
        )
        .await
        .unwrap();
    let alert = alert.iter().find(|alert| alert.id == notification.alert).unwrap();
    assert_eq!(alert.kind, "schedule.missed");
    let text = &alert.message;
    assert!(text.contains("nightly") && text.contains("missed its fire"), "{text}");
    assert!(text.contains("past the starting deadline of 60s"), "{text}");
}

#[tokio::test]
async fn a_host_deleted_before_its_fire_gets_no_job_and_the_fire_says_why() {
    let server = TestServer::start().await;
    let (state, org) = (&server.state, org_of(&server));
    let (kept, gone) = (host(&server, "kept").await, host(&server, "gone").await);
    let both =
        add(state, org, spec("both", "0 3 * * *", "UTC", &[kept, gone]), t("2026-01-10T02:00Z"))
            .await;
    let response =
        server.http.delete(format!("{}/api/v1/orgs/{}/hosts/{gone}", server.base, org.0));
    let response = response.bearer_auth(&server.org.api_key).send().await.unwrap();
    assert_eq!(response.status(), 204, "{:?}", response.text().await);

    let report = tick(state, t("2026-01-10T03:00:01Z")).await.unwrap();
    assert_eq!((report.claimed, report.jobs), (1, 1));
    let fire = &fires(state, &both).await[0];
    assert_eq!((fire.outcome, fire.jobs.len()), (FireOutcome::Started, 1));
    let job = state.store.get_job(org, fire.jobs[0]).await.unwrap();
    assert_eq!(job.host, kept);
    let reason = fire.reason.as_deref().unwrap();
    assert!(reason.contains(&format!("host {gone}: no such host")), "{reason}");
    // A tick at the same instant creates nothing more.
    assert_eq!(tick(state, t("2026-01-10T03:00:01Z")).await.unwrap().jobs, 0);
}
