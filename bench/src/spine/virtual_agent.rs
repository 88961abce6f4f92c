//! Virtual agents: the agent protocol spoken over a real WebSocket from inside gsm-bench, so one
//! process can stand in for thousands of hosts and answer jobs in microseconds.
//!
//! A virtual agent does exactly what the protocol asks and nothing the figure does not measure:
//! a [`worker`](VirtualAgent::work) answers each `assign_job` with `job_accepted`, one `job_log`
//! chunk and `job_finished` (exit 0) in one flush; an [`idle`](VirtualAgent::idle) agent only
//! heartbeats; a [`streamer`](VirtualAgent::stream_output) writes a large output under a window of
//! unacked chunks. Sockets disable Nagle, as a latency-minded agent would, and idle agents use a
//! small read buffer so ten thousand of them fit in the bench process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::{HostId, JobId, JobResult, Termination};
use gsm_core::runner::Stream;
use gsm_proto::agent::{
    AgentMessage, CONNECT_PATH, Hello, JobAssignment, JobFinished, JobRef, LogChunk, ServerMessage,
    VersionRange,
};
use gsm_proto::codec;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::api::{Enrolled, facts};

/// How long a virtual agent waits for the server's welcome.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(30);
/// The output a worker reports for every job.
const TRIVIAL_OUTPUT: &[u8] = b"ok\n";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Socket buffers: small for the thousands of idle agents, default for workers and streamers.
#[derive(Debug, Clone, Copy)]
pub enum Buffers {
    /// A 4 KiB read buffer: heartbeats out, nothing much in.
    Small,
    /// tungstenite's defaults.
    Default,
}

/// One agent connection that has completed hello/welcome.
pub struct VirtualAgent {
    host: HostId,
    socket: Socket,
    interval: Duration,
    seq: u64,
}

