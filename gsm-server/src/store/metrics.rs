//! A host's heartbeat metrics history: one row per host and minute, kept seven days, behind the
//! [`MetricsStore`] half of the store.
//!
//! Heartbeats are coalesced in memory and flushed in batches; each stored heartbeat is also folded
//! into its minute's row, in the same transaction that updates the host's latest heartbeat, so the
//! history never holds a heartbeat the host row does not (and a deleted host gains no rows). The
//! fold is an upsert that only adds and takes maxima (load sum and count, highest load, most
//! memory used, most players) or keeps the latest reading (memory and disk sizes), so it is cheap
//! and order-insensitive where it matters. The SQL is one text both backends read alike; the
//! backends differ only in how they bind a batch. Pruning is a bounded `DELETE` by age that a
//! background sweep repeats.

use async_trait::async_trait;
use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::HostId;
use jiff::Timestamp;

use super::convert::{timestamp, unsigned};
use super::{OrgId, StoreResult};

/// How long a minute's metrics are kept.
pub const RETENTION: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

/// A minute's length, in milliseconds.
const MINUTE_MS: i64 = 60_000;

/// What one heartbeat adds to its minute, as the columns hold it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MetricSample {
    /// The minute's start, in milliseconds since the epoch.
    pub(crate) minute: i64,
    /// The 1-minute load average, when the heartbeat had a finite one.
    pub(crate) load: Option<f64>,
    /// Memory in use (total minus available), in bytes.
    pub(crate) memory_used: Option<i64>,
    /// All memory, in bytes.
    pub(crate) memory_total: Option<i64>,
    /// Space in use on the fullest file system (by share used).
    pub(crate) disk_used: Option<i64>,
    /// That file system's size.
    pub(crate) disk_total: Option<i64>,
    /// Players online, summed over the host's game servers.
    pub(crate) players: i64,
}

/// A byte count as the columns hold it (signed 64-bit; no real machine comes near the limit).
fn column(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

impl MetricSample {
    /// The sample a heartbeat that arrived at `at` contributes.
    pub(crate) fn of(at: Timestamp, beat: &Heartbeat) -> Self {
        let millis = at.as_millisecond();
        let minute = millis - millis.rem_euclid(MINUTE_MS);
        let load = beat.load.map(|load| load.one).filter(|one| one.is_finite() && *one >= 0.0);
        let memory = beat.memory.filter(|memory| memory.total_bytes > 0);
        // The fullest file system by share used: the one about to run out, whatever its size.
        let share = |disk: &&gsm_core::heartbeat::Disk| {
            let used = disk.total_bytes.saturating_sub(disk.available_bytes);
            used as f64 / disk.total_bytes as f64
        };
        let fullest = beat
            .disks
            .iter()
            .filter(|disk| disk.total_bytes > 0)
            .max_by(|a, b| share(a).total_cmp(&share(b)));
        let players = beat.games.iter().map(|game| u64::from(game.players_online)).sum::<u64>();
        MetricSample {
            minute,
            load,
            memory_used: memory
                .map(|memory| column(memory.total_bytes.saturating_sub(memory.available_bytes))),
            memory_total: memory.map(|memory| column(memory.total_bytes)),
            disk_used: fullest
                .map(|disk| column(disk.total_bytes.saturating_sub(disk.available_bytes))),
            disk_total: fullest.map(|disk| column(disk.total_bytes)),
            players: column(players),
        }
    }
}

/// The conflict clause every backend's insert into `host_metrics` ends with: it folds a new
/// sample into the minute's row. Maxima skip NULLs (`CASE`, since SQLite's `max` and
/// PostgreSQL's `GREATEST` treat them differently); sizes keep the latest reading.
macro_rules! fold_metric_sample {
    () => {
        " ON CONFLICT (host, minute) DO UPDATE SET \
         samples = host_metrics.samples + excluded.samples, \
         load_sum = host_metrics.load_sum + excluded.load_sum, \
         load_count = host_metrics.load_count + excluded.load_count, \
         load_max = CASE WHEN excluded.load_max IS NULL THEN host_metrics.load_max \
           WHEN host_metrics.load_max IS NULL OR excluded.load_max > host_metrics.load_max \
           THEN excluded.load_max ELSE host_metrics.load_max END, \
         memory_used_max = CASE WHEN excluded.memory_used_max IS NULL \
           THEN host_metrics.memory_used_max \
           WHEN host_metrics.memory_used_max IS NULL \
             OR excluded.memory_used_max > host_metrics.memory_used_max \
           THEN excluded.memory_used_max ELSE host_metrics.memory_used_max END, \
         memory_total = COALESCE(excluded.memory_total, host_metrics.memory_total), \
         disk_used = CASE WHEN excluded.disk_total IS NULL THEN host_metrics.disk_used \
           ELSE excluded.disk_used END, \
         disk_total = COALESCE(excluded.disk_total, host_metrics.disk_total), \
         players_max = CASE WHEN excluded.players_max > host_metrics.players_max \
           THEN excluded.players_max ELSE host_metrics.players_max END"
    };
}
pub(crate) use fold_metric_sample;

/// The columns an insert into `host_metrics` names, in the order the backends bind them.
macro_rules! metric_insert_columns {
    () => {
        "org, host, minute, samples, load_sum, load_count, load_max, memory_used_max, \
         memory_total, disk_used, disk_total, players_max"
    };
}
pub(crate) use metric_insert_columns;

/// One minute of a host's metrics, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// The minute's start.
    pub minute: Timestamp,
    /// How many heartbeats it holds.
    pub samples: u32,
    /// The average 1-minute load over the heartbeats that carried one.
    pub load_avg: Option<f64>,
    /// The highest 1-minute load.
    pub load_max: Option<f64>,
    /// The most memory in use, in bytes.
    pub memory_used: Option<u64>,
    /// All memory, in bytes (the latest reading).
    pub memory_total: Option<u64>,
    /// Space in use on the fullest file system of the latest reading.
    pub disk_used: Option<u64>,
    /// That file system's size.
    pub disk_total: Option<u64>,
    /// The most players online, summed over the host's game servers.
    pub players: u32,
}

