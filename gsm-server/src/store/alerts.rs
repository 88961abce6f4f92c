//! Alert rules, the alerts they raised, the delivery outbox, in-app notifications, Discord
//! webhooks and the org's alert settings, behind the [`AlertStore`] half of the store.
//!
//! Like `games.rs`, the SQL reads alike on both backends, so it is written once in
//! [`alert_store!`]. An alert and its outbox rows (one per channel) commit together, so a raise
//! is never lost between the decision and the delivery, and a server restart finds the pending
//! rows. One open alert per rule and subject is a unique index, so a second raise inserts
//! nothing. Claiming due deliveries is one conditional `UPDATE` that pushes their `next_at` a
//! lease ahead: two replicas cannot claim the same row, and a replica that dies mid-delivery
//! leaves the row to be claimed again when the lease ends. An in-app delivery inserts its
//! notification keyed by the outbox row, so a retried delivery stores it once.

use async_trait::async_trait;
use gsm_core::job::HostId;
use gsm_core::rules::Severity;
use gsm_proto::rest::AlertRuleSpec;
use jiff::Timestamp;
use sqlx::types::Json;
use uuid::Uuid;

use super::access::AuditEntry;
use super::convert::{corrupt, timestamp};
use super::{OrgId, StoreResult};

/// A stored alert rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRuleRecord {
    /// Its id.
    pub id: Uuid,
    /// Its org.
    pub org: OrgId,
    /// Its definition (validated by the server before it was stored).
    pub spec: AlertRuleSpec,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    /// Raised; a resolving event will close it.
    Open,
    /// Closed by its resolving event.
    Resolved,
    /// A one-shot alert: raised, nothing resolves it.
    Fired,
}

impl AlertStatus {
    /// The column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Resolved => "resolved",
            AlertStatus::Fired => "fired",
        }
    }

    fn parse(name: &str) -> StoreResult<Self> {
        match name {
            "open" => Ok(AlertStatus::Open),
            "resolved" => Ok(AlertStatus::Resolved),
            "fired" => Ok(AlertStatus::Fired),
            other => Err(corrupt(UnknownValue { what: "alert status", value: other.to_owned() })),
        }
    }
}

/// A stored value outside its column's set.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {value:?}")]
struct UnknownValue {
    what: &'static str,
    value: String,
}

fn parse_severity(name: &str) -> StoreResult<Severity> {
    match name {
        "info" => Ok(Severity::Info),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        other => Err(corrupt(UnknownValue { what: "severity", value: other.to_owned() })),
    }
}

/// What happened to an alert, as an outbox row delivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChange {
    /// It was raised.
    Raised,
    /// It was resolved.
    Resolved,
}

impl AlertChange {
    /// The column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertChange::Raised => "raised",
            AlertChange::Resolved => "resolved",
        }
    }

    fn parse(name: &str) -> StoreResult<Self> {
        match name {
            "raised" => Ok(AlertChange::Raised),
            "resolved" => Ok(AlertChange::Resolved),
            other => Err(corrupt(UnknownValue { what: "alert change", value: other.to_owned() })),
        }
    }
}

/// An alert to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// Its id (v7).
    pub id: Uuid,
    /// Its org.
    pub org: OrgId,
    /// The rule that raised it.
    pub rule: Uuid,
    /// The rule's name when it was raised.
    pub rule_name: String,
    /// The host it is about.
    pub host: Option<HostId>,
    /// The game instance it is about.
    pub game: Option<String>,
    /// The event kind that raised it.
    pub kind: String,
    /// How loud.
    pub severity: Severity,
    /// What happened, for people.
    pub message: String,
    /// True when a resolving event will close it (stored `open`), false for one-shot (`fired`).
    pub open: bool,
    /// When.
    pub at: Timestamp,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// Its id.
    pub id: Uuid,
    /// Its org.
    pub org: OrgId,
    /// The rule that raised it.
    pub rule: Uuid,
    /// The rule's name when it was raised.
    pub rule_name: String,
    /// The host it is about.
    pub host: Option<HostId>,
    /// The game instance it is about.
    pub game: Option<String>,
    /// The event kind that raised it.
    pub kind: String,
    /// How loud.
    pub severity: Severity,
    /// What happened.
    pub message: String,
    /// Open, resolved or fired.
    pub status: AlertStatus,
    /// When it was raised.
    pub raised_at: Timestamp,
    /// When it was resolved.
    pub resolved_at: Option<Timestamp>,
}

