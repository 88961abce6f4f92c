//! The Discord bot's state, behind the [`DiscordStore`] half of the store: which guild an org
//! linked, which Discord users act as which org members, and `/link`'s one-time codes.
//!
//! Like `schedules.rs`, the SQL reads alike on both backends, so it is written once in
//! [`discord_store!`] and expanded for each. A guild belongs to at most one live org and an org
//! to at most one guild (unique keys; a guild left behind by a deleted org is free again). A
//! member link never carries a role: the role is read from the membership on every command, so
//! a demoted or removed member loses the power at once. Link codes are stored as SHA-256 hashes,
//! belong to one org, work once, and die when the org links another guild.

use async_trait::async_trait;
use jiff::Timestamp;
use uuid::Uuid;

use super::access::{AuditEntry, UserId};
use super::convert::timestamp;
use super::schedules::ScheduleRecord;
use super::{HostRecord, OrgId, SecretHash, StoreResult};

/// An org's linked guild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildLink {
    /// The guild's id (a Discord snowflake, in decimal).
    pub guild_id: String,
    /// The org.
    pub org: OrgId,
    /// When it was linked.
    pub linked_at: Timestamp,
}

/// A Discord user linked to an org member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberLink {
    /// The org.
    pub org: OrgId,
    /// The Discord user's id (decimal snowflake).
    pub discord_user: String,
    /// Their Discord name when they asked for the code (for people reading the link).
    pub discord_name: String,
    /// The member.
    pub user: UserId,
    /// When the link was made.
    pub linked_at: Timestamp,
}

/// A one-time link code to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLinkCode {
    /// SHA-256 of the code.
    pub code_hash: SecretHash,
    /// The org of the guild the code was asked for in.
    pub org: OrgId,
    /// Who asked (decimal snowflake).
    pub discord_user: String,
    /// Their Discord name.
    pub discord_name: String,
    /// When.
    pub now: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// The Discord bot's state: a supertrait of [`Store`](super::Store), implemented for both
