//! Remediation: the game action a rule runs on the host and game server its alert is about
//! ("game crashed → restart it").
//!
//! The job is made exactly as `POST …/jobs` makes one — stored with its audit entry, then offered
//! to the host's agent (`dispatch::offer`) — with the rule as the requester. Its idempotency key
//! is the alert's (or, for a remediation without a newly raised alert, the rule's, the subject's
//! and the triggering event's time), so a decision replayed after a crash or a retry finds the
//! job it already made instead of making a second. How often a rule may remediate is the rule
//! engine's limit (`max_runs` per window), decided before this module is called.

use std::collections::BTreeMap;

use gsm_core::job::{GameAction, JobId, JobKind, Requester, RequesterKind};
use gsm_core::rules::{RuleId, Subject};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::app::AppState;
use crate::dispatch;
use crate::store::access::AuditEntry;
use crate::store::{Created, JobRecord, NewJob, OrgId, StoreResult};

/// What to remediate.
pub struct RemediationJob<'a> {
    /// The org.
    pub org: OrgId,
    /// The rule asking.
    pub rule: RuleId,
    /// Who the alert is about: the job runs on its host and game server.
    pub subject: &'a Subject,
    /// The game action.
    pub action: &'a str,
    /// The idempotency key: one job per key, ever.
    pub key: String,
}

/// The idempotency key of the remediation of `alert`.
pub fn key_for_alert(alert: Uuid) -> String {
    format!("remediation:alert:{alert}")
}

/// The idempotency key of a remediation without a newly raised alert.
pub fn key_for_event(rule: RuleId, subject: &Subject, at_ms: i64) -> String {
    let host = subject.host.map(|h| h.to_string()).unwrap_or_default();
    let game = subject.game.as_deref().unwrap_or_default();
    format!("remediation:rule:{rule}:{host}/{game}:{at_ms}")
}

/// Creates and offers the remediation job; `None` when the subject names no host and game server
/// to run it on. A key already used answers the job made the first time.
pub async fn start(
    state: &AppState,
    remediation: &RemediationJob<'_>,
) -> StoreResult<Option<JobRecord>> {
    let (Some(host), Some(game)) = (remediation.subject.host, &remediation.subject.game) else {
        tracing::warn!(
            org.id = %remediation.org, rule.id = %remediation.rule,
            "remediation skipped: the event named no host and game server to act on"
        );
        return Ok(None);
    };
    let requester =
        Requester { kind: RequesterKind::AlertRule, id: remediation.rule.0.to_string() };
    let now = Timestamp::now();
    let deadline = SignedDuration::try_from(state.settings.job_deadline)
        .unwrap_or(SignedDuration::from_hours(1));
    let new = NewJob {
        id: JobId::new(),
        host,
        kind: JobKind::Game(GameAction {
            game: game.clone(),
            action: remediation.action.to_owned(),
            args: BTreeMap::new(),
        }),
        timeout_secs: None,
        output_cap_bytes: None,
        requested_by: requester.clone(),
        idempotency_key: Some(remediation.key.clone()),
        deadline_at: now.checked_add(deadline).unwrap_or(now),
        now,
        dispatched: false,
    };
    let audit = AuditEntry {
        id: Uuid::now_v7(),
        org: remediation.org,
        at: now,
        actor: requester,
        action: "job.create".to_owned(),
        target_kind: "job".to_owned(),
        target_id: new.id.to_string(),
        client_ip: None,
        outcome: "success".to_owned(),
    };
    let (job, created) = state.store.create_job(remediation.org, &new, &audit).await?;
    if created == Created::New {
        tracing::info!(
            org.id = %remediation.org, rule.id = %remediation.rule, job.id = %job.id,
            host.id = %host, action = remediation.action, "remediation job created"
        );
        dispatch::offer(state, &job).await?;
    }
    Ok(Some(job))
}
