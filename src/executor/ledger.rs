//! autodb's own ledger in the target database is trusted only while nothing can hook it.
//!
//! `autodb.migration_ledger` and `autodb.migration_steps` decide whether a migration is
//! applied. A trigger, rule or policy on them would run someone's code inside the
//! migration's transaction each time the executor records a result (a hidden `UPDATE`, a
//! falsified result), and an owner other than the executor's role could add one at any time.
//! The analysis refuses every statement that names the `autodb` schema; dynamic SQL it cannot
//! see, or a writer on the target, is caught here: before every write to the ledger the
//! executor checks that both tables are plain tables owned, like their schema, by the role it
//! runs as, with no trigger, rule, policy or row-level security, and otherwise stops naming
//! what it found.

use tokio_postgres::GenericClient;

use super::apply::{failed, pg_failed, Stop};
use crate::domain::error_code::ExecutionErrorCode;

const TABLES: &[&str] = &["migration_ledger", "migration_steps"];

/// Every name is `pg_catalog`-qualified: it runs in the migration's session.
const STATE: &str = "SELECT c.relname::pg_catalog.text, c.relkind::pg_catalog.text,
        pg_catalog.pg_get_userbyid(c.relowner)::pg_catalog.text,
        (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger t
          WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid AND NOT t.tgisinternal),
        (SELECT pg_catalog.count(*) FROM pg_catalog.pg_rewrite r
          WHERE r.ev_class OPERATOR(pg_catalog.=) c.oid),
        (SELECT pg_catalog.count(*) FROM pg_catalog.pg_policy p
          WHERE p.polrelid OPERATOR(pg_catalog.=) c.oid),
        c.relrowsecurity,
        pg_catalog.pg_get_userbyid(n.nspowner)::pg_catalog.text,
        current_user::pg_catalog.text
   FROM pg_catalog.pg_namespace n
   JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid
  WHERE n.nspname OPERATOR(pg_catalog.=) 'autodb'
    AND c.relname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])";

/// Stops with `LEDGER_TAMPERED` when the ledger's tables are not as autodb made them.
pub(super) async fn check(client: &impl GenericClient) -> Result<(), Stop> {
    let rows = client
        .query(STATE, &[&TABLES])
        .await
        .map_err(pg_failed(ExecutionErrorCode::LedgerFailed, None))?;
    let mut found = Vec::new();
    for table in TABLES {
        let Some(row) = rows.iter().find(|r| r.get::<_, &str>(0) == *table) else {
            found.push(format!("autodb.{table} is missing"));
            continue;
        };
        let me: &str = row.get(8);
        let kind: &str = row.get(1);
        if kind != "r" {
            found.push(format!(
                "autodb.{table} is not a plain table (kind `{kind}`)"
            ));
        }
        let owner: &str = row.get(2);
        if owner != me {
            found.push(format!(
                "autodb.{table} is owned by `{owner}`, not by `{me}`, the role autodb runs as"
            ));
        }
        let schema_owner: &str = row.get(7);
        if schema_owner != me && !found.iter().any(|f| f.starts_with("schema")) {
            found.push(format!(
                "schema autodb is owned by `{schema_owner}`, not by `{me}`"
            ));
        }
        for (column, what) in [(3, "trigger"), (4, "rule"), (5, "policy")] {
            let n: i64 = row.get(column);
            if n > 0 {
                found.push(format!(
                    "autodb.{table} has {n} {what}{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
        if row.get::<_, bool>(6) {
            found.push(format!("autodb.{table} has row-level security enabled"));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(failed(
        ExecutionErrorCode::LedgerTampered,
        format!(
            "autodb's ledger in the target database was changed ({}), so it could run \
             someone else's code or record a false result; nothing more was applied (an open \
             transaction was rolled back). Drop what was added to the `autodb` schema's \
             tables, or the schema itself if autodb never applied anything here",
            found.join("; ")
        ),
    ))
}
