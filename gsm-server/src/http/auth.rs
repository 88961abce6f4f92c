//! Who is calling, and what they may do.
//!
//! Until user accounts land (issue #4), callers authenticate with an org API key
//! (`Authorization: Bearer gsm_<id>_<secret>`). The org comes from the key, never from the request:
//! a key used on another org's path gets the same 404 as a missing org, so ids of other tenants
//! cannot be probed. What each role may do is decided in [`Role::may`], the one place that knows.

use axum::http::HeaderMap;
use gsm_core::job::{Requester, RequesterKind};
use jiff::Timestamp;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::ApiError;
use crate::secrets;
use crate::store::OrgId;

/// A member's role in an org, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including the org itself.
    Owner,
    /// Everything inside the org: hosts, keys, settings.
    Admin,
    /// Runs and cancels jobs; reads everything.
    Operator,
    /// Reads everything.
    Viewer,
}

/// What a call wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read anything in the org.
    Read,
    /// Create or cancel jobs.
    RunJobs,
    /// Create, revoke or delete hosts.
    ManageHosts,
}

impl Role {
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

    /// Whether this role may do `action`.
    pub fn may(self, action: Action) -> bool {
        match action {
            Action::Read => true,
            Action::RunJobs => self <= Role::Operator,
            Action::ManageHosts => self <= Role::Admin,
        }
    }
}

/// An authenticated caller acting in one org.
#[derive(Debug, Clone)]
pub struct OrgAccess {
    /// The org.
    pub org: OrgId,
    /// The caller's role there.
    pub role: Role,
    /// Who the caller is, for jobs and the audit trail.
    pub principal: Requester,
}

impl OrgAccess {
    /// Refuses with 403 unless the role may do `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.role.may(action) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the {} role may not do this ({action:?}); use a key with a higher role",
                self.role.as_str()
            )))
        }
    }
}

/// Authenticates the caller for the org named in the path.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    org: &str,
) -> Result<OrgAccess, ApiError> {
    let token = super::bearer_token(headers).ok_or_else(|| {
        ApiError::unauthorized("send an API key as `Authorization: Bearer gsm_…`")
    })?;
    let (key_id, secret) = secrets::parse_api_key(token).ok_or_else(|| {
        ApiError::unauthorized("the API key is malformed; keys look like gsm_<id>_<secret>")
    })?;
    let invalid = || ApiError::unauthorized("the API key is unknown, revoked or wrong");
    let key = state.store.find_api_key(key_id).await?.ok_or_else(invalid)?;
    if !secrets::hashes_equal(&secrets::hash(secret), &key.secret_hash) {
        return Err(invalid());
    }
    if key.revoked_at.is_some_and(|at| at <= Timestamp::now()) {
        return Err(invalid());
    }
    let path_org = Uuid::parse_str(org).map(OrgId).map_err(|_| ApiError::not_found("org"))?;
    if path_org != key.org {
        return Err(ApiError::not_found("org"));
    }
    let role = Role::parse(&key.role).ok_or_else(|| {
        ApiError::internal(format!("API key {key_id} has unknown role {:?}", key.role))
    })?;
    Ok(OrgAccess {
        org: key.org,
        role,
        principal: Requester { kind: RequesterKind::ApiKey, id: key.key_id },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_the_table_says() {
        let table = [
            (Role::Owner, [true, true, true]),
            (Role::Admin, [true, true, true]),
            (Role::Operator, [true, true, false]),
            (Role::Viewer, [true, false, false]),
        ];
        for (role, expected) in table {
            let got = [Action::Read, Action::RunJobs, Action::ManageHosts].map(|a| role.may(a));
            assert_eq!(got, expected, "{role:?}");
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }
}
