//! The executor's session on the target database, and the protections a migration cannot
//! take away from it.
//!
//! Before the first statement the session is *pinned*: every setting that changes how the
//! server reads the next statement or what it means (`client_encoding`,
//! `standard_conforming_strings`, `backslash_quote`, `transform_null_equals`) is set
//! explicitly — never trusting a role's or a database's defaults — and so are the timeouts,
//! `application_name`, the connection-check interval and the `search_path` the analysis
//! resolved names through (bound in the token; `pg_temp` last, so a temporary relation never
//! hides a permanent one). Then the session takes the database's advisory lock: one key for
//! every autodb executor, so two registrations of the same database never migrate it at once.
//!
//! The analysis refuses every statement that would change these (`crate::guard` in the
//! analysis crate). What it cannot see — a `DO` block or a function doing the same through
//! dynamic SQL — is caught here: after every statement, before the next is sent,
//! [`Guard::check`] reads all of them back, with the roles and the advisory lock; if any was
//! changed or lost, the migration stops and its open transaction is rolled back.
//!
//! The check runs in a session the migration shares, after a statement that may have created
//! temporary views named like catalogs or changed the `search_path`: its query names every
//! relation, function, type and operator with `pg_catalog.`, so nothing the migration defines
//! can answer it. autodb's other reads in this session (the drift check, the after-snapshot,
//! the ledger) run only once the check has shown the `search_path` intact, where
//! `pg_catalog` is searched first and `pg_temp` last.

use std::collections::BTreeMap;

use tokio_postgres::{Client, GenericClient};

use super::apply::{pg_failed, remain_applied, Stop};
use super::Deps;
use crate::domain::error_code::ExecutionErrorCode;
use crate::domain::ExecutionError;
use crate::domain::Finish;

/// The advisory lock every autodb executor takes on a target database ("autodb" + 1).
pub const ADVISORY_KEY: i64 = 0x6175_746f_6462_0001;

/// Kept free at the end of an attempt for the ledger row, COMMIT and the status write.
const DEADLINE_MARGIN_SECONDS: i64 = 20;
/// An attempt with less time than this left starts nothing.
const MIN_STATEMENT_MS: i64 = 1_000;

/// Every setting the guard reads back after each statement. Timeouts may only have become
/// stricter; everything else must be exactly as pinned.
const CHECKED: &[&str] = &[
    "lock_timeout",
    "statement_timeout",
    "idle_in_transaction_session_timeout",
    "client_connection_check_interval",
    "application_name",
    "search_path",
    "session_replication_role",
    "client_encoding",
    "standard_conforming_strings",
    "backslash_quote",
    "transform_null_equals",
];

/// Settings that may be tightened (a smaller positive value) but not loosened.
const TIGHTENABLE: &[&str] = &[
    "lock_timeout",
    "statement_timeout",
    "idle_in_transaction_session_timeout",
];

/// What the session must still look like after every statement.
#[derive(Debug, Clone)]
pub(super) struct Guard {
    settings: BTreeMap<String, String>,
}

/// The session's protected state. Every name is `pg_catalog`-qualified, operators included:
/// it runs after statements that may have changed the `search_path` or created temporary
/// views named `pg_settings` or `pg_locks`.
const STATE: &str = "SELECT s.name::pg_catalog.text, s.setting::pg_catalog.text
       FROM pg_catalog.pg_settings s
      WHERE s.name OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
     UNION ALL SELECT 'current_user', current_user::pg_catalog.text
     UNION ALL SELECT 'session_user', session_user::pg_catalog.text
     UNION ALL SELECT 'advisory_lock', pg_catalog.count(*)::pg_catalog.text
       FROM pg_catalog.pg_locks l
      WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'
        AND l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
        AND l.granted
        AND l.objsubid OPERATOR(pg_catalog.=) 1
        AND l.classid OPERATOR(pg_catalog.=) $2::pg_catalog.oid
        AND l.objid OPERATOR(pg_catalog.=) $3::pg_catalog.oid";

/// `SET search_path` to exactly `path` (each schema quoted), then `pg_temp`: explicitly last,
/// so a temporary relation can never take the place of a permanent one, and no `"$user"`
/// that a schema created after the analysis could fill.
pub(crate) fn search_path_sql(path: &[String]) -> String {
    let mut parts: Vec<String> = path
        .iter()
        .filter(|s| !s.starts_with("pg_temp"))
        .map(|s| format!("\"{}\"", s.replace('"', "\"\"")))
        .collect();
    parts.push("pg_temp".into());
    format!("SET search_path = {}", parts.join(", "))
}

