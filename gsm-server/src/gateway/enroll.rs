//! `POST /agent/v1/enroll`: a one-time join token in, a long-lived host credential out.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use gsm_proto::agent::{EnrollRequest, EnrollResponse};
use gsm_proto::rest::ErrorBody;
use jiff::Timestamp;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::ApiError;
use crate::http::auth::ClientIp;
use crate::secrets;
use crate::store::{Enrollment, StoreError};

/// Longest accepted join token; real ones are 48 characters.
const MAX_TOKEN_LEN: usize = 256;

#[utoipa::path(
    post,
    path = "/agent/v1/enroll",
    tag = "agent",
    request_body = EnrollRequest,
    responses(
        (status = 200, description = "The host credential, shown only here, once.", body = EnrollResponse),
        (status = 400, description = "The body is not an `EnrollRequest`, or the facts are invalid.", body = ErrorBody),
        (status = 401, description = "The join token is unknown, already used or expired.", body = ErrorBody),
        (status = 503, description = "The server cannot reach its database; retry shortly.", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn enroll(
    State(state): State<AppState>,
    client: ClientIp,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let Json(request) =
        body.map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))?;
    if request.token.is_empty() || request.token.len() > MAX_TOKEN_LEN {
        return Err(invalid_token());
    }
    crate::http::validate_facts(&request.facts)?;
    let credential = secrets::credential();
    let enrollment = Enrollment {
        audit_id: Uuid::now_v7(),
        client_ip: client.0.map(|ip| ip.to_string()),
        now: Timestamp::now(),
    };
    let host = state
        .store
        .redeem_join_token(
            secrets::hash(&request.token),
            secrets::hash(&credential),
            &request.facts,
            &enrollment,
        )
        .await
        .map_err(|err| match err {
            StoreError::NotFound { .. } | StoreError::Conflict { .. } => invalid_token(),
            other => ApiError::from(other),
        })?;
    tracing::info!(host.id = %host.id, org.id = %host.org, hostname = %request.facts.hostname, "agent enrolled");
    Ok(Json(EnrollResponse { host: host.id, org: host.org.0, credential }))
}

fn invalid_token() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "invalid_join_token",
        "the join token is unknown, already used or expired; create a new one for the host and enroll again",
    )
}
