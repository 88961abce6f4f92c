//! Users' tokens: short-lived JWT access tokens and rotating JWT refresh tokens.
//!
//! One key, one algorithm: HS256 with a 256-bit server secret, and every decode uses a
//! `Validation` that allows only HS256, so a token cannot pick its algorithm (`none`, or an
//! asymmetric one keyed with our secret). `exp`, `nbf`, `iss`, `aud` and `sub` are required; the
//! leeway is 30 s. Access and refresh tokens have distinct audiences *and* `typ` claims, so one
//! never passes for the other (reliability §4). The `sid` claim names the login session, which
//! the store checks on every request and every refresh, so a logout or a deleted user takes effect
//! at once rather than when the token expires. A refresh token's `jti` is a random 256-bit value;
//! the store keeps only its SHA-256 and lets each be used once.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::access::{SessionId, UserId};

/// The `iss` of every token this server makes.
pub const ISSUER: &str = "gsm";
/// Leeway for clock skew when checking `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The kinds of user token, each with its own audience and `typ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sent with every API request.
    Access,
    /// Traded for a new pair at `/auth/refresh`.
    Refresh,
}

impl Kind {
    fn audience(self) -> &'static str {
        match self {
            Kind::Access => "gsm-api",
            Kind::Refresh => "gsm-refresh",
        }
    }

    fn typ(self) -> &'static str {
        match self {
            Kind::Access => "access",
            Kind::Refresh => "refresh",
        }
    }
}

/// The claims of a user token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Always [`ISSUER`].
    pub iss: String,
    /// Per kind.
    pub aud: String,
    /// The user's id.
    pub sub: String,
    /// The login session's id.
    pub sid: String,
    /// Per kind: `access` or `refresh`.
    pub typ: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires (Unix seconds).
    pub exp: i64,
    /// A random id; for refresh tokens, the secret the store keeps a hash of.
    pub jti: String,
}

/// A verified token's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The user.
    pub user: UserId,
    /// The session.
    pub session: SessionId,
    /// The `jti`.
    pub jti: String,
}

/// Why a token was refused. The API answers 401 to all of them alike.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad signature, wrong algorithm, expired, not yet valid, wrong audience or issuer, missing
    /// claims, or not a JWT at all.
    #[error("token rejected: {0}")]
    Rejected(#[from] jsonwebtoken::errors::Error),
    /// A valid signature on a token of another kind, or one living longer than its kind may.
    #[error("token of the wrong kind or lifetime")]
    WrongKind,
    /// Signing failed.
    #[error("signing failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// The server's signing key and token lifetimes.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("access_ttl", &self.access_ttl).finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens signed with `secret` (at least 32 bytes).
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_ttl,
            refresh_ttl,
        }
    }

    /// The access token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Makes a token of `kind` for a session, issued at `now`.
    pub fn issue(
        &self,
        kind: Kind,
        user: UserId,
        session: SessionId,
        now: Timestamp,
    ) -> Result<(String, Claims), Error> {
        let ttl = match kind {
            Kind::Access => self.access_ttl,
            Kind::Refresh => self.refresh_ttl,
        };
        let iat = now.as_second();
        let mut jti = [0u8; 32];
        rand::rng().fill_bytes(&mut jti);
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: kind.audience().to_owned(),
            sub: user.to_string(),
            sid: session.0.to_string(),
            typ: kind.typ().to_owned(),
            iat,
            nbf: iat,
            exp: iat.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            jti: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(jti),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(Error::Signing)?;
        Ok((token, claims))
    }

    /// Verifies a token of `kind`: signature (HS256 only), `exp`/`nbf` with [`LEEWAY_SECS`],
    /// issuer, audience, `typ`, and a lifetime no longer than the kind's.
    pub fn verify(&self, kind: Kind, token: &str) -> Result<Verified, Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[kind.audience()]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)?;
        let claims = data.claims;
        let ttl = match kind {
            Kind::Access => self.access_ttl,
            Kind::Refresh => self.refresh_ttl,
        };
        let max_life = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        if claims.typ != kind.typ() || claims.exp.saturating_sub(claims.iat) > max_life {
            return Err(Error::WrongKind);
        }
        let user = Uuid::parse_str(&claims.sub).map_err(|_| Error::WrongKind)?;
        let session = Uuid::parse_str(&claims.sid).map_err(|_| Error::WrongKind)?;
        Ok(Verified { user: UserId(user), session: SessionId(session), jti: claims.jti })
    }
}

/// The JWT secret at `path`: read when the file exists, otherwise 32 random bytes written there
/// with mode 0600 (the first start). The file holds the secret in base64.
pub fn load_or_create_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let secret = STANDARD.decode(text.trim()).map_err(std::io::Error::other)?;
            if secret.len() < 32 {
                return Err(std::io::Error::other(format!(
                    "the JWT secret in {} is shorter than 32 bytes",
                    path.display()
                )));
            }
            Ok(secret)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut secret = vec![0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            let mut file =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
            file.write_all(STANDARD.encode(&secret).as_bytes())?;
            file.sync_all()?;
            Ok(secret)
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&[7u8; 32], Duration::from_secs(900), Duration::from_secs(3600))
    }

    #[test]
    fn an_access_token_verifies_as_access_only() {
        let tokens = tokens();
        let (user, session) = (UserId(Uuid::now_v7()), SessionId(Uuid::now_v7()));
        let (access, _) = tokens.issue(Kind::Access, user, session, Timestamp::now()).unwrap();
        let verified = tokens.verify(Kind::Access, &access).unwrap();
        assert_eq!((verified.user, verified.session), (user, session));
        assert!(tokens.verify(Kind::Refresh, &access).is_err());
        let (refresh, _) = tokens.issue(Kind::Refresh, user, session, Timestamp::now()).unwrap();
        assert!(tokens.verify(Kind::Access, &refresh).is_err());
    }

    #[test]
    fn the_secret_file_is_made_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile_dir();
        let path = dir.join("jwt-secret");
        let first = load_or_create_secret(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create_secret(&path).unwrap(), first);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gsm-tokens-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