/// Reads the session's protected state ([`STATE`]).
async fn read_state(
    client: &impl GenericClient,
) -> Result<BTreeMap<String, String>, tokio_postgres::Error> {
    let names: Vec<&str> = CHECKED.to_vec();
    let key = ADVISORY_KEY as u64;
    let (classid, objid) = ((key >> 32) as u32, (key & 0xffff_ffff) as u32);
    Ok(client
        .query(STATE, &[&names, &classid, &objid])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// Pins the session, takes the advisory lock and records what the guard will hold it to.
/// `Busy` when another executor holds the lock. `deadline` bounds this attempt (Lambda: the
/// invocation's end; locally: the claim): no statement may run past it, so
/// `statement_timeout` is the smaller of the setting and the time left, less a margin for
/// the bookkeeping after the last statement.
pub(super) async fn prepare(
    deps: &Deps<'_>,
    client: &Client,
    lock_timeout_ms: u64,
    search_path: &[String],
    deadline: chrono::DateTime<chrono::Utc>,
) -> Result<Guard, Stop> {
    let left_ms =
        (deadline - deps.clock.now() - chrono::Duration::seconds(DEADLINE_MARGIN_SECONDS))
            .num_milliseconds();
    if left_ms < MIN_STATEMENT_MS {
        // Not enough time left to start anything: the next attempt starts fresh.
        return Err(Stop::Busy);
    }
    let statement_timeout_ms = deps
        .settings
        .statement_timeout_ms
        .min(u64::try_from(left_ms).unwrap_or(0));
    let version: i32 = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4",
            &[],
        )
        .await
        .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?
        .get(0);
    let settings = crate::target::migration_settings_sql(
        lock_timeout_ms,
        statement_timeout_ms,
        deps.settings.idle_in_transaction_timeout_ms,
        version,
    );
    client
        .batch_execute(&format!("{settings}; {}", search_path_sql(search_path)))
        .await
        .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?;
    let locked: bool = client
        .query_one(
            "SELECT pg_catalog.pg_try_advisory_lock($1)",
            &[&ADVISORY_KEY],
        )
        .await
        .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?
        .get(0);
    if !locked {
        return Err(Stop::Busy);
    }
    let settings = read_state(client)
        .await
        .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?;
    // Only a superuser can set it, so it is not pinned but required: `replica` silently
    // switches off triggers and foreign-key checks for everything the migration does.
    if let Some(role) = settings
        .get("session_replication_role")
        .filter(|r| *r != "origin")
    {
        return Err(Stop::Finish(Finish::Failed(ExecutionError {
            code: ExecutionErrorCode::ProtectionViolated,
            message: format!(
                "the session starts with session_replication_role = {role} (a role or \
                 database default), which switches off triggers and foreign-key checks; \
                 nothing was applied"
            ),
            statement_index: None,
            sqlstate: None,
        })));
    }
    Ok(Guard { settings })
}

impl Guard {
    /// What changed in `now` against the pinned state, one phrase per change.
    fn broken(&self, now: &BTreeMap<String, String>) -> Vec<String> {
        let mut broken = Vec::new();
        for (name, expected) in &self.settings {
            let value = now.get(name);
            let kept = match value {
                None => false,
                Some(value) if name == "advisory_lock" => value != "0",
                Some(value) if TIGHTENABLE.contains(&name.as_str()) => {
                    match (value.parse::<i64>(), expected.parse::<i64>()) {
                        (Ok(v), Ok(limit)) if limit > 0 => v > 0 && v <= limit,
                        (Ok(v), Ok(limit)) => v == limit,
                        _ => false,
                    }
                }
                Some(value) => value == expected,
            };
            if kept {
                continue;
            }
            broken.push(match (name.as_str(), value) {
                ("advisory_lock", _) => "autodb's advisory lock was released".to_string(),
                ("current_user" | "session_user", _) => "the role changed".to_string(),
                (_, None) => format!("{name} can no longer be read"),
                (_, Some(v)) if TIGHTENABLE.contains(&name.as_str()) => {
                    format!("{name} is now {v} ms")
                }
                (_, Some(v)) => format!("{name} changed to `{v}`"),
            });
        }
        broken.dedup();
        broken
    }

    /// Reads the session back after statement `index`; stops the migration if the statement
    /// loosened a timeout, changed a pinned setting, a role or the `search_path`, or
    /// released the advisory lock. `committed` statements stayed applied (a split migration)
    /// and the message says so.
    pub(super) async fn check(
        &self,
        client: &impl GenericClient,
        index: usize,
        committed: usize,
        in_transaction: bool,
    ) -> Result<(), Stop> {
        let now = read_state(client).await.map_err(pg_failed(
            ExecutionErrorCode::ProtectionCheckFailed,
            Some(index),
        ))?;
        let broken = self.broken(&now);
        if broken.is_empty() {
            return Ok(());
        }
        Err(Stop::Finish(Finish::Failed(violation(
            index,
            &broken,
            committed,
            in_transaction,
        ))))
    }
}

/// The failure of a migration whose statement `index` broke the protections `broken`; what
/// stays applied depends on whether it ran in a transaction and on what was committed before.
fn violation(
    index: usize,
    broken: &[String],
    committed: usize,
    in_transaction: bool,
) -> ExecutionError {
    let mut message = format!(
        "statement {} took away the executor's protections ({}); {}",
        index + 1,
        broken.join(", "),
        if in_transaction {
            "its transaction was rolled back"
        } else {
            "it ran outside a transaction, so what it did stays applied; nothing after it ran"
        }
    );
    if committed > 0 {
        message.push_str(&format!("; {}", remain_applied(0..committed)));
    }
    ExecutionError {
        code: ExecutionErrorCode::ProtectionViolated,
        message,
        statement_index: Some(index),
        sqlstate: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_says_what_stays_applied() {
        let broken = ["lock_timeout removed".to_string()];
        let inside = violation(2, &broken, 0, true);
        assert_eq!(inside.code, ExecutionErrorCode::ProtectionViolated);
        assert_eq!(inside.statement_index, Some(2));
        assert_eq!(
            inside.message,
            "statement 3 took away the executor's protections (lock_timeout removed); its \
             transaction was rolled back"
        );
        let outside = violation(2, &broken, 2, false);
        assert_eq!(
            outside.message,
            "statement 3 took away the executor's protections (lock_timeout removed); it ran \
             outside a transaction, so what it did stays applied; nothing after it ran; \
             statements 1 to 2 were committed and remain applied (statements that cannot run \
             in a transaction split the migration)"
        );
    }

    fn state(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pinned() -> Guard {
        Guard {
            settings: state(&[
                ("lock_timeout", "2000"),
                ("statement_timeout", "60000"),
                ("idle_in_transaction_session_timeout", "0"),
                ("standard_conforming_strings", "on"),
                ("search_path", "\"public\", pg_temp"),
                ("current_user", "app"),
                ("session_user", "app"),
                ("advisory_lock", "1"),
            ]),
        }
    }

    fn with(changes: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut now = pinned().settings;
        for (k, v) in changes {
            now.insert(k.to_string(), v.to_string());
        }
        now
    }

    #[test]
    fn an_unchanged_or_stricter_session_is_kept() {
        let guard = pinned();
        assert!(guard.broken(&guard.settings).is_empty());
        assert!(guard
            .broken(&with(&[
                ("lock_timeout", "500"),
                ("statement_timeout", "60000")
            ]))
            .is_empty());
        // A held lock counted twice is still held.
        assert!(guard.broken(&with(&[("advisory_lock", "2")])).is_empty());
    }

    #[test]
    fn every_loosened_or_changed_setting_is_named() {
        let guard = pinned();
        for (change, phrase) in [
            (("lock_timeout", "0"), "lock_timeout is now 0 ms"),
            (("lock_timeout", "2001"), "lock_timeout is now 2001 ms"),
            (
                ("statement_timeout", "-1"),
                "statement_timeout is now -1 ms",
            ),
            (
                ("idle_in_transaction_session_timeout", "1"),
                "idle_in_transaction_session_timeout is now 1 ms",
            ),
            (("lock_timeout", "soon"), "lock_timeout is now soon ms"),
            (
                ("standard_conforming_strings", "off"),
                "standard_conforming_strings changed to `off`",
            ),
            (("search_path", "evil, public"), "search_path changed"),
            (("current_user", "postgres"), "the role changed"),
            (("session_user", "postgres"), "the role changed"),
            (("advisory_lock", "0"), "advisory lock was released"),
        ] {
            let broken = guard.broken(&with(&[change]));
            assert_eq!(broken.len(), 1, "{change:?}: {broken:?}");
            assert!(broken[0].contains(phrase), "{change:?}: {broken:?}");
        }
        let mut gone = pinned().settings;
        gone.remove("standard_conforming_strings");
        assert_eq!(
            guard.broken(&gone),
            ["standard_conforming_strings can no longer be read"]
        );
        let both = guard.broken(&with(&[("current_user", "x"), ("session_user", "x")]));
        assert_eq!(both, ["the role changed"]);
    }

    #[test]
    fn the_session_is_pinned_to_what_the_parser_assumes() {
        let sql = crate::target::migration_settings_sql(2000, 60_000, 0, 150_000);
        for pin in [
            "SET client_encoding = 'UTF8'",
            "SET standard_conforming_strings = 'on'",
            "SET backslash_quote = 'safe_encoding'",
            "SET transform_null_equals = 'off'",
            "SET lock_timeout = 2000",
            "SET client_connection_check_interval = 1000",
        ] {
            assert!(sql.contains(pin), "{pin}: {sql}");
        }
        assert!(
            !crate::target::migration_settings_sql(2000, 60_000, 0, 130_000)
                .contains("client_connection_check")
        );
        assert_eq!(
            search_path_sql(&["app".into(), "we\"ird".into(), "pg_temp_3".into()]),
            "SET search_path = \"app\", \"we\"\"ird\", pg_temp"
        );
        assert_eq!(search_path_sql(&[]), "SET search_path = pg_temp");
    }
}
