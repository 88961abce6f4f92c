//! `gsm-server init`: creates an org, its first owner API key and, when asked, its first owner
//! user, for a fresh install.

use gsm_proto::rest::OrgInitialized;
use jiff::Timestamp;
use uuid::Uuid;

use crate::passwords::Passwords;
use crate::secrets;
use crate::store::access::{NewUser, UserId};
use crate::store::{ApiKeyRecord, OrgId, Store, StoreResult};

/// Creates the org `name` with an owner API key and returns what to show the admin (once).
pub async fn create_org(store: &dyn Store, name: &str) -> StoreResult<OrgInitialized> {
    let now = Timestamp::now();
    let org = store.create_org(OrgId(Uuid::now_v7()), name, now).await?;
    let key = secrets::new_api_key();
    let record = ApiKeyRecord {
        key_id: key.key_id,
        org: org.id,
        name: "initial owner key".into(),
        role: "owner".into(),
        secret_hash: key.secret_hash,
        created_at: now,
        revoked_at: None,
        created_by: None,
        expires_at: None,
        last_used_at: None,
    };
    store.create_api_key(&record).await?;
    Ok(OrgInitialized { org: org.id.0, name: org.name, api_key: key.full })
}

/// The first owner user `gsm-server init` makes.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// Their email.
    pub email: &'a str,
    /// Their password (already checked with [`crate::passwords::validate`]).
    pub password: &'a str,
}

/// Creates a user and makes them an owner of `org`.
pub async fn create_owner(
    store: &dyn Store,
    passwords: &Passwords,
    org: OrgId,
    owner: Owner<'_>,
) -> anyhow::Result<UserId> {
    let now = Timestamp::now();
    let user = NewUser {
        id: UserId(Uuid::now_v7()),
        email: owner.email.trim().to_owned(),
        display_name: owner.email.trim().to_owned(),
        password_hash: passwords.hash(owner.password)?,
        now,
    };
    let created = store.create_user(&user).await?;
    store.add_member(org, created.id, "owner", now).await?;
    Ok(created.id)
}

/// Checks an org name: 1-64 printable characters.
pub fn validate_org_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(format!("org name {name:?} must be 1-64 printable characters"));
    }
    Ok(())
}

/// Checks an email: one `@` with something on both sides, at most 254 bytes, printable.
pub fn validate_email(email: &str) -> Result<(), String> {
    let email = email.trim();
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_control() || c.is_whitespace())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if ok { Ok(()) } else { Err(format!("{email:?} is not an email address")) }
}
