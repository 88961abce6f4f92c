//! Who may act in which org: users, memberships, login sessions and their refresh tokens, API
//! keys, invites and the audit log, behind the [`AccessStore`] half of the store.
//!
//! These tables were designed after 0001 to use SQL both backends read alike: `$N` placeholders
//! (sqlx's SQLite driver binds `$N` by number too), no backend-specific locking, compare-and-set
//! `UPDATE … WHERE … RETURNING` for every race. So the implementation is written once, in
//! [`access_store!`], and expanded in `sqlite.rs` and `postgres.rs` over each backend's pools; the
//! conformance suite runs it on both. Where a decision reads and then writes (the last owner of
//! an org), the transaction first touches the org row, which serialises writers on PostgreSQL
//! (row lock) and is a no-op on SQLite, whose writer transactions are already exclusive.
//!
//! An audit entry that records a change is written in the same transaction as the change: the
//! mutating methods take an [`AuditEntry`], so it commits or rolls back with the change.

use async_trait::async_trait;
use gsm_core::job::{HostId, Requester, RequesterKind};
use jiff::Timestamp;
use uuid::Uuid;

use super::convert::{corrupt, secret_hash, timestamp};
use super::{
    ApiKeyRecord, Enrollment, HostRecord, Org, OrgId, SecretHash, StoreError, StoreResult,
};

/// A user's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub Uuid);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A login session's id: the access token's `sid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub Uuid);

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Its id, chosen by the caller.
    pub id: UserId,
    /// The email as given; unique case-insensitively among live users.
    pub email: String,
    /// The name shown to people.
    pub display_name: String,
    /// The argon2id PHC string of the password.
    pub password_hash: String,
    /// Creation time.
    pub now: Timestamp,
}

/// A stored (live) user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Its id.
    pub id: UserId,
    /// Its email, as given.
    pub email: String,
    /// The name shown to people.
    pub display_name: String,
    /// The argon2id PHC string of the password.
    pub password_hash: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A login session to open, with its first refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Its id.
    pub id: SessionId,
    /// Whose.
    pub user: UserId,
    /// SHA-256 of the first refresh token's secret.
    pub refresh_hash: SecretHash,
    /// When the session (and every refresh token of it) stops working.
    pub expires_at: Timestamp,
    /// Creation time.
    pub now: Timestamp,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: it is now used and the new one replaces it.
    Rotated {
        /// The session it belongs to.
        session: SessionId,
        /// Its user.
        user: UserId,
    },
    /// The token had already been used: someone holds a copy, so the whole session (the token
    /// family) is now revoked.
    Reused,
    /// Unknown token, or its session is revoked, expired or its user deleted.
    Invalid,
}

/// A session's standing in one org, checked on every request made with an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRole {
    /// The session is revoked or expired, or its user is deleted.
    Dead,
    /// The session is live but its user is not a member of the org.
    NotMember,
    /// The user's role in the org.
    Member(String),
}

/// One of a user's org memberships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The org.
    pub org: Org,
    /// The user's role there.
    pub role: String,
}

/// One member of an org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// The user.
    pub user: UserId,
    /// Their email.
    pub email: String,
    /// Their display name.
    pub display_name: String,
    /// Their role.
    pub role: String,
    /// When they joined.
    pub joined_at: Timestamp,
}

/// An invite to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    /// Its id.
    pub id: Uuid,
    /// The org it joins.
    pub org: OrgId,
    /// Whom it is for (informational; the token is what admits).
    pub email: String,
    /// The role it grants.
    pub role: String,
    /// SHA-256 of the one-time token.
    pub token_hash: SecretHash,
    /// The user who made it, when a user did.
    pub created_by: Option<UserId>,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Creation time.
    pub now: Timestamp,
}

/// A stored invite (without its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    /// Its id.
    pub id: Uuid,
    /// Its org.
    pub org: OrgId,
    /// Whom it is for.
    pub email: String,
    /// The role it grants.
    pub role: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When it was accepted.
    pub accepted_at: Option<Timestamp>,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
}

/// One audit entry: who did what to which target, when, from where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its id (a v7 UUID: ids order entries by time).
    pub id: Uuid,
    /// The org it happened in.
    pub org: OrgId,
    /// When.
    pub at: Timestamp,
    /// Who: a user, an API key or an agent.
    pub actor: Requester,
    /// What, as a stable dotted name (`host.create`, `member.remove`).
    pub action: String,
    /// The kind of thing acted on (`host`, `job`, `member`, ...).
    pub target_kind: String,
    /// Its id.
    pub target_id: String,
    /// The client's address.
    pub client_ip: Option<String>,
    /// How it ended (`success`, or a refusal code).
    pub outcome: String,
}

/// Filters for the audit log; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this actor's id.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this target kind.
    pub target_kind: Option<String>,
    /// Only this target id.
    pub target_id: Option<String>,
    /// Only entries at or after.
    pub since: Option<Timestamp>,
    /// Only entries before.
    pub until: Option<Timestamp>,
    /// Only entries older than this entry id (cursor).
    pub before: Option<Uuid>,
    /// At most this many (the caller bounds it).
    pub limit: u32,
}

