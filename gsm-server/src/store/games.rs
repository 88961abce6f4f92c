//! A host's game servers, the events its agent parses from their logs, and the players seen,
//! behind the [`GameStore`] half of the store.
//!
//! Like `access.rs`, these tables use SQL both backends read alike (`$N` placeholders,
//! `ON CONFLICT`, `RETURNING`), so the implementation is written once in [`game_store!`] and
//! expanded for each backend. Events are keyed by `(host, id)` with the id chosen by the agent, so
//! a batch re-sent after a lost answer inserts nothing twice, and an agent can never touch
//! another host's rows: the gateway passes the host from its credential. A config change and its
//! audit entry commit together.

use async_trait::async_trait;
use gsm_core::adapters::config::{GameInstance, GameSettings};
use gsm_core::heartbeat::Player;
use gsm_core::job::HostId;
use jiff::Timestamp;
use sqlx::types::Json;
use uuid::Uuid;

use super::access::AuditEntry;
use super::convert::timestamp;
use super::{Created, OrgId, StoreResult};

/// A stored game server of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameRecord {
    /// Its org.
    pub org: OrgId,
    /// Its host.
    pub host: HostId,
    /// Its name, type and settings.
    pub instance: GameInstance,
    /// When it was first configured.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// One event an agent parsed from a game's output.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGameEvent {
    /// Chosen by the agent (v7): a repeat is ignored.
    pub id: Uuid,
    /// The game instance's name on the host.
    pub instance: String,
    /// The game type.
    pub game: String,
    /// The event kind (`player_connected`, `chat`, ...).
    pub kind: String,
    /// The player the event is about, when it names one.
    pub player: Option<EventPlayer>,
    /// When the agent saw it.
    pub at: Timestamp,
    /// The parsed event with its raw line.
    pub data: serde_json::Value,
}

/// The player an event names: an id when the line carries one, always a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPlayer {
    /// The platform id, when known.
    pub id: Option<String>,
    /// The name.
    pub name: String,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct GameEventRecord {
    /// Its id.
    pub id: Uuid,
    /// Its host.
    pub host: HostId,
    /// The event, as the agent sent it.
    pub event: NewGameEvent,
}

/// Filters for listing events; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GameEventFilter {
    /// Only this host's events.
    pub host: Option<HostId>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only events naming this player (by id or name).
    pub player: Option<String>,
    /// Only events at or after.
    pub since: Option<Timestamp>,
    /// Only events before.
    pub until: Option<Timestamp>,
    /// Only events older than this id (cursor; ids are time-ordered).
    pub before: Option<Uuid>,
    /// At most this many (the caller bounds it).
    pub limit: u32,
}

/// A player a host's game has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerSeen {
    /// The game instance.
    pub instance: String,
    /// The player.
    pub player: Player,
    /// Online as of the last event about them.
    pub online: bool,
    /// First event about them.
    pub first_seen_at: Timestamp,
    /// Last event about them.
    pub last_seen_at: Timestamp,
}

/// Whether an event kind puts its player online or offline (`None`: neither).
pub fn presence_of(kind: &str) -> Option<bool> {
    match kind {
        "player_connected" | "player_joined" | "player_spawned" => Some(true),
        "player_disconnected" | "player_left" => Some(false),
        _ => None,
    }
}

/// Game servers, events and players: a supertrait of [`Store`](super::Store), implemented for
/// both backends by [`game_store!`].
#[async_trait]
pub trait GameStore: Send + Sync + 'static {
    /// Creates or replaces a game server of a live host of the org; `audit` commits with it.
    async fn put_game(
        &self,
        org: OrgId,
        host: HostId,
        instance: &GameInstance,
        audit: &AuditEntry,
    ) -> StoreResult<(GameRecord, Created)>;
    /// Finds a game server of a live host of the org.
    async fn get_game(&self, org: OrgId, host: HostId, name: &str) -> StoreResult<GameRecord>;
    /// A live host's game servers, by name; an unknown host is `NotFound { what: "host" }`.
    async fn list_games(&self, org: OrgId, host: HostId) -> StoreResult<Vec<GameRecord>>;
    /// Removes a game server; `audit` commits with it.
    async fn delete_game(
        &self,
        org: OrgId,
        host: HostId,
        name: &str,
        audit: &AuditEntry,
    ) -> StoreResult<()>;
    /// A host's game servers for its agent (the gateway knows the host from the credential).
    async fn games_for_host(&self, host: HostId) -> StoreResult<Vec<GameInstance>>;
    /// Stores events of a live host (a repeated id is ignored) and updates the players they name;
    /// returns how many were new.
    async fn record_game_events(&self, host: HostId, events: &[NewGameEvent]) -> StoreResult<u64>;
    /// The org's events, newest first.
    async fn list_game_events(
        &self,
        org: OrgId,
        filter: &GameEventFilter,
    ) -> StoreResult<Vec<GameEventRecord>>;
    /// The players a host's games have seen, online first, then by last seen (newest first); at
    /// most `limit`.
    async fn host_players(
        &self,
        org: OrgId,
        host: HostId,
        limit: u32,
    ) -> StoreResult<Vec<PlayerSeen>>;
}

