//! The store conformance suite: each behaviour is written once against `Arc<dyn Store>` and runs
//! on every backend — SQLite on a fresh file, SQLite in memory, and PostgreSQL in a fresh schema —
//! as `store::<backend>::<behaviour>`.
//!
//! PostgreSQL tests never skip: they use `GSM_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test` (trust auth on this machine), and an unreachable
//! server fails the test with the command that starts it. Each test creates its own schema and
//! drops it when it passes, so tests share nothing and run in parallel.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use gsm_core::heartbeat::{Disk, GameStatus, Heartbeat, LoadAvg, Memory, Player};
use gsm_core::job::{
    CommandSpec, GameAction, HostId, JobId, JobKind, JobResult, JobState, Requester, RequesterKind,
    Termination,
};
use gsm_core::runner::Stream;
use gsm_proto::agent::HostFacts;
use gsm_server::store::access::{
    AuditEntry, AuditFilter, NewInvite, NewSession, NewUser, RefreshOutcome, SessionId, UserId,
};
use gsm_server::store::{
    ApiKeyRecord, Created, Enrollment, HostRecord, JobFilter, JobRecord, JobTransition, NewHost,
    NewJob, NewLogChunk, OrgId, PostgresStore, SecretHash, SqliteStore, Store, StoreError,
    StoreResult,
};
use jiff::Timestamp;
use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;
use uuid::Uuid;

mod alerts;
mod discord;
mod games;
mod metrics;
mod schedules;

use alerts::{
    a_claimed_delivery_is_hidden_for_its_lease_retried_and_finished_once,
    alert_rules_are_created_listed_replaced_and_deleted_with_audit,
    an_in_app_delivery_stores_one_notification_that_is_marked_read,
    an_open_alert_is_raised_once_resolved_once_with_a_delivery_per_channel,
    concurrent_claims_take_each_delivery_once, webhooks_and_default_channels_are_kept_per_org,
};

use discord::{
    a_guild_is_linked_to_one_org_at_a_time_with_audit,
    a_link_code_links_its_discord_user_to_a_member_once_before_it_expires,
    hosts_and_schedules_are_found_by_name_in_their_own_org_only,
};
use games::{
    a_game_config_is_created_replaced_listed_and_deleted_with_audit,
    another_orgs_or_a_deleted_hosts_games_are_not_found,
    game_events_are_stored_once_and_filtered_newest_first,
    players_are_online_from_connect_to_disconnect_with_last_seen,
};
use metrics::{
    heartbeats_fold_into_minutes_read_oldest_first_by_org_and_range,
    old_metrics_are_pruned_in_bounded_batches,
};
use schedules::{
    a_due_time_is_claimed_once_by_concurrent_claimers,
    a_schedule_is_created_listed_replaced_and_deleted_with_audit,
    fires_are_finished_paged_and_pruned_keeping_the_last_started,
};

/// Instantiates every behaviour for every backend.
macro_rules! conformance {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let db = super::SqliteFile::open().await;
                    super::$behaviour(db.store()).await;
                }
            )*
        }

        mod sqlite_in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    super::$behaviour(super::sqlite_in_memory().await).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let db = super::PostgresSchema::create().await;
                    super::$behaviour(db.store()).await;
                    db.drop_schema().await;
                }
            )*
        }
    };
}

conformance!(
    store_answers_ping,
    host_and_job_changes_commit_with_their_audit_entries,
    a_failed_host_or_job_change_leaves_no_audit_entry,
    an_idempotent_repeat_writes_no_second_audit_entry,
    enrollment_commits_an_agent_audit_entry_and_a_refused_one_none,
    user_is_found_by_email_in_any_case_and_an_email_has_one_account,
    an_org_always_keeps_an_owner_and_a_refused_change_leaves_no_audit_entry,
    a_rotated_refresh_token_presented_again_revokes_the_whole_session,
    an_invite_is_accepted_once_and_never_when_expired_or_revoked,
    api_keys_list_newest_first_with_expiry_last_use_and_revocation,
    access_lists_page_after_the_last_items_id_even_through_ties,
    created_org_reads_back,
    duplicate_org_id_is_a_conflict,
    api_key_is_found_by_its_key_id_in_any_org,
    api_key_of_an_unknown_org_is_refused,
    created_host_reads_back_with_its_labels,
    host_in_an_unknown_org_is_not_found,
    another_orgs_host_is_not_found,
    another_orgs_job_and_its_logs_are_not_found,
    create_host_with_a_repeated_idempotency_key_returns_the_first_host,
    same_host_idempotency_key_in_another_org_creates_another_host,
    concurrent_create_host_with_one_idempotency_key_makes_one_host,
    host_name_is_unique_among_an_orgs_live_hosts,
    host_name_can_be_reused_after_the_host_is_deleted,
    list_hosts_pages_by_name_over_live_hosts,
    join_token_enrolls_the_host_with_facts_and_credential,
    redeemed_join_token_cannot_be_used_again,
    a_new_join_token_replaces_the_old_one_and_re_enrollment_replaces_the_credential,
    join_token_for_another_orgs_host_is_not_found,
    expired_join_token_is_refused,
    join_token_of_a_deleted_host_is_refused,
    unknown_join_token_is_refused,
    concurrent_redeems_of_one_join_token_enroll_once,
    host_by_credential_finds_only_live_hosts,
    deleting_a_host_kills_its_credential_and_loses_its_unfinished_jobs,
    deleting_an_unknown_or_deleted_host_is_not_found,
    update_host_facts_replaces_the_facts_of_live_hosts_only,
    record_heartbeats_keeps_the_latest_heartbeat_per_host,
    heartbeats_fold_into_minutes_read_oldest_first_by_org_and_range,
    old_metrics_are_pruned_in_bounded_batches,
    created_job_is_queued_at_attempt_zero_or_dispatched_at_one,
    create_job_on_a_deleted_host_is_not_found,
    create_job_with_a_repeated_idempotency_key_returns_the_first_job,
    same_job_idempotency_key_in_another_org_creates_another_job,
    concurrent_create_job_with_one_idempotency_key_makes_one_job,
    transition_job_applies_the_move_and_its_fields,
    transition_from_a_stale_state_is_a_conflict,
    illegal_transitions_are_refused_without_a_change,
    concurrent_transitions_from_one_state_have_exactly_one_winner,
    transition_of_an_unknown_job_is_not_found,
    pending_jobs_for_host_are_queued_and_dispatched_oldest_first,
    overdue_jobs_are_waiting_jobs_at_or_past_their_deadline,
    list_jobs_filters_by_host_state_and_creation_time_newest_first,
    list_jobs_pages_through_every_job_without_gaps_or_repeats,
    count_jobs_by_state_counts_every_state_across_orgs,
    log_chunks_report_how_many_are_stored_without_a_gap,
    repeated_log_chunk_keeps_the_first_bytes,
    a_thousand_log_chunks_are_stored_in_one_call,
    log_chunk_bytes_round_trip_unchanged,
    job_logs_page_after_a_seq,
    log_chunks_of_an_unknown_job_are_not_found,
    a_game_config_is_created_replaced_listed_and_deleted_with_audit,
    another_orgs_or_a_deleted_hosts_games_are_not_found,
    game_events_are_stored_once_and_filtered_newest_first,
    players_are_online_from_connect_to_disconnect_with_last_seen,
    alert_rules_are_created_listed_replaced_and_deleted_with_audit,
    an_open_alert_is_raised_once_resolved_once_with_a_delivery_per_channel,
    a_claimed_delivery_is_hidden_for_its_lease_retried_and_finished_once,
    concurrent_claims_take_each_delivery_once,
    an_in_app_delivery_stores_one_notification_that_is_marked_read,
    webhooks_and_default_channels_are_kept_per_org,
    a_schedule_is_created_listed_replaced_and_deleted_with_audit,
    a_due_time_is_claimed_once_by_concurrent_claimers,
    fires_are_finished_paged_and_pruned_keeping_the_last_started,
    a_guild_is_linked_to_one_org_at_a_time_with_audit,
    a_link_code_links_its_discord_user_to_a_member_once_before_it_expires,
    hosts_and_schedules_are_found_by_name_in_their_own_org_only,
);

// ---------------------------------------------------------------------------------------------
// Backends.

/// The PostgreSQL URL when `GSM_TEST_DATABASE_URL` is not set.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A SQLite store on a fresh file in a temporary directory, removed with it.
struct SqliteFile {
    store: Arc<dyn Store>,
    _dir: TempDir,
}

impl SqliteFile {
    async fn open() -> SqliteFile {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let store = SqliteStore::open(&dir.path().join("gsm.sqlite3"))
            .await
            .unwrap_or_else(|error| panic!("opening the SQLite store: {error:?}"));
        SqliteFile { store: Arc::new(store), _dir: dir }
    }

    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }
}

async fn sqlite_in_memory() -> Arc<dyn Store> {
    let store = SqliteStore::open_in_memory()
        .await
        .unwrap_or_else(|error| panic!("opening an in-memory SQLite store: {error:?}"));
    Arc::new(store)
}

/// A PostgreSQL store confined to a schema of its own.
pub(crate) struct PostgresSchema {
    url: String,
    schema: String,
    store: Arc<dyn Store>,
}

