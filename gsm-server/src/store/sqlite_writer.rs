//! Group commit for the SQLite store: the hot writes (job create, job transitions, log chunks,
//! heartbeats) are queued to one writer task, which runs every write already waiting inside one
//! transaction and commits them together, so one fsync covers them all.
//!
//! With `synchronous=FULL` every commit costs an fsync of the WAL (a quarter of a millisecond
//! or more on a virtual disk), and SQLite has one writer: committed one by one, a few thousand
//! writes a second is the ceiling whatever the CPU. Batching keeps each write's guarantee — its
//! caller hears `Ok` only after the commit that holds it is durable — while many writers share
//! the cost of one commit.
//!
//! Each write runs inside its own `SAVEPOINT`, so a write that fails (a conflict, a missing row)
//! is rolled back alone and the rest of the batch commits. A write that panics is rolled back the
//! same way and its caller gets an error. If the savepoint machinery or the commit itself fails,
//! the whole batch is rolled back and every caller in it gets the error: no caller is ever told
//! a write succeeded that is not in the database.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, StoreResult};

/// Writes run in one transaction at most; a batch this long has already amortised its fsync.
const MAX_BATCH: usize = 256;
/// Writes that may wait for the writer before callers queue on the channel itself.
const QUEUE: usize = 4096;

/// A queued write: runs on the writer connection inside the batch's transaction and says whether
/// it failed (so its savepoint is rolled back) and how to hand its caller the outcome.
type Op = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Done> + Send>;

/// Hands a write's caller its outcome once the batch's fate is known: `Ok` if the batch
/// committed, the reason if it was rolled back.
type Deliver = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// What a write hands back to the writer task once it ran.
struct Done {
    failed: bool,
    deliver: Deliver,
}

/// The handle every clone of the store shares; the writer task ends when the last one is gone.
#[derive(Debug, Clone)]
pub(super) struct GroupWriter {
    queue: mpsc::Sender<Op>,
}

impl GroupWriter {
    /// Starts the writer task on `pool` (the store's single writer connection).
    pub(super) fn start(pool: SqlitePool) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run_batches(pool, receiver));
        Self { queue }
    }

    /// Runs `write` on the writer connection inside a transaction (possibly shared with other
    /// writes) and returns its result once that transaction has committed. `write` must not
    /// begin, commit or roll back a transaction itself.
    pub(super) async fn write<R, F>(&self, write: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<R>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel::<StoreResult<R>>();
        let op: Op = Box::new(move |conn| {
            Box::pin(async move {
                let result = write(conn).await;
                Done {
                    failed: result.is_err(),
                    deliver: Box::new(move |batch| {
                        let outcome = match (result, batch) {
                            (Err(err), _) => Err(err),
                            (Ok(value), Ok(())) => Ok(value),
                            (Ok(_), Err(reason)) => Err(failure(reason)),
                        };
                        let _ = reply.send(outcome);
                    }),
                }
            })
        });
        self.queue.send(op).await.map_err(|_| failure("the database writer has stopped"))?;
        // A dropped reply means the write panicked and was rolled back.
        answer.await.map_err(|_| failure("the write failed unexpectedly and was rolled back"))?
    }
}

fn failure(reason: &str) -> StoreError {
    StoreError::Other(reason.into())
}

/// The writer task: one batch at a time, as long as any handle is alive.
async fn run_batches(pool: SqlitePool, mut queue: mpsc::Receiver<Op>) {
    while let Some(first) = queue.recv().await {
        let mut conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::error!(%err, "the database writer could not get its connection");
                refuse(first);
                continue;
            }
        };
        run_batch(&mut conn, first, &mut queue).await;
    }
}

/// Fails a write without running it: its caller gets an error, nothing was changed.
fn refuse(op: Op) {
    // Dropping the op drops its reply channel, which its caller reads as a failed write.
    drop(op);
}

