//! A job's output: `…/jobs/{job}/logs?after_seq=` pages through stored chunks, and
//! `…/jobs/{job}/logs/follow` (WebSocket) streams them live until the job's output is complete.
//!
//! The store is the only source: a follower reads what is stored after the last chunk it sent,
//! then waits for the gateway to announce more. Nothing is buffered per follower beyond one page,
//! so a slow follower costs no server memory, and a follower that reconnects with `after_seq`
//! resumes without a gap or a repeat.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use gsm_core::job::JobId;
use gsm_proto::rest::{ErrorBody, JobLogChunk, JobLogs};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::app::AppState;
use crate::http::ApiError;
use crate::http::auth::authenticate;
use crate::http::jobs::parse_job;
use crate::http::openapi::JobPath;
use crate::store::{OrgId, StoreResult};

const DEFAULT_CHUNKS: u32 = 100;
const MAX_CHUNKS: u32 = 1000;
/// The largest sequence number a chunk can have.
const MAX_SEQ: u64 = i64::MAX as u64;
/// A follower re-reads at least this often even without an announcement (another replica may
/// have stored the chunks).
const FOLLOW_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct LogQuery {
    /// Only chunks after this sequence number (absent: from the start).
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    after_seq: Option<u64>,
    /// Chunks per page.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

impl LogQuery {
    /// `after_seq`, bounded: sequence numbers are stored as signed 64-bit integers.
    fn after_seq(&self) -> Result<Option<u64>, ApiError> {
        match self.after_seq {
            Some(seq) if seq > MAX_SEQ => Err(ApiError::bad_request(
                "invalid_after_seq",
                format!("after_seq {seq} is out of range; at most {MAX_SEQ}"),
            )),
            other => Ok(other),
        }
    }

    fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_CHUNKS),
            Some(n) if (1..=MAX_CHUNKS).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit {n} is out of range; use 1 to {MAX_CHUNKS}"),
            )),
        }
    }
}

/// Reads one page after `after_seq` and says whether the output is complete with it.
async fn read_page(
    state: &AppState,
    org: OrgId,
    job: JobId,
    after_seq: Option<u64>,
    limit: u32,
) -> StoreResult<JobLogs> {
    // The job first: if it is terminal now, every chunk it will ever have is already stored or
    // accounted for by chunks_total.
    let record = state.store.get_job(org, job).await?;
    let chunks = state.store.job_logs(org, job, after_seq, limit).await?;
    let next_seq = chunks.last().map(|c| c.seq + 1).or(after_seq.map(|s| s + 1)).unwrap_or(0);
    let page_full = chunks.len() == limit as usize;
    let complete = record.state.is_terminal()
        && !page_full
        && record.chunks_total.is_none_or(|total| next_seq >= total);
    let chunks = chunks
        .into_iter()
        .map(|c| JobLogChunk { seq: c.seq, stream: c.stream, data: c.data })
        .collect();
    Ok(JobLogs { chunks, complete })
}

#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/jobs/{job}/logs",
    tag = "jobs",
    params(JobPath, LogQuery),
    responses(
        (status = 200, description = "Stored chunks after `after_seq`, in order, and whether the output is complete.", body = JobLogs),
        (status = 400, description = "Invalid query parameters.", body = ErrorBody),
        (status = 404, description = "No such org or job for this credential.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/jobs/{job}/logs"))]
pub(super) async fn page(
    State(state): State<AppState>,
    Path((org, job)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<JobLogs>, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let limit = query.limit()?;
    let after_seq = query.after_seq()?;
    Ok(Json(read_page(&state, access.org, parse_job(&job)?, after_seq, limit).await?))
}

/// A WebSocket: after the upgrade the server sends `JobLogs` pages as text messages, as chunks are
/// stored, and closes once `complete` is true. Reconnect with `after_seq` to resume. A browser,
/// which cannot set `Authorization` on a WebSocket, sends its credential as the subprotocol list
/// `Sec-WebSocket-Protocol: gsm.v1, gsm.bearer.<token>` and is answered `gsm.v1`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/jobs/{job}/logs/follow",
    tag = "jobs",
    params(JobPath, LogQuery),
    responses(
        (status = 101, description = "WebSocket upgrade (subprotocol `gsm.v1` when asked for); each text message is a `JobLogs` page.", body = JobLogs),
        (status = 400, description = "Invalid query parameters, or not a WebSocket upgrade request.", body = ErrorBody),
        (status = 404, description = "No such org or job for this credential.", body = ErrorBody),
        (status = 426, description = "The connection cannot be upgraded to a WebSocket.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/jobs/{job}/logs/follow"))]
pub(super) async fn follow(
    State(state): State<AppState>,
    Path((org, job)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<LogQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let limit = query.limit()?;
    let after_seq = query.after_seq()?;
    let job = parse_job(&job)?;
    // Refuse before upgrading when the job is not the caller's.
    state.store.get_job(access.org, job).await?;
    let upgrade = upgrade
        .map_err(|err| ApiError::new(err.status(), "websocket_required", err.body_text()))?;
    // A browser asked for `gsm.v1` (beside its credential); the answer names only that one.
    let upgrade = upgrade.protocols([crate::http::WS_PROTOCOL]);
    Ok(upgrade.on_upgrade(move |socket| stream(state, access.org, job, after_seq, limit, socket)))
}

async fn stream(
    state: AppState,
    org: OrgId,
    job: JobId,
    mut after_seq: Option<u64>,
    limit: u32,
    mut socket: WebSocket,
) {
    let mut events = state.job_events.subscribe();
    loop {
        let page = match read_page(&state, org, job, after_seq, limit).await {
            Ok(page) => page,
            Err(err) => {
                tracing::warn!(job.id = %job, error = %err, "log follower could not read the store");
                break;
            }
        };
        if let Some(last) = page.chunks.last() {
            after_seq = Some(last.seq);
        }
        let complete = page.complete;
        let more_now = page.chunks.len() == limit as usize;
        if !page.chunks.is_empty() || complete {
            let text = serde_json::to_string(&page).unwrap_or_default();
            if socket.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        if complete {
            break;
        }
        if more_now {
            continue;
        }
        // Wait for this job's next announcement, a lag (then re-read), the poll, or the client
        // going away.
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(id) if id == job => return true,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return true,
                    Err(RecvError::Closed) => return false,
                }
            }
        };
        tokio::select! {
            alive = wait => if !alive { break },
            () = tokio::time::sleep(FOLLOW_POLL) => {}
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
