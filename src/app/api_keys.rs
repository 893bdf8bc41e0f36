//! API keys: created with a tenant, roles and optionally connections, shown once, stored
//! only as their SHA-256; listed and revoked by their public id.
//!
//! Authentication reads the key's record on every request (consistently, in DynamoDB), with
//! no cache: a revocation is effective for the next request, locally and in every warm
//! Lambda alike.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use super::audit::{self, Action, Entry};
use super::{App, AppError};
use crate::domain::access::{valid_tenant, ApiKeyRecord, Principal, Role};
use crate::domain::sha256_hex;
use crate::ports::{AuditLog, KeyStore, Store};

/// What a new key may do.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub tenant: String,
    pub roles: BTreeSet<Role>,
    pub connections: Option<BTreeSet<String>>,
}

/// The longest key accepted in `X-API-Key`.
pub const MAX_KEY_LEN: usize = 256;

/// A new random API key (`adb_` + 64 hex digits). Only its hash is ever stored.
pub fn generate() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("adb_{}", hex::encode(bytes)))
}

/// Stores `key` (a secret the caller chose or [`generate`]d) with `new`'s scope.
pub async fn store(
    store: &dyn Store,
    now: DateTime<Utc>,
    by: &Principal,
    key: &SecretString,
    new: NewKey,
) -> Result<ApiKeyRecord, AppError> {
    if !valid_tenant(&new.tenant) {
        return Err(AppError::Validation(
            "tenant must be 1 to 64 of A-Z, a-z, 0-9, '_', '-', '.'".into(),
        ));
    }
    if new.roles.is_empty() {
        return Err(AppError::Validation("a key needs at least one role".into()));
    }
    let sha256 = sha256_hex(key.expose_secret().as_bytes());
    let record = ApiKeyRecord {
        key_id: ApiKeyRecord::key_id_of(&sha256),
        sha256,
        tenant: new.tenant,
        roles: new.roles,
        connections: new.connections,
        created_at: now,
        revoked_at: None,
    };
    store.put_api_key(&record).await?;
    let entry = Entry {
        verdict: Some(roles_text(&record.roles)),
        detail: record
            .connections
            .as_ref()
            .map(|c| c.iter().cloned().collect::<Vec<_>>().join(",")),
        ..Entry::default()
    };
    audit_key(store, now, by, &record, Action::CreateKey, entry).await?;
    Ok(record)
}

/// Creates a new key; returns it (to be shown once) and its record.
pub async fn create(
    store_in: &dyn Store,
    now: DateTime<Utc>,
    by: &Principal,
    new: NewKey,
) -> Result<(SecretString, ApiKeyRecord), AppError> {
    let key = generate();
    let record = store(store_in, now, by, &key, new).await?;
    Ok((key, record))
}

/// Records `action` on `key` in the key's tenant's trail (whoever acted: an operator acts
/// for every tenant).
async fn audit_key(
    store: &dyn AuditLog,
    now: DateTime<Utc>,
    by: &Principal,
    key: &ApiKeyRecord,
    action: Action,
    entry: Entry,
) -> Result<(), AppError> {
    let as_tenant = Principal {
        tenant: key.tenant.clone(),
        ..by.clone()
    };
    let entry = Entry {
        subject: Some(key.key_id.clone()),
        ..entry
    };
    audit::append(store, now, &as_tenant, action, entry).await
}

fn roles_text(roles: &BTreeSet<Role>) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Every key, oldest first.
pub async fn list(store: &dyn KeyStore) -> Result<Vec<ApiKeyRecord>, AppError> {
    let mut keys = store.list_api_keys().await?;
    keys.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then(a.key_id.cmp(&b.key_id))
    });
    Ok(keys)
}

/// Revokes the key `key_id` (effective for the next request it makes).
pub async fn revoke(
    store: &dyn Store,
    now: DateTime<Utc>,
    by: &Principal,
    key_id: &str,
) -> Result<ApiKeyRecord, AppError> {
    let mut record = store
        .list_api_keys()
        .await?
        .into_iter()
        .find(|k| k.key_id == key_id)
        .ok_or(AppError::NotFound("API key"))?;
    if record.revoked_at.is_none() {
        record.revoked_at = Some(now);
        store.put_api_key(&record).await?;
    }
    let entry = Entry {
        verdict: Some("revoked".into()),
        ..Entry::default()
    };
    audit_key(store, now, by, &record, Action::RevokeKey, entry).await?;
    Ok(record)
}

/// The caller a presented key stands for; `None` for an unknown or revoked key.
pub async fn authenticate(app: &App, presented: &str) -> Result<Option<Principal>, AppError> {
    if presented.is_empty() || presented.len() > MAX_KEY_LEN {
        return Ok(None);
    }
    // Looked up by hash: the lookup's timing depends on the hash, not on how much of a real
    // key was guessed, and the key itself is compared nowhere.
    let record = app
        .store
        .get_api_key(&sha256_hex(presented.as_bytes()))
        .await?;
    Ok(record
        .filter(|r| r.revoked_at.is_none())
        .map(|r| r.principal()))
}