/// Users, memberships, sessions, API keys, invites and the audit log: a supertrait of
/// [`Store`](super::Store), implemented for both backends by [`access_store!`].
#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    /// Creates a user; a live user with the same email (any case) is `Conflict`.
    async fn create_user(&self, user: &NewUser) -> StoreResult<UserRecord>;
    /// Finds a live user by email, case-insensitively.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// Finds a live user.
    async fn get_user(&self, id: UserId) -> StoreResult<UserRecord>;
    /// Marks a user deleted, revokes their sessions and removes their memberships at once.
    async fn delete_user(&self, id: UserId, now: Timestamp) -> StoreResult<()>;

    /// Opens a session with its first refresh token.
    async fn create_session(&self, session: &NewSession) -> StoreResult<()>;
    /// Trades a current refresh token for `new_hash` (see [`RefreshOutcome`]).
    async fn rotate_refresh_token(
        &self,
        old_hash: SecretHash,
        new_hash: SecretHash,
        now: Timestamp,
    ) -> StoreResult<RefreshOutcome>;
    /// Revokes a session (logout); its access and refresh tokens stop working at once.
    async fn revoke_session(&self, id: SessionId, now: Timestamp) -> StoreResult<()>;
    /// The user of a live session.
    async fn session_user(&self, id: SessionId, now: Timestamp) -> StoreResult<Option<UserRecord>>;
    /// The session's user's role in `org` (one query per request).
    async fn session_role(
        &self,
        id: SessionId,
        org: OrgId,
        now: Timestamp,
    ) -> StoreResult<SessionRole>;

    /// Creates an org with `owner` as its first owner, in one transaction.
    async fn create_org_with_owner(
        &self,
        id: OrgId,
        name: &str,
        owner: UserId,
        audit: &AuditEntry,
    ) -> StoreResult<Org>;
    /// Makes a user a member (used by `init`); an existing member is `Conflict`.
    async fn add_member(
        &self,
        org: OrgId,
        user: UserId,
        role: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// The user's orgs with their role, by org name.
    async fn memberships(&self, user: UserId) -> StoreResult<Vec<Membership>>;
    /// One page of the user's orgs, by org name: at most `limit`, after the org `after`.
    async fn memberships_page(
        &self,
        user: UserId,
        after: Option<OrgId>,
        limit: u32,
    ) -> StoreResult<Vec<Membership>>;
    /// Renames an org.
    async fn rename_org(&self, org: OrgId, name: &str, audit: &AuditEntry) -> StoreResult<Org>;
    /// Deletes an org: marks it, and deletes its hosts (their credentials stop working); its keys
    /// and memberships stop working because every credential check joins a live org. Returns the
    /// hosts it deleted, so their connected agents can be cut.
    async fn delete_org(&self, org: OrgId, audit: &AuditEntry) -> StoreResult<Vec<HostId>>;
    /// One page of the org's members, by email: at most `limit`, after the member `after`.
    async fn list_members(
        &self,
        org: OrgId,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<MemberRecord>>;
    /// A member's role in the org, or `None` when the user is not a member.
    async fn member_role(&self, org: OrgId, user: UserId) -> StoreResult<Option<String>>;
    /// Changes a member's role; demoting the last owner is `Conflict`.
    async fn set_member_role(
        &self,
        org: OrgId,
        user: UserId,
        role: &str,
        audit: &AuditEntry,
    ) -> StoreResult<()>;
    /// Removes a member; removing the last owner is `Conflict`.
    async fn remove_member(&self, org: OrgId, user: UserId, audit: &AuditEntry) -> StoreResult<()>;

    /// Stores an API key made through the API, with its audit entry.
    async fn create_api_key_audited(
        &self,
        key: &ApiKeyRecord,
        audit: &AuditEntry,
    ) -> StoreResult<()>;
    /// One page of the org's API keys, newest first: at most `limit`, after the key `after`.
    async fn list_api_keys(
        &self,
        org: OrgId,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes a key of the org (revoking a revoked key is a no-op).
    async fn revoke_api_key(&self, org: OrgId, key_id: &str, audit: &AuditEntry)
    -> StoreResult<()>;
    /// Records a key's last use (callers coalesce: at most once a minute per key).
    async fn touch_api_key(&self, key_id: &str, now: Timestamp) -> StoreResult<()>;

    /// Stores an invite.
    async fn create_invite(&self, invite: &NewInvite, audit: &AuditEntry) -> StoreResult<()>;
    /// One page of the org's invites, newest first: at most `limit`, after the invite `after`.
    async fn list_invites(
        &self,
        org: OrgId,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<InviteRecord>>;
    /// Revokes an open invite of the org.
    async fn revoke_invite(&self, org: OrgId, id: Uuid, audit: &AuditEntry) -> StoreResult<()>;
    /// Spends an invite token for `user`: once, before it expires, unless revoked; makes the user
    /// a member with the invite's role. Any failure of the token is `NotFound { what: "invite" }`.
    async fn accept_invite(
        &self,
        token_hash: SecretHash,
        user: UserId,
        now: Timestamp,
    ) -> StoreResult<InviteRecord>;

    /// Writes an audit entry on its own (for changes outside the store, such as a logout).
    async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// The org's audit entries, newest first.
    async fn list_audit(&self, org: OrgId, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;
}

/// The lowercased email: the key users are unique and found by.
pub(super) fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The conflict for removing or demoting an org's last owner.
pub(super) fn last_owner() -> StoreError {
    StoreError::Conflict { detail: "an org must keep at least one owner".to_owned() }
}

/// A `users` row.
#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
    password_hash: String,
    created_at: i64,
}

impl UserRow {
    pub(super) fn into_record(self) -> StoreResult<UserRecord> {
        Ok(UserRecord {
            id: UserId(self.id),
            email: self.email,
            display_name: self.display_name,
            password_hash: self.password_hash,
            created_at: timestamp(self.created_at)?,
        })
    }
}

/// A membership joined with its org.
#[derive(sqlx::FromRow)]
pub(super) struct MembershipRow {
    id: Uuid,
    name: String,
    created_at: i64,
    role: String,
}

impl MembershipRow {
    pub(super) fn into_record(self) -> StoreResult<Membership> {
        Ok(Membership {
            org: Org {
                id: OrgId(self.id),
                name: self.name,
                created_at: timestamp(self.created_at)?,
            },
            role: self.role,
        })
    }
}

/// A membership joined with its user.
#[derive(sqlx::FromRow)]
pub(super) struct MemberRow {
    user_id: Uuid,
    email: String,
    display_name: String,
    role: String,
    created_at: i64,
}

impl MemberRow {
    pub(super) fn into_record(self) -> StoreResult<MemberRecord> {
        Ok(MemberRecord {
            user: UserId(self.user_id),
            email: self.email,
            display_name: self.display_name,
            role: self.role,
            joined_at: timestamp(self.created_at)?,
        })
    }
}

/// An `invites` row.
#[derive(sqlx::FromRow)]
pub(super) struct InviteRow {
    id: Uuid,
    org: Uuid,
    email: String,
    role: String,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl InviteRow {
    pub(super) fn into_record(self) -> StoreResult<InviteRecord> {
        Ok(InviteRecord {
            id: self.id,
            org: OrgId(self.org),
            email: self.email,
            role: self.role,
            created_at: timestamp(self.created_at)?,
            expires_at: timestamp(self.expires_at)?,
            accepted_at: self.accepted_at.map(timestamp).transpose()?,
            revoked_at: self.revoked_at.map(timestamp).transpose()?,
        })
    }
}

/// An `audit_log` row.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: Uuid,
    org: Uuid,
    at: i64,
    actor_kind: String,
    actor_id: String,
    action: String,
    target_kind: String,
    target_id: String,
    client_ip: Option<String>,
    outcome: String,
}

impl AuditRow {
    pub(super) fn into_record(self) -> StoreResult<AuditEntry> {
        let kind =
            serde_json::from_value(serde_json::Value::String(self.actor_kind)).map_err(corrupt)?;
        Ok(AuditEntry {
            id: self.id,
            org: OrgId(self.org),
            at: timestamp(self.at)?,
            actor: Requester { kind, id: self.actor_id },
            action: self.action,
            target_kind: self.target_kind,
            target_id: self.target_id,
            client_ip: self.client_ip,
            outcome: self.outcome,
        })
    }
}

/// The column value of an actor kind (its serde name, `api_key`, `user`, ...).
/// The audit entry of an agent enrolling as `host`.
pub(super) fn enrollment_audit(host: &HostRecord, enrollment: &Enrollment) -> AuditEntry {
    AuditEntry {
        id: enrollment.audit_id,
        org: host.org,
        at: enrollment.now,
        actor: Requester { kind: RequesterKind::Agent, id: host.id.to_string() },
        action: "host.enroll".to_owned(),
        target_kind: "host".to_owned(),
        target_id: host.id.to_string(),
        client_ip: enrollment.client_ip.clone(),
        outcome: "success".to_owned(),
    }
}

pub(super) fn actor_kind(actor: &Requester) -> StoreResult<String> {
    match serde_json::to_value(actor.kind).map_err(corrupt)? {
        serde_json::Value::String(name) => Ok(name),
        other => Err(corrupt(UnexpectedKind(other.to_string()))),
    }
}

/// An actor kind that does not serialise as a string.
#[derive(Debug, thiserror::Error)]
#[error("actor kind serialises as {0}, not a string")]
struct UnexpectedKind(String);

/// An `api_keys` row with the columns of 0002.
#[derive(sqlx::FromRow)]
pub(super) struct ApiKeyRow {
    key_id: String,
    org: Uuid,
    name: String,
    role: String,
    secret_hash: Vec<u8>,
    created_at: i64,
    revoked_at: Option<i64>,
    created_by: Option<Uuid>,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl ApiKeyRow {
    pub(super) fn into_record(self) -> StoreResult<ApiKeyRecord> {
        Ok(ApiKeyRecord {
            key_id: self.key_id,
            org: OrgId(self.org),
            name: self.name,
            role: self.role,
            secret_hash: secret_hash(&self.secret_hash)?,
            created_at: timestamp(self.created_at)?,
            revoked_at: self.revoked_at.map(timestamp).transpose()?,
            created_by: self.created_by.map(UserId),
            expires_at: self.expires_at.map(timestamp).transpose()?,
            last_used_at: self.last_used_at.map(timestamp).transpose()?,
        })
    }
}

/// The `api_keys` columns an [`ApiKeyRow`] reads.
pub(super) const API_KEY_COLUMNS: &str = "key_id, org, name, role, secret_hash, created_at, \
     revoked_at, created_by, expires_at, last_used_at";

/// Implements [`AccessStore`] for a backend: `$store` with its `$reader` pool for plain reads,
/// its `$writer` pool for single writes, and an inherent `write()` that begins a write
/// transaction.
macro_rules! access_store {
    ($store:ty, $db:ty, reader = $reader:ident, writer = $writer:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::access::AccessStore for $store {
            async fn create_user(
                &self,
                user: &$crate::store::access::NewUser,
            ) -> $crate::store::StoreResult<$crate::store::access::UserRecord> {
                let row: $crate::store::access::UserRow = sqlx::query_as(
                    "INSERT INTO users (id, email, email_key, display_name, password_hash, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     RETURNING id, email, display_name, password_hash, created_at",
                )
                .bind(user.id.0)
                .bind(&user.email)
                .bind($crate::store::access::email_key(&user.email))
                .bind(&user.display_name)
                .bind(&user.password_hash)
                .bind(user.now.as_millisecond())
                .fetch_one(&self.$writer)
                .await
                .map_err($crate::store::convert::db_conflict(
                    "user",
                    "a user with this email already exists".to_owned(),
                ))?;
                row.into_record()
            }

            async fn user_by_email(
                &self,
                email: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::access::UserRecord>> {
                let row: Option<$crate::store::access::UserRow> = sqlx::query_as(
                    "SELECT id, email, display_name, password_hash, created_at FROM users \
                     WHERE email_key = $1 AND deleted_at IS NULL",
                )
                .bind($crate::store::access::email_key(email))
                .fetch_optional(&self.$reader)
                .await
                .map_err($crate::store::convert::db("user"))?;
                row.map($crate::store::access::UserRow::into_record).transpose()
            }

            async fn get_user(
                &self,
                id: $crate::store::access::UserId,
            ) -> $crate::store::StoreResult<$crate::store::access::UserRecord> {
                let row: $crate::store::access::UserRow = sqlx::query_as(
                    "SELECT id, email, display_name, password_hash, created_at FROM users \
                     WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(id.0)
                .fetch_one(&self.$reader)
                .await
                .map_err($crate::store::convert::db("user"))?;
                row.into_record()
            }

            async fn delete_user(
                &self,
                id: $crate::store::access::UserId,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let deleted = sqlx::query(
                    "UPDATE users SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
                )
                .bind(now.as_millisecond())
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db("user"))?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "user" });
                }
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(now.as_millisecond())
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db("session"))?;
                sqlx::query("DELETE FROM memberships WHERE user_id = $1")
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("member"))?;
                tx.commit().await.map_err(db("user"))
            }

            async fn create_session(
                &self,
                session: &$crate::store::access::NewSession,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(session.id.0)
                .bind(session.user.0)
                .bind(session.now.as_millisecond())
                .bind(session.expires_at.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(|error| {
                    if $crate::store::convert::is_foreign_key_violation(&error) {
                        $crate::store::StoreError::NotFound { what: "user" }
                    } else {
                        db("session")(error)
                    }
                })?;
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session, created_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(session.refresh_hash.0.as_slice())
                .bind(session.id.0)
                .bind(session.now.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(db("refresh token"))?;
                tx.commit().await.map_err(db("session"))
            }

            async fn rotate_refresh_token(
                &self,
                old_hash: $crate::store::SecretHash,
                new_hash: $crate::store::SecretHash,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<$crate::store::access::RefreshOutcome> {
                use $crate::store::access::{RefreshOutcome, SessionId, UserId};
                let db = $crate::store::convert::db;
                let now_ms = now.as_millisecond();
                let mut tx = self.write().await?;
                // Compare-and-set: of two requests with one token, exactly one finds it unused.
                let rotated: Option<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET used_at = $1 \
                     WHERE token_hash = $2 AND used_at IS NULL \
                     AND session IN (SELECT s.id FROM sessions AS s JOIN users AS u \
                                     ON u.id = s.user_id AND u.deleted_at IS NULL \
                                     WHERE s.revoked_at IS NULL AND s.expires_at > $1) \
                     RETURNING session, (SELECT user_id FROM sessions WHERE id = session)",
                )
                .bind(now_ms)
                .bind(old_hash.0.as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("refresh token"))?;
                if let Some((session, user)) = rotated {
                    sqlx::query(
                        "INSERT INTO refresh_tokens (token_hash, session, created_at) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(new_hash.0.as_slice())
                    .bind(session)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("refresh token"))?;
                    tx.commit().await.map_err(db("refresh token"))?;
                    return Ok(RefreshOutcome::Rotated {
                        session: SessionId(session),
                        user: UserId(user),
                    });
                }
                let used: Option<uuid::Uuid> = sqlx::query_scalar(
                    "SELECT session FROM refresh_tokens WHERE token_hash = $1 \
                     AND used_at IS NOT NULL",
                )
                .bind(old_hash.0.as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("refresh token"))?;
                let Some(session) = used else {
                    return Ok(RefreshOutcome::Invalid);
                };
                // A used token presented again: whoever holds the current one may be a thief,
                // so the whole family dies.
                let revoked = sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now_ms)
                .bind(session)
                .execute(&mut *tx)
                .await
                .map_err(db("session"))?;
                tx.commit().await.map_err(db("session"))?;
                Ok(if revoked.rows_affected() == 0 {
                    RefreshOutcome::Invalid
                } else {
                    RefreshOutcome::Reused
                })
            }

            async fn revoke_session(
                &self,
                id: $crate::store::access::SessionId,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now.as_millisecond())
                .bind(id.0)
                .execute(&self.$writer)
                .await
                .map_err($crate::store::convert::db("session"))?;
                Ok(())
            }

            async fn session_user(
                &self,
                id: $crate::store::access::SessionId,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<Option<$crate::store::access::UserRecord>> {
                let row: Option<$crate::store::access::UserRow> = sqlx::query_as(
                    "SELECT u.id, u.email, u.display_name, u.password_hash, u.created_at \
                     FROM sessions AS s JOIN users AS u ON u.id = s.user_id \
                     WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
                     AND u.deleted_at IS NULL",
                )
                .bind(id.0)
                .bind(now.as_millisecond())
                .fetch_optional(&self.$reader)
                .await
                .map_err($crate::store::convert::db("session"))?;
                row.map($crate::store::access::UserRow::into_record).transpose()
            }

            async fn session_role(
                &self,
                id: $crate::store::access::SessionId,
                org: $crate::store::OrgId,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<$crate::store::access::SessionRole> {
                use $crate::store::access::SessionRole;
                let row: Option<(uuid::Uuid, Option<String>)> = sqlx::query_as(
                    "SELECT u.id, m.role FROM sessions AS s \
                     JOIN users AS u ON u.id = s.user_id AND u.deleted_at IS NULL \
                     LEFT JOIN memberships AS m ON m.user_id = u.id AND m.org = $2 \
                     AND m.org IN (SELECT id FROM orgs WHERE deleted_at IS NULL) \
                     WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $3",
                )
                .bind(id.0)
                .bind(org.0)
                .bind(now.as_millisecond())
                .fetch_optional(&self.$reader)
                .await
                .map_err($crate::store::convert::db("session"))?;
                Ok(match row {
                    None => SessionRole::Dead,
                    Some((_, None)) => SessionRole::NotMember,
                    Some((_, Some(role))) => SessionRole::Member(role),
                })
            }

            async fn create_org_with_owner(
                &self,
                id: $crate::store::OrgId,
                name: &str,
                owner: $crate::store::access::UserId,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<$crate::store::Org> {
                let db = $crate::store::convert::db;
                let now = audit.at;
                let mut tx = self.write().await?;
                let row: $crate::store::convert::OrgRow = sqlx::query_as(
                    "INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) \
                     RETURNING id, name, created_at",
                )
                .bind(id.0)
                .bind(name)
                .bind(now.as_millisecond())
                .fetch_one(&mut *tx)
                .await
                .map_err(db("org"))?;
                sqlx::query(
                    "INSERT INTO memberships (org, user_id, role, created_at) \
                     VALUES ($1, $2, 'owner', $3)",
                )
                .bind(id.0)
                .bind(owner.0)
                .bind(now.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(|error| {
                    if $crate::store::convert::is_foreign_key_violation(&error) {
                        $crate::store::StoreError::NotFound { what: "user" }
                    } else {
                        db("member")(error)
                    }
                })?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("org"))?;
                row.into_record()
            }

            async fn add_member(
                &self,
                org: $crate::store::OrgId,
                user: $crate::store::access::UserId,
                role: &str,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO memberships (org, user_id, role, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(org.0)
                .bind(user.0)
                .bind(role)
                .bind(now.as_millisecond())
                .execute(&self.$writer)
                .await
                .map_err(|error| {
                    if $crate::store::convert::is_foreign_key_violation(&error) {
                        $crate::store::StoreError::NotFound { what: "user" }
                    } else {
                        $crate::store::convert::db_conflict(
                            "member",
                            "the user is already a member".to_owned(),
                        )(error)
                    }
                })?;
                Ok(())
            }

            async fn memberships(
                &self,
                user: $crate::store::access::UserId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::access::Membership>> {
                let rows: Vec<$crate::store::access::MembershipRow> = sqlx::query_as(
                    "SELECT o.id, o.name, o.created_at, m.role FROM memberships AS m \
                     JOIN orgs AS o ON o.id = m.org WHERE m.user_id = $1 AND o.deleted_at IS NULL \
                     ORDER BY o.name, o.id",
                )
                .bind(user.0)
                .fetch_all(&self.$reader)
                .await
                .map_err($crate::store::convert::db("member"))?;
                $crate::store::convert::records(
                    rows,
                    $crate::store::access::MembershipRow::into_record,
                )
            }

            async fn memberships_page(
                &self,
                user: $crate::store::access::UserId,
                after: Option<$crate::store::OrgId>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::access::Membership>> {
                let rows: Vec<$crate::store::access::MembershipRow> = sqlx::query_as(
                    "SELECT o.id, o.name, o.created_at, m.role FROM memberships AS m \
                     JOIN orgs AS o ON o.id = m.org WHERE m.user_id = $1 AND o.deleted_at IS NULL \
                     AND ($2 IS NULL OR (o.name, o.id) > (SELECT name, id FROM orgs WHERE id = $2)) \
                     ORDER BY o.name, o.id LIMIT $3",
                )
                .bind(user.0)
                .bind(after.map(|org| org.0))
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await
                .map_err($crate::store::convert::db("member"))?;
                $crate::store::convert::records(
                    rows,
                    $crate::store::access::MembershipRow::into_record,
                )
            }

            async fn rename_org(
                &self,
                org: $crate::store::OrgId,
                name: &str,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<$crate::store::Org> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let row: $crate::store::convert::OrgRow = sqlx::query_as(
                    "UPDATE orgs SET name = $1 WHERE id = $2 RETURNING id, name, created_at",
                )
                .bind(name)
                .bind(org.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(db("org"))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("org"))?;
                row.into_record()
            }

            async fn delete_org(
                &self,
                org: $crate::store::OrgId,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<Vec<gsm_core::job::HostId>> {
                let db = $crate::store::convert::db;
                let now = audit.at.as_millisecond();
                let mut tx = self.write().await?;
                let deleted = sqlx::query(
                    "UPDATE orgs SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
                )
                .bind(now)
                .bind(org.0)
                .execute(&mut *tx)
                .await
                .map_err(db("org"))?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "org" });
                }
                let hosts: Vec<uuid::Uuid> = sqlx::query_scalar(
                    "UPDATE hosts SET deleted_at = $1, credential_hash = NULL \
                     WHERE org = $2 AND deleted_at IS NULL RETURNING id",
                )
                .bind(now)
                .bind(org.0)
                .fetch_all(&mut *tx)
                .await
                .map_err(db("host"))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("org"))?;
                Ok(hosts.into_iter().map(gsm_core::job::HostId).collect())
            }

            async fn list_members(
                &self,
                org: $crate::store::OrgId,
                after: Option<$crate::store::access::UserId>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::access::MemberRecord>> {
                let rows: Vec<$crate::store::access::MemberRow> = sqlx::query_as(
                    "SELECT m.user_id, u.email, u.display_name, m.role, m.created_at \
                     FROM memberships AS m JOIN users AS u ON u.id = m.user_id \
                     WHERE m.org = $1 AND ($2 IS NULL OR (u.email_key, m.user_id) > \
                     (SELECT email_key, id FROM users WHERE id = $2)) \
                     ORDER BY u.email_key, m.user_id LIMIT $3",
                )
                .bind(org.0)
                .bind(after.map(|user| user.0))
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await
                .map_err($crate::store::convert::db("member"))?;
                $crate::store::convert::records(rows, $crate::store::access::MemberRow::into_record)
            }

            async fn member_role(
                &self,
                org: $crate::store::OrgId,
                user: $crate::store::access::UserId,
            ) -> $crate::store::StoreResult<Option<String>> {
                sqlx::query_scalar("SELECT role FROM memberships WHERE org = $1 AND user_id = $2")
                    .bind(org.0)
                    .bind(user.0)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("member"))
            }

            async fn set_member_role(
                &self,
                org: $crate::store::OrgId,
                user: $crate::store::access::UserId,
                role: &str,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                Self::lock_org(&mut tx, org).await?;
                let current: Option<String> = sqlx::query_scalar(
                    "SELECT role FROM memberships WHERE org = $1 AND user_id = $2",
                )
                .bind(org.0)
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("member"))?;
                let Some(current) = current else {
                    return Err($crate::store::StoreError::NotFound { what: "member" });
                };
                if current == "owner" && role != "owner" {
                    Self::require_another_owner(&mut tx, org).await?;
                }
                sqlx::query("UPDATE memberships SET role = $1 WHERE org = $2 AND user_id = $3")
                    .bind(role)
                    .bind(org.0)
                    .bind(user.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("member"))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("member"))
            }

            async fn remove_member(
                &self,
                org: $crate::store::OrgId,
                user: $crate::store::access::UserId,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                Self::lock_org(&mut tx, org).await?;
                let current: Option<String> = sqlx::query_scalar(
                    "SELECT role FROM memberships WHERE org = $1 AND user_id = $2",
                )
                .bind(org.0)
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("member"))?;
                let Some(current) = current else {
                    return Err($crate::store::StoreError::NotFound { what: "member" });
                };
                if current == "owner" {
                    Self::require_another_owner(&mut tx, org).await?;
                }
                sqlx::query("DELETE FROM memberships WHERE org = $1 AND user_id = $2")
                    .bind(org.0)
                    .bind(user.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("member"))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("member"))
            }

            async fn create_api_key_audited(
                &self,
                key: &$crate::store::ApiKeyRecord,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.write().await?;
                Self::insert_api_key(&mut tx, key).await?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err($crate::store::convert::db("api key"))
            }

            async fn list_api_keys(
                &self,
                org: $crate::store::OrgId,
                after: Option<&str>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::ApiKeyRecord>> {
                let sql = format!(
                    "SELECT {} FROM api_keys WHERE org = $1 AND ($2 IS NULL OR \
                     (created_at, key_id) < (SELECT created_at, key_id FROM api_keys \
                     WHERE org = $1 AND key_id = $2)) \
                     ORDER BY created_at DESC, key_id DESC LIMIT $3",
                    $crate::store::access::API_KEY_COLUMNS
                );
                let rows: Vec<$crate::store::access::ApiKeyRow> = sqlx::query_as(&sql)
                    .bind(org.0)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("api key"))?;
                $crate::store::convert::records(rows, $crate::store::access::ApiKeyRow::into_record)
            }

            async fn revoke_api_key(
                &self,
                org: $crate::store::OrgId,
                key_id: &str,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let found: Option<Option<i64>> = sqlx::query_scalar(
                    "SELECT revoked_at FROM api_keys WHERE org = $1 AND key_id = $2",
                )
                .bind(org.0)
                .bind(key_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("api key"))?;
                if found.is_none() {
                    return Err($crate::store::StoreError::NotFound { what: "api key" });
                }
                sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 \
                     WHERE org = $2 AND key_id = $3 AND revoked_at IS NULL",
                )
                .bind(audit.at.as_millisecond())
                .bind(org.0)
                .bind(key_id)
                .execute(&mut *tx)
                .await
                .map_err(db("api key"))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("api key"))
            }

            async fn touch_api_key(
                &self,
                key_id: &str,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1 WHERE key_id = $2 \
                     AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(now.as_millisecond())
                .bind(key_id)
                .execute(&self.$writer)
                .await
                .map_err($crate::store::convert::db("api key"))?;
                Ok(())
            }

            async fn create_invite(
                &self,
                invite: &$crate::store::access::NewInvite,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                sqlx::query(
                    "INSERT INTO invites (id, org, email, role, token_hash, created_by, \
                     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(invite.id)
                .bind(invite.org.0)
                .bind(&invite.email)
                .bind(&invite.role)
                .bind(invite.token_hash.0.as_slice())
                .bind(invite.created_by.map(|user| user.0))
                .bind(invite.now.as_millisecond())
                .bind(invite.expires_at.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(|error| {
                    if $crate::store::convert::is_foreign_key_violation(&error) {
                        $crate::store::StoreError::NotFound { what: "org" }
                    } else {
                        db("invite")(error)
                    }
                })?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("invite"))
            }

            async fn list_invites(
                &self,
                org: $crate::store::OrgId,
                after: Option<uuid::Uuid>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::access::InviteRecord>> {
                let rows: Vec<$crate::store::access::InviteRow> = sqlx::query_as(
                    "SELECT id, org, email, role, created_at, expires_at, accepted_at, \
                     revoked_at FROM invites WHERE org = $1 AND ($2 IS NULL OR \
                     (created_at, id) < (SELECT created_at, id FROM invites \
                     WHERE org = $1 AND id = $2)) ORDER BY created_at DESC, id DESC LIMIT $3",
                )
                .bind(org.0)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await
                .map_err($crate::store::convert::db("invite"))?;
                $crate::store::convert::records(rows, $crate::store::access::InviteRow::into_record)
            }

            async fn revoke_invite(
                &self,
                org: $crate::store::OrgId,
                id: uuid::Uuid,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let revoked = sqlx::query(
                    "UPDATE invites SET revoked_at = $1 WHERE org = $2 AND id = $3 \
                     AND revoked_at IS NULL AND accepted_at IS NULL",
                )
                .bind(audit.at.as_millisecond())
                .bind(org.0)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("invite"))?;
                if revoked.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "invite" });
                }
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("invite"))
            }

            async fn accept_invite(
                &self,
                token_hash: $crate::store::SecretHash,
                user: $crate::store::access::UserId,
                now: jiff::Timestamp,
            ) -> $crate::store::StoreResult<$crate::store::access::InviteRecord> {
                let db = $crate::store::convert::db;
                let now_ms = now.as_millisecond();
                let mut tx = self.write().await?;
                let row: Option<$crate::store::access::InviteRow> = sqlx::query_as(
                    "UPDATE invites SET accepted_at = $1, accepted_by = $2 \
                     WHERE token_hash = $3 AND accepted_at IS NULL AND revoked_at IS NULL \
                     AND expires_at > $1 RETURNING id, org, email, role, created_at, \
                     expires_at, accepted_at, revoked_at",
                )
                .bind(now_ms)
                .bind(user.0)
                .bind(token_hash.0.as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("invite"))?;
                let Some(row) = row else {
                    return Err($crate::store::StoreError::NotFound { what: "invite" });
                };
                let invite = row.into_record()?;
                sqlx::query(
                    "INSERT INTO memberships (org, user_id, role, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(invite.org.0)
                .bind(user.0)
                .bind(&invite.role)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::convert::db_conflict(
                    "member",
                    "the user is already a member of this org".to_owned(),
                ))?;
                let audit = $crate::store::access::AuditEntry {
                    id: uuid::Uuid::now_v7(),
                    org: invite.org,
                    at: now,
                    actor: gsm_core::job::Requester {
                        kind: gsm_core::job::RequesterKind::User,
                        id: user.to_string(),
                    },
                    action: "invite.accept".to_owned(),
                    target_kind: "invite".to_owned(),
                    target_id: invite.id.to_string(),
                    client_ip: None,
                    outcome: "success".to_owned(),
                };
                Self::insert_audit(&mut tx, &audit).await?;
                tx.commit().await.map_err(db("invite"))?;
                Ok(invite)
            }

            async fn record_audit(
                &self,
                entry: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.write().await?;
                Self::insert_audit(&mut tx, entry).await?;
                tx.commit().await.map_err($crate::store::convert::db("audit entry"))
            }

            async fn list_audit(
                &self,
                org: $crate::store::OrgId,
                filter: &$crate::store::access::AuditFilter,
            ) -> $crate::store::StoreResult<Vec<$crate::store::access::AuditEntry>> {
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, org, at, actor_kind, actor_id, action, target_kind, target_id, \
                     client_ip, outcome FROM audit_log WHERE org = ",
                );
                query.push_bind(org.0);
                if let Some(actor) = &filter.actor {
                    query.push(" AND actor_id = ").push_bind(actor.clone());
                }
                if let Some(action) = &filter.action {
                    query.push(" AND action = ").push_bind(action.clone());
                }
                if let Some(kind) = &filter.target_kind {
                    query.push(" AND target_kind = ").push_bind(kind.clone());
                }
                if let Some(id) = &filter.target_id {
                    query.push(" AND target_id = ").push_bind(id.clone());
                }
                if let Some(since) = filter.since {
                    query.push(" AND at >= ").push_bind(since.as_millisecond());
                }
                if let Some(until) = filter.until {
                    query.push(" AND at < ").push_bind(until.as_millisecond());
                }
                if let Some(before) = filter.before {
                    query.push(" AND id < ").push_bind(before);
                }
                query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit));
                let rows: Vec<$crate::store::access::AuditRow> = query
                    .build_query_as()
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("audit entry"))?;
                $crate::store::convert::records(rows, $crate::store::access::AuditRow::into_record)
            }
        }

        impl $store {
            /// Writes an audit entry inside the caller's transaction.
            async fn insert_audit(
                conn: &mut <$db as sqlx::Database>::Connection,
                entry: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO audit_log (id, org, at, actor_kind, actor_id, action, \
                     target_kind, target_id, client_ip, outcome) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(entry.id)
                .bind(entry.org.0)
                .bind(entry.at.as_millisecond())
                .bind($crate::store::access::actor_kind(&entry.actor)?)
                .bind(&entry.actor.id)
                .bind(&entry.action)
                .bind(&entry.target_kind)
                .bind(&entry.target_id)
                .bind(&entry.client_ip)
                .bind(&entry.outcome)
                .execute(&mut *conn)
                .await
                .map_err(|error| {
                    if $crate::store::convert::is_foreign_key_violation(&error) {
                        $crate::store::StoreError::NotFound { what: "org" }
                    } else {
                        $crate::store::convert::db("audit entry")(error)
                    }
                })?;
                Ok(())
            }

            /// Inserts an API key inside the caller's transaction.
            async fn insert_api_key(
                tx: &mut sqlx::Transaction<'static, $db>,
                key: &$crate::store::ApiKeyRecord,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO api_keys (key_id, org, name, role, secret_hash, created_at, \
                     revoked_at, created_by, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&key.key_id)
                .bind(key.org.0)
                .bind(&key.name)
                .bind(&key.role)
                .bind(key.secret_hash.0.as_slice())
                .bind(key.created_at.as_millisecond())
                .bind(key.revoked_at.map(|at| at.as_millisecond()))
                .bind(key.created_by.map(|user| user.0))
                .bind(key.expires_at.map(|at| at.as_millisecond()))
                .execute(&mut **tx)
                .await
                .map_err(|error| {
                    if $crate::store::convert::is_foreign_key_violation(&error) {
                        $crate::store::StoreError::NotFound { what: "org" }
                    } else {
                        $crate::store::convert::db_conflict(
                            "api key",
                            format!("API key {} already exists", key.key_id),
                        )(error)
                    }
                })?;
                Ok(())
            }

            /// Touches the org row so concurrent membership changes of one org take turns
            /// (a row lock on PostgreSQL; SQLite's writer is exclusive already).
            async fn lock_org(
                tx: &mut sqlx::Transaction<'static, $db>,
                org: $crate::store::OrgId,
            ) -> $crate::store::StoreResult<()> {
                let locked = sqlx::query("UPDATE orgs SET name = name WHERE id = $1")
                    .bind(org.0)
                    .execute(&mut **tx)
                    .await
                    .map_err($crate::store::convert::db("org"))?;
                if locked.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "org" });
                }
                Ok(())
            }

            /// Refuses unless the org has more than one owner.
            async fn require_another_owner(
                tx: &mut sqlx::Transaction<'static, $db>,
                org: $crate::store::OrgId,
            ) -> $crate::store::StoreResult<()> {
                let owners: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM memberships WHERE org = $1 AND role = 'owner'",
                )
                .bind(org.0)
                .fetch_one(&mut **tx)
                .await
                .map_err($crate::store::convert::db("member"))?;
                if owners <= 1 {
                    return Err($crate::store::access::last_owner());
                }
                Ok(())
            }
        }
    };
}
pub(super) use access_store;