/// A `games` row.
#[derive(sqlx::FromRow)]
pub(super) struct GameRow {
    org: Uuid,
    host: Uuid,
    name: String,
    game: String,
    settings: Json<GameSettings>,
    created_at: i64,
    updated_at: i64,
}

impl GameRow {
    pub(super) fn into_record(self) -> StoreResult<GameRecord> {
        Ok(GameRecord {
            org: OrgId(self.org),
            host: HostId(self.host),
            instance: GameInstance { name: self.name, game: self.game, settings: self.settings.0 },
            created_at: timestamp(self.created_at)?,
            updated_at: timestamp(self.updated_at)?,
        })
    }
}

/// A `game_events` row.
#[derive(sqlx::FromRow)]
pub(super) struct GameEventRow {
    id: Uuid,
    host: Uuid,
    instance: String,
    game: String,
    kind: String,
    player_id: Option<String>,
    player_name: Option<String>,
    at: i64,
    data: Json<serde_json::Value>,
}

impl GameEventRow {
    pub(super) fn into_record(self) -> StoreResult<GameEventRecord> {
        let player = self.player_name.map(|name| EventPlayer { id: self.player_id, name });
        Ok(GameEventRecord {
            id: self.id,
            host: HostId(self.host),
            event: NewGameEvent {
                id: self.id,
                instance: self.instance,
                game: self.game,
                kind: self.kind,
                player,
                at: timestamp(self.at)?,
                data: self.data.0,
            },
        })
    }
}

/// A `game_players` row.
#[derive(sqlx::FromRow)]
pub(super) struct PlayerRow {
    instance: String,
    player_id: String,
    name: String,
    online: bool,
    first_seen_at: i64,
    last_seen_at: i64,
}

impl PlayerRow {
    pub(super) fn into_record(self) -> StoreResult<PlayerSeen> {
        Ok(PlayerSeen {
            instance: self.instance,
            player: Player { id: self.player_id, name: self.name },
            online: self.online,
            first_seen_at: timestamp(self.first_seen_at)?,
            last_seen_at: timestamp(self.last_seen_at)?,
        })
    }
}

/// The `games` columns a [`GameRow`] reads, as a literal for `concat!`, so every query stays a
/// `&'static str` the statement cache keys on.
macro_rules! game_columns {
    () => {
        "org, host, name, game, settings, created_at, updated_at"
    };
}
pub(crate) use game_columns;