impl VirtualAgent {
    /// Connects as `enrolled` and completes hello/welcome.
    pub async fn connect(
        ws_base: &str,
        enrolled: &Enrolled,
        buffers: Buffers,
    ) -> anyhow::Result<Self> {
        let mut request = format!("{ws_base}{CONNECT_PATH}")
            .into_client_request()
            .context("building the connect request")?;
        let bearer = format!("Bearer {}", enrolled.credential)
            .parse()
            .context("the credential is not a valid header value")?;
        request.headers_mut().insert("authorization", bearer);
        let config = match buffers {
            Buffers::Small => {
                WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0)
            }
            Buffers::Default => WebSocketConfig::default(),
        };
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .context("connecting to /agent/v1/connect")?;
        let mut agent = Self { host: enrolled.host, socket, interval: Duration::ZERO, seq: 0 };
        agent
            .send(&AgentMessage::Hello(Hello { protocol: VersionRange::CURRENT, facts: facts() }))
            .await?;
        let welcome = tokio::time::timeout(WELCOME_TIMEOUT, agent.recv())
            .await
            .context("no welcome in time")??;
        match welcome {
            Some(ServerMessage::Welcome(welcome)) => {
                agent.interval = Duration::from_millis(welcome.heartbeat_interval_ms.max(1));
                Ok(agent)
            }
            other => bail!("expected welcome, got {other:?}"),
        }
    }

    /// The heartbeat interval the server asked for.
    pub fn heartbeat_interval(&self) -> Duration {
        self.interval
    }

    async fn send(&mut self, message: &AgentMessage) -> anyhow::Result<()> {
        self.socket
            .send(Message::text(codec::encode(message)))
            .await
            .context("sending to the server")
    }

    /// The next server message; `None` when the server closed the connection.
    async fn recv(&mut self) -> anyhow::Result<Option<ServerMessage>> {
        loop {
            match self.socket.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Err(err)) => return Err(err).context("reading from the server"),
                Some(Ok(Message::Text(text))) => {
                    return codec::decode_server(text.as_str())
                        .map(Some)
                        .context("decoding a server message");
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    async fn heartbeat(&mut self) -> anyhow::Result<()> {
        let beat = Heartbeat {
            host: self.host,
            agent_version: "0.0.0-bench".into(),
            seq: self.seq,
            uptime_secs: 0,
            load: None,
            memory: None,
            disks: Vec::new(),
            running_jobs: Vec::new(),
            games: Vec::new(),
        };
        self.seq += 1;
        self.send(&AgentMessage::Heartbeat(beat)).await
    }

    /// Runs jobs until the connection ends: each job is accepted, writes one chunk and exits 0.
    pub async fn work(mut self, events: WorkerEvents) -> anyhow::Result<()> {
        let start = tokio::time::Instant::now() + self.interval;
        let mut ticker = tokio::time::interval_at(start, self.interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.heartbeat().await?,
                message = self.recv() => match message? {
                    None => return Ok(()),
                    Some(ServerMessage::AssignJob(assignment)) => self.run_trivial(&assignment).await?,
                    Some(ServerMessage::Ack(ack)) if ack.finished => events.acked.finished(ack.job.job),
                    Some(ServerMessage::Error(err)) => bail!("the server sent an error: {err:?}"),
                    Some(_) => {}
                },
            }
        }
    }

    async fn run_trivial(&mut self, assignment: &JobAssignment) -> anyhow::Result<()> {
        let job = JobRef { job: assignment.spec.id, attempt: assignment.attempt };
        let chunk = LogChunk { job, seq: 0, stream: Stream::Stdout, data: TRIVIAL_OUTPUT.to_vec() };
        let finished =
            JobFinished { job, result: exited_ok(TRIVIAL_OUTPUT.len() as u64), chunks: 1 };
        let messages = [
            AgentMessage::JobAccepted(job),
            AgentMessage::JobLog(chunk),
            AgentMessage::JobFinished(finished),
        ];
        for message in &messages {
            let frame = Message::text(codec::encode(message));
            self.socket.feed(frame).await.context("sending a job report")?;
        }
        self.socket.flush().await.context("sending job reports")
    }

    /// Heartbeats until the connection ends, the first one after `first_beat` (to stagger many
    /// agents). A sequence number sent on `probes` is heartbeated at once and the count goes on
    /// from it.
    pub async fn idle(
        mut self,
        first_beat: Duration,
        mut probes: mpsc::Receiver<u64>,
    ) -> anyhow::Result<()> {
        let start = tokio::time::Instant::now() + first_beat;
        let mut ticker = tokio::time::interval_at(start, self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.heartbeat().await?,
                Some(seq) = probes.recv() => {
                    self.seq = seq;
                    self.heartbeat().await?;
                }
                message = self.recv() => match message? {
                    None => bail!("the server closed the connection of idle host {}", self.host),
                    Some(ServerMessage::Error(err)) => bail!("the server sent an error: {err:?}"),
                    Some(_) => {}
                },
            }
        }
    }

    /// Waits for one job, accepts it, waits for `go`, then writes `total` bytes of output in
    /// `chunk`-byte pieces with at most `window` unacked, and finishes it (exit 0).
    pub async fn stream_output(
        mut self,
        plan: StreamPlan,
        go: oneshot::Receiver<()>,
    ) -> anyhow::Result<StreamTimes> {
        let assignment = loop {
            match self.recv().await? {
                Some(ServerMessage::AssignJob(assignment)) => break assignment,
                Some(ServerMessage::Error(err)) => bail!("the server sent an error: {err:?}"),
                Some(_) => {}
                None => bail!("the server closed the connection before assigning the job"),
            }
        };
        let job = JobRef { job: assignment.spec.id, attempt: assignment.attempt };
        self.send(&AgentMessage::JobAccepted(job)).await?;
        go.await.context("the figure gave up before the output started")?;

        let chunks = plan.total.div_ceil(plan.chunk as u64);
        let data = base64::engine::general_purpose::STANDARD.encode(vec![0u8; plan.chunk]);
        let last_len = plan.total - (chunks - 1) * plan.chunk as u64;
        let last_data =
            base64::engine::general_purpose::STANDARD.encode(vec![0u8; last_len as usize]);
        let started = Instant::now();
        let (mut sent, mut acked) = (0u64, 0u64);
        while acked < chunks {
            while sent < chunks && sent - acked < plan.window {
                let data = if sent + 1 == chunks { &last_data } else { &data };
                let frame = log_frame(job, sent, data);
                self.socket.feed(Message::text(frame)).await.context("sending output")?;
                sent += 1;
            }
            self.socket.flush().await.context("sending output")?;
            match self.recv().await? {
                Some(ServerMessage::Ack(ack)) if ack.job == job => {
                    acked = acked.max(ack.chunks_stored);
                }
                Some(ServerMessage::Error(err)) => bail!("the server sent an error: {err:?}"),
                Some(_) => {}
                None => bail!("the server closed the connection after {acked} acked chunks"),
            }
        }
        let stored = started.elapsed();
        let finished = JobFinished { job, result: exited_ok(plan.total), chunks };
        self.send(&AgentMessage::JobFinished(finished)).await?;
        loop {
            match self.recv().await? {
                Some(ServerMessage::Ack(ack)) if ack.job == job && ack.finished => break,
                Some(ServerMessage::Error(err)) => bail!("the server sent an error: {err:?}"),
                Some(_) => {}
                None => bail!("the server closed the connection before acking the end"),
            }
        }
        Ok(StreamTimes { started, stored })
    }
}