/// Runs `first` and every write already queued behind it (up to [`MAX_BATCH`]) in one
/// transaction, then tells each caller how it ended.
async fn run_batch(conn: &mut SqliteConnection, first: Op, queue: &mut mpsc::Receiver<Op>) {
    if let Err(err) = execute(conn, "BEGIN IMMEDIATE").await {
        tracing::error!(%err, "the database writer could not begin a transaction");
        refuse(first);
        return;
    }
    let mut done: Vec<Done> = Vec::new();
    let mut next = Some(first);
    let mut broken: Option<String> = None;
    while let Some(op) = next.take() {
        if let Err(err) = execute(conn, "SAVEPOINT gsm_write").await {
            broken = Some(format!("could not open a savepoint: {err}"));
            refuse(op);
            break;
        }
        let ran = AssertUnwindSafe(op(&mut *conn)).catch_unwind().await;
        let keep = matches!(&ran, Ok(outcome) if !outcome.failed);
        if !keep {
            // A failed or panicked write leaves nothing behind. If SQLite already rolled back the
            // whole transaction (it does on some I/O errors), the savepoint is gone: the batch is
            // lost, and every write in it must hear so.
            if let Err(err) = execute(conn, "ROLLBACK TO gsm_write").await {
                broken = Some(format!("could not roll back a failed write: {err}"));
            }
        }
        if broken.is_none()
            && let Err(err) = execute(conn, "RELEASE gsm_write").await
        {
            broken = Some(format!("could not release a savepoint: {err}"));
        }
        match ran {
            Ok(outcome) => done.push(outcome),
            Err(_) => tracing::error!("a database write panicked; it was rolled back"),
        }
        if broken.is_some() {
            break;
        }
        if done.len() < MAX_BATCH {
            next = queue.try_recv().ok();
        }
    }
    let committed = match broken {
        None => execute(conn, "COMMIT").await.map_err(|err| format!("commit failed: {err}")),
        Some(reason) => Err(reason),
    };
    if let Err(reason) = &committed {
        tracing::error!(%reason, writes = done.len(), "a batch of database writes was rolled back");
        // Best effort: the transaction may already be gone.
        let _ = execute(conn, "ROLLBACK").await;
    }
    let batch = committed.as_ref().map(|_| ()).map_err(String::as_str);
    for outcome in done {
        (outcome.deliver)(batch);
    }
}

/// One statement of the writer's own (`BEGIN`, `SAVEPOINT`, `COMMIT` …). Boxed, which names the
/// borrow's lifetime: the task's future must be `Send` for every lifetime, which the compiler
/// cannot see through sqlx's executor otherwise.
fn execute<'c>(
    conn: &'c mut SqliteConnection,
    sql: &'static str,
) -> BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move { sqlx::query(sql).execute(conn).await.map(|_| ()) })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use super::*;

    async fn writer_on_fresh_table() -> (GroupWriter, SqlitePool) {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").unwrap();
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER PRIMARY KEY)").execute(&pool).await.unwrap();
        (GroupWriter::start(pool.clone()), pool)
    }

    fn insert(writer: &GroupWriter, x: i64) -> impl Future<Output = StoreResult<i64>> + use<> {
        let writer = writer.clone();
        async move {
            writer
                .write(move |conn| {
                    Box::pin(async move {
                        sqlx::query("INSERT INTO t (x) VALUES (?1)")
                            .bind(x)
                            .execute(conn)
                            .await
                            .map_err(|err| StoreError::Conflict { detail: err.to_string() })?;
                        Ok(x)
                    })
                })
                .await
        }
    }

    async fn stored(pool: &SqlitePool) -> Vec<i64> {
        sqlx::query_scalar("SELECT x FROM t ORDER BY x").fetch_all(pool).await.unwrap()
    }

    #[tokio::test]
    async fn concurrent_writes_each_get_their_own_outcome() {
        let (writer, pool) = writer_on_fresh_table().await;
        // 0..200 plus a duplicate of every tenth: the duplicates fail alone, the rest commit.
        let mut tasks = tokio::task::JoinSet::new();
        for x in 0..200 {
            tasks.spawn(insert(&writer, x));
            if x % 10 == 0 {
                tasks.spawn(insert(&writer, x));
            }
        }
        let (mut ok, mut conflicts) = (0, 0);
        while let Some(outcome) = tasks.join_next().await {
            match outcome.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Conflict { .. }) => conflicts += 1,
                Err(err) => panic!("unexpected error {err}"),
            }
        }
        assert_eq!((ok, conflicts), (200, 20));
        assert_eq!(stored(&pool).await, (0..200).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failed_write_leaves_nothing_behind() {
        let (writer, pool) = writer_on_fresh_table().await;
        let outcome = writer
            .write(|conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (x) VALUES (1)").execute(&mut *conn).await.unwrap();
                    Err::<(), _>(StoreError::NotFound { what: "thing" })
                })
            })
            .await;
        assert!(matches!(outcome, Err(StoreError::NotFound { what: "thing" })));
        insert(&writer, 2).await.unwrap();
        assert_eq!(stored(&pool).await, vec![2]);
    }

    #[tokio::test]
    async fn a_panicking_write_is_rolled_back_and_the_writer_lives_on() {
        let (writer, pool) = writer_on_fresh_table().await;
        let bug = std::hint::black_box(true);
        let outcome = writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (x) VALUES (7)").execute(&mut *conn).await.unwrap();
                    if bug {
                        panic!("a bug in a write");
                    }
                    Ok(())
                })
            })
            .await;
        assert!(matches!(outcome, Err(StoreError::Other(_))), "{outcome:?}");
        assert_eq!(insert(&writer, 8).await.unwrap(), 8);
        assert_eq!(stored(&pool).await, vec![8]);
    }
}