/// Implements [`GameStore`] for a backend (see `access_store!` for the parameters).
macro_rules! game_store {
    ($store:ty, $db:ty, reader = $reader:ident, writer = $writer:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::games::GameStore for $store {
            async fn put_game(
                &self,
                org: $crate::store::OrgId,
                host: gsm_core::job::HostId,
                instance: &gsm_core::adapters::config::GameInstance,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<(
                $crate::store::games::GameRecord,
                $crate::store::Created,
            )> {
                let db = $crate::store::convert::db;
                let now = audit.at.as_millisecond();
                let mut tx = self.write().await?;
                Self::require_live_host(&mut tx, org, host).await?;
                let existing: Option<i64> =
                    sqlx::query_scalar("SELECT created_at FROM games WHERE host = $1 AND name = $2")
                        .bind(host.0)
                        .bind(&instance.name)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db("game"))?;
                let sql = concat!(
                    "INSERT INTO games (",
                    $crate::store::games::game_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $6) \
                     ON CONFLICT (host, name) DO UPDATE SET game = excluded.game, \
                     settings = excluded.settings, updated_at = excluded.updated_at \
                     RETURNING ",
                    $crate::store::games::game_columns!(),
                );
                let row: $crate::store::games::GameRow = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(host.0)
                    .bind(&instance.name)
                    .bind(&instance.game)
                    .bind(sqlx::types::Json(&instance.settings))
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db("game"))?;
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("game"))?;
                let created = match existing {
                    Some(_) => $crate::store::Created::Existing,
                    None => $crate::store::Created::New,
                };
                Ok((row.into_record()?, created))
            }

            async fn get_game(
                &self,
                org: $crate::store::OrgId,
                host: gsm_core::job::HostId,
                name: &str,
            ) -> $crate::store::StoreResult<$crate::store::games::GameRecord> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::games::game_columns!(),
                    " FROM games WHERE org = $1 AND host = $2 AND name = $3 \
                     AND host IN (SELECT id FROM hosts WHERE org = $1 AND deleted_at IS NULL)",
                );
                let row: $crate::store::games::GameRow = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(host.0)
                    .bind(name)
                    .fetch_one(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("game"))?;
                row.into_record()
            }

            async fn list_games(
                &self,
                org: $crate::store::OrgId,
                host: gsm_core::job::HostId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::games::GameRecord>> {
                let db = $crate::store::convert::db;
                let live: Option<i64> = sqlx::query_scalar(
                    "SELECT created_at FROM hosts WHERE org = $1 AND id = $2 \
                     AND deleted_at IS NULL",
                )
                .bind(org.0)
                .bind(host.0)
                .fetch_optional(&self.$reader)
                .await
                .map_err(db("host"))?;
                if live.is_none() {
                    return Err($crate::store::StoreError::NotFound { what: "host" });
                }
                let sql = concat!(
                    "SELECT ",
                    $crate::store::games::game_columns!(),
                    " FROM games WHERE org = $1 AND host = $2 ORDER BY name",
                );
                let rows: Vec<$crate::store::games::GameRow> = sqlx::query_as(sql)
                    .bind(org.0)
                    .bind(host.0)
                    .fetch_all(&self.$reader)
                    .await
                    .map_err(db("game"))?;
                $crate::store::convert::records(rows, $crate::store::games::GameRow::into_record)
            }

            async fn delete_game(
                &self,
                org: $crate::store::OrgId,
                host: gsm_core::job::HostId,
                name: &str,
                audit: &$crate::store::access::AuditEntry,
            ) -> $crate::store::StoreResult<()> {
                let db = $crate::store::convert::db;
                let mut tx = self.write().await?;
                Self::require_live_host(&mut tx, org, host).await?;
                let deleted =
                    sqlx::query("DELETE FROM games WHERE org = $1 AND host = $2 AND name = $3")
                        .bind(org.0)
                        .bind(host.0)
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("game"))?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound { what: "game" });
                }
                Self::insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(db("game"))
            }

            async fn games_for_host(
                &self,
                host: gsm_core::job::HostId,
            ) -> $crate::store::StoreResult<Vec<gsm_core::adapters::config::GameInstance>> {
                let sql = concat!(
                    "SELECT ",
                    $crate::store::games::game_columns!(),
                    " FROM games WHERE host = $1 ORDER BY name",
                );
                let rows: Vec<$crate::store::games::GameRow> = sqlx::query_as(sql)
                    .bind(host.0)
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("game"))?;
                let records = $crate::store::convert::records(
                    rows,
                    $crate::store::games::GameRow::into_record,
                )?;
                Ok(records.into_iter().map(|record| record.instance).collect())
            }

            async fn record_game_events(
                &self,
                host: gsm_core::job::HostId,
                events: &[$crate::store::games::NewGameEvent],
            ) -> $crate::store::StoreResult<u64> {
                let db = $crate::store::convert::db;
                if events.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.write().await?;
                let org: Option<uuid::Uuid> = sqlx::query_scalar(
                    "SELECT org FROM hosts WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(host.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("host"))?;
                let Some(org) = org else {
                    return Err($crate::store::StoreError::NotFound { what: "host" });
                };
                let mut inserted = 0;
                for event in events {
                    let at = event.at.as_millisecond();
                    let done = sqlx::query(
                        "INSERT INTO game_events (id, org, host, instance, game, kind, \
                         player_id, player_name, at, data) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         ON CONFLICT (host, id) DO NOTHING",
                    )
                    .bind(event.id)
                    .bind(org)
                    .bind(host.0)
                    .bind(&event.instance)
                    .bind(&event.game)
                    .bind(&event.kind)
                    .bind(event.player.as_ref().and_then(|p| p.id.clone()))
                    .bind(event.player.as_ref().map(|p| p.name.clone()))
                    .bind(at)
                    .bind(sqlx::types::Json(&event.data))
                    .execute(&mut *tx)
                    .await
                    .map_err(db("game event"))?;
                    if done.rows_affected() == 0 {
                        continue;
                    }
                    inserted += 1;
                    let Some(player) = &event.player else { continue };
                    let online = $crate::store::games::presence_of(&event.kind);
                    match (&player.id, online) {
                        (Some(id), Some(online)) => {
                            sqlx::query(
                                "INSERT INTO game_players (org, host, instance, player_id, name, \
                                 online, first_seen_at, last_seen_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                                 ON CONFLICT (host, instance, player_id) DO UPDATE SET \
                                 name = excluded.name, online = excluded.online, \
                                 last_seen_at = excluded.last_seen_at \
                                 WHERE game_players.last_seen_at <= excluded.last_seen_at",
                            )
                            .bind(org)
                            .bind(host.0)
                            .bind(&event.instance)
                            .bind(id)
                            .bind(&player.name)
                            .bind(online)
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                            .map_err(db("player"))?;
                        }
                        // A line that names the player only: mark the player by that name.
                        (_, online) => {
                            let mut query = sqlx::QueryBuilder::<$db>::new(
                                "UPDATE game_players SET last_seen_at = ",
                            );
                            query.push_bind(at);
                            if let Some(online) = online {
                                query.push(", online = ").push_bind(online);
                            }
                            query.push(" WHERE host = ").push_bind(host.0);
                            query.push(" AND instance = ").push_bind(event.instance.clone());
                            query.push(" AND name = ").push_bind(player.name.clone());
                            query.push(" AND last_seen_at <= ").push_bind(at);
                            query.build().execute(&mut *tx).await.map_err(db("player"))?;
                        }
                    }
                }
                tx.commit().await.map_err(db("game event"))?;
                Ok(inserted)
            }

            async fn list_game_events(
                &self,
                org: $crate::store::OrgId,
                filter: &$crate::store::games::GameEventFilter,
            ) -> $crate::store::StoreResult<Vec<$crate::store::games::GameEventRecord>> {
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, host, instance, game, kind, player_id, player_name, at, data \
                     FROM game_events WHERE org = ",
                );
                query.push_bind(org.0);
                if let Some(host) = filter.host {
                    query.push(" AND host = ").push_bind(host.0);
                }
                if let Some(kind) = &filter.kind {
                    query.push(" AND kind = ").push_bind(kind.clone());
                }
                if let Some(player) = &filter.player {
                    query.push(" AND (player_id = ").push_bind(player.clone());
                    query.push(" OR player_name = ").push_bind(player.clone()).push(")");
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
                let rows: Vec<$crate::store::games::GameEventRow> = query
                    .build_query_as()
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($crate::store::convert::db("game event"))?;
                $crate::store::convert::records(
                    rows,
                    $crate::store::games::GameEventRow::into_record,
                )
            }

            async fn host_players(
                &self,
                org: $crate::store::OrgId,
                host: gsm_core::job::HostId,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::games::PlayerSeen>> {
                let rows: Vec<$crate::store::games::PlayerRow> = sqlx::query_as(
                    "SELECT instance, player_id, name, online, first_seen_at, last_seen_at \
                     FROM game_players WHERE org = $1 AND host = $2 \
                     ORDER BY online DESC, last_seen_at DESC, player_id LIMIT $3",
                )
                .bind(org.0)
                .bind(host.0)
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await
                .map_err($crate::store::convert::db("player"))?;
                $crate::store::convert::records(rows, $crate::store::games::PlayerRow::into_record)
            }
        }

        impl $store {
            /// Refuses unless `host` is a live host of `org`.
            async fn require_live_host(
                tx: &mut sqlx::Transaction<'static, $db>,
                org: $crate::store::OrgId,
                host: gsm_core::job::HostId,
            ) -> $crate::store::StoreResult<()> {
                let live: Option<i64> = sqlx::query_scalar(
                    "SELECT created_at FROM hosts WHERE org = $1 AND id = $2 \
                     AND deleted_at IS NULL",
                )
                .bind(org.0)
                .bind(host.0)
                .fetch_optional(&mut **tx)
                .await
                .map_err($crate::store::convert::db("host"))?;
                match live {
                    Some(_) => Ok(()),
                    None => Err($crate::store::StoreError::NotFound { what: "host" }),
                }
            }
        }
    };
}
pub(super) use game_store;
