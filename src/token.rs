//! Approval tokens: `base64url(payload JSON) "." base64url(HMAC-SHA256(key, first part))`.
//!
//! Pure: keys and the current time are arguments. The token binds the SQL by its SHA-256 (so
//! tokens stay small and never carry SQL into logs) and the connection by id. Verification
//! runs in the order of docs/architecture.md §3 and stops at the first failure: shape, key id, signature
//! (constant-time), expiry, then the binding to the submitted SQL and connection.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::{Binding, ConnectionId, Sql};

/// 2: `schema_fp` and `binding` are required (a version-1 token, which could lack them, is
/// no longer accepted).
const VERSION: u8 = 2;
/// Longest token accepted before any decoding work is done. Room for a drift scope of a few
/// hundred names (see [`MAX_SCOPE_BYTES`]).
const MAX_TOKEN_LEN: usize = 32 * 1024;
/// A drift scope longer than this (as JSON) is not carried in the token; the executor then
/// derives it again from a full snapshot.
pub const MAX_SCOPE_BYTES: usize = 16 * 1024;

/// The signed claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub v: u8,
    pub kid: String,
    pub conn_id: String,
    pub sql_sha256: String,
    pub nonce: String,
    pub schema_fp: String,
    /// The names `schema_fp` covers (the analysis' drift scope), so the executor reads and
    /// checks exactly those. Absent when the scope was too long to carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// The search path and the behaviour of the scope's objects at analysis.
    pub binding: Binding,
    /// Whether the migration ran in the sandbox before it was approved (passed or failed
    /// there). False when no sandbox is configured or the connection's policy allowed
    /// approval without it. Tokens issued before the field existed read as false.
    #[serde(default)]
    pub sandboxed: bool,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the approval token is malformed or its signature does not match")]
    Invalid,
    #[error("the approval token has expired")]
    Expired,
    #[error("the sql differs from the sql the token approved")]
    SqlMismatch,
    #[error("the connection_id differs from the connection the token approved")]
    ConnectionMismatch,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("the key ring is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("key {0:?} is not valid base64 or shorter than 32 bytes")]
    BadKey(String),
    #[error("the active key {0:?} is not in the ring")]
    MissingActive(String),
}

/// Signing keys by id. New tokens are signed with the active key; any key in the ring
/// verifies, so a key can be rotated in before it signs and kept after it stops signing.
pub struct KeyRing {
    active: String,
    keys: BTreeMap<String, SecretSlice<u8>>,
}

/// The stored form of a key ring (a secret's value): `{"active_kid", "keys": {kid: base64}}`.
#[derive(Serialize, Deserialize)]
struct StoredRing {
    active_kid: String,
    keys: BTreeMap<String, String>,
}

impl KeyRing {
    /// A ring with one fresh random key.
    pub fn generate() -> Self {
        let mut key = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let mut keys = BTreeMap::new();
        keys.insert("k1".to_string(), SecretSlice::from(key));
        Self {
            active: "k1".into(),
            keys,
        }
    }

    /// Reads a secret's value: a JSON key ring, or a raw string (at least 32 bytes) used as
    /// the single key `k1`, which is what a generated Secrets Manager secret holds.
    pub fn from_secret(value: &str) -> Result<Self, KeyRingError> {
        let trimmed = value.trim();
        if !trimmed.starts_with('{') {
            if trimmed.len() < 32 {
                return Err(KeyRingError::BadKey("k1".into()));
            }
            let mut keys = BTreeMap::new();
            keys.insert("k1".into(), SecretSlice::from(trimmed.as_bytes().to_vec()));
            return Ok(Self {
                active: "k1".into(),
                keys,
            });
        }
        let stored: StoredRing = serde_json::from_str(trimmed)?;
        let mut keys = BTreeMap::new();
        for (kid, b64) in stored.keys {
            let bytes = STANDARD
                .decode(b64.as_bytes())
                .ok()
                .filter(|k| k.len() >= 32)
                .ok_or_else(|| KeyRingError::BadKey(kid.clone()))?;
            keys.insert(kid, SecretSlice::from(bytes));
        }
        if !keys.contains_key(&stored.active_kid) {
            return Err(KeyRingError::MissingActive(stored.active_kid));
        }
        Ok(Self {
            active: stored.active_kid,
            keys,
        })
    }