impl PostgresSchema {
    pub(crate) async fn create() -> PostgresSchema {
        let url = std::env::var("GSM_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        // One plain connection first: it fails at once with the real cause, where the store's
        // pool would retry a refused connection until its timeout.
        if let Err(error) = PgConnection::connect(&url).await {
            panic!(
                "PostgreSQL at {url} is unreachable: {error}. Start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
                 or point GSM_TEST_DATABASE_URL at a database this user may create schemas in."
            );
        }
        let schema = format!("gsm_test_{}", Uuid::new_v4().simple());
        let store = PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap_or_else(|error| panic!("opening the PostgreSQL store in {schema}: {error:?}"));
        PostgresSchema { url, schema, store: Arc::new(store) }
    }

    pub(crate) fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// Another store on the same schema with a connection pool of its own: what a second server
    /// replica on the same database holds.
    pub(crate) async fn another_store(&self) -> Arc<dyn Store> {
        let store = PostgresStore::connect_with_schema(&self.url, &self.schema)
            .await
            .unwrap_or_else(|error| panic!("opening a second store on {}: {error:?}", self.schema));
        Arc::new(store)
    }

    pub(crate) async fn drop_schema(self) {
        drop(self.store);
        let mut conn = PgConnection::connect(&self.url).await.expect("connecting to drop a schema");
        conn.execute(format!("DROP SCHEMA \"{}\" CASCADE", self.schema).as_str())
            .await
            .expect("dropping the test schema");
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A fixed instant plus `ms` milliseconds (whole milliseconds: what the store keeps).
fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_700_000_000_000 + ms).expect("a valid timestamp")
}

/// When join tokens made by [`new_host`] expire.
const TOKEN_EXPIRES: i64 = 3_600_000;

/// When jobs made by [`new_job`] are lost if not taken.
const JOB_DEADLINE: i64 = 3_600_000;

/// A fresh random secret hash.
fn secret() -> SecretHash {
    let mut bytes = [0; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    SecretHash(bytes)
}

async fn new_org(store: &dyn Store) -> OrgId {
    let id = OrgId(Uuid::now_v7());
    store.create_org(id, "an org", at(0)).await.expect("creating an org");
    id
}

fn new_host(name: &str) -> NewHost {
    NewHost {
        id: HostId::new(),
        name: name.to_owned(),
        labels: BTreeMap::from([("region".to_owned(), "eu".to_owned())]),
        idempotency_key: None,
        join_token_hash: secret(),
        join_token_expires_at: at(TOKEN_EXPIRES),
        now: at(0),
    }
}

/// An audit entry for a change a test makes in `org`.
fn audit(org: OrgId) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7(),
        org,
        at: at(0),
        actor: Requester { kind: RequesterKind::User, id: "alice".to_owned() },
        action: "test.change".to_owned(),
        target_kind: "test".to_owned(),
        target_id: "target".to_owned(),
        client_ip: Some("192.0.2.7".to_owned()),
        outcome: "success".to_owned(),
    }
}

/// An agent enrolling at `now`.
fn enrolled(now: Timestamp) -> Enrollment {
    Enrollment { audit_id: Uuid::now_v7(), client_ip: Some("192.0.2.8".to_owned()), now }
}

/// The org's audit entries, newest first.
async fn audit_log(store: &dyn Store, org: OrgId) -> Vec<AuditEntry> {
    let filter = AuditFilter { limit: 100, ..AuditFilter::default() };
    store.list_audit(org, &filter).await.expect("listing the audit log")
}

async fn create_host(store: &dyn Store, org: OrgId, name: &str) -> HostRecord {
    store.create_host(org, &new_host(name), &audit(org)).await.expect("creating a host").0
}

/// A host with a join token whose hash the caller keeps.
async fn create_host_with_token(store: &dyn Store, org: OrgId, name: &str) -> (HostId, SecretHash) {
    let host = new_host(name);
    let token = host.join_token_hash;
    store.create_host(org, &host, &audit(org)).await.expect("creating a host");
    (host.id, token)
}

fn facts(hostname: &str) -> HostFacts {
    HostFacts {
        hostname: hostname.to_owned(),
        os: "linux".to_owned(),
        arch: "x86_64".to_owned(),
        cpus: 8,
        memory_total_bytes: 16 << 30,
        agent_version: "0.1.0".to_owned(),
        allowed_programs: Vec::new(),
    }
}

fn new_job(host: HostId, now: i64) -> NewJob {
    NewJob {
        id: JobId::new(),
        host,
        kind: JobKind::Command(CommandSpec {
            program: "/usr/bin/systemctl".to_owned(),
            args: vec!["restart".to_owned(), "7dtd".to_owned()],
            cwd: None,
            env: BTreeMap::new(),
        }),
        timeout_secs: Some(600),
        output_cap_bytes: Some(1 << 20),
        requested_by: Requester { kind: RequesterKind::User, id: "alice".to_owned() },
        idempotency_key: None,
        deadline_at: at(now + JOB_DEADLINE),
        now: at(now),
        dispatched: false,
    }
}

async fn create_job(store: &dyn Store, org: OrgId, host: HostId, now: i64) -> JobRecord {
    store.create_job(org, &new_job(host, now), &audit(org)).await.expect("creating a job").0
}

/// A bare state change at `at(now)`.
fn change(job: JobId, from: JobState, to: JobState, now: i64) -> JobTransition {
    JobTransition {
        job,
        from,
        to,
        attempt: None,
        reason: None,
        result: None,
        chunks_total: None,
        now: at(now),
    }
}

/// Walks a queued job along legal moves to `target`.
async fn move_to(store: &dyn Store, job: JobId, target: JobState) -> JobRecord {
    use JobState::{Dispatched, Queued, Rejected, Running};
    let path = match target {
        Queued => vec![],
        Dispatched => vec![Dispatched],
        Rejected => vec![Dispatched, Rejected],
        Running => vec![Dispatched, Running],
        ended => vec![Dispatched, Running, ended],
    };
    let mut record = store.get_job_any_org(job).await.expect("reading a job");
    for to in path {
        let step = change(job, record.state, to, 1);
        record = store.transition_job(&step).await.expect("moving a job");
    }
    record
}

fn chunk(seq: u64, data: &[u8]) -> NewLogChunk {
    NewLogChunk { seq, stream: Stream::Stdout, data: data.to_vec() }
}

fn heartbeat(host: HostId, seq: u64) -> Heartbeat {
    Heartbeat {
        host,
        agent_version: "0.1.0".to_owned(),
        seq,
        uptime_secs: 3600 + seq,
        load: Some(LoadAvg { one: 0.1, five: 1.25, fifteen: 2.0 / 3.0 }),
        memory: Some(Memory { total_bytes: 16 << 30, available_bytes: 3 << 30 }),
        disks: vec![Disk { mount: "/".to_owned(), total_bytes: 1 << 40, available_bytes: 1 << 39 }],
        running_jobs: vec![JobId(Uuid::from_u128(u128::from(seq)))],
        games: vec![GameStatus {
            game: "7dtd".to_owned(),
            instance: String::new(),
            up: true,
            version: Some("V 1.0".to_owned()),
            players_online: 1,
            max_players: Some(8),
            players: vec![Player { id: "76561197960287930".to_owned(), name: "Zoë".to_owned() }],
            world_time: Some("Day 7, 22:00".to_owned()),
        }],
    }
}

#[track_caller]
fn assert_not_found<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::NotFound { what: found }) if found == what => {}
        other => panic!("expected NotFound {{ what: {what:?} }}, got {other:?}"),
    }
}

