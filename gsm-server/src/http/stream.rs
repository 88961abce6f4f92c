//! `GET …/stream`: the org's live stream, a WebSocket of JSON text frames (`StreamEvent`: job,
//! presence, alert, notification changes of this org only).
//!
//! The caller is authenticated before the upgrade like any org route (Read role); browsers, which
//! cannot set headers on a WebSocket, offer the `gsm.v1` subprotocol and the server answers with
//! it. The credential is checked again every [`RECHECK`], so a revoked key, a logout or a removed
//! member stops receiving within that time. Frames come from `crate::live`'s bounded
//! per-connection queue; a connection that falls behind is closed with code 1013 and a reason,
//! and every send is bounded by [`SEND_TIMEOUT`], so a client that stops reading is dropped
//! instead of holding anything.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use gsm_proto::rest::{ErrorBody, StreamEvent};

use crate::app::AppState;
use crate::http::ApiError;
use crate::http::auth::{Action, authenticate};
use crate::http::openapi::OrgPath;
use crate::live::Subscription;

/// The subprotocol the server speaks (offered by browsers, which cannot send headers).
pub const SUBPROTOCOL: &str = "gsm.v1";
/// How often a live connection's credential is checked again.
const RECHECK: Duration = Duration::from_secs(15);
/// Longest a frame may take to go out before the client counts as gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Close codes: the client lagged (1013, try again later), its credential stopped working
/// (1008, policy violation), the org is gone or the server stops (1001, going away).
const CLOSE_LAGGED: u16 = 1013;
const CLOSE_UNAUTHORIZED: u16 = 1008;
const CLOSE_GOING_AWAY: u16 = 1001;

/// A WebSocket: after the upgrade each text message is one `StreamEvent`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/stream",
    tag = "stream",
    params(OrgPath),
    responses(
        (status = 101, description = "WebSocket upgrade (subprotocol `gsm.v1` when offered); each text message is a `StreamEvent` of this org. Closed with 1013 when the client falls behind (re-read the lists, reconnect), 1008 when its credential stops working.", body = StreamEvent),
        (status = 400, description = "Not a WebSocket upgrade request.", body = ErrorBody),
        (status = 404, description = "No such org for this credential.", body = ErrorBody),
        (status = 426, description = "The connection cannot be upgraded to a WebSocket.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(http.route = "GET /api/v1/orgs/{org}/stream"))]
pub(super) async fn connect(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let access = authenticate(&state, &headers, &org).await?;
    access.require(Action::Read)?;
    let upgrade = upgrade
        .map_err(|err| ApiError::new(err.status(), "websocket_required", err.body_text()))?;
    let subscription = state.live.subscribe(access.org);
    tracing::debug!(org.id = %access.org, "live stream opened");
    Ok(upgrade
        .protocols([SUBPROTOCOL])
        .on_upgrade(move |socket| serve(state, org, headers, subscription, socket)))
}

/// Why a stream ended, when the server ends it.
enum End {
    Lagged,
    Unauthorized,
    OrgClosed,
    ClientGone,
}

async fn serve(
    state: AppState,
    org_path: String,
    headers: HeaderMap,
    mut subscription: Subscription,
    mut socket: WebSocket,
) {
    let end = pump(&state, &org_path, &headers, &mut subscription, &mut socket).await;
    state.live.unsubscribe(subscription.org, subscription.id);
    let (code, reason) = match end {
        End::ClientGone => return,
        End::Lagged => (
            CLOSE_LAGGED,
            format!(
                "too slow: more than {} events waiting; re-read the lists and reconnect",
                crate::live::QUEUE
            ),
        ),
        End::Unauthorized => {
            (CLOSE_UNAUTHORIZED, "the credential no longer grants access to this org".to_owned())
        }
        End::OrgClosed => (CLOSE_GOING_AWAY, "the stream ended; reconnect".to_owned()),
    };
    let frame = CloseFrame { code, reason: reason.into() };
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

async fn pump(
    state: &AppState,
    org_path: &str,
    headers: &HeaderMap,
    subscription: &mut Subscription,
    socket: &mut WebSocket,
) -> End {
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    loop {
        tokio::select! {
            frame = subscription.frames.recv() => {
                // A lagging connection is closed at once, not after the frames it still holds.
                if subscription.lagged() {
                    return End::Lagged;
                }
                let Some(frame) = frame else { return End::OrgClosed };
                match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(frame))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => return End::ClientGone,
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return End::ClientGone,
                // Pings are answered by the WebSocket layer; clients have nothing else to say.
                Some(Ok(_)) => {}
            },
            _ = recheck.tick() => {
                // A store outage (503) is not a revocation: the next check decides.
                if let Err(err) = authenticate(state, headers, org_path).await
                    && err.status().is_client_error()
                {
                    return End::Unauthorized;
                }
            }
        }
    }
}
