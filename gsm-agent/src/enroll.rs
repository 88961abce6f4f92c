//! `gsm-agent enroll`: trade a one-time join token for the host credential.
//!
//! An existing enrollment is never overwritten without `--force`, and that is checked *before*
//! the token is sent: a token works once, and spending it on a refused overwrite would waste it.
//! The credential file is written only after the server answered, atomically and mode 0600.

use std::path::PathBuf;
use std::time::Duration;

use gsm_proto::agent::{ENROLL_PATH, EnrollRequest, EnrollResponse, HostFacts};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::config::EnrollConfig;
use crate::credential::{self, Credential, Secret};
use crate::endpoint;

/// How long the whole enrollment request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why enrollment failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state dir already holds a credential.
    #[error(
        "this agent is already enrolled ({}); pass --force to replace that enrollment with a new one",
        path.display()
    )]
    AlreadyEnrolled {
        /// The existing credential file.
        path: PathBuf,
    },
    /// The server could not be reached.
    #[error(
        "cannot reach the server at {url}; check the URL and that the server is up and reachable from this host"
    )]
    Unreachable {
        /// Where the agent tried.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The server refused the join token.
    #[error(
        "the server refused the join token (invalid_join_token): it is unknown, expired or already \
         used; ask an admin of the org for a new join token for this host"
    )]
    InvalidJoinToken,
    /// The server answered with another error.
    #[error("the server refused the enrollment with HTTP {status}: {message} ({code})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error code from the body.
        code: String,
        /// The message from the body.
        message: String,
    },
    /// The server's answer was not an enrollment response.
    #[error(
        "the server at {url} sent an answer that is not an enrollment response; is this a gsm server?"
    )]
    BadResponse {
        /// Where the agent asked.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The credential could not be written.
    #[error(transparent)]
    Credential(#[from] credential::Error),
}

/// The server's error body, `{"error": {"code", "message"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Enrolls with the server and writes the credential. Returns what was written.
#[tracing::instrument(skip_all, fields(server = %config.server))]
pub async fn enroll(config: &EnrollConfig, facts: HostFacts) -> Result<Credential, Error> {
    let existing = credential::path(&config.state_dir);
    if existing.exists() && !config.force {
        return Err(Error::AlreadyEnrolled { path: existing });
    }
    let url = endpoint(&config.server, ENROLL_PATH);
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("gsm-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| Error::Unreachable { url: url.to_string(), source })?;
    let body = EnrollRequest { token: config.token.expose().to_owned(), facts };
    let response = client
        .post(url.clone())
        .json(&body)
        .send()
        .await
        .map_err(|source| Error::Unreachable { url: url.to_string(), source })?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<ErrorBody>(&text).ok().map(|body| body.error);
        if status == StatusCode::UNAUTHORIZED {
            return Err(Error::InvalidJoinToken);
        }
        let (code, message) = match detail {
            Some(detail) => (detail.code, detail.message),
            None => ("unknown".to_owned(), text.chars().take(200).collect()),
        };
        return Err(Error::Refused { status: status.as_u16(), code, message });
    }
    let enrolled: EnrollResponse = response
        .json()
        .await
        .map_err(|source| Error::BadResponse { url: url.to_string(), source })?;
    let credential = Credential {
        server: config.server.to_string(),
        host: enrolled.host,
        org: enrolled.org,
        credential: Secret::new(enrolled.credential),
    };
    credential::store(&config.state_dir, &credential)?;
    tracing::info!(host.id = %enrolled.host, org.id = %enrolled.org, "enrolled");
    Ok(credential)
}