/// One delivery claimed from the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The outbox row.
    pub id: Uuid,
    /// The alert, as it is now.
    pub alert: AlertRecord,
    /// What to tell.
    pub change: AlertChange,
    /// `in_app` or `discord:<webhook name>`.
    pub channel: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Done; never tried again.
    Delivered,
    /// Try again at `next_at`.
    Retry {
        /// When.
        next_at: Timestamp,
        /// Why this attempt failed.
        error: String,
    },
    /// Given up for good.
    Failed {
        /// Why.
        error: String,
    },
}

/// A stored in-app notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    /// Its id.
    pub id: Uuid,
    /// Its org.
    pub org: OrgId,
    /// The alert it tells of.
    pub alert: Uuid,
    /// Raised or resolved.
    pub change: AlertChange,
    /// How loud.
    pub severity: Severity,
    /// What it says.
    pub title: String,
    /// When it was stored.
    pub created_at: Timestamp,
    /// When a member marked it read.
    pub read_at: Option<Timestamp>,
}

/// A stored Discord webhook.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    /// Its org.
    pub org: OrgId,
    /// Its name; rules name it as `discord:<name>`.
    pub name: String,
    /// The URL: a secret (whoever holds it can post to the channel).
    pub url: String,
    /// Why Discord refused it for good, if it did.
    pub broken_reason: Option<String>,
    /// When.
    pub broken_at: Option<Timestamp>,
    /// When it was set.
    pub created_at: Timestamp,
}

impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("org", &self.org)
            .field("name", &self.name)
            .field("url", &"<redacted>")
            .field("broken_reason", &self.broken_reason)
            .finish_non_exhaustive()
    }
}

/// The one key of an alert's subject: `<host>/<game>`, each part empty when absent.
pub fn subject_key(host: Option<HostId>, game: Option<&str>) -> String {
    let host = host.map(|h| h.to_string()).unwrap_or_default();
    format!("{host}/{}", game.unwrap_or_default())
}

/// Which alerts a history page shows, newest first.
#[derive(Debug, Clone, Copy)]
pub struct AlertFilter {
    /// Only alerts in this status.
    pub status: Option<AlertStatus>,
    /// Only alerts of this rule.
    pub rule: Option<Uuid>,
    /// Only alerts about this host.
    pub host: Option<HostId>,
    /// Only alerts older than this one (the cursor).
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
}

/// Which notifications a page shows, newest first.
#[derive(Debug, Clone, Copy)]
pub struct NotificationFilter {
    /// Only those not yet marked read.
    pub unread_only: bool,
    /// Only notifications older than this one (the cursor).
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
}

/// The channels a rule without its own list uses when the org set none.
pub const DEFAULT_CHANNELS: &[&str] = &["in_app"];

