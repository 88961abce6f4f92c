//! The host credential: what `gsm-agent enroll` writes and `gsm-agent run` reads.
//!
//! It lives in `STATE_DIR/credential.json` as `{server, host, org, credential}`, mode 0600 in a
//! 0700 directory, written atomically so a crash never leaves half a credential. The secret is a
//! [`Secret`], whose `Debug` and `Display` print `<redacted>`: it can reach no log line by
//! accident. The file's JSON shape is a promise to the next agent version that reads it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use gsm_core::job::HostId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::durable;

/// The credential file's name inside the state directory.
pub const FILE_NAME: &str = "credential.json";

/// A secret string (host credential, join token). Printing it shows `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What an enrolled agent knows about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The server the agent enrolled with (`https://gsm.example.com`).
    pub server: String,
    /// The host this agent is.
    pub host: HostId,
    /// The org the host belongs to.
    pub org: Uuid,
    /// The long-lived host credential, sent as `Authorization: Bearer …`.
    pub credential: Secret,
}

/// Why the credential could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// There is no credential file: the agent was never enrolled (or the state dir is wrong).
    #[error(
        "this agent is not enrolled: {} does not exist; run `gsm-agent enroll --server URL --token TOKEN --state-dir {}` first",
        path.display(),
        state_dir.display()
    )]
    NotEnrolled {
        /// The missing file.
        path: PathBuf,
        /// The state directory.
        state_dir: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read the credential file {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The file is not a credential.
    #[error(
        "the credential file {} is damaged; enroll again with `gsm-agent enroll --force`",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// The state directory or the file could not be written.
    #[error("cannot write the credential file {}", path.display())]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

/// The path of the credential file in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Reads the credential from `state_dir`.
pub fn load(state_dir: &Path) -> Result<Credential, Error> {
    let path = path(state_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NotEnrolled { path, state_dir: state_dir.to_path_buf() });
        }
        Err(source) => return Err(Error::Unreadable { path, source }),
    };
    serde_json::from_str(&text).map_err(|source| Error::Malformed { path, source })
}

/// Writes the credential to `state_dir` (created 0700 if missing), mode 0600, atomically.
pub fn store(state_dir: &Path, credential: &Credential) -> Result<(), Error> {
    let path = path(state_dir);
    let unwritable = |source| Error::Unwritable { path: path.clone(), source };
    durable::create_dir(state_dir, 0o700).map_err(unwritable)?;
    let mut json = serde_json::to_vec_pretty(credential)
        .unwrap_or_else(|err| unreachable!("a credential always serialises to JSON: {err}"));
    json.push(b'\n');
    durable::write_atomic(state_dir, FILE_NAME, &json, 0o600).map_err(unwritable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credential {
        Credential {
            server: "https://gsm.example.com".to_owned(),
            host: HostId::new(),
            org: Uuid::now_v7(),
            credential: Secret::new("s3cr3t-value".to_owned()),
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn a_stored_credential_loads_back_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let credential = sample();
        store(&state, &credential).unwrap();
        assert_eq!(load(&state).unwrap(), credential);
    }

    #[test]
    fn a_missing_credential_says_how_to_enroll() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("gsm-agent enroll"), "{err}");
    }
}
