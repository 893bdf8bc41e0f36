//! The codes of failed migration requests (see the parent module for the policy).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{spec, Spec};

/// The `error.code` of a failed migration request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExecutionErrorCode {
    StatementFailed,
    StatementTimeout,
    LockTimeout,
    ConnectionFailed,
    ConnectionNotFound,
    PrepareFailed,
    CommitFailed,
    LedgerFailed,
    IntrospectionFailed,
    LockLost,
    ProtectionViolated,
    ProtectionCheckFailed,
    MigrationRefused,
    SqlParseError,
    EmptyMigration,
    TransactionControl,
    SchemaDrift,
    LedgerTampered,
    Expired,
    RetriesExhausted,
    /// A code read back from a stored request that this version does not know; autodb never
    /// writes one itself.
    Other(UnknownCode),
}

/// A stored execution error code this version does not know, exactly as stored. Only
/// deserializing makes one, and never from a known code's string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownCode(String);

impl UnknownCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ExecutionErrorCode {
    /// Every code autodb writes (not [`Self::Other`]).
    pub const ALL: &'static [Self] = &[
        Self::StatementFailed,
        Self::StatementTimeout,
        Self::LockTimeout,
        Self::ConnectionFailed,
        Self::ConnectionNotFound,
        Self::PrepareFailed,
        Self::CommitFailed,
        Self::LedgerFailed,
        Self::IntrospectionFailed,
        Self::LockLost,
        Self::ProtectionViolated,
        Self::ProtectionCheckFailed,
        Self::MigrationRefused,
        Self::SqlParseError,
        Self::EmptyMigration,
        Self::TransactionControl,
        Self::SchemaDrift,
        Self::LedgerTampered,
        Self::Expired,
        Self::RetriesExhausted,
    ];

    /// `None` for [`Self::Other`]: what it means, this version cannot say.
    fn spec(&self) -> Option<Spec> {
        Some(match self {
            Self::StatementFailed => spec(
                "STATEMENT_FAILED",
                false,
                "PostgreSQL rejected a statement (`statement_index` and `sqlstate` say which \
                 and why)",
            ),
            Self::StatementTimeout => spec(
                "STATEMENT_TIMEOUT",
                false,
                "a statement ran past `statement_timeout` or the attempt's deadline and was \
                 rolled back; split the migration",
            ),
            Self::LockTimeout => spec(
                "LOCK_TIMEOUT",
                true,
                "the locks were not granted within the retry budget; the message names who \
                 held them",
            ),
            Self::ConnectionFailed => spec(
                "CONNECTION_FAILED",
                false,
                "the database refused the session for a reason waiting cannot cure \
                 (authentication, no such database, TLS verification)",
            ),
            Self::ConnectionNotFound => spec(
                "CONNECTION_NOT_FOUND",
                false,
                "the connection was removed before the migration ran",
            ),
            Self::PrepareFailed => spec(
                "PREPARE_FAILED",
                true,
                "PostgreSQL failed while autodb set up the session or its ledger",
            ),
            Self::CommitFailed => spec(
                "COMMIT_FAILED",
                false,
                "PostgreSQL refused the COMMIT (e.g. a deferred constraint)",
            ),
            Self::LedgerFailed => spec(
                "LEDGER_FAILED",
                true,
                "PostgreSQL failed while autodb recorded the run in its ledger",
            ),
            Self::IntrospectionFailed => spec(
                "INTROSPECTION_FAILED",
                true,
                "PostgreSQL failed while autodb read the schema to check drift or diff the run",
            ),
            Self::LockLost => spec(
                "LOCK_LOST",
                true,
                "the connection lock was lost before or during the run",
            ),
            Self::ProtectionViolated => spec(
                "PROTECTION_VIOLATED",
                false,
                "a statement took away one of the executor's protections at run time \
                 (a timeout, a pinned setting, the role, the advisory lock)",
            ),
            Self::ProtectionCheckFailed => spec(
                "PROTECTION_CHECK_FAILED",
                true,
                "PostgreSQL failed while the executor read its protections back after a \
                 statement",
            ),
            Self::MigrationRefused => spec(
                "MIGRATION_REFUSED",
                false,
                "the executor's own check refused a statement before anything was sent",
            ),
            Self::SqlParseError => spec(
                "SQL_PARSE_ERROR",
                false,
                "the stored SQL did not parse as analyzed; nothing was applied",
            ),
            Self::EmptyMigration => spec(
                "EMPTY_MIGRATION",
                false,
                "the stored SQL held no statements",
            ),
            Self::TransactionControl => spec(
                "TRANSACTION_CONTROL",
                false,
                "the SQL controls the transaction in a way autodb cannot honour",
            ),
            Self::SchemaDrift => spec(
                "SCHEMA_DRIFT",
                false,
                "the drift scope changed between analyze and execute; nothing was applied: \
                 analyze again",
            ),
            Self::LedgerTampered => spec(
                "LEDGER_TAMPERED",
                false,
                "autodb's ledger tables in the target were changed (triggers, rules, \
                 policies, owner)",
            ),
            Self::Expired => spec(
                "EXPIRED",
                true,
                "the request did not start within the token lifetime; approve it again",
            ),
            Self::RetriesExhausted => spec(
                "RETRIES_EXHAUSTED",
                true,
                "the job could not be completed after repeated attempts, or was dead-lettered",
            ),
            Self::Other(_) => return None,
        })
    }

    /// The code on the wire (an unknown one as it was stored).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(unknown) => unknown.as_str(),
            known => known.spec().map_or("", |s| s.code),
        }
    }

    /// Whether running the same migration again may succeed; `false` for an unknown code.
    pub fn retryable(&self) -> bool {
        self.spec().is_some_and(|s| s.retryable)
    }

    pub fn description(&self) -> &'static str {
        self.spec()
            .map_or("a code this version of autodb does not know", |s| {
                s.description
            })
    }

    /// The known code `raw` names, or [`Self::Other`] keeping it.
    pub fn parse(raw: &str) -> Self {
        Self::ALL
            .iter()
            .find(|known| known.as_str() == raw)
            .cloned()
            .unwrap_or_else(|| Self::Other(UnknownCode(raw.to_string())))
    }
}

impl Serialize for ExecutionErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Tolerant: a stored request whose code this version does not know stays readable.
impl<'de> Deserialize<'de> for ExecutionErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Self::parse(&raw))
    }
}

impl std::fmt::Display for ExecutionErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_to_their_wire_strings_and_back() {
        for code in ExecutionErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(
                serde_json::from_str::<ExecutionErrorCode>(&json).unwrap(),
                *code
            );
        }
        assert_eq!(
            serde_json::to_string(&ExecutionErrorCode::LockTimeout).unwrap(),
            r#""LOCK_TIMEOUT""#
        );
    }

    #[test]
    fn an_unknown_stored_code_reads_back_as_it_was_written() {
        let stored = r#""SOMETHING_NEWER""#;
        let code: ExecutionErrorCode = serde_json::from_str(stored).unwrap();
        assert!(matches!(&code, ExecutionErrorCode::Other(u) if u.as_str() == "SOMETHING_NEWER"));
        assert!(!code.retryable());
        assert_eq!(serde_json::to_string(&code).unwrap(), stored);
        assert_eq!(
            ExecutionErrorCode::parse("SCHEMA_DRIFT"),
            ExecutionErrorCode::SchemaDrift
        );
    }
}
