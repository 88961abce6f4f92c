//! Who is calling, and what they may do: the one place requests are authenticated.
//!
//! A request to an org's routes carries either a user's access token (a JWT, see `tokens`) or an
//! org API key (`gsm_<id>_<secret>`) as `Authorization: Bearer …`. For a user, the role comes from
//! the membership table and is read on every request (one query that also checks the session and
//! the user are live), so a logout, a deleted user or a removed member is refused at once. For a
//! key, the role is the key's; expired and revoked keys are refused, and its last use is recorded
//! at most once a minute. A key read from the store is kept in memory for [`KEY_CACHE_TTL`], so
//! the hot path is one hash and one map lookup, not a query; revoking a key or deleting its org
//! through this server forgets it at once, and the TTL bounds how long another server process
//! sharing the database takes to see a revocation. A browser's WebSocket, which cannot set
//! headers, may carry the credential as the subprotocol `gsm.bearer.<token>` beside `gsm.v1`
//! (the header wins when both are sent). Agent host credentials (`gsmh_…`) are for the agent gateway only and
//! are refused here. The org comes from the credential, never from the request: a credential used
//! on another org's path gets the same 404 as a missing org, so ids of other tenants cannot be
//! probed. What each role may do is decided in [`Role::may`], the one place that knows; the
//! table is in ARCHITECTURE.md ("Roles").

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use gsm_core::job::{Requester, RequesterKind};
use jiff::Timestamp;
use uuid::Uuid;

use crate::app::AppState;
use crate::config::AuthSettings;
use crate::http::ApiError;
use crate::http::rate_limit::RateLimiter;
use crate::passwords::Passwords;
use crate::secrets;
use crate::store::access::{AuditEntry, SessionId, SessionRole, UserId, UserRecord};
use crate::store::{ApiKeyRecord, OrgId};
use crate::tokens::{self, Tokens};

/// How often at most a key's last use is written.
const KEY_USE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a key read from the store is used without reading it again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(10);
/// Entries either map may hold before stale ones are swept.
const MAP_SWEEP_AT: usize = 100_000;

/// A member's role in an org, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including the org itself.
    Owner,
    /// Everything inside the org: hosts, keys, members, settings.
    Admin,
    /// Runs and cancels jobs; reads everything.
    Operator,
    /// Reads everything.
    Viewer,
}

/// What a call wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read hosts, jobs, logs, members and the org.
    Read,
    /// Create or cancel jobs.
    RunJobs,
    /// Create, re-enroll or delete hosts.
    ManageHosts,
    /// Configure a host's game servers.
    ManageGames,
    /// Create, change, suspend or delete cron schedules.
    ManageSchedules,
    /// Create, change or delete alert rules; change the org's alert settings (webhooks, default
    /// channels).
    ManageAlerts,
    /// Create, list or revoke API keys.
    ManageApiKeys,
    /// Invite, re-role or remove members.
    ManageMembers,
    /// Read the audit log.
    ReadAudit,
    /// Rename the org.
    UpdateOrg,
    /// Delete the org.
    DeleteOrg,
}

impl Action {
    /// Every action, in the order of the table in ARCHITECTURE.md.
    pub const ALL: [Action; 11] = [
        Action::Read,
        Action::RunJobs,
        Action::ManageHosts,
        Action::ManageGames,
        Action::ManageSchedules,
        Action::ManageAlerts,
        Action::ManageApiKeys,
        Action::ManageMembers,
        Action::ReadAudit,
        Action::UpdateOrg,
        Action::DeleteOrg,
    ];
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Operator, Role::Viewer];

    /// Parses a stored role name.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// Whether this role may do `action`: the role table, in one place.
    pub fn may(self, action: Action) -> bool {
        match action {
            Action::Read => true,
            Action::RunJobs => self <= Role::Operator,
            Action::ManageHosts
            | Action::ManageGames
            | Action::ManageSchedules
            | Action::ManageAlerts
            | Action::ManageApiKeys
            | Action::ManageMembers
            | Action::ReadAudit
            | Action::UpdateOrg => self <= Role::Admin,
            Action::DeleteOrg => self == Role::Owner,
        }
    }

    /// Whether this role may hand out `granted` (to a key, an invite or a member), or act on a
    /// member who holds it: never above one's own role.
    pub fn may_grant(self, granted: Role) -> bool {
        self <= granted
    }
}