/// A `host_metrics` row as [`MetricsStore::host_metrics`] reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct MetricRow {
    minute: i64,
    samples: i64,
    load_sum: f64,
    load_count: i64,
    load_max: Option<f64>,
    memory_used_max: Option<i64>,
    memory_total: Option<i64>,
    disk_used: Option<i64>,
    disk_total: Option<i64>,
    players_max: i64,
}

impl MetricRow {
    pub(crate) fn into_point(self) -> StoreResult<MetricPoint> {
        let count = unsigned(self.load_count)?;
        let optional = |value: Option<i64>| value.map(unsigned).transpose();
        Ok(MetricPoint {
            minute: timestamp(self.minute)?,
            samples: u32::try_from(unsigned(self.samples)?).unwrap_or(u32::MAX),
            load_avg: (count > 0).then(|| self.load_sum / count as f64),
            load_max: self.load_max,
            memory_used: optional(self.memory_used_max)?,
            memory_total: optional(self.memory_total)?,
            disk_used: optional(self.disk_used)?,
            disk_total: optional(self.disk_total)?,
            players: u32::try_from(unsigned(self.players_max)?).unwrap_or(u32::MAX),
        })
    }
}

/// The metrics history. Writing happens in [`super::Store::record_heartbeats`].
#[async_trait]
pub trait MetricsStore {
    /// The org's host's minutes that start in `[since, until)`, oldest first. The caller bounds
    /// the range (at most [`RETENTION`] holds rows, so at most 10,080 points come back).
    async fn host_metrics(
        &self,
        org: OrgId,
        host: HostId,
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<MetricPoint>>;
    /// Deletes at most `limit` minutes that started before `before`; returns how many went.
    async fn prune_host_metrics(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
}

/// Implements [`MetricsStore`] for a backend (see `access_store!` for the parameters).
macro_rules! metrics_store {
    ($store:ty, $db:ty, reader = $reader:ident, writer = $writer:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::metrics::MetricsStore for $store {
            async fn host_metrics(
                &self,
                org: $crate::store::OrgId,
                host: gsm_core::job::HostId,
                since: jiff::Timestamp,
                until: jiff::Timestamp,
            ) -> $crate::store::StoreResult<Vec<$crate::store::metrics::MetricPoint>> {
                let rows: Vec<$crate::store::metrics::MetricRow> = sqlx::query_as(
                    "SELECT minute, samples, load_sum, load_count, load_max, memory_used_max, \
                     memory_total, disk_used, disk_total, players_max FROM host_metrics \
                     WHERE org = $1 AND host = $2 AND minute >= $3 AND minute < $4 \
                     ORDER BY minute",
                )
                .bind(org.0)
                .bind(host.0)
                .bind(since.as_millisecond())
                .bind(until.as_millisecond())
                .fetch_all(&self.$reader)
                .await
                .map_err($crate::store::convert::db("host metrics"))?;
                rows.into_iter().map($crate::store::metrics::MetricRow::into_point).collect()
            }

            async fn prune_host_metrics(
                &self,
                before: jiff::Timestamp,
                limit: u32,
            ) -> $crate::store::StoreResult<u64> {
                let mut tx = self.write().await?;
                let done = sqlx::query(
                    "DELETE FROM host_metrics WHERE (host, minute) IN \
                     (SELECT host, minute FROM host_metrics WHERE minute < $1 LIMIT $2)",
                )
                .bind(before.as_millisecond())
                .bind(i64::from(limit))
                .execute(&mut *tx)
                .await
                .map_err($crate::store::convert::db("host metrics"))?;
                tx.commit().await.map_err($crate::store::convert::db("host metrics"))?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use metrics_store;

#[cfg(test)]
mod tests {
    use gsm_core::heartbeat::{Disk, GameStatus, LoadAvg, Memory};

    use super::*;

    fn beat() -> Heartbeat {
        Heartbeat {
            host: HostId::new(),
            agent_version: "0.1.0".to_owned(),
            seq: 1,
            uptime_secs: 0,
            load: None,
            memory: None,
            disks: Vec::new(),
            running_jobs: Vec::new(),
            games: Vec::new(),
        }
    }

    fn game(players_online: u32) -> GameStatus {
        GameStatus {
            game: "7dtd".to_owned(),
            instance: String::new(),
            up: true,
            version: None,
            players_online,
            max_players: None,
            players: Vec::new(),
            world_time: None,
        }
    }

    fn disk(mount: &str, total_bytes: u64, available_bytes: u64) -> Disk {
        Disk { mount: mount.to_owned(), total_bytes, available_bytes }
    }

    #[test]
    fn a_heartbeat_without_figures_is_a_sample_of_nothing_but_its_minute() {
        let at = Timestamp::from_millisecond(1_700_000_059_999).unwrap();
        let sample = MetricSample::of(at, &beat());
        assert_eq!(
            sample,
            MetricSample {
                minute: 1_700_000_040_000,
                load: None,
                memory_used: None,
                memory_total: None,
                disk_used: None,
                disk_total: None,
                players: 0,
            }
        );
        let before_epoch = Timestamp::from_millisecond(-1).unwrap();
        assert_eq!(MetricSample::of(before_epoch, &beat()).minute, -60_000);
    }

    #[test]
    fn a_sample_takes_the_fullest_disk_by_share_and_sums_players() {
        let heartbeat = Heartbeat {
            load: Some(LoadAvg { one: 1.5, five: 1.0, fifteen: 0.5 }),
            memory: Some(Memory { total_bytes: 16 << 30, available_bytes: 4 << 30 }),
            // The big disk has more bytes used, the small one a larger share: the small one wins.
            disks: vec![disk("/", 1000, 100), disk("/srv", 100_000, 50_000), disk("/empty", 0, 0)],
            games: vec![game(3), game(4)],
            ..beat()
        };
        let sample = MetricSample::of(Timestamp::UNIX_EPOCH, &heartbeat);
        assert_eq!(sample.load, Some(1.5));
        assert_eq!((sample.memory_used, sample.memory_total), (Some(12 << 30), Some(16 << 30)));
        assert_eq!((sample.disk_used, sample.disk_total), (Some(900), Some(1000)));
        assert_eq!(sample.players, 7);
    }

    #[test]
    fn a_negative_or_non_finite_load_and_zero_memory_are_left_out() {
        let heartbeat = Heartbeat {
            load: Some(LoadAvg { one: -1.0, five: 0.0, fifteen: 0.0 }),
            memory: Some(Memory { total_bytes: 0, available_bytes: 0 }),
            ..beat()
        };
        let sample = MetricSample::of(Timestamp::UNIX_EPOCH, &heartbeat);
        assert_eq!((sample.load, sample.memory_used, sample.memory_total), (None, None, None));
        let infinite = Heartbeat {
            load: Some(LoadAvg { one: f64::INFINITY, five: 0.0, fifteen: 0.0 }),
            ..beat()
        };
        assert_eq!(MetricSample::of(Timestamp::UNIX_EPOCH, &infinite).load, None);
    }
}