/// The conflict's detail, or a panic naming what came instead.
#[track_caller]
fn assert_conflict<T: Debug>(result: StoreResult<T>) -> String {
    match result {
        Err(StoreError::Conflict { detail }) => detail,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

fn ids(jobs: &[JobRecord]) -> Vec<JobId> {
    jobs.iter().map(|job| job.id).collect()
}

// ---------------------------------------------------------------------------------------------
// Orgs and API keys.

async fn store_answers_ping(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}

async fn created_org_reads_back(store: Arc<dyn Store>) {
    let id = OrgId(Uuid::now_v7());
    let created = store.create_org(id, "Blood Moon", at(5)).await.unwrap();
    assert_eq!((created.id, created.name.as_str(), created.created_at), (id, "Blood Moon", at(5)));
    assert_eq!(store.get_org(id).await.unwrap(), created);
    assert_not_found(store.get_org(OrgId(Uuid::now_v7())).await, "org");
}

async fn duplicate_org_id_is_a_conflict(store: Arc<dyn Store>) {
    let id = new_org(store.as_ref()).await;
    let detail = assert_conflict(store.create_org(id, "again", at(1)).await);
    assert!(detail.contains(&id.to_string()), "{detail}");
}

async fn api_key_is_found_by_its_key_id_in_any_org(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let key = ApiKeyRecord {
        key_id: "k7Qx2".to_owned(),
        org,
        name: "ci".to_owned(),
        role: "operator".to_owned(),
        secret_hash: secret(),
        created_at: at(0),
        revoked_at: None,
        created_by: None,
        expires_at: None,
        last_used_at: None,
    };
    store.create_api_key(&key).await.unwrap();
    assert_eq!(store.find_api_key("k7Qx2").await.unwrap(), Some(key.clone()));
    assert_eq!(store.find_api_key("k7Qx3").await.unwrap(), None);

    let revoked = ApiKeyRecord { key_id: "old".to_owned(), revoked_at: Some(at(9)), ..key.clone() };
    store.create_api_key(&revoked).await.unwrap();
    assert_eq!(store.find_api_key("old").await.unwrap(), Some(revoked));

    let other_org = new_org(store.as_ref()).await;
    let same_id = ApiKeyRecord { org: other_org, ..key };
    assert_conflict(store.create_api_key(&same_id).await);
}

async fn api_key_of_an_unknown_org_is_refused(store: Arc<dyn Store>) {
    let key = ApiKeyRecord {
        key_id: "orphan".to_owned(),
        org: OrgId(Uuid::now_v7()),
        name: "ci".to_owned(),
        role: "viewer".to_owned(),
        secret_hash: secret(),
        created_at: at(0),
        revoked_at: None,
        created_by: None,
        expires_at: None,
        last_used_at: None,
    };
    assert_not_found(store.create_api_key(&key).await, "org");
    assert_eq!(store.find_api_key("orphan").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Hosts.

async fn created_host_reads_back_with_its_labels(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let mut host = new_host("box-1");
    host.labels.insert("tier".to_owned(), "gold ✨".to_owned());
    let (created, how) = store.create_host(org, &host, &audit(org)).await.unwrap();
    assert_eq!(how, Created::New);
    let expected = HostRecord {
        id: host.id,
        org,
        name: "box-1".to_owned(),
        labels: host.labels.clone(),
        created_at: at(0),
        enrolled_at: None,
        facts: None,
        last_heartbeat_at: None,
        last_heartbeat: None,
    };
    assert_eq!(created, expected);
    assert_eq!(store.get_host(org, host.id).await.unwrap(), expected);
}

async fn host_in_an_unknown_org_is_not_found(store: Arc<dyn Store>) {
    let unknown = OrgId(Uuid::now_v7());
    let result = store.create_host(unknown, &new_host("box"), &audit(unknown)).await;
    assert_not_found(result, "org");
}

async fn another_orgs_host_is_not_found(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let intruder = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await;

    assert_not_found(store.get_host(intruder, host.id).await, "host");
    assert_not_found(store.delete_host(intruder, host.id, at(1), &audit(intruder)).await, "host");
    assert_not_found(
        store.create_job(intruder, &new_job(host.id, 1), &audit(intruder)).await,
        "host",
    );
    assert!(store.list_hosts(intruder, None, 100).await.unwrap().is_empty());

    // Nothing the intruder tried touched the host.
    assert_eq!(store.get_host(org, host.id).await.unwrap(), host);
    let filter = JobFilter { limit: 100, ..JobFilter::default() };
    assert!(store.list_jobs(org, &filter).await.unwrap().is_empty());
}

async fn another_orgs_job_and_its_logs_are_not_found(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let intruder = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await;
    let job = create_job(store.as_ref(), org, host.id, 1).await;
    store.append_log_chunks(job.id, &[chunk(0, b"secret output")]).await.unwrap();

    assert_not_found(store.get_job(intruder, job.id).await, "job");
    assert_not_found(store.job_logs(intruder, job.id, None, 100).await, "job");
    let all = JobFilter { limit: 100, ..JobFilter::default() };
    assert!(store.list_jobs(intruder, &all).await.unwrap().is_empty());
    let by_host = JobFilter { host: Some(host.id), limit: 100, ..JobFilter::default() };
    assert!(store.list_jobs(intruder, &by_host).await.unwrap().is_empty());

    // The owner and the gateway (which checks the host itself) still see it.
    assert_eq!(store.get_job(org, job.id).await.unwrap(), job);
    assert_eq!(store.get_job_any_org(job.id).await.unwrap(), job);
    assert_eq!(store.job_logs(org, job.id, None, 100).await.unwrap().len(), 1);
}

async fn create_host_with_a_repeated_idempotency_key_returns_the_first_host(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let first = NewHost { idempotency_key: Some("req-1".to_owned()), ..new_host("box") };
    let (created, how) = store.create_host(org, &first, &audit(org)).await.unwrap();
    assert_eq!(how, Created::New);

    // A retry carries a new id and a new token; the first host and its token stand.
    let retry = NewHost { idempotency_key: Some("req-1".to_owned()), ..new_host("box") };
    let (again, how) = store.create_host(org, &retry, &audit(org)).await.unwrap();
    assert_eq!((again, how), (created.clone(), Created::Existing));
    assert_eq!(store.list_hosts(org, None, 100).await.unwrap(), vec![created]);
    assert_not_found(
        store
            .redeem_join_token(retry.join_token_hash, secret(), &facts("a"), &enrolled(at(1)))
            .await,
        "join token",
    );
    store
        .redeem_join_token(first.join_token_hash, secret(), &facts("a"), &enrolled(at(1)))
        .await
        .unwrap();
}

async fn same_host_idempotency_key_in_another_org_creates_another_host(store: Arc<dyn Store>) {
    let org_a = new_org(store.as_ref()).await;
    let org_b = new_org(store.as_ref()).await;
    let in_a = NewHost { idempotency_key: Some("req-1".to_owned()), ..new_host("box") };
    let in_b = NewHost { idempotency_key: Some("req-1".to_owned()), ..new_host("box") };
    let (a, how_a) = store.create_host(org_a, &in_a, &audit(org_a)).await.unwrap();
    let (b, how_b) = store.create_host(org_b, &in_b, &audit(org_b)).await.unwrap();
    assert_eq!((how_a, how_b), (Created::New, Created::New));
    assert_ne!(a.id, b.id);
    assert_eq!((a.org, b.org), (org_a, org_b));
}

async fn concurrent_create_host_with_one_idempotency_key_makes_one_host(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        let host = NewHost { idempotency_key: Some("req-1".to_owned()), ..new_host("box") };
        tasks.spawn(async move { store.create_host(org, &host, &audit(org)).await });
    }
    let results: Vec<_> = tasks.join_all().await.into_iter().map(Result::unwrap).collect();
    let new = results.iter().filter(|(_, how)| *how == Created::New).count();
    assert_eq!(new, 1, "{results:?}");
    let hosts = store.list_hosts(org, None, 100).await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert!(results.iter().all(|(host, _)| *host == hosts[0]), "{results:?}");
}

async fn host_name_is_unique_among_an_orgs_live_hosts(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    create_host(store.as_ref(), org, "box").await;
    let detail = assert_conflict(store.create_host(org, &new_host("box"), &audit(org)).await);
    assert!(detail.contains("box"), "{detail}");

    let other_org = new_org(store.as_ref()).await;
    let (_, how) = store.create_host(other_org, &new_host("box"), &audit(other_org)).await.unwrap();
    assert_eq!(how, Created::New);
}

async fn host_name_can_be_reused_after_the_host_is_deleted(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let old = create_host(store.as_ref(), org, "box").await;
    store.delete_host(org, old.id, at(1), &audit(org)).await.unwrap();
    let new = create_host(store.as_ref(), org, "box").await;
    assert_ne!(new.id, old.id);
    assert_eq!(store.list_hosts(org, None, 100).await.unwrap(), vec![new]);
}

async fn list_hosts_pages_by_name_over_live_hosts(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    for name in ["delta", "alpha", "charlie", "bravo"] {
        create_host(store.as_ref(), org, name).await;
    }
    let gone = create_host(store.as_ref(), org, "being-deleted").await;
    store.delete_host(org, gone.id, at(1), &audit(org)).await.unwrap();
    let other_org = new_org(store.as_ref()).await;
    create_host(store.as_ref(), other_org, "another-orgs").await;

    let names = |hosts: Vec<HostRecord>| hosts.into_iter().map(|h| h.name).collect::<Vec<_>>();
    assert_eq!(names(store.list_hosts(org, None, 2).await.unwrap()), ["alpha", "bravo"]);
    assert_eq!(names(store.list_hosts(org, Some("bravo"), 2).await.unwrap()), ["charlie", "delta"]);
    assert!(store.list_hosts(org, Some("delta"), 2).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Join tokens and credentials.

async fn join_token_enrolls_the_host_with_facts_and_credential(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let (host, token) = create_host_with_token(store.as_ref(), org, "box").await;
    let credential = secret();

    let enrolled =
        store.redeem_join_token(token, credential, &facts("box.lan"), &enrolled(at(7))).await;
    let enrolled = enrolled.unwrap();
    assert_eq!(enrolled.id, host);
    assert_eq!(enrolled.enrolled_at, Some(at(7)));
    assert_eq!(enrolled.facts, Some(facts("box.lan")));
    assert_eq!(store.get_host(org, host).await.unwrap(), enrolled);
    assert_eq!(store.host_by_credential(credential).await.unwrap(), Some(enrolled));
}

async fn redeemed_join_token_cannot_be_used_again(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let (host, token) = create_host_with_token(store.as_ref(), org, "box").await;
    let first = secret();
    store.redeem_join_token(token, first, &facts("box"), &enrolled(at(1))).await.unwrap();

    let second = secret();
    assert_not_found(
        store.redeem_join_token(token, second, &facts("thief"), &enrolled(at(2))).await,
        "join token",
    );
    assert_eq!(store.host_by_credential(second).await.unwrap(), None);
    let still = store.host_by_credential(first).await.unwrap().expect("the first credential");
    assert_eq!((still.id, still.facts), (host, Some(facts("box"))));
}

async fn a_new_join_token_replaces_the_old_one_and_re_enrollment_replaces_the_credential(
    store: Arc<dyn Store>,
) {
    let org = new_org(store.as_ref()).await;
    let (host, first_token) = create_host_with_token(store.as_ref(), org, "box").await;
    let old_credential = secret();
    store
        .redeem_join_token(first_token, old_credential, &facts("box"), &enrolled(at(1)))
        .await
        .unwrap();

    let unused = secret();
    store.issue_join_token(org, host, unused, at(TOKEN_EXPIRES), at(2), &audit(org)).await.unwrap();
    let newest = secret();
    store.issue_join_token(org, host, newest, at(TOKEN_EXPIRES), at(3), &audit(org)).await.unwrap();
    assert_not_found(
        store.redeem_join_token(unused, secret(), &facts("box"), &enrolled(at(4))).await,
        "join token",
    );

    let new_credential = secret();
    let enrolled = store
        .redeem_join_token(newest, new_credential, &facts("box2"), &enrolled(at(5)))
        .await
        .unwrap();
    assert_eq!(enrolled.id, host);
    assert_eq!(store.host_by_credential(old_credential).await.unwrap(), None);
    let found =
        store.host_by_credential(new_credential).await.unwrap().expect("the new credential");
    assert_eq!(found.facts, Some(facts("box2")));
}

async fn join_token_for_another_orgs_host_is_not_found(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let other = new_org(store.as_ref()).await;
    let (host, _) = create_host_with_token(store.as_ref(), org, "box").await;
    assert_not_found(
        store
            .issue_join_token(other, host, secret(), at(TOKEN_EXPIRES), at(1), &audit(other))
            .await,
        "host",
    );
    store.delete_host(org, host, at(2), &audit(org)).await.unwrap();
    assert_not_found(
        store.issue_join_token(org, host, secret(), at(TOKEN_EXPIRES), at(3), &audit(org)).await,
        "host",
    );
}

async fn expired_join_token_is_refused(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let (_, on_time) = create_host_with_token(store.as_ref(), org, "on-time").await;
    let (late_host, late) = create_host_with_token(store.as_ref(), org, "late").await;

    // A token works until the instant it expires, not at it.
    assert_not_found(
        store.redeem_join_token(late, secret(), &facts("late"), &enrolled(at(TOKEN_EXPIRES))).await,
        "join token",
    );
    assert_eq!(store.get_host(org, late_host).await.unwrap().enrolled_at, None);
    store
        .redeem_join_token(on_time, secret(), &facts("x"), &enrolled(at(TOKEN_EXPIRES - 1)))
        .await
        .unwrap();
}

async fn join_token_of_a_deleted_host_is_refused(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let (host, token) = create_host_with_token(store.as_ref(), org, "box").await;
    store.delete_host(org, host, at(1), &audit(org)).await.unwrap();
    let credential = secret();
    assert_not_found(
        store.redeem_join_token(token, credential, &facts("box"), &enrolled(at(2))).await,
        "join token",
    );
    assert_eq!(store.host_by_credential(credential).await.unwrap(), None);
}

async fn unknown_join_token_is_refused(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    create_host_with_token(store.as_ref(), org, "box").await;
    assert_not_found(
        store.redeem_join_token(secret(), secret(), &facts("box"), &enrolled(at(1))).await,
        "join token",
    );
}

async fn concurrent_redeems_of_one_join_token_enroll_once(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let (host, token) = create_host_with_token(store.as_ref(), org, "box").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        let credential = secret();
        tasks.spawn(async move {
            let result =
                store.redeem_join_token(token, credential, &facts("box"), &enrolled(at(i))).await;
            (credential, result)
        });
    }
    let results = tasks.join_all().await;
    let winners: Vec<_> = results.iter().filter(|(_, result)| result.is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (credential, result) in &results {
        match result {
            Ok(_) => assert_eq!(
                store.host_by_credential(*credential).await.unwrap().map(|h| h.id),
                Some(host)
            ),
            Err(StoreError::NotFound { what: "join token" }) => {
                assert_eq!(store.host_by_credential(*credential).await.unwrap(), None);
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
}

async fn host_by_credential_finds_only_live_hosts(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let (host, token) = create_host_with_token(store.as_ref(), org, "box").await;
    let credential = secret();
    assert_eq!(store.host_by_credential(credential).await.unwrap(), None);
    store.redeem_join_token(token, credential, &facts("box"), &enrolled(at(1))).await.unwrap();
    assert_eq!(store.host_by_credential(credential).await.unwrap().map(|h| h.id), Some(host));
    assert_eq!(store.host_by_credential(secret()).await.unwrap(), None);

    store.delete_host(org, host, at(2), &audit(org)).await.unwrap();
    assert_eq!(store.host_by_credential(credential).await.unwrap(), None);
}

async fn deleting_a_host_kills_its_credential_and_loses_its_unfinished_jobs(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let (host, token) = create_host_with_token(store.as_ref(), org, "box").await;
    let credential = secret();
    store.redeem_join_token(token, credential, &facts("box"), &enrolled(at(1))).await.unwrap();
    let other_host = create_host(store.as_ref(), org, "other").await;

    let queued = create_job(store.as_ref(), org, host, 2).await;
    let dispatched = create_job(store.as_ref(), org, host, 3).await;
    move_to(store.as_ref(), dispatched.id, JobState::Dispatched).await;
    let running = create_job(store.as_ref(), org, host, 4).await;
    move_to(store.as_ref(), running.id, JobState::Running).await;
    let finished = create_job(store.as_ref(), org, host, 5).await;
    let finished = move_to(store.as_ref(), finished.id, JobState::Succeeded).await;
    let elsewhere = create_job(store.as_ref(), org, other_host.id, 6).await;

    store.delete_host(org, host, at(100), &audit(org)).await.unwrap();

    assert_eq!(store.host_by_credential(credential).await.unwrap(), None);
    assert_not_found(store.get_host(org, host).await, "host");
    assert_eq!(store.list_hosts(org, None, 100).await.unwrap(), vec![other_host]);
    for job in [&queued, &dispatched, &running] {
        let lost = store.get_job(org, job.id).await.unwrap();
        assert_eq!(lost.state, JobState::Lost, "{lost:?}");
        assert_eq!(lost.reason.as_deref(), Some("host deleted"));
        assert_eq!(lost.updated_at, at(100));
    }
    assert_eq!(store.get_job(org, finished.id).await.unwrap(), finished);
    assert_eq!(store.get_job(org, elsewhere.id).await.unwrap(), elsewhere);
    assert!(store.pending_jobs_for_host(host).await.unwrap().is_empty());
}

async fn deleting_an_unknown_or_deleted_host_is_not_found(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    assert_not_found(store.delete_host(org, HostId::new(), at(1), &audit(org)).await, "host");
    let host = create_host(store.as_ref(), org, "box").await;
    store.delete_host(org, host.id, at(1), &audit(org)).await.unwrap();
    assert_not_found(store.delete_host(org, host.id, at(2), &audit(org)).await, "host");
}

async fn update_host_facts_replaces_the_facts_of_live_hosts_only(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let (host, token) = create_host_with_token(store.as_ref(), org, "box").await;
    store.redeem_join_token(token, secret(), &facts("old-name"), &enrolled(at(1))).await.unwrap();

    let newer = HostFacts { cpus: 16, agent_version: "0.2.0".to_owned(), ..facts("new-name") };
    store.update_host_facts(host, &newer).await.unwrap();
    assert_eq!(store.get_host(org, host).await.unwrap().facts, Some(newer.clone()));

    assert_not_found(store.update_host_facts(HostId::new(), &newer).await, "host");
    store.delete_host(org, host, at(2), &audit(org)).await.unwrap();
    assert_not_found(store.update_host_facts(host, &newer).await, "host");
}

async fn record_heartbeats_keeps_the_latest_heartbeat_per_host(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let one = create_host(store.as_ref(), org, "one").await.id;
    let two = create_host(store.as_ref(), org, "two").await.id;
    let deleted = create_host(store.as_ref(), org, "deleted").await.id;
    store.delete_host(org, deleted, at(1), &audit(org)).await.unwrap();

    // One batch: two beats of `one` (the later wins, whatever the order), one of `two`, and beats
    // of a deleted and an unknown host, which are dropped.
    store
        .record_heartbeats(&[
            (one, at(20), heartbeat(one, 2)),
            (two, at(15), heartbeat(two, 7)),
            (one, at(10), heartbeat(one, 1)),
            (deleted, at(10), heartbeat(deleted, 1)),
            (HostId::new(), at(10), heartbeat(one, 1)),
        ])
        .await
        .unwrap();
    let stored = |host: HostRecord| (host.last_heartbeat_at, host.last_heartbeat);
    assert_eq!(
        stored(store.get_host(org, one).await.unwrap()),
        (Some(at(20)), Some(heartbeat(one, 2)))
    );
    assert_eq!(
        stored(store.get_host(org, two).await.unwrap()),
        (Some(at(15)), Some(heartbeat(two, 7)))
    );

    // A late batch with an older beat does not roll the host back; a newer one replaces it.
    store.record_heartbeats(&[(one, at(5), heartbeat(one, 0))]).await.unwrap();
    assert_eq!(store.get_host(org, one).await.unwrap().last_heartbeat_at, Some(at(20)));
    store.record_heartbeats(&[(one, at(30), heartbeat(one, 3))]).await.unwrap();
    assert_eq!(
        stored(store.get_host(org, one).await.unwrap()),
        (Some(at(30)), Some(heartbeat(one, 3)))
    );
    store.record_heartbeats(&[]).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Jobs.

async fn created_job_is_queued_at_attempt_zero_or_dispatched_at_one(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let job = NewJob {
        kind: JobKind::Game(GameAction {
            game: "7dtd".to_owned(),
            action: "say".to_owned(),
            args: BTreeMap::from([("message".to_owned(), serde_json::json!("horde tonight"))]),
        }),
        requested_by: Requester { kind: RequesterKind::Schedule, id: "nightly".to_owned() },
        idempotency_key: Some("req-9".to_owned()),
        timeout_secs: None,
        ..new_job(host, 3)
    };
    let (created, how) = store.create_job(org, &job, &audit(org)).await.unwrap();
    assert_eq!(how, Created::New);
    let expected = JobRecord {
        id: job.id,
        org,
        host,
        kind: job.kind.clone(),
        state: JobState::Queued,
        reason: None,
        result: None,
        attempt: 0,
        timeout_secs: None,
        output_cap_bytes: Some(1 << 20),
        requested_by: job.requested_by.clone(),
        idempotency_key: Some("req-9".to_owned()),
        created_at: at(3),
        updated_at: at(3),
        deadline_at: at(3 + JOB_DEADLINE),
        chunks_total: None,
    };
    assert_eq!(created, expected);
    assert_eq!(store.get_job(org, job.id).await.unwrap(), expected);
    assert_eq!(store.get_job_any_org(job.id).await.unwrap(), expected);
    assert_not_found(store.get_job_any_org(JobId::new()).await, "job");

    // A caller that sends the job itself stores it dispatched, at its first attempt.
    let sent = NewJob { dispatched: true, ..new_job(host, 4) };
    let (created, _) = store.create_job(org, &sent, &audit(org)).await.unwrap();
    assert_eq!((created.state, created.attempt), (JobState::Dispatched, 1));
    assert_eq!(store.get_job(org, sent.id).await.unwrap(), created);
}

async fn create_job_on_a_deleted_host_is_not_found(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    store.delete_host(org, host, at(1), &audit(org)).await.unwrap();
    assert_not_found(store.create_job(org, &new_job(host, 2), &audit(org)).await, "host");
    assert_not_found(store.create_job(org, &new_job(HostId::new(), 2), &audit(org)).await, "host");
}

async fn create_job_with_a_repeated_idempotency_key_returns_the_first_job(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let first = NewJob { idempotency_key: Some("req-1".to_owned()), ..new_job(host, 1) };
    let (created, how) = store.create_job(org, &first, &audit(org)).await.unwrap();
    assert_eq!(how, Created::New);
    let retry = NewJob { idempotency_key: Some("req-1".to_owned()), ..new_job(host, 2) };
    assert_eq!(
        store.create_job(org, &retry, &audit(org)).await.unwrap(),
        (created.clone(), Created::Existing)
    );
    assert_not_found(store.get_job(org, retry.id).await, "job");

    // The key names the job for good, whatever state it reached since.
    move_to(store.as_ref(), created.id, JobState::Running).await;
    let (later, how) = store.create_job(org, &retry, &audit(org)).await.unwrap();
    assert_eq!((later.id, later.state, how), (created.id, JobState::Running, Created::Existing));
}

async fn same_job_idempotency_key_in_another_org_creates_another_job(store: Arc<dyn Store>) {
    let org_a = new_org(store.as_ref()).await;
    let org_b = new_org(store.as_ref()).await;
    let host_a = create_host(store.as_ref(), org_a, "box").await.id;
    let host_b = create_host(store.as_ref(), org_b, "box").await.id;
    let in_a = NewJob { idempotency_key: Some("req-1".to_owned()), ..new_job(host_a, 1) };
    let in_b = NewJob { idempotency_key: Some("req-1".to_owned()), ..new_job(host_b, 1) };
    let (a, how_a) = store.create_job(org_a, &in_a, &audit(org_a)).await.unwrap();
    let (b, how_b) = store.create_job(org_b, &in_b, &audit(org_b)).await.unwrap();
    assert_eq!((how_a, how_b), (Created::New, Created::New));
    assert_eq!((a.id, a.org, b.id, b.org), (in_a.id, org_a, in_b.id, org_b));
}

async fn concurrent_create_job_with_one_idempotency_key_makes_one_job(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        let job = NewJob { idempotency_key: Some("req-1".to_owned()), ..new_job(host, i) };
        tasks.spawn(async move { store.create_job(org, &job, &audit(org)).await });
    }
    let results: Vec<_> = tasks.join_all().await.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.iter().filter(|(_, how)| *how == Created::New).count(), 1, "{results:?}");
    let jobs = store.list_jobs(org, &JobFilter { limit: 100, ..JobFilter::default() }).await;
    let jobs = jobs.unwrap();
    assert_eq!(jobs.len(), 1);
    assert!(results.iter().all(|(job, _)| *job == jobs[0]), "{results:?}");
}

async fn transition_job_applies_the_move_and_its_fields(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let job = create_job(store.as_ref(), org, host, 1).await;

    let dispatch = JobTransition {
        attempt: Some(1),
        ..change(job.id, JobState::Queued, JobState::Dispatched, 10)
    };
    let dispatched = store.transition_job(&dispatch).await.unwrap();
    assert_eq!(
        (dispatched.state, dispatched.attempt, dispatched.updated_at, dispatched.created_at),
        (JobState::Dispatched, 1, at(10), at(1))
    );

    let running =
        store.transition_job(&change(job.id, JobState::Dispatched, JobState::Running, 20)).await;
    assert_eq!(running.unwrap().attempt, 1, "an absent attempt keeps the stored one");

    let result = JobResult {
        termination: Termination::Exited,
        exit_code: Some(3),
        signal: None,
        duration_ms: 1234,
        output_bytes: 99,
        kept_bytes: 99,
        truncated: false,
    };
    let finish = JobTransition {
        reason: Some("exit code 3".to_owned()),
        result: Some(result.clone()),
        chunks_total: Some(4),
        ..change(job.id, JobState::Running, JobState::Failed, 30)
    };
    let failed = store.transition_job(&finish).await.unwrap();
    let expected = JobRecord {
        state: JobState::Failed,
        reason: Some("exit code 3".to_owned()),
        result: Some(result),
        attempt: 1,
        chunks_total: Some(4),
        updated_at: at(30),
        ..job
    };
    assert_eq!(failed, expected);
    assert_eq!(store.get_job(org, job.id).await.unwrap(), expected);
}

async fn transition_from_a_stale_state_is_a_conflict(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let job = create_job(store.as_ref(), org, host, 1).await;

    // Dispatched → running is legal, but the job is still queued.
    let detail = assert_conflict(
        store.transition_job(&change(job.id, JobState::Dispatched, JobState::Running, 2)).await,
    );
    assert!(detail.contains("queued"), "{detail}");
    assert_eq!(store.get_job(org, job.id).await.unwrap(), job);
}

async fn illegal_transitions_are_refused_without_a_change(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    for from in JobState::ALL {
        let job = create_job(store.as_ref(), org, host, 1).await;
        let job = move_to(store.as_ref(), job.id, from).await;
        assert_eq!(job.state, from);
        for to in JobState::ALL.into_iter().filter(|&to| !from.can_transition(to)) {
            let detail = assert_conflict(store.transition_job(&change(job.id, from, to, 9)).await);
            assert!(detail.contains("cannot move"), "{from} → {to}: {detail}");
            assert_eq!(store.get_job(org, job.id).await.unwrap(), job, "{from} → {to}");
        }
    }
}

async fn concurrent_transitions_from_one_state_have_exactly_one_winner(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let job = create_job(store.as_ref(), org, host, 1).await;
    let mut tasks = tokio::task::JoinSet::new();
    for attempt in 1..=8 {
        let store = Arc::clone(&store);
        let dispatch = JobTransition {
            attempt: Some(attempt),
            ..change(job.id, JobState::Queued, JobState::Dispatched, 2)
        };
        tasks.spawn(async move { (attempt, store.transition_job(&dispatch).await) });
    }
    let results = tasks.join_all().await;
    let winners: Vec<u32> =
        results.iter().filter(|(_, result)| result.is_ok()).map(|(attempt, _)| *attempt).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (_, result) in &results {
        assert!(matches!(result, Ok(_) | Err(StoreError::Conflict { .. })), "{result:?}");
    }
    let stored = store.get_job(org, job.id).await.unwrap();
    assert_eq!((stored.state, stored.attempt), (JobState::Dispatched, winners[0]));
}

async fn transition_of_an_unknown_job_is_not_found(store: Arc<dyn Store>) {
    let result = store
        .transition_job(&change(JobId::new(), JobState::Queued, JobState::Dispatched, 1))
        .await;
    assert_not_found(result, "job");
}

async fn pending_jobs_for_host_are_queued_and_dispatched_oldest_first(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let other = create_host(store.as_ref(), org, "other").await.id;
    let oldest = create_job(store.as_ref(), org, host, 1).await;
    let dispatched = create_job(store.as_ref(), org, host, 2).await;
    let dispatched = move_to(store.as_ref(), dispatched.id, JobState::Dispatched).await;
    let running = create_job(store.as_ref(), org, host, 3).await;
    move_to(store.as_ref(), running.id, JobState::Running).await;
    let cancelled = create_job(store.as_ref(), org, host, 4).await;
    move_to(store.as_ref(), cancelled.id, JobState::Cancelled).await;
    let newest = create_job(store.as_ref(), org, host, 5).await;
    create_job(store.as_ref(), org, other, 0).await;

    let pending = store.pending_jobs_for_host(host).await.unwrap();
    assert_eq!(pending, vec![oldest, dispatched, newest]);
    assert!(store.pending_jobs_for_host(HostId::new()).await.unwrap().is_empty());
}

async fn overdue_jobs_are_waiting_jobs_at_or_past_their_deadline(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let with_deadline = |deadline: i64| NewJob { deadline_at: at(deadline), ..new_job(host, 0) };
    let queued = store.create_job(org, &with_deadline(100), &audit(org)).await.unwrap().0;
    let dispatched = store.create_job(org, &with_deadline(200), &audit(org)).await.unwrap().0;
    let dispatched = move_to(store.as_ref(), dispatched.id, JobState::Dispatched).await;
    let running = store.create_job(org, &with_deadline(50), &audit(org)).await.unwrap().0;
    move_to(store.as_ref(), running.id, JobState::Running).await;
    let finished = store.create_job(org, &with_deadline(50), &audit(org)).await.unwrap().0;
    move_to(store.as_ref(), finished.id, JobState::Rejected).await;
    store.create_job(org, &with_deadline(300), &audit(org)).await.unwrap();

    assert!(store.overdue_jobs(at(99), 10).await.unwrap().is_empty());
    assert_eq!(store.overdue_jobs(at(200), 10).await.unwrap(), vec![queued.clone(), dispatched]);
    assert_eq!(store.overdue_jobs(at(200), 1).await.unwrap(), vec![queued]);
}

async fn list_jobs_filters_by_host_state_and_creation_time_newest_first(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let one = create_host(store.as_ref(), org, "one").await.id;
    let two = create_host(store.as_ref(), org, "two").await.id;
    let a = create_job(store.as_ref(), org, one, 1).await;
    let b = create_job(store.as_ref(), org, two, 2).await;
    let c = create_job(store.as_ref(), org, one, 3).await;
    move_to(store.as_ref(), c.id, JobState::Running).await;
    let d = create_job(store.as_ref(), org, one, 4).await;
    let other_org = new_org(store.as_ref()).await;
    let elsewhere = create_host(store.as_ref(), other_org, "one").await.id;
    create_job(store.as_ref(), other_org, elsewhere, 5).await;

    let list = |filter: JobFilter| {
        let store = Arc::clone(&store);
        async move { ids(&store.list_jobs(org, &JobFilter { limit: 100, ..filter }).await.unwrap()) }
    };
    assert_eq!(list(JobFilter::default()).await, [d.id, c.id, b.id, a.id]);
    assert_eq!(
        list(JobFilter { host: Some(one), ..JobFilter::default() }).await,
        [d.id, c.id, a.id]
    );
    let queued = JobFilter { state: Some(JobState::Queued), ..JobFilter::default() };
    assert_eq!(list(queued.clone()).await, [d.id, b.id, a.id]);
    assert_eq!(list(JobFilter { host: Some(one), ..queued }).await, [d.id, a.id]);
    let running = JobFilter { state: Some(JobState::Running), ..JobFilter::default() };
    assert_eq!(list(running).await, [c.id]);
    let before_c = JobFilter { host: Some(one), before: Some(c.id), ..JobFilter::default() };
    assert_eq!(list(before_c).await, [a.id]);
    // Creation time: `since` inclusive, `until` exclusive, combined with the other filters.
    let window = JobFilter { since: Some(at(2)), until: Some(at(4)), ..JobFilter::default() };
    assert_eq!(list(window.clone()).await, [c.id, b.id]);
    assert_eq!(list(JobFilter { host: Some(one), ..window }).await, [c.id]);
    assert_eq!(list(JobFilter { since: Some(at(4)), ..JobFilter::default() }).await, [d.id]);
    assert_eq!(list(JobFilter { until: Some(at(2)), ..JobFilter::default() }).await, [a.id]);
    assert_eq!(list(JobFilter { since: Some(at(5)), ..JobFilter::default() }).await, []);
}

async fn list_jobs_pages_through_every_job_without_gaps_or_repeats(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let one = create_host(store.as_ref(), org, "one").await.id;
    let two = create_host(store.as_ref(), org, "two").await.id;
    let mut created = Vec::new();
    for i in 0..23 {
        // Three jobs per millisecond: ties on created_at are broken by id.
        let host = if i % 2 == 0 { one } else { two };
        created.push(create_job(store.as_ref(), org, host, i / 3).await);
    }
    created.sort_by_key(|job| std::cmp::Reverse((job.created_at, job.id)));

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let filter = JobFilter { before, limit: 5, ..JobFilter::default() };
        let page = store.list_jobs(org, &filter).await.unwrap();
        assert!(page.len() <= 5);
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        seen.extend(page);
    }
    assert_eq!(ids(&seen), ids(&created));
}

async fn count_jobs_by_state_counts_every_state_across_orgs(store: Arc<dyn Store>) {
    let org_a = new_org(store.as_ref()).await;
    let org_b = new_org(store.as_ref()).await;
    let host_a = create_host(store.as_ref(), org_a, "a").await.id;
    let host_b = create_host(store.as_ref(), org_b, "b").await.id;
    create_job(store.as_ref(), org_a, host_a, 1).await;
    create_job(store.as_ref(), org_b, host_b, 1).await;
    let running = create_job(store.as_ref(), org_a, host_a, 2).await;
    move_to(store.as_ref(), running.id, JobState::Running).await;
    let timed_out = create_job(store.as_ref(), org_b, host_b, 3).await;
    move_to(store.as_ref(), timed_out.id, JobState::TimedOut).await;

    let counts = store.count_jobs_by_state().await.unwrap();
    let expected: Vec<(JobState, u64)> = JobState::ALL
        .into_iter()
        .map(|state| {
            let count = match state {
                JobState::Queued => 2,
                JobState::Running | JobState::TimedOut => 1,
                _ => 0,
            };
            (state, count)
        })
        .collect();
    assert_eq!(counts, expected);
}

// ---------------------------------------------------------------------------------------------
// Log chunks.

async fn log_chunks_report_how_many_are_stored_without_a_gap(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let job = create_job(store.as_ref(), org, host, 1).await.id;

    let append = |seqs: &[u64]| {
        let store = Arc::clone(&store);
        let chunks: Vec<_> = seqs.iter().map(|&seq| chunk(seq, b"x")).collect();
        async move { store.append_log_chunks(job, &chunks).await.unwrap() }
    };
    assert_eq!(append(&[1]).await, 0, "nothing from seq 0 yet");
    assert_eq!(append(&[0, 3]).await, 2, "0, 1 and 3 stored");
    assert_eq!(append(&[2]).await, 4, "the gap at 2 is filled");
    assert_eq!(append(&[]).await, 4);
    assert_eq!(append(&[6, 7]).await, 4);
    assert_eq!(append(&[5, 4]).await, 8);
    assert_eq!(append(&[3, 0]).await, 8, "repeats change nothing");

    // Another job's chunks are counted apart.
    let other = create_job(store.as_ref(), org, host, 2).await.id;
    assert_eq!(store.append_log_chunks(other, &[chunk(0, b"y")]).await.unwrap(), 1);
}

async fn repeated_log_chunk_keeps_the_first_bytes(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let job = create_job(store.as_ref(), org, host, 1).await.id;

    assert_eq!(store.append_log_chunks(job, &[chunk(0, b"first")]).await.unwrap(), 1);
    let again = NewLogChunk { seq: 0, stream: Stream::Stderr, data: b"second".to_vec() };
    assert_eq!(store.append_log_chunks(job, &[again]).await.unwrap(), 1);
    // Within one batch too, the first of two chunks with one seq wins.
    let batch = [chunk(1, b"one"), chunk(1, b"uno"), chunk(2, b"two")];
    assert_eq!(store.append_log_chunks(job, &batch).await.unwrap(), 3);

    let logs = store.job_logs(org, job, None, 100).await.unwrap();
    let stored: Vec<(u64, Stream, &[u8])> =
        logs.iter().map(|c| (c.seq, c.stream, c.data.as_slice())).collect();
    assert_eq!(
        stored,
        [
            (0, Stream::Stdout, &b"first"[..]),
            (1, Stream::Stdout, &b"one"[..]),
            (2, Stream::Stdout, &b"two"[..])
        ]
    );
}

async fn a_thousand_log_chunks_are_stored_in_one_call(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let job = create_job(store.as_ref(), org, host, 1).await.id;
    // Sent newest first, so the store cannot rely on arrival order.
    let chunks: Vec<NewLogChunk> = (0..1000u64)
        .rev()
        .map(|seq| NewLogChunk {
            seq,
            stream: if seq % 3 == 0 { Stream::Stderr } else { Stream::Stdout },
            data: seq.to_le_bytes().repeat(512),
        })
        .collect();
    assert_eq!(store.append_log_chunks(job, &chunks).await.unwrap(), 1000);
    assert_eq!(store.append_log_chunks(job, &chunks).await.unwrap(), 1000);

    let logs = store.job_logs(org, job, None, 5000).await.unwrap();
    assert_eq!(logs.len(), 1000);
    for (expected, stored) in chunks.iter().rev().zip(&logs) {
        assert_eq!(
            (stored.seq, stored.stream, &stored.data),
            (expected.seq, expected.stream, &expected.data)
        );
    }
}

async fn log_chunk_bytes_round_trip_unchanged(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let job = create_job(store.as_ref(), org, host, 1).await.id;
    let every_byte: Vec<u8> = (0..=255).collect();
    let chunks = vec![
        NewLogChunk { seq: 0, stream: Stream::Stdout, data: every_byte.clone() },
        NewLogChunk {
            seq: 1,
            stream: Stream::Stderr,
            data: every_byte.iter().rev().copied().collect(),
        },
        NewLogChunk {
            seq: 2,
            stream: Stream::Stdout,
            data: b"\0\xff\xfe not utf-8 \xc3\x28".to_vec(),
        },
        NewLogChunk { seq: 3, stream: Stream::Stderr, data: vec![0; 64 * 1024] },
    ];
    assert_eq!(store.append_log_chunks(job, &chunks).await.unwrap(), 4);
    let logs = store.job_logs(org, job, None, 100).await.unwrap();
    let stored: Vec<NewLogChunk> = logs
        .into_iter()
        .map(|c| NewLogChunk { seq: c.seq, stream: c.stream, data: c.data })
        .collect();
    assert_eq!(stored, chunks);
}

async fn job_logs_page_after_a_seq(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await.id;
    let job = create_job(store.as_ref(), org, host, 1).await.id;
    let chunks: Vec<_> = (0..10).map(|seq| chunk(seq, format!("line {seq}").as_bytes())).collect();
    store.append_log_chunks(job, &chunks).await.unwrap();

    let page = |after: Option<u64>| {
        let store = Arc::clone(&store);
        async move {
            let logs = store.job_logs(org, job, after, 4).await.unwrap();
            logs.into_iter().map(|c| c.seq).collect::<Vec<_>>()
        }
    };
    assert_eq!(page(None).await, [0, 1, 2, 3]);
    assert_eq!(page(Some(3)).await, [4, 5, 6, 7]);
    assert_eq!(page(Some(7)).await, [8, 9]);
    assert!(page(Some(9)).await.is_empty());
    let fresh = create_job(store.as_ref(), org, host, 2).await.id;
    assert!(store.job_logs(org, fresh, None, 4).await.unwrap().is_empty());
}

async fn log_chunks_of_an_unknown_job_are_not_found(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let unknown = JobId::new();
    assert_not_found(store.append_log_chunks(unknown, &[chunk(0, b"x")]).await, "job");
    assert_not_found(store.append_log_chunks(unknown, &[]).await, "job");
    assert_not_found(store.job_logs(org, unknown, None, 10).await, "job");
}

/// An audit entry for `action` on `target` in `org`.
fn audit_of(org: OrgId, action: &str, target: impl ToString) -> AuditEntry {
    AuditEntry { action: action.to_owned(), target_id: target.to_string(), ..audit(org) }
}

/// The actions in the org's audit log, oldest first.
async fn audited_actions(store: &dyn Store, org: OrgId) -> Vec<(String, String)> {
    let mut entries = audit_log(store, org).await;
    entries.reverse();
    entries.into_iter().map(|entry| (entry.action, entry.target_id)).collect()
}

async fn host_and_job_changes_commit_with_their_audit_entries(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = new_host("box");
    let create = audit_of(org, "host.create", host.id);
    store.create_host(org, &host, &create).await.unwrap();
    let token = audit_of(org, "host.join_token.create", host.id);
    store.issue_join_token(org, host.id, secret(), at(TOKEN_EXPIRES), at(1), &token).await.unwrap();
    let job = new_job(host.id, 2);
    store.create_job(org, &job, &audit_of(org, "job.create", job.id)).await.unwrap();
    let cancel = JobTransition {
        reason: Some("cancelled before it ran".to_owned()),
        ..change(job.id, JobState::Queued, JobState::Cancelled, 3)
    };
    let cancelled = store.cancel_job(org, &cancel, &audit_of(org, "job.cancel", job.id)).await;
    assert_eq!(cancelled.unwrap().state, JobState::Cancelled);
    store.delete_host(org, host.id, at(4), &audit_of(org, "host.delete", host.id)).await.unwrap();

    let expected = [
        ("host.create", host.id.to_string()),
        ("host.join_token.create", host.id.to_string()),
        ("job.create", job.id.to_string()),
        ("job.cancel", job.id.to_string()),
        ("host.delete", host.id.to_string()),
    ]
    .map(|(action, target)| (action.to_owned(), target));
    assert_eq!(audited_actions(store.as_ref(), org).await, expected);
    let first = audit_log(store.as_ref(), org).await.pop().unwrap();
    assert_eq!(first, create, "the entry reads back as written");
}

async fn a_failed_host_or_job_change_leaves_no_audit_entry(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = create_host(store.as_ref(), org, "box").await;
    let queued = create_job(store.as_ref(), org, host.id, 1).await;
    move_to(store.as_ref(), queued.id, JobState::Running).await;
    let before = audit_log(store.as_ref(), org).await;
    let unknown = HostId::new();

    let taken = audit_of(org, "host.create", "taken");
    assert_conflict(store.create_host(org, &new_host("box"), &taken).await);
    let delete = audit_of(org, "host.delete", unknown);
    assert_not_found(store.delete_host(org, unknown, at(2), &delete).await, "host");
    let token = audit_of(org, "host.join_token.create", unknown);
    let expires = at(TOKEN_EXPIRES);
    let issued = store.issue_join_token(org, unknown, secret(), expires, at(2), &token).await;
    assert_not_found(issued, "host");
    let job = audit_of(org, "job.create", "x");
    assert_not_found(store.create_job(org, &new_job(unknown, 2), &job).await, "host");
    // The job runs now: a cancel that saw it queued loses the compare-and-set.
    let stale = change(queued.id, JobState::Queued, JobState::Cancelled, 3);
    let cancel = audit_of(org, "job.cancel", queued.id);
    assert_conflict(store.cancel_job(org, &stale, &cancel).await);
    let other_org = new_org(store.as_ref()).await;
    let running = change(queued.id, JobState::Running, JobState::Cancelled, 3);
    let foreign = audit_of(other_org, "job.cancel", queued.id);
    assert_not_found(store.cancel_job(other_org, &running, &foreign).await, "job");

    assert_eq!(audit_log(store.as_ref(), org).await, before);
    assert_eq!(audit_log(store.as_ref(), other_org).await, []);
    assert_eq!(store.get_job(org, queued.id).await.unwrap().state, JobState::Running);
}

async fn an_idempotent_repeat_writes_no_second_audit_entry(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let host = NewHost { idempotency_key: Some("key-1".to_owned()), ..new_host("box") };
    store.create_host(org, &host, &audit_of(org, "host.create", host.id)).await.unwrap();
    let repeat = store.create_host(org, &host, &audit_of(org, "host.create", host.id)).await;
    assert_eq!(repeat.unwrap().1, Created::Existing);
    let job = NewJob { idempotency_key: Some("key-2".to_owned()), ..new_job(host.id, 1) };
    store.create_job(org, &job, &audit_of(org, "job.create", job.id)).await.unwrap();
    let repeat = store.create_job(org, &job, &audit_of(org, "job.create", job.id)).await;
    assert_eq!(repeat.unwrap().1, Created::Existing);

    let expected = [("host.create", host.id.to_string()), ("job.create", job.id.to_string())]
        .map(|(action, target)| (action.to_owned(), target));
    assert_eq!(audited_actions(store.as_ref(), org).await, expected);
}

async fn enrollment_commits_an_agent_audit_entry_and_a_refused_one_none(store: Arc<dyn Store>) {
    let org = new_org(store.as_ref()).await;
    let (host, token) = create_host_with_token(store.as_ref(), org, "box").await;
    let enrollment = enrolled(at(5));
    store.redeem_join_token(token, secret(), &facts("box"), &enrollment).await.unwrap();
    let refused = store.redeem_join_token(token, secret(), &facts("box"), &enrolled(at(6))).await;
    assert_not_found(refused, "join token");

    let entries = audit_log(store.as_ref(), org).await;
    let expected = AuditEntry {
        id: enrollment.audit_id,
        org,
        at: at(5),
        actor: Requester { kind: RequesterKind::Agent, id: host.to_string() },
        action: "host.enroll".to_owned(),
        target_kind: "host".to_owned(),
        target_id: host.to_string(),
        client_ip: enrollment.client_ip.clone(),
        outcome: "success".to_owned(),
    };
    assert_eq!(entries.first(), Some(&expected));
    assert_eq!(entries.iter().filter(|entry| entry.action == "host.enroll").count(), 1);
}

async fn new_user(store: &dyn Store, email: &str) -> UserId {
    let user = NewUser {
        id: UserId(Uuid::now_v7()),
        email: email.to_owned(),
        display_name: "A User".to_owned(),
        password_hash: "$argon2id$not-checked-here".to_owned(),
        now: at(0),
    };
    store.create_user(&user).await.expect("creating a user").id
}

/// An org created by `owner` through the audited path.
async fn org_owned_by(store: &dyn Store, owner: UserId) -> OrgId {
    let id = OrgId(Uuid::now_v7());
    let entry = audit_of(id, "org.create", id);
    store.create_org_with_owner(id, "an org", owner, &entry).await.expect("creating an org");
    id
}

async fn user_is_found_by_email_in_any_case_and_an_email_has_one_account(store: Arc<dyn Store>) {
    let alice = new_user(store.as_ref(), "Alice@Example.com").await;
    let found = store.user_by_email("alice@example.com").await.unwrap().expect("alice");
    assert_eq!(found.id, alice);
    assert_eq!(store.get_user(alice).await.unwrap().id, alice);
    assert_eq!(store.user_by_email("bob@example.com").await.unwrap(), None);
    let again = NewUser {
        id: UserId(Uuid::now_v7()),
        email: "ALICE@example.com".to_owned(),
        display_name: "Another".to_owned(),
        password_hash: "x".to_owned(),
        now: at(1),
    };
    assert_conflict(store.create_user(&again).await);
}

async fn an_org_always_keeps_an_owner_and_a_refused_change_leaves_no_audit_entry(
    store: Arc<dyn Store>,
) {
    let alice = new_user(store.as_ref(), "alice@example.com").await;
    let bob = new_user(store.as_ref(), "bob@example.com").await;
    let org = org_owned_by(store.as_ref(), alice).await;
    let before = audit_log(store.as_ref(), org).await;

    let remove = audit_of(org, "member.remove", alice);
    assert_conflict(store.remove_member(org, alice, &remove).await);
    let demote = audit_of(org, "member.update", alice);
    assert_conflict(store.set_member_role(org, alice, "admin", &demote).await);
    assert_eq!(audit_log(store.as_ref(), org).await, before);

    store.add_member(org, bob, "owner", at(1)).await.unwrap();
    store.remove_member(org, alice, &remove).await.unwrap();
    let members: Vec<_> = store
        .list_members(org, None, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.user, m.role))
        .collect();
    assert_eq!(members, [(bob, "owner".to_owned())]);
    assert_eq!(store.memberships(alice).await.unwrap(), []);
    assert_eq!(audit_log(store.as_ref(), org).await.first(), Some(&remove));
}

async fn a_rotated_refresh_token_presented_again_revokes_the_whole_session(store: Arc<dyn Store>) {
    let alice = new_user(store.as_ref(), "alice@example.com").await;
    let session = SessionId(Uuid::now_v7());
    let [first, second, third] = [secret(), secret(), secret()];
    let new = NewSession {
        id: session,
        user: alice,
        refresh_hash: first,
        expires_at: at(1_000),
        now: at(0),
    };
    store.create_session(&new).await.unwrap();
    let rotated = RefreshOutcome::Rotated { session, user: alice };
    assert_eq!(store.rotate_refresh_token(first, second, at(1)).await.unwrap(), rotated);
    assert_eq!(store.rotate_refresh_token(second, third, at(2)).await.unwrap(), rotated);
    assert!(store.session_user(session, at(3)).await.unwrap().is_some());

    let replayed = store.rotate_refresh_token(first, secret(), at(4)).await.unwrap();
    assert_eq!(replayed, RefreshOutcome::Reused);
    assert_eq!(
        store.rotate_refresh_token(third, secret(), at(5)).await.unwrap(),
        RefreshOutcome::Invalid,
        "the newest token of a revoked session is dead too"
    );
    assert_eq!(store.session_user(session, at(5)).await.unwrap(), None);
    let unknown = store.rotate_refresh_token(secret(), secret(), at(6)).await.unwrap();
    assert_eq!(unknown, RefreshOutcome::Invalid);
}

async fn an_invite_is_accepted_once_and_never_when_expired_or_revoked(store: Arc<dyn Store>) {
    let alice = new_user(store.as_ref(), "alice@example.com").await;
    let bob = new_user(store.as_ref(), "bob@example.com").await;
    let carol = new_user(store.as_ref(), "carol@example.com").await;
    let org = org_owned_by(store.as_ref(), alice).await;
    let invite = |email: &str, expires: i64| NewInvite {
        id: Uuid::now_v7(),
        org,
        email: email.to_owned(),
        role: "operator".to_owned(),
        token_hash: secret(),
        created_by: Some(alice),
        expires_at: at(expires),
        now: at(0),
    };
    let for_bob = invite("bob@example.com", 100);
    store.create_invite(&for_bob, &audit_of(org, "invite.create", for_bob.id)).await.unwrap();
    let accepted = store.accept_invite(for_bob.token_hash, bob, at(1)).await.unwrap();
    assert_eq!((accepted.id, accepted.accepted_at), (for_bob.id, Some(at(1))));
    let roles: Vec<_> =
        store.memberships(bob).await.unwrap().into_iter().map(|m| (m.org.id, m.role)).collect();
    assert_eq!(roles, [(org, "operator".to_owned())]);
    let twice = store.accept_invite(for_bob.token_hash, carol, at(2)).await;
    assert_not_found(twice, "invite");

    let late = invite("carol@example.com", 10);
    store.create_invite(&late, &audit_of(org, "invite.create", late.id)).await.unwrap();
    assert_not_found(store.accept_invite(late.token_hash, carol, at(10)).await, "invite");
    let revoked = invite("carol@example.com", 100);
    store.create_invite(&revoked, &audit_of(org, "invite.create", revoked.id)).await.unwrap();
    let revoke = audit_of(org, "invite.revoke", revoked.id);
    store.revoke_invite(org, revoked.id, &revoke).await.unwrap();
    assert_not_found(store.accept_invite(revoked.token_hash, carol, at(3)).await, "invite");
    assert_eq!(store.memberships(carol).await.unwrap(), []);
}

async fn api_keys_list_newest_first_with_expiry_last_use_and_revocation(store: Arc<dyn Store>) {
    let alice = new_user(store.as_ref(), "alice@example.com").await;
    let org = org_owned_by(store.as_ref(), alice).await;
    let key = |key_id: &str, created: i64, expires: Option<i64>| ApiKeyRecord {
        key_id: key_id.to_owned(),
        org,
        name: format!("{key_id} key"),
        role: "viewer".to_owned(),
        secret_hash: secret(),
        created_at: at(created),
        revoked_at: None,
        created_by: Some(alice),
        expires_at: expires.map(at),
        last_used_at: None,
    };
    let old = key("old", 1, None);
    let new = key("new", 2, Some(500));
    for record in [&old, &new] {
        let entry = audit_of(org, "api_key.create", &record.key_id);
        store.create_api_key_audited(record, &entry).await.unwrap();
    }
    assert_eq!(store.list_api_keys(org, None, 50).await.unwrap(), [new.clone(), old.clone()]);

    store.touch_api_key("old", at(7)).await.unwrap();
    let other_org = new_org(store.as_ref()).await;
    let foreign = audit_of(other_org, "api_key.revoke", "old");
    assert_not_found(store.revoke_api_key(other_org, "old", &foreign).await, "api key");
    let revoke = audit_of(org, "api_key.revoke", "old");
    store.revoke_api_key(org, "old", &revoke).await.unwrap();

    let listed = store.list_api_keys(org, None, 50).await.unwrap();
    let expected_old = ApiKeyRecord { revoked_at: Some(at(0)), last_used_at: Some(at(7)), ..old };
    assert_eq!(listed, [new, expected_old]);
    assert_eq!(store.list_api_keys(other_org, None, 50).await.unwrap(), []);
}

async fn access_lists_page_after_the_last_items_id_even_through_ties(store: Arc<dyn Store>) {
    let alice = new_user(store.as_ref(), "alice@example.com").await;
    let org = org_owned_by(store.as_ref(), alice).await;
    let other = new_org(store.as_ref()).await;
    // Members, by email.
    let mut users = vec![alice];
    for email in ["bob@example.com", "carol@example.com"] {
        let user = new_user(store.as_ref(), email).await;
        store.add_member(org, user, "viewer", at(1)).await.unwrap();
        store.add_member(other, user, "viewer", at(1)).await.unwrap();
        users.push(user);
    }
    let first = store.list_members(org, None, 2).await.unwrap();
    let rest = store.list_members(org, Some(first[1].user), 2).await.unwrap();
    let paged: Vec<_> = first.iter().chain(&rest).map(|m| m.user).collect();
    assert_eq!(paged, users);
    assert_eq!(store.member_role(org, users[1]).await.unwrap().as_deref(), Some("viewer"));
    assert_eq!(store.member_role(org, UserId(Uuid::now_v7())).await.unwrap(), None);
    // A user's orgs, by name.
    let bob_orgs = store.memberships(users[1]).await.unwrap();
    let first = store.memberships_page(users[1], None, 1).await.unwrap();
    let rest = store.memberships_page(users[1], Some(first[0].org.id), 1).await.unwrap();
    assert_eq!([first, rest].concat(), bob_orgs);
    // API keys, newest first; three made in the same millisecond still page without a gap.
    let mut keys = Vec::new();
    for key_id in ["0000000000000001", "0000000000000003", "0000000000000002"] {
        let record = ApiKeyRecord {
            key_id: key_id.to_owned(),
            org,
            name: "k".to_owned(),
            role: "viewer".to_owned(),
            secret_hash: secret(),
            created_at: at(5),
            revoked_at: None,
            created_by: Some(alice),
            expires_at: None,
            last_used_at: None,
        };
        store
            .create_api_key_audited(&record, &audit_of(org, "api_key.create", key_id))
            .await
            .unwrap();
        keys.push(record);
    }
    let first = store.list_api_keys(org, None, 2).await.unwrap();
    let rest = store.list_api_keys(org, Some(&first[1].key_id), 2).await.unwrap();
    let paged: Vec<_> = first.iter().chain(&rest).map(|k| k.key_id.as_str()).collect();
    assert_eq!(paged, ["0000000000000003", "0000000000000002", "0000000000000001"]);
    assert_eq!(store.list_api_keys(other, Some(&first[1].key_id), 2).await.unwrap(), []);
    // Invites, newest first.
    let mut invites = Vec::new();
    for n in 0..3 {
        let invite = NewInvite {
            id: Uuid::now_v7(),
            org,
            email: format!("invitee{n}@example.com"),
            role: "viewer".to_owned(),
            token_hash: secret(),
            created_by: Some(alice),
            expires_at: at(1_000_000),
            now: at(10 + n),
        };
        store.create_invite(&invite, &audit_of(org, "invite.create", invite.id)).await.unwrap();
        invites.push(invite.id);
    }
    invites.reverse();
    let first = store.list_invites(org, None, 2).await.unwrap();
    let rest = store.list_invites(org, Some(first[1].id), 2).await.unwrap();
    let paged: Vec<_> = first.iter().chain(&rest).map(|i| i.id).collect();
    assert_eq!(paged, invites);
}
