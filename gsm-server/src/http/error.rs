//! [`ApiError`]: every error the REST API returns, as `{"error": {"code", "message"}}` with the
//! right status.
//!
//! Client errors carry a message that says what was wrong and what to do. Server errors carry a
//! fixed message; the real cause is logged once, here, inside the request's span, and never sent
//! to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gsm_proto::rest::{ErrorBody, ErrorDetail};

use crate::store::StoreError;

/// An error answer of the REST API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// Seconds for a `Retry-After` header (429).
    retry_after: Option<u64>,
    /// The body field the error is about.
    field: Option<&'static str>,
}

impl ApiError {
    /// An error with a status, a stable code and a message for people.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), source: None, retry_after: None, field: None }
    }

    /// Names the request body's field the error is about (a dotted path), for forms.
    pub fn at(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// The stable code the answer carries (for unit tests of request checks).
    #[cfg(test)]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// 400: the request is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no valid credential.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the credential is valid but its role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such resource in this org.
    pub fn not_found(what: &str) -> Self {
        let code = match what {
            "org" => "org_not_found",
            "host" => "host_not_found",
            "job" => "job_not_found",
            "user" => "user_not_found",
            "member" => "member_not_found",
            "invite" => "invite_not_found",
            "api key" => "api_key_not_found",
            "schedule" => "schedule_not_found",
            _ => "not_found",
        };
        Self::new(StatusCode::NOT_FOUND, code, format!("{what} not found"))
    }

    /// 409: the request conflicts with the resource's state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422: well-formed but invalid.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 500: something broke inside; the cause is logged, not sent.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal server error; the server log has the details".into(),
            source: Some(source.into()),
            retry_after: None,
            field: None,
        }
    }

    /// 503: the database is unreachable.
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: "the server cannot reach its database; retry shortly".into(),
            source: Some(source.into()),
            retry_after: None,
            field: None,
        }
    }

    /// 429: too many attempts; retry after `wait` (sent as `Retry-After`, whole seconds).
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many attempts; retry in {secs} s"),
        );
        error.retry_after = Some(secs.max(1));
        error
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { what } => ApiError::not_found(what),
            StoreError::Conflict { detail } => ApiError::conflict("conflict", detail),
            StoreError::InvalidText { what } => ApiError::unprocessable(
                "invalid_text",
                format!(
                    "a value for the {what} holds a character that cannot be stored (NUL); remove it"
                ),
            ),
            other @ StoreError::Other(_) => ApiError::unavailable(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            tracing::error!(error = %ErrorChain(source.as_ref()), status = self.status.as_u16(), "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
                field: self.field.map(str::to_owned),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// Displays an error with its chain of sources, `a: b: c`.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}