/// backends by [`discord_store!`].
#[async_trait]
pub trait DiscordStore: Send + Sync + 'static {
    /// Links `guild_id` to the org, replacing the org's earlier guild (whose open link codes
    /// stop working). A guild linked to another live org is `Conflict`. `audit` commits with it.
    async fn link_guild(
        &self,
        org: OrgId,
        guild_id: &str,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<GuildLink>;
    /// The org's linked guild, if any.
    async fn org_guild(&self, org: OrgId) -> StoreResult<Option<GuildLink>>;
    /// Unlinks the org's guild (and drops its open link codes); none linked is `NotFound`.
    async fn unlink_guild(&self, org: OrgId, audit: &AuditEntry) -> StoreResult<()>;
    /// The live org a guild is linked to, if any.
    async fn guild_org(&self, guild_id: &str) -> StoreResult<Option<OrgId>>;

    /// Stores a link code, replacing the user's earlier codes in that org and dropping every
    /// expired code.
    async fn create_link_code(&self, code: &NewLinkCode) -> StoreResult<()>;
    /// Spends a code of the org for `user` (who must be a member): once, before it expires. The
    /// Discord user's earlier link in the org, and the member's earlier Discord account there,
    /// are replaced. An unknown, spent, expired or foreign code is `NotFound { what: "link
    /// code" }`. `audit` commits with the link.
    async fn redeem_link_code(
        &self,
        org: OrgId,
        code_hash: SecretHash,
        user: UserId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<MemberLink>;
    /// The member a Discord user acts as in the org and their role now, if they are linked, the
    /// user is live and still a member.
    async fn discord_member(
        &self,
        org: OrgId,
        discord_user: &str,
    ) -> StoreResult<Option<(MemberLink, String)>>;
    /// The member's Discord link in the org, if any.
    async fn member_link(&self, org: OrgId, user: UserId) -> StoreResult<Option<MemberLink>>;
    /// Removes the member's Discord link; none is `NotFound`. `audit` commits with it.
    async fn unlink_member(&self, org: OrgId, user: UserId, audit: &AuditEntry) -> StoreResult<()>;

    /// A live host of the org by its name.
    async fn host_by_name(&self, org: OrgId, name: &str) -> StoreResult<HostRecord>;
    /// A schedule of the org by its name (`/run` runs its job template).
    async fn schedule_by_name(&self, org: OrgId, name: &str) -> StoreResult<ScheduleRecord>;
}

/// A `discord_guilds` row.
#[derive(sqlx::FromRow)]
pub(super) struct GuildRow {
    guild_id: String,
    org: Uuid,
    linked_at: i64,
}

impl GuildRow {
    pub(super) fn into_record(self) -> StoreResult<GuildLink> {
        Ok(GuildLink {
            guild_id: self.guild_id,
            org: OrgId(self.org),
            linked_at: timestamp(self.linked_at)?,
        })
    }
}

/// A `discord_members` row.
#[derive(sqlx::FromRow)]
pub(super) struct MemberRow {
    org: Uuid,
    discord_user: String,
    discord_name: String,
    user_id: Uuid,
    linked_at: i64,
}

impl MemberRow {
    pub(super) fn into_record(self) -> StoreResult<MemberLink> {
        Ok(MemberLink {
            org: OrgId(self.org),
            discord_user: self.discord_user,
            discord_name: self.discord_name,
            user: UserId(self.user_id),
            linked_at: timestamp(self.linked_at)?,
        })
    }
}

/// Implements [`DiscordStore`] for a backend (see `access_store!` for the parameters).
macro_rules! discord_store {
    ($store:ty, $db:ty, reader = $reader:ident, writer = $writer:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::discord::DiscordStore for $store {
            async fn link_guild(
                &self,
                org: $crate::store::OrgId,
                guild_id: &str,
                now: jiff::Timestamp,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<$crate::store::discord::GuildLink> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                // A deleted org's guild is free again.
                sqlx::query(
                    "DELETE FROM discord_guilds WHERE guild_id = $1 AND org IN \
                     (SELECT id FROM orgs WHERE deleted_at IS NOT NULL)",
                )
                .bind(guild_id)
                .execute(&mut *tx)
                .await
                .map_err(db("discord guild"))?;
                let holder: Option<uuid::Uuid> =
                    sqlx::query_scalar("SELECT org FROM discord_guilds WHERE guild_id = $1")
                        .bind(guild_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db("discord guild"))?;
                let conflict = || $crate::store::StoreError::Conflict {
                    detail: format!("the Discord guild {guild_id} is linked to another org"),
                };
                if holder.is_some_and(|holder| holder != org.0) {
                    return Err(conflict());
                }
                sqlx::query("DELETE FROM discord_guilds WHERE org = $1")
                    .bind(org.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("discord guild"))?;
                sqlx::query("DELETE FROM discord_link_codes WHERE org = $1")
                    .bind(org.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("discord link code"))?;
                let row: $crate::store::discord::GuildRow = sqlx::query_as(
                    "INSERT INTO discord_guilds (guild_id, org, linked_at) VALUES ($1, $2, $3) \
                     RETURNING guild_id, org, linked_at",
                )
                .bind(guild_id)
                .bind(org.0)
                .bind(now.as_millisecond())
                .fetch_one(&mut *tx)
                .await
                .map_err(|error| {
                    if $crate::store::convert::is_foreign_key_violation(&error) {
                        $crate::store::StoreError::NotFound { what: "org" }
                    } else if $crate::store::convert::is_unique_violation(&error) {
                        // Another org linked it between our read and our write.
                        conflict()
                    } else {
                        db("discord guild")(error)
                    }
                })?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("discord guild"))?;
                row.into_record()
            }

            async fn org_guild(
                &self,
                org: $crate::store::OrgId,
            ) -> $crate::store::StoreResult<Option<$crate::store::discord::GuildLink>> {
                let row: Option<$crate::store::discord::GuildRow> = sqlx::query_as(
                    "SELECT guild_id, org, linked_at FROM discord_guilds WHERE org = $1",
                )
                .bind(org.0)
                .fetch_optional(&self.$reader)
                .await
                .map_err($crate::store::convert::db("discord guild"))?;
                row.map($crate::store::discord::GuildRow::into_record).transpose()
            }

            async fn unlink_guild(
                &self,
                org: $crate::store::OrgId,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let deleted = sqlx::query("DELETE FROM discord_guilds WHERE org = $1")
                    .bind(org.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("discord guild"))?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "discord guild" });
                }
                sqlx::query("DELETE FROM discord_link_codes WHERE org = $1")
                    .bind(org.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("discord link code"))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("discord guild"))
            }

            async fn guild_org(
                &self,
                guild_id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::OrgId>> {
                let org: Option<uuid::Uuid> = sqlx::query_scalar(
                    "SELECT g.org FROM discord_guilds g JOIN orgs o ON o.id = g.org \
                     WHERE g.guild_id = $1 AND o.deleted_at IS NULL",
                )
                .bind(guild_id)
                .fetch_optional(&self.$reader)
                .await
                .map_err($crate::store::convert::db("discord guild"))?;
                Ok(org.map($crate::store::OrgId))
            }

            async fn create_link_code(
                &self,
                code: &$crate::store::discord::NewLinkCode,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                sqlx::query(
                    "DELETE FROM discord_link_codes WHERE expires_at <= $1 \
                     OR (org = $2 AND discord_user = $3)",
                )
                .bind(code.now.as_millisecond())
                .bind(code.org.0)
                .bind(&code.discord_user)
                .execute(&mut *tx)
                .await
                .map_err(db("discord link code"))?;
                sqlx::query(
                    "INSERT INTO discord_link_codes (code_hash, org, discord_user, discord_name, \
                     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(code.code_hash.0.as_slice())
                .bind(code.org.0)
                .bind(&code.discord_user)
                .bind(&code.discord_name)
                .bind(code.now.as_millisecond())
                .bind(code.expires_at.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(|error| {
                    if $crate::store::convert::is_foreign_key_violation(&error) {
                        $crate::store::StoreError::NotFound { what: "org" }
                    } else {
                        db("discord link code")(error)
                    }
                })?;
                tx.commit().await.map_err(db("discord link code"))
            }

            async fn redeem_link_code(
                &self,
                org: $crate::store::OrgId,
                code_hash: $crate::store::SecretHash,
                user: $crate::store::access::UserId,
                now: jiff::Timestamp,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<$crate::store::discord::MemberLink> {
                let db = $crate::store::convert::db;
                let not_found = $crate::store::StoreError::NotFound { what: "link code" };
                let mut tx = self.write().await?;
                // Spent whatever happens next: a code is tried once.
                let code: Option<(String, String, i64)> = sqlx::query_as(
                    "DELETE FROM discord_link_codes WHERE code_hash = $1 AND org = $2 \
                     RETURNING discord_user, discord_name, expires_at",
                )
                .bind(code_hash.0.as_slice())
                .bind(org.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("discord link code"))?;
                let Some((discord_user, discord_name, expires_at)) = code else {
                    return Err(not_found);
                };
                if expires_at <= now.as_millisecond() {
                    return Err(not_found);
                }
                let member: Option<String> = sqlx::query_scalar(
                    "SELECT role FROM memberships WHERE org = $1 AND user_id = $2",
                )
                .bind(org.0)
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("member"))?;
                if member.is_none() {
                    return Err($crate::store::StoreError::NotFound { what: "member" });
                }
                sqlx::query(
                    "DELETE FROM discord_members WHERE org = $1 \
                     AND (discord_user = $2 OR user_id = $3)",
                )
                .bind(org.0)
                .bind(&discord_user)
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(db("discord link"))?;
                let row: $crate::store::discord::MemberRow = sqlx::query_as(
                    "INSERT INTO discord_members (org, discord_user, user_id, discord_name, \
                     linked_at) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING org, discord_user, discord_name, user_id, linked_at",
                )
                .bind(org.0)
                .bind(&discord_user)
                .bind(user.0)
                .bind(&discord_name)
                .bind(now.as_millisecond())
                .fetch_one(&mut *tx)
                .await
                .map_err(db("discord link"))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("discord link"))?;
                row.into_record()
            }

            async fn discord_member(
                &self,
                org: $crate::store::OrgId,
                discord_user: &str,
            ) -> $crate::store::StoreResult<Option<($crate::store::discord::MemberLink, String)>>
            {
                #[derive(sqlx::FromRow)]
                struct Linked {
                    #[sqlx(flatten)]
                    link: $crate::store::discord::MemberRow,
                    role: String,
                }
                let row: Option<Linked> = sqlx::query_as(
                    "SELECT d.org, d.discord_user, d.discord_name, d.user_id, d.linked_at, \
                     m.role FROM discord_members d \
                     JOIN memberships m ON m.org = d.org AND m.user_id = d.user_id \
                     JOIN users u ON u.id = d.user_id AND u.deleted_at IS NULL \
                     JOIN orgs o ON o.id = d.org AND o.deleted_at IS NULL \
                     WHERE d.org = $1 AND d.discord_user = $2",
                )
                .bind(org.0)
                .bind(discord_user)
                .fetch_optional(&self.$reader)
                .await
                .map_err($crate::store::convert::db("discord link"))?;
                row.map(|row| Ok((row.link.into_record()?, row.role))).transpose()
            }

            async fn member_link(
                &self,
                org: $crate::store::OrgId,
                user: $crate::store::access::UserId,
            ) -> $crate::store::StoreResult<Option<$crate::store::discord::MemberLink>> {
                let row: Option<$crate::store::discord::MemberRow> = sqlx::query_as(
                    "SELECT org, discord_user, discord_name, user_id, linked_at \
                     FROM discord_members WHERE org = $1 AND user_id = $2",
                )
                .bind(org.0)
                .bind(user.0)
                .fetch_optional(&self.$reader)
                .await
                .map_err($crate::store::convert::db("discord link"))?;
                row.map($crate::store::discord::MemberRow::into_record).transpose()
            }

            async fn unlink_member(
                &self,
                org: $crate::store::OrgId,
                user: $crate::store::access::UserId,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                let deleted =
                    sqlx::query("DELETE FROM discord_members WHERE org = $1 AND user_id = $2")
                        .bind(org.0)
                        .bind(user.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("discord link"))?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "discord link" });
                }
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("discord link"))
            }

            async fn host_by_name(
                &self,
                org: $crate::store::OrgId,
                name: &str,
            ) -> $crate::store::StoreResult<$crate::store::HostRecord> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::convert::host_columns!(),
                    " FROM hosts WHERE org = $1 AND name = $2 AND deleted_at IS NULL",
                );
                let row: $crate::store::convert::HostRow = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(name)
                    .fetch_one(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("host"))?;
                row.into_record()
            }

            async fn schedule_by_name(
                &self,
                org: $crate::store::OrgId,
                name: &str,
            ) -> $crate::store::StoreResult<$crate::store::schedules::ScheduleRecord> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::schedules::schedule_columns!(),
                    " FROM schedules WHERE org = $1 AND name = $2",
                );
                let row: $crate::store::schedules::ScheduleRow = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(name)
                    .fetch_one(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("schedule"))?;
                row.into_record()
            }
        }
    };
}
pub(super) use discord_store;
