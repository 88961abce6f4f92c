//! `gsm-server init`: creates an org and its first owner API key, for a fresh install.

use gsm_proto::rest::OrgInitialized;
use jiff::Timestamp;
use uuid::Uuid;

use crate::secrets;
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
        revoked_at: None,
    };
    store.create_api_key(&record, now).await?;
    Ok(OrgInitialized { org: org.id.0, name: org.name, api_key: key.full })
}

/// Checks an org name: 1-64 printable characters.
pub fn validate_org_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(format!("org name {name:?} must be 1-64 printable characters"));
    }
    Ok(())
}