/// Alert rules, alerts, the outbox, notifications, webhooks and settings: a supertrait of
/// [`Store`](super::Store), implemented for both backends by [`alert_store!`].
#[async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// Stores a new rule; a name the org already uses is a `Conflict`. `audit` commits with it.
    async fn create_alert_rule(
        &self,
        org: OrgId,
        id: Uuid,
        spec: &AlertRuleSpec,
        audit: &AuditEntry,
    ) -> StoreResult<AlertRuleRecord>;
    /// Finds a rule of the org.
    async fn get_alert_rule(&self, org: OrgId, id: Uuid) -> StoreResult<AlertRuleRecord>;
    /// The org's rules by id, after `after` when given.
    async fn list_alert_rules(
        &self,
        org: OrgId,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<AlertRuleRecord>>;
    /// Replaces a rule's definition; `audit` commits with it.
    async fn replace_alert_rule(
        &self,
        org: OrgId,
        id: Uuid,
        spec: &AlertRuleSpec,
        audit: &AuditEntry,
    ) -> StoreResult<AlertRuleRecord>;
    /// Deletes a rule (its alerts stay in the history); `audit` commits with it.
    async fn delete_alert_rule(&self, org: OrgId, id: Uuid, audit: &AuditEntry) -> StoreResult<()>;
    /// Every rule of every live org, for the rule engine.
    async fn all_alert_rules(&self) -> StoreResult<Vec<AlertRuleRecord>>;

    /// Raises an alert and queues one delivery per channel, in one transaction. An open alert
    /// of the same rule and subject already there answers `None` and writes nothing.
    async fn raise_alert(
        &self,
        alert: &NewAlert,
        channels: &[String],
    ) -> StoreResult<Option<AlertRecord>>;
    /// Resolves the open alert of `rule` about the subject and queues one delivery per channel;
    /// `None` when none was open.
    async fn resolve_alert(
        &self,
        org: OrgId,
        rule: Uuid,
        host: Option<HostId>,
        game: Option<&str>,
        at: Timestamp,
        channels: &[String],
    ) -> StoreResult<Option<AlertRecord>>;
    /// Every open alert of every org (the rule engine's memory after a restart).
    async fn open_alerts(&self) -> StoreResult<Vec<AlertRecord>>;
    /// The org's alerts the filter selects, newest first.
    async fn list_alerts(&self, org: OrgId, filter: &AlertFilter) -> StoreResult<Vec<AlertRecord>>;

    /// Claims up to `limit` deliveries due at `now`: each counts an attempt and is hidden from
    /// other claims for `lease_ms`, by when its outcome must be recorded or it is claimed again.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    /// Records how a delivery attempt ended.
    async fn finish_delivery(
        &self,
        id: Uuid,
        outcome: &DeliveryOutcome,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Delivers an in-app delivery: stores its notification (once, however often it is retried)
    /// and marks the delivery done, in one transaction; returns the notification.
    async fn deliver_in_app(
        &self,
        delivery: &Delivery,
        title: &str,
        now: Timestamp,
    ) -> StoreResult<NotificationRecord>;

    /// The org's notifications the filter selects, newest first.
    async fn list_notifications(
        &self,
        org: OrgId,
        filter: &NotificationFilter,
    ) -> StoreResult<Vec<NotificationRecord>>;
    /// How many of the org's notifications are not yet marked read.
    async fn unread_notifications(&self, org: OrgId) -> StoreResult<u64>;
    /// Marks every unread notification of the org read; returns how many it marked.
    async fn mark_all_notifications_read(&self, org: OrgId, now: Timestamp) -> StoreResult<u64>;
    /// Marks a notification read (a second call keeps the first time).
    async fn mark_notification_read(
        &self,
        org: OrgId,
        id: Uuid,
        now: Timestamp,
    ) -> StoreResult<NotificationRecord>;

    /// Creates or replaces a webhook (clearing its broken mark); `audit` commits with it.
    async fn put_discord_webhook(
        &self,
        org: OrgId,
        name: &str,
        url: &str,
        audit: &AuditEntry,
    ) -> StoreResult<WebhookRecord>;
    /// Removes a webhook; `audit` commits with it.
    async fn delete_discord_webhook(
        &self,
        org: OrgId,
        name: &str,
        audit: &AuditEntry,
    ) -> StoreResult<()>;
    /// The org's webhooks by name.
    async fn list_discord_webhooks(&self, org: OrgId) -> StoreResult<Vec<WebhookRecord>>;
    /// Finds a webhook of the org.
    async fn get_discord_webhook(&self, org: OrgId, name: &str) -> StoreResult<WebhookRecord>;
    /// Marks a webhook broken with Discord's reason.
    async fn mark_webhook_broken(
        &self,
        org: OrgId,
        name: &str,
        reason: &str,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// The org's default alert channels ([`DEFAULT_CHANNELS`] until set).
    async fn default_channels(&self, org: OrgId) -> StoreResult<Vec<String>>;
    /// Sets the org's default alert channels; `audit` commits with it.
    async fn set_default_channels(
        &self,
        org: OrgId,
        channels: &[String],
        audit: &AuditEntry,
    ) -> StoreResult<()>;
}

/// An `alert_rules` row.
#[derive(sqlx::FromRow)]
pub(super) struct RuleRow {
    id: Uuid,
    org: Uuid,
    spec: Json<AlertRuleSpec>,
    created_at: i64,
    updated_at: i64,
}

impl RuleRow {
    pub(super) fn into_record(self) -> StoreResult<AlertRuleRecord> {
        Ok(AlertRuleRecord {
            id: self.id,
            org: OrgId(self.org),
            spec: self.spec.0,
            created_at: timestamp(self.created_at)?,
            updated_at: timestamp(self.updated_at)?,
        })
    }
}

/// An `alerts` row.
#[derive(sqlx::FromRow)]
pub(super) struct AlertRow {
    id: Uuid,
    org: Uuid,
    rule: Uuid,
    rule_name: String,
    host: Option<Uuid>,
    game: Option<String>,
    kind: String,
    severity: String,
    message: String,
    status: String,
    raised_at: i64,
    resolved_at: Option<i64>,
}

impl AlertRow {
    pub(super) fn into_record(self) -> StoreResult<AlertRecord> {
        Ok(AlertRecord {
            id: self.id,
            org: OrgId(self.org),
            rule: self.rule,
            rule_name: self.rule_name,
            host: self.host.map(HostId),
            game: self.game,
            kind: self.kind,
            severity: parse_severity(&self.severity)?,
            message: self.message,
            status: AlertStatus::parse(&self.status)?,
            raised_at: timestamp(self.raised_at)?,
            resolved_at: self.resolved_at.map(timestamp).transpose()?,
        })
    }
}

/// A claimed `alert_outbox` row.
#[derive(sqlx::FromRow)]
pub(super) struct OutboxRow {
    pub(super) id: Uuid,
    pub(super) alert: Uuid,
    change: String,
    channel: String,
    attempts: i64,
}

impl OutboxRow {
    pub(super) fn into_delivery(self, alert: AlertRecord) -> StoreResult<Delivery> {
        Ok(Delivery {
            id: self.id,
            alert,
            change: AlertChange::parse(&self.change)?,
            channel: self.channel,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
        })
    }
}

/// A `notifications` row.
#[derive(sqlx::FromRow)]
pub(super) struct NotificationRow {
    id: Uuid,
    org: Uuid,
    alert: Uuid,
    change: String,
    severity: String,
    title: String,
    created_at: i64,
    read_at: Option<i64>,
}

impl NotificationRow {
    pub(super) fn into_record(self) -> StoreResult<NotificationRecord> {
        Ok(NotificationRecord {
            id: self.id,
            org: OrgId(self.org),
            alert: self.alert,
            change: AlertChange::parse(&self.change)?,
            severity: parse_severity(&self.severity)?,
            title: self.title,
            created_at: timestamp(self.created_at)?,
            read_at: self.read_at.map(timestamp).transpose()?,
        })
    }
}

/// A `discord_webhooks` row.
#[derive(sqlx::FromRow)]
pub(super) struct WebhookRow {
    org: Uuid,
    name: String,
    url: String,
    broken_reason: Option<String>,
    broken_at: Option<i64>,
    created_at: i64,
}

impl WebhookRow {
    pub(super) fn into_record(self) -> StoreResult<WebhookRecord> {
        Ok(WebhookRecord {
            org: OrgId(self.org),
            name: self.name,
            url: self.url,
            broken_reason: self.broken_reason,
            broken_at: self.broken_at.map(timestamp).transpose()?,
            created_at: timestamp(self.created_at)?,
        })
    }
}

/// Column lists, as literals for `concat!` (see `game_columns!`).
macro_rules! alert_columns {
    (rule) => {
        "id, org, spec, created_at, updated_at"
    };
    (alert) => {
        "id, org, rule, rule_name, host, game, kind, severity, message, status, raised_at, \
         resolved_at"
    };
    (notification) => {
        "id, org, alert, change, severity, title, created_at, read_at"
    };
    (webhook) => {
        "org, name, url, broken_reason, broken_at, created_at"
    };
}
pub(crate) use alert_columns;

/// Implements [`AlertStore`] for a backend (see `access_store!` for the parameters).
macro_rules! alert_store {
    ($store:ty, $db:ty, reader = $reader:ident, writer = $writer:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::alerts::AlertStore for $store {
            async fn create_alert_rule(
                &self,
                org: $crate::store::OrgId,
                id: uuid::Uuid,
                spec: &gsm_proto::rest::AlertRuleSpec,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<$crate::store::alerts::AlertRuleRecord> {
                let db = $crate::store::convert::db_conflict(
                    "alert rule",
                    format!("an alert rule named {:?} already exists", spec.name),
                );
                let mut tx = self.write().await?;
                let sql = concat!(
                    "INSERT INTO alert_rules (id, org, name, spec, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
                    $crate::store::alerts::alert_columns!(rule),
                );
                let row: $crate::store::alerts::RuleRow = sqlx::query_as(sql)
                    .bind(id)
                    .bind(org.0)
                    .bind(&spec.name)
                    .bind(sqlx::types::Json(spec))
                    .bind(audit.at.as_millisecond())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err($crate::store::convert::db("alert rule"))?;
                row.into_record()
            }

            async fn get_alert_rule(
                &self,
                org: $crate::store::OrgId,
                id: uuid::Uuid,
            ) -> $crate::store::StoreResult<$crate::store::alerts::AlertRuleRecord> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::alerts::alert_columns!(rule),
                    " FROM alert_rules WHERE org = $1 AND id = $2",
                );
                let row: $crate::store::alerts::RuleRow = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(id)
                    .fetch_one(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("alert rule"))?;
                row.into_record()
            }

            async fn list_alert_rules(
                &self,
                org: $crate::store::OrgId,
                after: Option<uuid::Uuid>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::alerts::AlertRuleRecord>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::alerts::alert_columns!(rule),
                    " FROM alert_rules WHERE org = $1 AND ($2 IS NULL OR id > $2) \
                     ORDER BY id LIMIT $3",
                );
                let rows: Vec<$crate::store::alerts::RuleRow> = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("alert rule"))?;
                $crate::store::convert::records(rows, $crate::store::alerts::RuleRow::into_record)
            }

            async fn replace_alert_rule(
                &self,
                org: $crate::store::OrgId,
                id: uuid::Uuid,
                spec: &gsm_proto::rest::AlertRuleSpec,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<$crate::store::alerts::AlertRuleRecord> {
                let db = $crate::store::convert::db_conflict(
                    "alert rule",
                    format!("an alert rule named {:?} already exists", spec.name),
                );
                let mut tx = self.write().await?;
                let sql = concat!(
                    "UPDATE alert_rules SET name = $3, spec = $4, updated_at = $5 \
                     WHERE org = $1 AND id = $2 RETURNING ",
                    $crate::store::alerts::alert_columns!(rule),
                );
                let row: $crate::store::alerts::RuleRow = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(id)
                    .bind(&spec.name)
                    .bind(sqlx::types::Json(spec))
                    .bind(audit.at.as_millisecond())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err($crate::store::convert::db("alert rule"))?;
                row.into_record()
            }

            async fn delete_alert_rule(
                &self,
                org: $crate::store::OrgId,
                id: uuid::Uuid,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let deleted = sqlx::query("DELETE FROM alert_rules WHERE org = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("alert rule"))?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "alert rule" });
                }
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("alert rule"))
            }

            async fn all_alert_rules(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::alerts::AlertRuleRecord>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::alerts::alert_columns!(rule),
                    " FROM alert_rules WHERE org IN \
                     (SELECT id FROM orgs WHERE deleted_at IS NULL) ORDER BY id",
                );
                let rows: Vec<$crate::store::alerts::RuleRow> = sqlx::query_as(sql)
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("alert rule"))?;
                $crate::store::convert::records(rows, $crate::store::alerts::RuleRow::into_record)
            }

            async fn raise_alert(
                &self,
                alert: &$crate::store::alerts::NewAlert,
                channels: &[String],
            ) -> $crate::store::StoreResult<Option<$crate::store::alerts::AlertRecord>> {
                let db = $crate::store::convert::db;
                let status = if alert.open {
                    $crate::store::alerts::AlertStatus::Open
                } else {
                    $crate::store::alerts::AlertStatus::Fired
                };
                let subject =
                    $crate::store::alerts::subject_key(alert.host, alert.game.as_deref());
                let at = alert.at.as_millisecond();
                let mut tx = self.write().await?;
                let sql = concat!(
                    "INSERT INTO alerts (",
                    $crate::store::alerts::alert_columns!(alert),
                    ", subject) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12) \
                     ON CONFLICT (rule, subject) WHERE status = 'open' DO NOTHING RETURNING ",
                    $crate::store::alerts::alert_columns!(alert),
                );
                let row: Option<$crate::store::alerts::AlertRow> = sqlx::query_as(sql)
                    .bind(alert.id)
                    .bind(alert.org.0)
                    .bind(alert.rule)
                    .bind(&alert.rule_name)
                    .bind(alert.host.map(|h| h.0))
                    .bind(alert.game.as_deref())
                    .bind(&alert.kind)
                    .bind(alert.severity.as_str())
                    .bind(&alert.message)
                    .bind(status.as_str())
                    .bind(at)
                    .bind(&subject)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("alert"))?;
                let Some(row) = row else { return Ok(None) };
                Self::queue_deliveries(
                    &mut tx,
                    alert.org,
                    alert.id,
                    $crate::store::alerts::AlertChange::Raised,
                    channels,
                    at,
                )
                .await?;
                tx.commit().await.map_err(db("alert"))?;
                row.into_record().map(Some)
            }

            async fn resolve_alert(
                &self,
                org: $crate::store::OrgId,
                rule: uuid::Uuid,
                host: Option<gsm_core::job::HostId>,
                game: Option<&str>,
                at: jiff::Timestamp,
                channels: &[String],
            ) -> $crate::store::StoreResult<Option<$crate::store::alerts::AlertRecord>> {
                let db = $crate::store::convert::db;
                let subject = $crate::store::alerts::subject_key(host, game);
                let at = at.as_millisecond();
                let mut tx = self.write().await?;
                let sql = concat!(
                    "UPDATE alerts SET status = 'resolved', resolved_at = $4 \
                     WHERE org = $1 AND rule = $2 AND subject = $3 AND status = 'open' \
                     RETURNING ",
                    $crate::store::alerts::alert_columns!(alert),
                );
                let row: Option<$crate::store::alerts::AlertRow> = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(rule)
                    .bind(&subject)
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("alert"))?;
                let Some(row) = row else { return Ok(None) };
                let record = row.into_record()?;
                Self::queue_deliveries(
                    &mut tx,
                    org,
                    record.id,
                    $crate::store::alerts::AlertChange::Resolved,
                    channels,
                    at,
                )
                .await?;
                tx.commit().await.map_err(db("alert"))?;
                Ok(Some(record))
            }

            async fn open_alerts(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::alerts::AlertRecord>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::alerts::alert_columns!(alert),
                    " FROM alerts WHERE status = 'open' ORDER BY id",
                );
                let rows: Vec<$crate::store::alerts::AlertRow> = sqlx::query_as(sql)
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("alert"))?;
                $crate::store::convert::records(rows, $crate::store::alerts::AlertRow::into_record)
            }

            async fn list_alerts(
                &self,
                org: $crate::store::OrgId,
                filter: &$crate::store::alerts::AlertFilter,
            ) -> $crate::store::StoreResult<Vec<$crate::store::alerts::AlertRecord>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::alerts::alert_columns!(alert),
                    " FROM alerts WHERE org = $1 AND ($2 IS NULL OR id < $2) \
                     AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR rule = $4) \
                     AND ($5 IS NULL OR host = $5) ORDER BY id DESC LIMIT $6",
                );
                let rows: Vec<$crate::store::alerts::AlertRow> = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(filter.before)
                    .bind(filter.status.map(|s| s.as_str()))
                    .bind(filter.rule)
                    .bind(filter.host.map(|h| h.0))
                    .bind(i64::from(filter.limit))
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("alert"))?;
                $crate::store::convert::records(rows, $crate::store::alerts::AlertRow::into_record)
            }

            async fn claim_deliveries(
                &self,
                now: jiff::Timestamp,
                lease_ms: i64,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::alerts::Delivery>> {
                let db = $crate::store::convert::db;
                let now = now.as_millisecond();
                let mut tx = self.write().await?;
                let rows: Vec<$crate::store::alerts::OutboxRow> = sqlx::query_as(
                    "UPDATE alert_outbox SET next_at = $2, attempts = attempts + 1 \
                     WHERE state = 'pending' AND next_at <= $1 AND id IN \
                     (SELECT id FROM alert_outbox WHERE state = 'pending' AND next_at <= $1 \
                      ORDER BY next_at LIMIT $3) \
                     RETURNING id, alert, change, channel, attempts",
                )
                .bind(now)
                .bind(now.saturating_add(lease_ms))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(db("delivery"))?;
                let mut deliveries = Vec::with_capacity(rows.len());
                for row in rows {
                    let sql = concat!(
                        "SELECT ",
                        $crate::store::alerts::alert_columns!(alert),
                        " FROM alerts WHERE id = $1",
                    );
                    let alert: $crate::store::alerts::AlertRow = sqlx::query_as(sql)
                        .bind(row.alert)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db("alert"))?;
                    deliveries.push(row.into_delivery(alert.into_record()?)?);
                }
                tx.commit().await.map_err(db("delivery"))?;
                Ok(deliveries)
            }

            async fn finish_delivery(
                &self,
                id: uuid::Uuid,
                outcome: &$crate::store::alerts::DeliveryOutcome,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::alerts::DeliveryOutcome;
                let db = $crate::store::convert::db;
                let now = now.as_millisecond();
                let (state, next_at, error) = match outcome {
                    DeliveryOutcome::Delivered => ("delivered", None, None),
                    DeliveryOutcome::Retry { next_at, error } => {
                        ("pending", Some(next_at.as_millisecond()), Some(error.as_str()))
                    }
                    DeliveryOutcome::Failed { error } => ("failed", None, Some(error.as_str())),
                };
                let done_at = (state != "pending").then_some(now);
                let mut tx = self.write().await?;
                let updated = sqlx::query(
                    "UPDATE alert_outbox SET state = $2, next_at = COALESCE($3, next_at), \
                     last_error = COALESCE($4, last_error), done_at = $5 \
                     WHERE id = $1 AND state = 'pending'",
                )
                .bind(id)
                .bind(state)
                .bind(next_at)
                .bind(error)
                .bind(done_at)
                .execute(&mut *tx)
                .await
                .map_err(db("delivery"))?;
                if updated.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "pending delivery" });
                }
                tx.commit().await.map_err(db("delivery"))
            }

            async fn deliver_in_app(
                &self,
                delivery: &$crate::store::alerts::Delivery,
                title: &str,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<$crate::store::alerts::NotificationRecord> {
                let db = $crate::store::convert::db;
                let now = now.as_millisecond();
                let mut tx = self.write().await?;
                sqlx::query(
                    "INSERT INTO notifications (id, org, alert, outbox, change, severity, title, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (outbox) DO NOTHING",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(delivery.alert.org.0)
                .bind(delivery.alert.id)
                .bind(delivery.id)
                .bind(delivery.change.as_str())
                .bind(delivery.alert.severity.as_str())
                .bind(title)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db("notification"))?;
                sqlx::query(
                    "UPDATE alert_outbox SET state = 'delivered', done_at = $2 \
                     WHERE id = $1 AND state = 'pending'",
                )
                .bind(delivery.id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db("delivery"))?;
                let sql = concat!(
                    "SELECT ",
                    $crate::store::alerts::alert_columns!(notification),
                    " FROM notifications WHERE outbox = $1",
                );
                let row: $crate::store::alerts::NotificationRow = sqlx::query_as(sql)
                    .bind(delivery.id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db("notification"))?;
                tx.commit().await.map_err(db("notification"))?;
                row.into_record()
            }

            async fn list_notifications(
                &self,
                org: $crate::store::OrgId,
                filter: &$crate::store::alerts::NotificationFilter,
            ) -> $crate::store::StoreResult<Vec<$crate::store::alerts::NotificationRecord>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::alerts::alert_columns!(notification),
                    " FROM notifications WHERE org = $1 AND ($2 IS NULL OR id < $2) \
                     AND ($3 = FALSE OR read_at IS NULL) ORDER BY id DESC LIMIT $4",
                );
                let rows: Vec<$crate::store::alerts::NotificationRow> = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(filter.before)
                    .bind(filter.unread_only)
                    .bind(i64::from(filter.limit))
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("notification"))?;
                $crate::store::convert::records(
                    rows,
                    $crate::store::alerts::NotificationRow::into_record,
                )
            }

            async fn unread_notifications(
                &self,
                org: $crate::store::OrgId,
            ) -> $crate::store::StoreResult<u64> {
                let count: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM notifications WHERE org = $1 AND read_at IS NULL",
                )
                .bind(org.0)
                .fetch_one(&self.$reader)
                .await
                .map_err($crate::store::convert::db("notification"))?;
                Ok(u64::try_from(count).unwrap_or_default())
            }

            async fn mark_all_notifications_read(
                &self,
                org: $crate::store::OrgId,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<u64> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let marked = sqlx::query(
                    "UPDATE notifications SET read_at = $2 WHERE org = $1 AND read_at IS NULL",
                )
                .bind(org.0)
                .bind(now.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(db("notification"))?;
                tx.commit().await.map_err(db("notification"))?;
                Ok(marked.rows_affected())
            }

            async fn mark_notification_read(
                &self,
                org: $crate::store::OrgId,
                id: uuid::Uuid,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<$crate::store::alerts::NotificationRecord> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let sql = concat!(
                    "UPDATE notifications SET read_at = COALESCE(read_at, $3) \
                     WHERE org = $1 AND id = $2 RETURNING ",
                    $crate::store::alerts::alert_columns!(notification),
                );
                let row: $crate::store::alerts::NotificationRow = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(id)
                    .bind(now.as_millisecond())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db("notification"))?;
                tx.commit().await.map_err(db("notification"))?;
                row.into_record()
            }

            async fn put_discord_webhook(
                &self,
                org: $crate::store::OrgId,
                name: &str,
                url: &str,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<$crate::store::alerts::WebhookRecord> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let sql = concat!(
                    "INSERT INTO discord_webhooks (org, name, url, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (org, name) DO UPDATE SET \
                     url = excluded.url, broken_reason = NULL, broken_at = NULL, \
                     created_at = excluded.created_at RETURNING ",
                    $crate::store::alerts::alert_columns!(webhook),
                );
                let row: $crate::store::alerts::WebhookRow = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(name)
                    .bind(url)
                    .bind(audit.at.as_millisecond())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db("webhook"))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("webhook"))?;
                row.into_record()
            }

            async fn delete_discord_webhook(
                &self,
                org: $crate::store::OrgId,
                name: &str,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let deleted =
                    sqlx::query("DELETE FROM discord_webhooks WHERE org = $1 AND name = $2")
                        .bind(org.0)
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("webhook"))?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "webhook" });
                }
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("webhook"))
            }

            async fn list_discord_webhooks(
                &self,
                org: $crate::store::OrgId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::alerts::WebhookRecord>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::alerts::alert_columns!(webhook),
                    " FROM discord_webhooks WHERE org = $1 ORDER BY name",
                );
                let rows: Vec<$crate::store::alerts::WebhookRow> = sqlx::query_as(sql)
                    .bind(org.0)
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("webhook"))?;
                $crate::store::convert::records(
                    rows,
                    $crate::store::alerts::WebhookRow::into_record,
                )
            }

            async fn get_discord_webhook(
                &self,
                org: $crate::store::OrgId,
                name: &str,
            ) -> $crate::store::StoreResult<$crate::store::alerts::WebhookRecord> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::alerts::alert_columns!(webhook),
                    " FROM discord_webhooks WHERE org = $1 AND name = $2",
                );
                let row: $crate::store::alerts::WebhookRow = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(name)
                    .fetch_one(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("webhook"))?;
                row.into_record()
            }

            async fn mark_webhook_broken(
                &self,
                org: $crate::store::OrgId,
                name: &str,
                reason: &str,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let updated = sqlx::query(
                    "UPDATE discord_webhooks SET broken_reason = $3, broken_at = $4 \
                     WHERE org = $1 AND name = $2",
                )
                .bind(org.0)
                .bind(name)
                .bind(reason)
                .bind(now.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(db("webhook"))?;
                if updated.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "webhook" });
                }
                tx.commit().await.map_err(db("webhook"))
            }

            async fn default_channels(
                &self,
                org: $crate::store::OrgId,
            ) -> $crate::store::StoreResult<Vec<String>> {
                let row: Option<sqlx::types::Json<Vec<String>>> = sqlx::query_scalar(
                    "SELECT default_channels FROM org_settings WHERE org = $1",
                )
                .bind(org.0)
                .fetch_optional(&self.$reader)
                .await
                .map_err($crate::store::convert::db("settings"))?;
                Ok(match row {
                    Some(channels) => channels.0,
                    None => $crate::store::alerts::DEFAULT_CHANNELS
                        .iter()
                        .map(|c| (*c).to_owned())
                        .collect(),
                })
            }

            async fn set_default_channels(
                &self,
                org: $crate::store::OrgId,
                channels: &[String],
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                sqlx::query(
                    "INSERT INTO org_settings (org, default_channels, updated_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (org) DO UPDATE SET \
                     default_channels = excluded.default_channels, \
                     updated_at = excluded.updated_at",
                )
                .bind(org.0)
                .bind(sqlx::types::Json(channels))
                .bind(audit.at.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(db("settings"))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("settings"))
            }
        }

        impl $store {
            /// Queues one pending delivery per channel of an alert's change.
            async fn queue_deliveries(
                tx: &mut sqlx::Transaction<'static, $db>,
                org: $crate::store::OrgId,
                alert: uuid::Uuid,
                change: $crate::store::alerts::AlertChange,
                channels: &[String],
                at: i64,
            ) -> $crate::store::StoreResult<()> {
                for channel in channels {
                    sqlx::query(
                        "INSERT INTO alert_outbox (id, org, alert, change, channel, state, \
                         attempts, next_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
                    )
                    .bind(uuid::Uuid::now_v7())
                    .bind(org.0)
                    .bind(alert)
                    .bind(change.as_str())
                    .bind(channel)
                    .bind(at)
                    .execute(&mut **tx)
                    .await
                    .map_err($crate::store::convert::db("delivery"))?;
                }
                Ok(())
            }
        }
    };
}
pub(crate) use alert_store;