/// An authenticated caller acting in one org.
#[derive(Debug, Clone)]
pub struct OrgAccess {
    /// The org.
    pub org: OrgId,
    /// The caller's role there.
    pub role: Role,
    /// Who the caller is, for jobs and the audit trail: a user or an API key.
    pub principal: Requester,
}

impl OrgAccess {
    /// Refuses with 403 unless the role may do `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.role.may(action) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the {} role may not do this ({action:?}); ask an owner or admin",
                self.role.as_str()
            )))
        }
    }

    /// Refuses with 403 unless the caller may hand out `role`.
    pub fn require_grant(&self, role: Role) -> Result<(), ApiError> {
        if self.role.may_grant(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the {} role may not grant or manage the {} role",
                self.role.as_str(),
                role.as_str()
            )))
        }
    }

    /// The user behind the call, when it is a user.
    pub fn user(&self) -> Option<UserId> {
        match self.principal.kind {
            RequesterKind::User => Uuid::parse_str(&self.principal.id).ok().map(UserId),
            _ => None,
        }
    }

    /// An audit entry for a successful `action` on a target, by this caller, now.
    pub fn audit(
        &self,
        client: &ClientIp,
        action: &str,
        target_kind: &str,
        target_id: impl ToString,
    ) -> AuditEntry {
        AuditEntry {
            id: Uuid::now_v7(),
            org: self.org,
            at: Timestamp::now(),
            actor: self.principal.clone(),
            action: action.to_owned(),
            target_kind: target_kind.to_owned(),
            target_id: target_id.to_string(),
            client_ip: client.0.map(|ip| ip.to_string()),
            outcome: "success".to_owned(),
        }
    }
}

/// A signed-in user (access token), outside any org.
#[derive(Debug, Clone)]
pub struct UserAccess {
    /// The user.
    pub user: UserRecord,
    /// Their login session.
    pub session: SessionId,
}

/// The client's address, from the connection (`into_make_service_with_connect_info`); `None`
/// when the server runs without connection info.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        Ok(ClientIp(addr))
    }
}

/// What authentication keeps between requests: the token key, the password hasher, login rate
/// limits and when each API key's last use was written.
#[derive(Debug)]
pub struct AuthState {
    /// Signs and verifies user tokens.
    pub tokens: Tokens,
    /// Hashes and verifies passwords.
    pub passwords: Passwords,
    /// Logins per client address.
    pub login_per_ip: RateLimiter,
    /// Logins per account.
    pub login_per_account: RateLimiter,
    /// When each key's last use was last written.
    key_uses: Mutex<HashMap<String, Instant>>,
    /// Keys read from the store, by key id, with when they were read.
    keys: Mutex<HashMap<String, (Arc<ApiKeyRecord>, Instant)>>,
}

