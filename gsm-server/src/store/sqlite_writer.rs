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
//! A write may be *relaxed* ([`GroupWriter::write_relaxed`]): one whose loss in a crash of the
//! machine is repaired by what happens next anyway (a job's move to `dispatched` or `running`,
//! which the re-offer on connect and the agent's re-sends redo). A batch of relaxed writes only
//! commits with `synchronous=NORMAL`: no fsync, yet still in WAL order, so the next durable
//! commit makes it durable too. SQLite fixes the setting for a whole transaction, so the first
//! write of a batch decides: a relaxed batch ends before the first durable write, which starts
//! the next batch; a durable batch takes relaxed writes along. After a relaxed batch the
//! connection is set back to `FULL`, which every other writer on it expects.
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
type Run = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Done> + Send>;

/// A queued write and whether its commit must wait for the disk.
struct Op {
    run: Run,
    durable: bool,
}

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
        self.queue_write(write, true).await
    }

    /// [`GroupWriter::write`] for a relaxed write (see the module docs): its result comes back
    /// once it is committed, which, if no durable write shared its batch, is before the commit
    /// reached the disk.
    pub(super) async fn write_relaxed<R, F>(&self, write: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<R>>
            + Send
            + 'static,
    {
        self.queue_write(write, false).await
    }

    async fn queue_write<R, F>(&self, write: F, durable: bool) -> StoreResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<R>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel::<StoreResult<R>>();
        let run: Run = Box::new(move |conn| {
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
        let op = Op { run, durable };
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
    // A write that could not join the previous batch (see `run_batch`) starts the next.
    let mut held: Option<Op> = None;
    loop {
        let first = match held.take() {
            Some(op) => op,
            None => match queue.recv().await {
                Some(op) => op,
                None => return,
            },
        };
        let mut conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::error!(%err, "the database writer could not get its connection");
                refuse(first);
                continue;
            }
        };
        let ran = run_batch(&mut conn, first, &mut queue).await;
        held = ran.held;
        if !ran.reusable {
            // Its durability setting is unknown: a new connection starts from the options.
            tracing::error!("closing the database writer connection; the pool opens a new one");
            let _ = conn.close().await;
        }
    }
}

/// Fails a write without running it: its caller gets an error, nothing was changed.
fn refuse(op: Op) {
    // Dropping the op drops its reply channel, which its caller reads as a failed write.
    drop(op);
}

/// Begins a batch of relaxed writes. SQLite refuses to change the setting inside a transaction,
/// so a batch's durability is chosen by its first write.
const BEGIN_RELAXED: &str = "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE";
/// Puts the connection back to waiting for the disk after a relaxed batch: every other writer on
/// it expects `FULL`.
const RESTORE_FULL: &str = "PRAGMA synchronous = FULL";

/// What [`run_batch`] leaves behind.
struct Ran {
    /// A durable write that came after relaxed ones: it starts the next batch.
    held: Option<Op>,
    /// False when the connection may still be set to `synchronous=NORMAL`: it must not be used
    /// again.
    reusable: bool,
}

/// Runs `first` and every write already queued behind it (up to [`MAX_BATCH`]) in one
/// transaction, then tells each caller how it ended. A batch started by a relaxed write commits
/// without waiting for the disk, so it takes only relaxed writes; a durable batch takes any.
async fn run_batch(conn: &mut SqliteConnection, first: Op, queue: &mut mpsc::Receiver<Op>) -> Ran {
    let durable = first.durable;
    let begin = if durable { "BEGIN IMMEDIATE" } else { BEGIN_RELAXED };
    if let Err(err) = execute(conn, begin).await {
        tracing::error!(%err, "the database writer could not begin a transaction");
        refuse(first);
        return Ran { held: None, reusable: durable };
    }
    let mut done: Vec<Done> = Vec::new();
    let mut next = Some(first);
    let mut held = None;
    let mut broken: Option<String> = None;
    while let Some(op) = next.take() {
        if let Err(err) = execute(conn, "SAVEPOINT gsm_write").await {
            broken = Some(format!("could not open a savepoint: {err}"));
            refuse(op);
            break;
        }
        let ran = AssertUnwindSafe((op.run)(&mut *conn)).catch_unwind().await;
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
            if !durable && next.as_ref().is_some_and(|op| op.durable) {
                held = next.take();
            }
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
    if durable {
        return Ran { held, reusable: true };
    }
    let reusable = match execute(conn, RESTORE_FULL).await {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(%err, "could not set the database writer back to synchronous=FULL");
            false
        }
    };
    Ran { held, reusable }
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
        insert_as(writer, x, true)
    }

    /// Inserts `x` as a durable or a relaxed write.
    fn insert_as(
        writer: &GroupWriter,
        x: i64,
        durable: bool,
    ) -> impl Future<Output = StoreResult<i64>> + use<> {
        let writer = writer.clone();
        async move {
            writer
                .queue_write(
                    move |conn| {
                        Box::pin(async move {
                            sqlx::query("INSERT INTO t (x) VALUES (?1)")
                                .bind(x)
                                .execute(conn)
                                .await
                                .map_err(|err| StoreError::Conflict { detail: err.to_string() })?;
                            Ok(x)
                        })
                    },
                    durable,
                )
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
    async fn relaxed_writes_commit_and_leave_the_connection_waiting_for_the_disk() {
        let (writer, pool) = writer_on_fresh_table().await;
        let relaxed = |x: i64| insert_as(&writer, x, false);
        relaxed(1).await.unwrap();
        // Relaxed and durable writes sharing batches.
        let mut tasks = tokio::task::JoinSet::new();
        for x in 2..40 {
            if x % 2 == 0 {
                tasks.spawn(relaxed(x));
            } else {
                tasks.spawn(insert(&writer, x));
            }
        }
        while let Some(outcome) = tasks.join_next().await {
            outcome.unwrap().unwrap();
        }
        assert_eq!(stored(&pool).await, (1..40).collect::<Vec<_>>());
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&pool).await.unwrap();
        assert_eq!(level, 2, "every writer after a relaxed batch commits with synchronous=FULL");
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
