//! The application: shared state, the router, the background tasks, and `serve`.
//!
//! [`router`] builds the whole HTTP surface from an [`AppState`] so tests can drive it in-process;
//! [`serve`] opens the store, starts the background tasks (presence ticks, heartbeat flushes, job
//! deadlines, and the Discord bot when a token is configured) and listens until Ctrl-C or SIGTERM.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::serve::ListenerExt;
use gsm_core::heartbeat::Heartbeat;
use gsm_core::job::{HostId, JobId};
use gsm_core::presence::{Presence, PresenceTracker, Transition};
use gsm_core::rules;
use jiff::Timestamp;
use tokio::sync::broadcast;

use crate::alerts::service::AlertBus;
use crate::config::{Database, Settings};
use crate::gateway::AgentRegistry;
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::store::{PostgresStore, SqliteStore, Store};
use crate::{background, gateway, http};

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

/// The shared parts behind [`AppState`].
pub struct Shared {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Validated settings.
    pub settings: Settings,
    /// Connected agents.
    pub agents: AgentRegistry,
    /// Online / stale / offline per host, on this process's monotonic clock.
    pub presence: Mutex<PresenceTracker>,
    /// The latest heartbeat per host, and which of them still need writing to the store.
    pub heartbeats: Mutex<LatestHeartbeats>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Announces jobs whose output or state changed, for live log followers.
    pub job_events: broadcast::Sender<JobId>,
    /// Token key, password hasher, login rate limits.
    pub auth: http::auth::AuthState,
    /// Events for the alert rules, and the wake-ups of the alert tasks.
    pub alerts: AlertBus,
    /// The orgs' live streams (`…/stream`).
    pub live: LiveHub,
}

/// The latest heartbeat of each host since this process started.
#[derive(Default)]
pub struct LatestHeartbeats {
    /// Latest per host.
    pub latest: HashMap<HostId, (Timestamp, Heartbeat)>,
    /// Hosts whose latest heartbeat is not yet in the store.
    pub dirty: HashSet<HostId>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.inner
    }
}

impl AppState {
    /// Builds the state around an open store.
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> anyhow::Result<Self> {
        let presence = PresenceTracker::new(settings.presence).context("presence settings")?;
        let (job_events, _) = broadcast::channel(4096);
        let auth = http::auth::AuthState::new(&settings.auth)?;
        Ok(Self {
            inner: Arc::new(Shared {
                store,
                settings,
                agents: AgentRegistry::default(),
                presence: Mutex::new(presence),
                heartbeats: Mutex::new(LatestHeartbeats::default()),
                metrics: Metrics::new(),
                job_events,
                auth,
                alerts: AlertBus::default(),
                live: LiveHub::default(),
            }),
        })
    }

    /// The presence tracker. A poisoned lock means a panic mid-update of plain data; the data is
    /// still consistent enough to serve, so the poison is cleared rather than spread.
    pub fn presence(&self) -> MutexGuard<'_, PresenceTracker> {
        self.presence.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The latest heartbeats (same poisoning rule as [`presence`](Self::presence)).
    pub fn heartbeats(&self) -> MutexGuard<'_, LatestHeartbeats> {
        self.heartbeats.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Logs a host's presence change, hands it to the alert rules as `host.<status>` and
    /// publishes it to the org's live streams.
    pub fn presence_changed(&self, change: &Transition) {
        tracing::info!(host.id = %change.host, from = %change.from, to = %change.to, "host presence changed");
        let kind = match change.to {
            Presence::Online => rules::kinds::HOST_ONLINE,
            Presence::Stale => rules::kinds::HOST_STALE,
            Presence::Offline => rules::kinds::HOST_OFFLINE,
        };
        let now = Timestamp::now();
        self.alerts.emit_host(change.host, kind, now);
        crate::live::presence_changed(self, change.host, change.to, now);
    }

    /// Records a heartbeat in memory: presence now, the store at the next flush.
    pub fn record_heartbeat(&self, host: HostId, heartbeat: Heartbeat) {
        let now = Instant::now();
        let change = self.presence().heartbeat(host, now);
        if let Some(change) = change {
            self.presence_changed(&change);
        }
        let mut beats = self.heartbeats();
        beats.latest.insert(host, (Timestamp::now(), heartbeat));
        beats.dirty.insert(host);
        self.metrics.heartbeats.inc();
    }
}

/// The whole HTTP surface: REST API, agent gateway, health and metrics.
pub fn router(state: AppState) -> Router {
    Router::new().merge(http::routes()).merge(gateway::routes()).with_state(state)
}

/// Opens the configured store (and applies its migrations).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &settings.database {
        Database::Sqlite(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating data dir {}", dir.display()))?;
            }
            Arc::new(
                SqliteStore::open(path)
                    .await
                    .with_context(|| format!("opening SQLite database {}", path.display()))?,
            )
        }
        Database::Postgres(url) => {
            Arc::new(PostgresStore::connect(url).await.context("connecting to PostgreSQL")?)
        }
    })
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let state = AppState::new(store, settings)?;
    let mut tasks = background::spawn(state.clone());
    if let Some(token) = state.settings.discord_bot_token.clone() {
        tasks.spawn(crate::discord_bot::adapter::run(state.clone(), token));
    }
    let addr = listener.local_addr().context("reading the bound address")?;
    // The bound address is announced on one line so scripts and tests can read the port.
    tracing::info!(%addr, "gsm-server listening");
    let app = router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Small messages (an ack, a job assignment, a short JSON answer) go out at once: with Nagle's
    // algorithm on, each waited up to a delayed-ACK period (~40 ms) for the peer.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY on an accepted connection");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    tasks.abort_all();
    background::flush_heartbeats(&state).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