impl AuthState {
    /// Reads (or makes, at first start) the JWT secret and sets up the hasher and limits.
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        use anyhow::Context;
        let secret =
            tokens::load_or_create_secret(&settings.jwt_secret_file).with_context(|| {
                format!("reading the JWT secret {}", settings.jwt_secret_file.display())
            })?;
        let passwords = Passwords::new(settings.password_memory_kib, settings.password_iterations)
            .context("password hashing settings")?;
        Ok(Self {
            tokens: Tokens::new(&secret, settings.access_token_ttl, settings.session_ttl),
            passwords,
            login_per_ip: RateLimiter::new(settings.login_per_ip),
            login_per_account: RateLimiter::new(settings.login_per_account),
            key_uses: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
        })
    }

    /// Whether a key's use should be written now (at most once a minute per key).
    fn key_use_due(&self, key_id: &str, now: Instant) -> bool {
        let mut uses = self.key_uses.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if uses.len() >= MAP_SWEEP_AT {
            uses.retain(|_, at| now.saturating_duration_since(*at) < KEY_USE_INTERVAL);
        }
        match uses.get(key_id) {
            Some(at) if now.saturating_duration_since(*at) < KEY_USE_INTERVAL => false,
            _ => {
                uses.insert(key_id.to_owned(), now);
                true
            }
        }
    }
}

impl AuthState {
    /// The key read from the store less than [`KEY_CACHE_TTL`] ago, if any.
    fn cached_key(&self, key_id: &str, now: Instant) -> Option<Arc<ApiKeyRecord>> {
        let keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.get(key_id)
            .filter(|(_, read_at)| now.saturating_duration_since(*read_at) < KEY_CACHE_TTL)
            .map(|(key, _)| Arc::clone(key))
    }

    fn cache_key(&self, key: Arc<ApiKeyRecord>, now: Instant) {
        let mut keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if keys.len() >= MAP_SWEEP_AT {
            keys.retain(|_, (_, at)| now.saturating_duration_since(*at) < KEY_CACHE_TTL);
        }
        keys.insert(key.key_id.clone(), (key, now));
    }

    /// Forgets a key (it was revoked), so its next use reads the store.
    pub fn forget_key(&self, key_id: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.remove(key_id);
    }

    /// Forgets every key of an org (it was deleted).
    pub fn forget_org_keys(&self, org: OrgId) {
        let mut keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.retain(|_, (key, _)| key.org != org);
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    super::bearer_token(headers).ok_or_else(|| {
        ApiError::unauthorized("send an access token or an API key as `Authorization: Bearer …`")
    })
}

/// The credential of an org route: `Authorization: Bearer …`, or else (a browser's WebSocket,
/// which cannot set headers) `Sec-WebSocket-Protocol: gsm.v1, gsm.bearer.<token>`.
fn org_bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    super::bearer_token(headers).or_else(|| super::websocket_bearer(headers)).ok_or_else(|| {
        ApiError::unauthorized(
            "send an access token or an API key as `Authorization: Bearer …` (a WebSocket may \
             send `Sec-WebSocket-Protocol: gsm.v1, gsm.bearer.<token>` instead)",
        )
    })
}

fn path_org(org: &str) -> Result<OrgId, ApiError> {
    Uuid::parse_str(org).map(OrgId).map_err(|_| ApiError::not_found("org"))
}

/// Authenticates the caller for the org named in the path.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    org: &str,
) -> Result<OrgAccess, ApiError> {
    let token = org_bearer(headers)?;
    if token.starts_with(secrets::CREDENTIAL_PREFIX)
        || token.starts_with(secrets::JOIN_TOKEN_PREFIX)
    {
        return Err(ApiError::unauthorized(
            "host credentials and join tokens work only on the agent gateway",
        ));
    }
    if token.starts_with(secrets::API_KEY_PREFIX) {
        return authenticate_key(state, token, org).await;
    }
    let verified = state.auth.tokens.verify(tokens::Kind::Access, token).map_err(|err| {
        tracing::debug!(error = %err, "access token refused");
        invalid_token()
    })?;
    let org = path_org(org)?;
    match state.store.session_role(verified.session, org, Timestamp::now()).await? {
        SessionRole::Dead => Err(invalid_token()),
        SessionRole::NotMember => Err(ApiError::not_found("org")),
        SessionRole::Member(role) => Ok(OrgAccess {
            org,
            role: Role::parse(&role).ok_or_else(|| {
                ApiError::internal(format!("membership with unknown role {role:?}"))
            })?,
            principal: Requester { kind: RequesterKind::User, id: verified.user.to_string() },
        }),
    }
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized("the access token is invalid, expired or its session has ended")
}

