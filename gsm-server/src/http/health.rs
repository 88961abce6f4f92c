//! `/healthz` (the process answers), `/readyz` (the database answers, within 2 s) and `/metrics`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use gsm_proto::rest::ErrorBody;

use crate::app::AppState;
use crate::http::ApiError;
use crate::metrics::StateLabel;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses((status = 200, description = "The process answers.", body = String, content_type = "text/plain")),
)]
pub(super) async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    responses(
        (status = 200, description = "The database answers.", body = String, content_type = "text/plain"),
        (status = 503, description = "The database did not answer within 2 s.", body = ErrorBody),
    ),
)]
pub(super) async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => Ok("ready"),
        Ok(Err(err)) => Err(ApiError::unavailable(err)),
        Err(_) => Err(ApiError::unavailable("database ping timed out after 2s")),
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses(
        (status = 200, description = "Prometheus metrics.", body = String,
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 503, description = "The job counts could not be read within 2 s.", body = ErrorBody),
    ),
)]
pub(super) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let counts = tokio::time::timeout(Duration::from_secs(2), state.store.count_jobs_by_state())
        .await
        .map_err(|_| ApiError::unavailable("job count timed out after 2s"))??;
    for state_name in gsm_core::job::JobState::ALL {
        let count = counts.iter().find(|(s, _)| *s == state_name).map_or(0, |(_, n)| *n);
        state
            .metrics
            .jobs
            .get_or_create(&StateLabel { state: state_name.as_str().into() })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    let text = state.metrics.encode().map_err(ApiError::internal)?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        text,
    ))
}