/// What a streamer writes.
#[derive(Debug, Clone, Copy)]
pub struct StreamPlan {
    /// Bytes in all.
    pub total: u64,
    /// Bytes per chunk.
    pub chunk: usize,
    /// Most chunks sent and not yet acked.
    pub window: u64,
}

/// When a streamer's output started, and how long until it was all stored.
#[derive(Debug, Clone, Copy)]
pub struct StreamTimes {
    /// The first chunk was sent.
    pub started: Instant,
    /// From `started` until the last chunk was acked.
    pub stored: Duration,
}

/// A `job_log` frame, written by hand around pre-encoded data so gsm-bench spends no CPU
/// re-encoding the same 64 KiB per chunk (the test below checks it decodes as a [`LogChunk`]).
fn log_frame(job: JobRef, seq: u64, data_base64: &str) -> String {
    format!(
        r#"{{"type":"job_log","job":"{}","attempt":{},"seq":{seq},"stream":"stdout","data":"{data_base64}"}}"#,
        job.job, job.attempt
    )
}

fn exited_ok(bytes: u64) -> JobResult {
    JobResult {
        termination: Termination::Exited,
        exit_code: Some(0),
        signal: None,
        duration_ms: 0,
        output_bytes: bytes,
        kept_bytes: bytes,
        truncated: false,
    }
}

/// What virtual workers tell the figures about their jobs: when each got the server's ack of
/// its end.
#[derive(Clone, Default)]
pub struct WorkerEvents {
    /// The worker holds the server's ack of the job's end.
    pub acked: Completions,
}

/// When jobs reached some point, matched with whoever waits for them. The point may be reached
/// before the waiter knows the job's id (the agent can finish a job before the `POST` that
/// created it has answered), so an early arrival is kept, with its time, until it is waited for.
#[derive(Clone, Default)]
pub struct Completions {
    inner: Arc<Mutex<CompletionsInner>>,
}

#[derive(Default)]
struct CompletionsInner {
    early: HashMap<JobId, Instant>,
    waiting: HashMap<JobId, oneshot::Sender<Instant>>,
}

impl Completions {
    fn lock(&self) -> std::sync::MutexGuard<'_, CompletionsInner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that `job` reached the point now.
    pub fn finished(&self, job: JobId) {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.waiting.remove(&job) {
            Some(waiter) => {
                let _ = waiter.send(now);
            }
            None => {
                inner.early.insert(job, now);
            }
        }
    }

    /// Waits until `job` reached the point, for at most `within`; returns when it did.
    pub async fn wait(&self, job: JobId, within: Duration) -> anyhow::Result<Instant> {
        let rx = {
            let mut inner = self.lock();
            if let Some(at) = inner.early.remove(&job) {
                return Ok(at);
            }
            let (tx, rx) = oneshot::channel();
            inner.waiting.insert(job, tx);
            rx
        };
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(at)) => Ok(at),
            _ => {
                self.lock().waiting.remove(&job);
                bail!("job {job} did not get there within {within:?}")
            }
        }
    }

    /// Forgets jobs nobody waited for.
    pub fn clear(&self) {
        self.lock().early.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_written_log_frame_decodes_as_the_chunk_it_stands_for() {
        let job = JobRef { job: JobId::new(), attempt: 3 };
        let data = base64::engine::general_purpose::STANDARD.encode(b"hello");
        let decoded = codec::decode_agent(&log_frame(job, 7, &data)).unwrap();
        let expected = LogChunk { job, seq: 7, stream: Stream::Stdout, data: b"hello".to_vec() };
        assert_eq!(decoded, AgentMessage::JobLog(expected));
    }

    #[tokio::test]
    async fn an_end_acked_before_anyone_waits_is_not_lost() {
        let completions = Completions::default();
        let (early, late) = (JobId::new(), JobId::new());
        completions.finished(early);
        let at = completions.wait(early, Duration::from_millis(10)).await.unwrap();
        assert!(at <= Instant::now());
        let waiter = {
            let completions = completions.clone();
            tokio::spawn(async move { completions.wait(late, Duration::from_secs(5)).await })
        };
        tokio::task::yield_now().await;
        completions.finished(late);
        waiter.await.unwrap().unwrap();
        assert!(completions.wait(JobId::new(), Duration::from_millis(1)).await.is_err());
    }
}