    /// The JSON form, for writing to a secret store. Contains key material.
    pub fn to_secret(&self) -> String {
        let stored = StoredRing {
            active_kid: self.active.clone(),
            keys: self
                .keys
                .iter()
                .map(|(k, v)| (k.clone(), STANDARD.encode(v.expose_secret())))
                .collect(),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    pub fn active_kid(&self) -> &str {
        &self.active
    }

    fn mac(&self, kid: &str) -> Option<Hmac<Sha256>> {
        let key = self.keys.get(kid)?;
        Hmac::<Sha256>::new_from_slice(key.expose_secret()).ok()
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a new token approves.
pub struct Approval<'a> {
    pub connection_id: &'a ConnectionId,
    pub sql: &'a Sql,
    pub schema_fingerprint: String,
    pub scope: Option<Vec<String>>,
    pub binding: Binding,
    pub sandboxed: bool,
    pub issued_at: i64,
    pub ttl_seconds: i64,
    /// The nonce to sign instead of a fresh random one: 32 hex digits derived from something
    /// that must run at most once (an uploaded object's version, `app::upload`), so that
    /// every approval of it shares one nonce and the first execute's request is every
    /// later one's too.
    pub nonce: Option<[u8; 16]>,
}

/// Signs a new single-use token with a fresh 128-bit nonce (or [`Approval::nonce`]).
pub fn issue(ring: &KeyRing, approval: Approval<'_>) -> (String, Claims) {
    let nonce = approval.nonce.unwrap_or_else(|| {
        let mut fresh = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        fresh
    });
    let claims = Claims {
        v: VERSION,
        kid: ring.active.clone(),
        conn_id: approval.connection_id.to_string(),
        sql_sha256: approval.sql.sha256_hex(),
        nonce: hex::encode(nonce),
        schema_fp: approval.schema_fingerprint,
        scope: approval.scope,
        binding: approval.binding,
        sandboxed: approval.sandboxed,
        iat: approval.issued_at,
        exp: approval.issued_at + approval.ttl_seconds,
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
    let mut mac = ring
        .mac(&claims.kid)
        .expect("the active key is always in the ring");
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    (format!("{payload}.{signature}"), claims)
}

/// Checks shape, key id and signature. Expiry and binding are separate steps
/// ([`Claims::check_expiry`], [`Claims::check_binding`]) because an expired token that was
/// already used still identifies its request (idempotent replay).
pub fn verify_signature(ring: &KeyRing, token: &str) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Invalid);
    }
    let (payload, signature) = token.split_once('.').ok_or(TokenError::Invalid)?;
    // The strict decoder rejects non-canonical trailing bits, so every bit of the text matters.
    let payload_bytes = URL_SAFE_NO_PAD
        .decode(payload.as_bytes())
        .map_err(|_| TokenError::Invalid)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature.as_bytes())
        .map_err(|_| TokenError::Invalid)?;
    let claims: Claims = serde_json::from_slice(&payload_bytes).map_err(|_| TokenError::Invalid)?;
    if claims.v != VERSION {
        return Err(TokenError::Invalid);
    }
    let mut mac = ring.mac(&claims.kid).ok_or(TokenError::Invalid)?;
    mac.update(payload.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::Invalid)?;
    Ok(claims)
}

impl Claims {
    pub fn check_expiry(&self, now: i64) -> Result<(), TokenError> {
        if now >= self.exp {
            Err(TokenError::Expired)
        } else {
            Ok(())
        }
    }