async fn authenticate_key(state: &AppState, token: &str, org: &str) -> Result<OrgAccess, ApiError> {
    let (key_id, secret) = secrets::parse_api_key(token).ok_or_else(|| {
        ApiError::unauthorized("the API key is malformed; keys look like gsm_<id>_<secret>")
    })?;
    let invalid = || ApiError::unauthorized("the API key is unknown, expired, revoked or wrong");
    let key = match state.auth.cached_key(key_id, Instant::now()) {
        Some(key) => key,
        None => {
            let read_at = Instant::now();
            let key = Arc::new(state.store.find_api_key(key_id).await?.ok_or_else(invalid)?);
            state.auth.cache_key(Arc::clone(&key), read_at);
            key
        }
    };
    if !secrets::hashes_equal(&secrets::hash(secret), &key.secret_hash) {
        return Err(invalid());
    }
    let now = Timestamp::now();
    if key.revoked_at.is_some_and(|at| at <= now) || key.expires_at.is_some_and(|at| at <= now) {
        return Err(invalid());
    }
    if path_org(org)? != key.org {
        return Err(ApiError::not_found("org"));
    }
    let role = Role::parse(&key.role).ok_or_else(|| {
        ApiError::internal(format!("API key {key_id} has unknown role {:?}", key.role))
    })?;
    if state.auth.key_use_due(&key.key_id, Instant::now()) {
        // Best effort: a failed write of the last use must not fail the request.
        if let Err(err) = state.store.touch_api_key(&key.key_id, now).await {
            tracing::warn!(error = %err, "recording an API key's last use failed");
        }
    }
    Ok(OrgAccess {
        org: key.org,
        role,
        principal: Requester { kind: RequesterKind::ApiKey, id: key.key_id.clone() },
    })
}

/// Authenticates a signed-in user (access token only: API keys act in one org, not as a user).
pub async fn authenticate_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<UserAccess, ApiError> {
    let token = bearer(headers)?;
    if token.starts_with(secrets::API_KEY_PREFIX) || token.starts_with(secrets::CREDENTIAL_PREFIX) {
        return Err(ApiError::unauthorized("this route needs a user's access token"));
    }
    let verified =
        state.auth.tokens.verify(tokens::Kind::Access, token).map_err(|_| invalid_token())?;
    let user = state
        .store
        .session_user(verified.session, Timestamp::now())
        .await?
        .filter(|user| user.id == verified.user)
        .ok_or_else(invalid_token)?;
    Ok(UserAccess { user, session: verified.session })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_the_table_says() {
        // Columns: Read, RunJobs, ManageHosts, ManageGames, ManageSchedules, ManageAlerts,
        // ManageApiKeys, ManageMembers, ReadAudit, UpdateOrg, DeleteOrg — the table in
        // ARCHITECTURE.md.
        let (y, n) = (true, false);
        let table = [
            (Role::Owner, [y, y, y, y, y, y, y, y, y, y, y]),
            (Role::Admin, [y, y, y, y, y, y, y, y, y, y, n]),
            (Role::Operator, [y, y, n, n, n, n, n, n, n, n, n]),
            (Role::Viewer, [y, n, n, n, n, n, n, n, n, n, n]),
        ];
        for (role, expected) in table {
            let got = Action::ALL.map(|a| role.may(a));
            assert_eq!(got, expected, "{role:?}");
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn no_role_grants_above_itself() {
        for granter in Role::ALL {
            for granted in Role::ALL {
                assert_eq!(
                    granter.may_grant(granted),
                    granter <= granted,
                    "{granter:?} {granted:?}"
                );
            }
        }
        assert!(!Role::Admin.may_grant(Role::Owner));
    }
}
