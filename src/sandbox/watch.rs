//! What keeps a run inside its bounds, whatever its code does to its own session.
//!
//! - [`Protections`]: after every statement, the session's timeouts, role, `search_path` and
//!   the settings that change how the server reads SQL are read back (the executor's check,
//!   `crate::target::migration_settings_sql`, for the sandbox's session). A timeout loosened or removed, a
//!   role changed, a setting changed: the run ends as a failure of the migration, with why.
//! - [`deadline`]: a wall-clock bound per run, kept by autodb, not by the server: when it
//!   passes, the server account cancels and then terminates every session of the run's
//!   role (`server::end_sessions`). A function that sets `statement_timeout = 0` and sleeps,
//!   or catches the cancel, still ends at the deadline, as a failure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use autodb_analysis::sandbox_result::MigrationError;
use autodb_core::sql::ParsedStatement;
use tokio_postgres::{Client, GenericClient};

use super::{observe, server, SandboxError};

/// Settings read back after every statement. Only `pg_catalog` functions, schema-qualified,
/// and no operators: nothing a migration creates can stand in for them.
const STATE: &str = "SELECT pg_catalog.current_setting('lock_timeout'), \
    pg_catalog.current_setting('statement_timeout'), \
    pg_catalog.current_setting('idle_in_transaction_session_timeout'), \
    pg_catalog.current_setting('search_path'), \
    pg_catalog.current_setting('default_transaction_read_only'), \
    pg_catalog.current_setting('client_encoding'), \
    pg_catalog.current_setting('standard_conforming_strings'), \
    CURRENT_USER::text, SESSION_USER::text";

/// The settings names, in [`STATE`]'s order after the three timeouts.
const FIXED: [&str; 6] = [
    "search_path",
    "default_transaction_read_only",
    "client_encoding",
    "standard_conforming_strings",
    "the role (current_user)",
    "the login (session_user)",
];

/// What the session must still look like after every statement.
#[derive(Debug, Clone)]
pub struct Protections {
    timeouts_ms: [u64; 3],
    fixed: Vec<String>,
}

impl Protections {
    /// Reads the session as autodb set it, before the migration's first statement.
    pub async fn read(client: &Client) -> Result<Self, SandboxError> {
        let row = client
            .query_one(STATE, &[])
            .await
            .map_err(SandboxError::server)?;
        let mut timeouts_ms = [0; 3];
        for (i, t) in timeouts_ms.iter_mut().enumerate() {
            *t = duration_ms(&row.get::<_, String>(i)).unwrap_or(0);
        }
        Ok(Self {
            timeouts_ms,
            fixed: (3..9).map(|i| row.get(i)).collect(),
        })
    }

    /// Reads the session back after `stmt`; a failure of the migration if it was loosened.
    pub async fn check(
        &self,
        client: &impl GenericClient,
        stmt: &ParsedStatement,
    ) -> Result<(), MigrationError> {
        let row = client
            .query_one(STATE, &[])
            .await
            .map_err(|e| observe::observation_failed(stmt, &e))?;
        let now: Vec<String> = (0..9).map(|i| row.get(i)).collect();
        let broken = self.broken(&now);
        if broken.is_empty() {
            return Ok(());
        }
        Err(MigrationError {
            statement_index: stmt.index,
            sqlstate: None,
            message: format!(
                "statement {} took away the sandbox's protections ({}); the executor would stop \
                 there too",
                stmt.index + 1,
                broken.join(", ")
            ),
            position: None,
            line: None,
            column: None,
        })
    }

    /// What differs in `now` (the nine values of [`STATE`]): a timeout removed or longer, any
    /// other value changed.
    fn broken(&self, now: &[String]) -> Vec<String> {
        let names = [
            "lock_timeout",
            "statement_timeout",
            "idle_in_transaction_session_timeout",
        ];
        let mut broken = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let ms = duration_ms(&now[i]);
            let was = self.timeouts_ms[i];
            // A timeout autodb set stays on and no longer; one autodb left off stays off.
            let loosened = match ms {
                Some(0) | None => was != 0,
                Some(ms) => was != 0 && ms > was,
            };
            if loosened {
                broken.push(format!("{name} is now {}", now[i]));
            }
        }
        for (k, name) in FIXED.iter().enumerate() {
            if now[3 + k] != self.fixed[k] {
                broken.push(format!("{name} changed"));
            }
        }
        broken
    }
}

/// A duration setting as `current_setting` prints it (`0`, `250ms`, `20s`, `1min`, `2h`,
/// `1d`), in milliseconds.
fn duration_ms(value: &str) -> Option<u64> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Runs `run` with a wall-clock `limit`. When it passes, every session of `role` is
/// cancelled then terminated from `admin` (the server account's session), the run is
/// abandoned, and the migration's failure at the statement `running` names is returned.
pub async fn deadline<F>(
    admin: &Client,
    role: &str,
    limit: Duration,
    running: &AtomicUsize,
    run: F,
) -> Result<observe::Run, SandboxError>
where
    F: std::future::Future<Output = Result<observe::Run, SandboxError>>,
{
    tokio::select! {
        result = run => result,
        () = tokio::time::sleep(limit) => {
            if let Err(err) = server::end_sessions(admin, role).await {
                tracing::warn!(error = %err, role, "the sandbox watchdog could not end a run");
            }
            let index = running.load(Ordering::Relaxed);
            Ok(observe::Run {
                statements: vec![],
                error: Some(MigrationError {
                    statement_index: index,
                    sqlstate: None,
                    message: format!(
                        "the sandbox run passed its deadline of {} ms during statement {} and \
                         was ended by the watchdog (a migration that takes this long, or that \
                         lifts its own time limits, is not approved by the sandbox)",
                        limit.as_millis(),
                        index + 1
                    ),
                    position: None,
                    line: None,
                    column: None,
                }),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_in_every_unit() {
        assert_eq!(duration_ms("0"), Some(0));
        assert_eq!(duration_ms("250ms"), Some(250));
        assert_eq!(duration_ms("20s"), Some(20_000));
        assert_eq!(duration_ms("1min"), Some(60_000));
        assert_eq!(duration_ms("2h"), Some(7_200_000));
        assert_eq!(duration_ms("1d"), Some(86_400_000));
        assert_eq!(duration_ms("soon"), None);
    }

    fn state(timeouts: [&str; 3], path: &str, user: &str) -> Vec<String> {
        let mut v: Vec<String> = timeouts.iter().map(|s| s.to_string()).collect();
        v.extend([path, "off", "UTF8", "on", user, user].map(String::from));
        v
    }

    #[test]
    fn a_loosened_timeout_or_a_changed_setting_is_broken_a_tighter_one_is_not() {
        let base = state(["2s", "20s", "1min"], "public", "run");
        let p = Protections {
            timeouts_ms: [2_000, 20_000, 60_000],
            fixed: base[3..].to_vec(),
        };
        assert!(p.broken(&base).is_empty());
        assert!(p
            .broken(&state(["1s", "5s", "1min"], "public", "run"))
            .is_empty());
        assert_eq!(
            p.broken(&state(["2s", "0", "1min"], "public", "run")),
            ["statement_timeout is now 0"]
        );
        assert_eq!(
            p.broken(&state(["2s", "21s", "1min"], "public", "run")),
            ["statement_timeout is now 21s"]
        );
        assert_eq!(
            p.broken(&state(["2s", "20s", "1min"], "evil, pg_catalog", "run")),
            ["search_path changed"]
        );
        let mut reset_role = base.clone();
        reset_role[7] = "postgres".into();
        assert_eq!(p.broken(&reset_role), ["the role (current_user) changed"]);
    }
}
