//! The output pump: reads stdout and stderr concurrently, numbers the chunks, enforces the cap and
//! hands chunks to the sink one at a time.
//!
//! One task reads both pipes, so a chunk's `seq` is simply the order in which the runner read it,
//! across both streams, dense from 0. Reading both at once means a child blocked writing stderr
//! while we wait on stdout (the classic pipe deadlock) cannot happen. The pump never holds more
//! than one chunk per stream: memory is bounded by [`MAX_CHUNK`], and a slow sink slows the child.

use std::future::Future;
use std::io;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::unix::pipe;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use super::DRAIN;

/// The largest chunk the runner emits, in bytes.
pub const MAX_CHUNK: usize = 64 * 1024;

/// Which of the child's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A piece of a job's output, as read from one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    /// Position of this chunk among all chunks of the job, both streams together, from 0 with no
    /// gaps, in the order the runner read them.
    pub seq: u64,
    /// The stream it came from.
    pub stream: Stream,
    /// The raw bytes, at most [`MAX_CHUNK`] of them, never empty. Not necessarily UTF-8, and not
    /// split at line boundaries: escaping and line splitting happen where output is shown.
    pub data: Vec<u8>,
}

/// The sink went away; the runner stops sending and discards the rest of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the output sink is closed")]
pub struct SinkClosed;

/// Where the runner sends output chunks.
///
/// `send` may wait: the runner reads no more output until it returns, which is how backpressure
/// reaches the child. Returning [`SinkClosed`] tells the runner nobody is listening any more.
pub trait ChunkSink: Send {
    /// Takes one chunk, waiting as long as the consumer needs.
    fn send(&mut self, chunk: OutputChunk) -> impl Future<Output = Result<(), SinkClosed>> + Send;
}

/// A bounded channel is the usual sink: its capacity times [`MAX_CHUNK`] bounds the memory in
/// flight, and a dropped receiver reads as [`SinkClosed`].
impl ChunkSink for mpsc::Sender<OutputChunk> {
    async fn send(&mut self, chunk: OutputChunk) -> Result<(), SinkClosed> {
        mpsc::Sender::send(self, chunk).await.map_err(|_| SinkClosed)
    }
}

/// What the pump counted.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct OutputStats {
    /// Every byte read from either stream.
    pub output_bytes: u64,
    /// Bytes the sink accepted.
    pub kept_bytes: u64,
}

/// One of the child's pipes, with the buffer its next chunk is read into: exactly [`MAX_CHUNK`]
/// bytes long, so no read can make a larger chunk.
struct Pipe<R> {
    reader: Option<R>,
    buf: Vec<u8>,
    stream: Stream,
}

impl<R: AsyncRead + Unpin> Pipe<R> {
    fn new(reader: R, stream: Stream) -> Self {
        Self { reader: Some(reader), buf: unfilled(), stream }
    }

    /// Reads what is available into the buffer, replacing what it held. Cancel-safe: a read that
    /// is dropped before it completes has taken no bytes. The bytes go into the buffer's spare
    /// capacity, which is never zeroed first (a job with no output never touches it).
    async fn read(&mut self) -> io::Result<usize> {
        match &mut self.reader {
            Some(reader) => {
                self.buf.clear();
                reader.read_buf(&mut self.buf).await
            }
            None => std::future::pending().await,
        }
    }
}

/// The cap and the sink, and what has gone through them.
struct Keeper<S> {
    sink: Option<S>,
    cap: u64,
    next_seq: u64,
    stats: OutputStats,
}

impl<S: ChunkSink> Keeper<S> {
    /// Accounts for the `read` bytes just read into `buf` and sends what the cap allows. `buf` is
    /// replaced by a fresh empty buffer only when its bytes went to the sink.
    async fn take(&mut self, stream: Stream, buf: &mut Vec<u8>, read: usize) {
        self.stats.output_bytes += read as u64;
        let room = self.cap.saturating_sub(self.stats.kept_bytes);
        let Some(sink) = self.sink.as_mut().filter(|_| room > 0) else { return };
        // `room` < `read` <= MAX_CHUNK when it is the smaller, so the cast cannot truncate.
        let keep = if (read as u64) > room { room as usize } else { read };
        // A large chunk takes the buffer itself; a small one is copied out, so a channel full of
        // short lines does not pin a whole buffer per line.
        let data = if keep >= MAX_CHUNK / 4 {
            let mut data = std::mem::replace(buf, unfilled());
            data.truncate(keep);
            data
        } else {
            buf[..keep].to_vec()
        };
        let chunk = OutputChunk { seq: self.next_seq, stream, data };
        match sink.send(chunk).await {
            Ok(()) => {
                self.next_seq += 1;
                self.stats.kept_bytes += keep as u64;
            }
            Err(SinkClosed) => {
                tracing::debug!("output sink closed; discarding the rest of the job's output");
                self.sink = None;
            }
        }
    }
}

/// Reads both pipes to the end and feeds the sink; after `stop` fires (the process group is dead)
/// reads on for at most [`DRAIN`], not counting time spent in the sink. `closing` is notified
/// when the first pipe reaches end of file (the child is usually exiting then).
pub(super) async fn pump<S: ChunkSink>(
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
    sink: S,
    cap: u64,
    mut stop: oneshot::Receiver<()>,
    closing: &Notify,
) -> OutputStats {
    let mut out = Pipe::new(stdout, Stream::Stdout);
    let mut err = Pipe::new(stderr, Stream::Stderr);
    let mut keeper = Keeper { sink: Some(sink), cap, next_seq: 0, stats: OutputStats::default() };
    let mut drain_until: Option<Instant> = None;
    let mut told_closing = false;

    while out.reader.is_some() || err.reader.is_some() {
        let drain_deadline = drain_until.unwrap_or_else(super::far_future);
        let pipe = tokio::select! {
            read = out.read() => done_reading(&mut out, read),
            read = err.read() => done_reading(&mut err, read),
            // A closed channel means the supervisor is gone, which also means: stop waiting.
            _ = &mut stop, if drain_until.is_none() => {
                drain_until = Some(Instant::now() + DRAIN);
                None
            }
            () = tokio::time::sleep_until(drain_deadline), if drain_until.is_some() => break,
        };
        let Some((stream, read)) = pipe else {
            if !told_closing && (out.reader.is_none() || err.reader.is_none()) {
                told_closing = true;
                closing.notify_one();
            }
            continue;
        };
        let sending = Instant::now();
        match stream {
            Stream::Stdout => keeper.take(stream, &mut out.buf, read).await,
            Stream::Stderr => keeper.take(stream, &mut err.buf, read).await,
        }
        // Backpressure from the sink is the consumer's time, not the drain's.
        if let Some(until) = &mut drain_until {
            *until += sending.elapsed();
        }
    }
    keeper.stats
}

/// An empty read buffer with room for one chunk.
fn unfilled() -> Vec<u8> {
    Vec::with_capacity(MAX_CHUNK)
}

/// Handles the end of a read: `Some((stream, bytes))` when bytes are waiting in the pipe's
/// buffer, `None` at end of file or on a read error (both end that stream).
fn done_reading<R>(pipe: &mut Pipe<R>, read: io::Result<usize>) -> Option<(Stream, usize)> {
    match read {
        Ok(0) => {
            pipe.reader = None;
            None
        }
        Ok(read) => Some((pipe.stream, read)),
        Err(error) => {
            tracing::debug!(stream = ?pipe.stream, %error, "reading job output failed; treating it as end of file");
            pipe.reader = None;
            None
        }
    }
}
