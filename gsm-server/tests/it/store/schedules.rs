//! Conformance behaviours of the schedule half of the store: definitions, and the claim that
//! makes a due time fire once.

use std::sync::Arc;

use gsm_core::job::{CommandSpec, HostId, JobId, JobKind};
use gsm_proto::rest::{
    ConcurrencyPolicy, FireOutcome, ScheduleConditions, ScheduleSpec, ScheduleTemplate,
};
use gsm_server::store::schedules::{FireClaim, FireRecord, ScheduleRecord};
use gsm_server::store::{OrgId, Store};
use uuid::Uuid;

use super::{
    assert_conflict, assert_not_found, at, audit_of, audited_actions, create_host, new_org,
};

fn spec(name: &str, host: HostId) -> ScheduleSpec {
    ScheduleSpec {
        name: name.to_owned(),
        cron: "*/5 * * * *".to_owned(),
        timezone: "Europe/Berlin".to_owned(),
        template: ScheduleTemplate {
            hosts: vec![host],
            kind: JobKind::Command(CommandSpec {
                program: "/usr/bin/true".to_owned(),
                args: vec![],
                cwd: None,
                env: Default::default(),
            }),
            timeout_secs: Some(60),
            output_cap_bytes: None,
            deadline_secs: None,
        },
        conditions: ScheduleConditions {
            host_online: true,
            max_players: Some(0),
            min_players: None,
        },
        concurrency_policy: ConcurrencyPolicy::Forbid,
        starting_deadline_secs: Some(120),
        history_limit: 3,
        suspend: false,
    }
}

fn record(org: OrgId, spec: ScheduleSpec, next_ms: i64) -> ScheduleRecord {
    ScheduleRecord {
        id: Uuid::now_v7(),
        org,
        spec,
        next_fire_at: Some(at(next_ms)),
        last_fire_at: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

async fn schedule_in(store: &dyn Store, next_ms: i64) -> ScheduleRecord {
    let org = new_org(store).await;
    let host = create_host(store, org, "box").await.id;
    let new = record(org, spec("nightly", host), next_ms);
    store.create_schedule(&new, &audit_of(org, "schedule.create", new.id)).await.unwrap()
}

fn claim(schedule: &ScheduleRecord, expected_ms: i64, due_ms: i64, next_ms: i64) -> FireClaim {
    FireClaim {
        expected: at(expected_ms),
        fire: FireRecord {
            schedule: schedule.id,
            org: schedule.org,
            due_at: at(due_ms),
            claimed_at: at(due_ms + 10),
            outcome: FireOutcome::Claimed,
            reason: None,
            jobs: vec![],
        },
        next_fire_at: Some(at(next_ms)),
    }
}

pub(super) async fn a_schedule_is_created_listed_replaced_and_deleted_with_audit(
    store: Arc<dyn Store>,
) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let first = record(org, spec("b-nightly", host), 1000);
    let created =
        store.create_schedule(&first, &audit_of(org, "schedule.create", first.id)).await.unwrap();
    assert_eq!(created, first);
    assert_eq!(store.get_schedule(org, first.id).await.unwrap(), first);
    let clash = record(org, spec("b-nightly", host), 1000);
    let detail = assert_conflict(
        store.create_schedule(&clash, &audit_of(org, "schedule.create", clash.id)).await,
    );
    assert!(detail.contains("b-nightly"), "{detail}");
    let second = record(org, spec("a-hourly", host), 2000);
    store.create_schedule(&second, &audit_of(org, "schedule.create", second.id)).await.unwrap();
    let names = |records: Vec<ScheduleRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.spec.name).collect()
    };
    assert_eq!(
        names(store.list_schedules(org, None, 10).await.unwrap()),
        ["a-hourly", "b-nightly"]
    );
    assert_eq!(names(store.list_schedules(org, None, 1).await.unwrap()), ["a-hourly"]);
    assert_eq!(
        names(store.list_schedules(org, Some("a-hourly"), 10).await.unwrap()),
        ["b-nightly"]
    );

    let other = new_org(store.as_ref()).await;
    assert_not_found(store.get_schedule(other, first.id).await, "schedule");
    assert!(store.list_schedules(other, None, 10).await.unwrap().is_empty());
    assert_not_found(
        store.delete_schedule(other, first.id, &audit_of(other, "schedule.delete", first.id)).await,
        "schedule",
    );

    let mut changed = first.clone();
    changed.spec.suspend = true;
    changed.spec.concurrency_policy = ConcurrencyPolicy::Replace;
    changed.spec.starting_deadline_secs = None;
    changed.next_fire_at = None;
    changed.updated_at = at(5);
    let replaced = store
        .replace_schedule(&changed, &audit_of(org, "schedule.suspend", first.id))
        .await
        .unwrap();
    assert_eq!(replaced, changed);
    let mut renamed = changed.clone();
    renamed.spec.name = "a-hourly".to_owned();
    assert_conflict(
        store.replace_schedule(&renamed, &audit_of(org, "schedule.replace", first.id)).await,
    );
    store
        .delete_schedule(org, first.id, &audit_of(org, "schedule.delete", first.id))
        .await
        .unwrap();
    assert_not_found(store.get_schedule(org, first.id).await, "schedule");
    let actions: Vec<String> =
        audited_actions(store.as_ref(), org).await.into_iter().map(|(action, _)| action).collect();
    assert_eq!(
        actions.iter().filter(|a| a.starts_with("schedule.")).collect::<Vec<_>>(),
        ["schedule.create", "schedule.create", "schedule.suspend", "schedule.delete"]
    );
}

