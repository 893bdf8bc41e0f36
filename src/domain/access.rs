//! Who may do what: tenants, roles and API keys.
//!
//! Every API key belongs to one tenant and holds a set of [`Role`]s, and optionally a set of
//! connections it is limited to. A caller sees only its tenant's objects (and, for a limited
//! key, only those connections): whatever it cannot see does not exist for it, so the API
//! answers 404, never 403, and existence does not leak across tenants. A missing role is a
//! 403 (`FORBIDDEN`): it is checked before anything is looked up, so it reveals nothing.
//!
//! Keys and connections stored before tenants existed have none: they belong to
//! [`DEFAULT_TENANT`], and such keys hold every role, so an upgrade breaks nothing.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Connection;

/// The tenant of keys and connections created before tenants existed, and of `autodb
/// serve`'s own first key.
pub const DEFAULT_TENANT: &str = "default";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Analyze and sandbox migrations, introspect connections.
    Analyze,
    /// Approve or reject another key's analysis.
    Approve,
    /// Execute an approved migration.
    Execute,
    /// Register connections, set their policies, read the audit trail.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Analyze, Role::Approve, Role::Execute, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyze => "analyze",
            Role::Approve => "approve",
            Role::Execute => "execute",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant name: 1–64 of `[A-Za-z0-9_.-]`.
pub fn valid_tenant(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// An API key as stored: never the key itself, only its SHA-256 (`sha256`), from which the
/// public `key_id` is derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub sha256: String,
    pub tenant: String,
    pub roles: BTreeSet<Role>,
    /// The connections the key is limited to; `None`: all of its tenant's.
    pub connections: Option<BTreeSet<String>>,
    pub created_at: DateTime<Utc>,
    /// A revoked key authenticates nothing, from the moment this is stored.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    /// The public id of the key with this hash: enough to name it in lists, logs and the
    /// audit trail, far too little to guess it from.
    pub fn key_id_of(sha256_hex: &str) -> String {
        format!("key_{}", &sha256_hex[..sha256_hex.len().min(16)])
    }

    /// A key stored before tenants existed: the default tenant, every role.
    pub fn legacy(sha256_hex: &str) -> Self {
        Self {
            key_id: Self::key_id_of(sha256_hex),
            sha256: sha256_hex.to_string(),
            tenant: DEFAULT_TENANT.to_string(),
            roles: Role::ALL.into_iter().collect(),
            connections: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            revoked_at: None,
        }
    }

    pub fn principal(&self) -> Principal {
        Principal {
            key_id: self.key_id.clone(),
            tenant: self.tenant.clone(),
            roles: self.roles.clone(),
            connections: self.connections.clone(),
        }
    }
}

/// A caller without the role an action needs (403 `FORBIDDEN`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub String);

/// The caller of a use case: an API key, or the uploader of a migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's id (`key_…`), or `s3:<principal>` for an upload.
    pub key_id: String,
    pub tenant: String,
    pub roles: BTreeSet<Role>,
    pub connections: Option<BTreeSet<String>>,
}

impl Principal {
    /// The uploader of a migration file to `connection`'s prefix (the S3 trigger): it may
    /// analyze and, within the connection's policies, execute; it approves nothing.
    pub fn uploader(connection: &Connection, who: &str) -> Self {
        Self {
            key_id: format!("s3:{who}"),
            tenant: connection.tenant.clone(),
            roles: [Role::Analyze, Role::Execute].into_iter().collect(),
            connections: Some([connection.id.to_string()].into_iter().collect()),
        }
    }

    /// A principal of the default tenant with every role, for tools that act on the
    /// service's own behalf (the demo, the CLI's key management).
    pub fn operator(name: &str) -> Self {
        Self {
            key_id: name.to_string(),
            tenant: DEFAULT_TENANT.to_string(),
            roles: Role::ALL.into_iter().collect(),
            connections: None,
        }
    }

    /// `Err(Forbidden)` unless the caller holds `role`.
    pub fn require(&self, role: Role) -> Result<(), Forbidden> {
        if self.roles.contains(&role) {
            Ok(())
        } else {
            Err(Forbidden(format!("this API key lacks the `{role}` role")))
        }
    }

    /// Whether the caller may see `connection` at all.
    pub fn sees(&self, connection: &Connection) -> bool {
        connection.tenant == self.tenant && self.may_use(connection.id.as_str())
    }

    /// Whether the caller's connection limit (if any) allows `connection_id`.
    pub fn may_use(&self, connection_id: &str) -> bool {
        self.connections
            .as_ref()
            .is_none_or(|set| set.contains(connection_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_keys_are_default_tenant_admins() {
        let key = ApiKeyRecord::legacy(&"ab".repeat(32));
        assert_eq!(key.tenant, DEFAULT_TENANT);
        assert_eq!(key.key_id, "key_abababababababab");
        assert!(Role::ALL
            .iter()
            .all(|r| key.principal().require(*r).is_ok()));
    }

    #[test]
    fn roles_parse_their_own_names_only() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse(""), None);
    }

    #[test]
    fn tenant_names_are_bounded() {
        assert!(valid_tenant("team-a.prod_1"));
        assert!(!valid_tenant(""));
        assert!(!valid_tenant("a/b"));
        assert!(!valid_tenant(&"a".repeat(65)));
    }
}