    /// Byte-for-byte binding: the SHA-256 of the submitted SQL and the connection id must be
    /// the ones signed. Compared in constant time.
    pub fn check_binding(&self, sql: &Sql, connection_id: &str) -> Result<(), TokenError> {
        let submitted = sql.sha256_hex();
        if !bool::from(submitted.as_bytes().ct_eq(self.sql_sha256.as_bytes())) {
            return Err(TokenError::SqlMismatch);
        }
        if !bool::from(connection_id.as_bytes().ct_eq(self.conn_id.as_bytes())) {
            return Err(TokenError::ConnectionMismatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (KeyRing, ConnectionId, Sql) {
        (
            KeyRing::generate(),
            ConnectionId::generate(),
            Sql::parse("ALTER TABLE t ADD COLUMN c int;".into()).unwrap(),
        )
    }

    fn approve<'a>(conn: &'a ConnectionId, sql: &'a Sql, at: i64) -> Approval<'a> {
        Approval {
            connection_id: conn,
            sql,
            schema_fingerprint: "fp".into(),
            scope: None,
            binding: Binding {
                search_path: vec!["public".into()],
                effects: [(
                    "relation orders".to_string(),
                    "0123456789abcdef".to_string(),
                )]
                .into_iter()
                .collect(),
                sizes: Default::default(),
                sandboxed: false,
            },
            sandboxed: true,
            issued_at: at,
            ttl_seconds: 3600,
            nonce: None,
        }
    }

    #[test]
    fn a_fresh_token_verifies_and_binds() {
        let (ring, conn, sql) = fixture();
        let (token, issued) = issue(&ring, approve(&conn, &sql, 1_000));
        let claims = verify_signature(&ring, &token).unwrap();
        assert_eq!(claims, issued);
        assert_eq!(claims.exp, 4_600);
        assert_eq!(claims.nonce.len(), 32);
        claims.check_expiry(4_599).unwrap();
        assert_eq!(claims.check_expiry(4_600), Err(TokenError::Expired));
        claims.check_binding(&sql, conn.as_str()).unwrap();
        assert!(
            !token.contains("ALTER"),
            "the SQL never travels in the token"
        );
    }

    #[test]
    fn any_flipped_bit_invalidates_the_token() {
        let (ring, conn, sql) = fixture();
        let (token, _) = issue(&ring, approve(&conn, &sql, 0));
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut tampered = bytes.to_vec();
                tampered[i] ^= 1 << bit;
                let Ok(text) = String::from_utf8(tampered) else {
                    continue;
                };
                assert_eq!(
                    verify_signature(&ring, &text),
                    Err(TokenError::Invalid),
                    "byte {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn one_byte_of_sql_or_another_connection_is_a_mismatch() {
        let (ring, conn, sql) = fixture();
        let (token, _) = issue(&ring, approve(&conn, &sql, 0));
        let claims = verify_signature(&ring, &token).unwrap();
        let spaced = Sql::parse(format!("{} ", sql.as_str())).unwrap();
        assert_eq!(
            claims.check_binding(&spaced, conn.as_str()),
            Err(TokenError::SqlMismatch)
        );
        assert_eq!(
            claims.check_binding(&sql, ConnectionId::generate().as_str()),
            Err(TokenError::ConnectionMismatch)
        );
    }

    #[test]
    fn unknown_key_and_other_ring_are_invalid() {
        let (ring, conn, sql) = fixture();
        let (token, _) = issue(&ring, approve(&conn, &sql, 0));
        assert_eq!(
            verify_signature(&KeyRing::generate(), &token),
            Err(TokenError::Invalid)
        );
        assert_eq!(verify_signature(&ring, "x"), Err(TokenError::Invalid));
        assert_eq!(verify_signature(&ring, ""), Err(TokenError::Invalid));
        assert_eq!(
            verify_signature(&ring, &"a.".repeat(5000)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn rotated_rings_verify_old_tokens() {
        let (old, conn, sql) = fixture();
        let (token, _) = issue(&old, approve(&conn, &sql, 0));
        let mut stored: serde_json::Value = serde_json::from_str(&old.to_secret()).unwrap();
        stored["keys"]["k2"] = serde_json::Value::String(STANDARD.encode([7u8; 32]));
        stored["active_kid"] = "k2".into();
        let rotated = KeyRing::from_secret(&stored.to_string()).unwrap();
        assert_eq!(rotated.active_kid(), "k2");
        verify_signature(&rotated, &token).unwrap();
        let (new_token, claims) = issue(&rotated, approve(&conn, &sql, 0));
        assert_eq!(claims.kid, "k2");
        assert_eq!(verify_signature(&old, &new_token), Err(TokenError::Invalid));
    }

    #[test]
    fn raw_secret_strings_are_accepted_as_one_key() {
        let ring = KeyRing::from_secret(&"s".repeat(64)).unwrap();
        assert_eq!(ring.active_kid(), "k1");
        assert!(KeyRing::from_secret("short").is_err());
        assert!(matches!(
            KeyRing::from_secret(r#"{"active_kid":"x","keys":{}}"#),
            Err(KeyRingError::MissingActive(_))
        ));
        assert!(
            !format!("{ring:?}").contains("sss"),
            "Debug never prints keys"
        );
    }
}