pub(super) async fn a_due_time_is_claimed_once_by_concurrent_claimers(store: Arc<dyn Store>) {
    let schedule = schedule_in(store.as_ref(), 1000).await;
    assert!(store.due_schedules(at(999), 10).await.unwrap().iter().all(|s| s.id != schedule.id));
    assert!(store.due_schedules(at(1000), 10).await.unwrap().iter().any(|s| s.id == schedule.id));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        let claim = claim(&schedule, 1000, 1000, 2000);
        tasks.push(tokio::spawn(async move { store.claim_fire(&claim).await.unwrap() }));
    }
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one claimer wins a due time");
    let after = store.get_schedule(schedule.org, schedule.id).await.unwrap();
    assert_eq!((after.next_fire_at, after.last_fire_at), (Some(at(2000)), Some(at(1000))));
    // A claim on the old due time changes nothing.
    assert!(!store.claim_fire(&claim(&schedule, 1000, 1000, 3000)).await.unwrap());
    // An edit that moves next_fire_at back onto a claimed due time does not fire it again, but
    // the schedule moves on.
    let mut back = after.clone();
    back.next_fire_at = Some(at(1000));
    store
        .replace_schedule(&back, &audit_of(schedule.org, "schedule.replace", back.id))
        .await
        .unwrap();
    assert!(!store.claim_fire(&claim(&schedule, 1000, 1000, 2000)).await.unwrap());
    let moved = store.get_schedule(schedule.org, schedule.id).await.unwrap();
    assert_eq!(moved.next_fire_at, Some(at(2000)));
    let fires = store.list_fires(schedule.org, schedule.id, None, 10).await.unwrap();
    assert_eq!(fires.len(), 1);
    assert_eq!((fires[0].due_at, fires[0].outcome), (at(1000), FireOutcome::Claimed));
    // A suspended schedule is neither due nor claimable.
    let mut suspended = moved.clone();
    suspended.spec.suspend = true;
    store
        .replace_schedule(&suspended, &audit_of(schedule.org, "schedule.suspend", moved.id))
        .await
        .unwrap();
    assert!(store.due_schedules(at(10_000), 10).await.unwrap().iter().all(|s| s.id != schedule.id));
    assert!(!store.claim_fire(&claim(&schedule, 2000, 2000, 3000)).await.unwrap());
}

pub(super) async fn fires_are_finished_paged_and_pruned_keeping_the_last_started(
    store: Arc<dyn Store>,
) {
    let schedule = schedule_in(store.as_ref(), 1000).await;
    let org = schedule.org;
    let job = JobId::new();
    // Fire 1 starts a job; fires 2-5 are skipped. The history keeps 3, plus the last started.
    for n in 1..=5 {
        let due = n * 1000;
        assert!(store.claim_fire(&claim(&schedule, due, due, due + 1000)).await.unwrap());
        let mut fire = claim(&schedule, due, due, due + 1000).fire;
        if n == 1 {
            fire.outcome = FireOutcome::Started;
            fire.jobs = vec![job];
        } else {
            fire.outcome = FireOutcome::Skipped;
            fire.reason = Some(format!("host box: condition max_players 0: {n} player(s) online"));
        }
        store.finish_fire(&fire).await.unwrap();
    }
    let fires = store.list_fires(org, schedule.id, None, 10).await.unwrap();
    let dues: Vec<_> = fires.iter().map(|f| f.due_at).collect();
    assert_eq!(dues, [at(5000), at(4000), at(3000), at(1000)]);
    assert_eq!(
        fires[0].reason.as_deref(),
        Some("host box: condition max_players 0: 5 player(s) online")
    );
    let last = store.last_started_fire(schedule.id).await.unwrap().unwrap();
    assert_eq!((last.due_at, last.jobs), (at(1000), vec![job]));
    let page = store.list_fires(org, schedule.id, Some(at(4000)), 1).await.unwrap();
    assert_eq!(page.iter().map(|f| f.due_at).collect::<Vec<_>>(), [at(3000)]);
    let other = new_org(store.as_ref()).await;
    assert!(store.list_fires(other, schedule.id, None, 10).await.unwrap().is_empty());
    // A claimed fire nobody finished is stalled once its claim is old enough.
    assert!(store.claim_fire(&claim(&schedule, 6000, 6000, 7000)).await.unwrap());
    assert!(store.stalled_fires(at(6000), 10).await.unwrap().is_empty());
    let stalled = store.stalled_fires(at(6010), 10).await.unwrap();
    assert_eq!(
        stalled.iter().map(|f| (f.schedule, f.due_at)).collect::<Vec<_>>(),
        [(schedule.id, at(6000))]
    );
    // Deleting the schedule deletes its history.
    store
        .delete_schedule(org, schedule.id, &audit_of(org, "schedule.delete", schedule.id))
        .await
        .unwrap();
    assert!(store.list_fires(org, schedule.id, None, 10).await.unwrap().is_empty());
    assert!(store.last_started_fire(schedule.id).await.unwrap().is_none());
}
