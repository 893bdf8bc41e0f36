//! Schema drift: the executor applies nothing when the objects a migration's verdict depends
//! on changed after it was analyzed.
//!
//! The token binds the fingerprint of the migration's drift scope (`autodb_analysis::scope`:
//! the tables and views its statements name, their foreign-key neighbours and dependent
//! views). Before the first statement, inside the migration's first transaction, the executor
//! takes `SHARE UPDATE EXCLUSIVE` on the named tables that exist — it conflicts with every
//! DDL on them (and with foreign keys added to or dropped from them) but with no reads or
//! writes — then snapshots the schema and recomputes the fingerprint. A difference fails the
//! request with `SCHEMA_DRIFT`, naming what changed where the analysis' snapshot is still the
//! latest stored one, and nothing is applied. Changes to anything else do not block.

use autodb_core::schema::{scope_changes, scope_fingerprint, SchemaSnapshot};
use autodb_core::sql::ParsedStatement;
use tokio_postgres::GenericClient;

use super::apply::{pg_failed, Stop};
use super::Deps;
use crate::domain::error_code::ExecutionErrorCode;
use crate::domain::Finish;
use crate::domain::{ExecutionError, MigrationRequest};
use crate::schema::{effects, introspect};

/// A snapshot of what the migration can change: its drift scope when the token carried it
/// (a few catalog reads, whatever the size of the schema), else the whole schema. Read under
/// autodb's own search path ([`own_path`]).
pub(super) async fn scoped_snapshot(
    client: &impl GenericClient,
    request: &MigrationRequest,
) -> Result<SchemaSnapshot, Stop> {
    own_path(client).await?;
    let snapshot = read(client, request).await?;
    migration_path(client, request).await?;
    Ok(snapshot)
}

async fn read(
    client: &impl GenericClient,
    request: &MigrationRequest,
) -> Result<SchemaSnapshot, Stop> {
    match &request.schema_scope {
        Some(names) => introspect::snapshot_of(client, names).await,
        None => introspect::snapshot(client).await,
    }
    .map_err(pg_failed(ExecutionErrorCode::IntrospectionFailed, None))
}

/// autodb's reads in the migration's session run under the search path of its own sessions
/// (`pg_catalog, pg_temp`, [`crate::target::OWN_SEARCH_PATH`]): nothing the migration created
/// is searched, and the catalog functions that print names relative to the path
/// (`pg_get_expr`, `pg_get_triggerdef`, `pg_get_viewdef`, …) print them as they did when
/// analyze read the schema, so the fingerprints compare.
async fn own_path(client: &impl GenericClient) -> Result<(), Stop> {
    client
        .batch_execute(crate::target::OWN_SEARCH_PATH)
        .await
        .map_err(pg_failed(ExecutionErrorCode::IntrospectionFailed, None))
}

/// Back to the path the migration's names resolve through (the guard holds it to that).
async fn migration_path(
    client: &impl GenericClient,
    request: &MigrationRequest,
) -> Result<(), Stop> {
    let path = request
        .binding
        .as_ref()
        .map_or(&[][..], |b| b.search_path.as_slice());
    client
        .batch_execute(&super::session::search_path_sql(path))
        .await
        .map_err(pg_failed(ExecutionErrorCode::IntrospectionFailed, None))
}

/// Takes the before-snapshot; when `check`, first locks the named tables and then compares
/// the scope's fingerprint with the one the analysis bound.
pub(super) async fn checked_snapshot(
    deps: &Deps<'_>,
    request: &MigrationRequest,
    client: &impl GenericClient,
    statements: &[ParsedStatement],
    check: bool,
) -> Result<SchemaSnapshot, Stop> {
    if !check {
        return scoped_snapshot(client, request).await;
    }
    let (Some(expected), Some(binding)) = (&request.schema_fp, &request.binding) else {
        // A request without them cannot be shown to still be what was analyzed.
        return Err(unbound());
    };
    own_path(client).await?;
    lock_named(client, &autodb_analysis::scope::scope(statements, None)).await?;
    let before = read(client, request).await?;
    let scope = match &request.schema_scope {
        Some(names) => names.clone(),
        None => autodb_analysis::scope::scope(statements, Some(&before)),
    };
    if scope_fingerprint(&before, &scope) != *expected {
        return Err(drift(deps, request, statements, &before, &scope, expected).await);
    }
    // What the structure does not show: triggers, rules, policies, view definitions,
    // inheritance, owners, the code that runs, where each name resolves, and sizes.
    let used = autodb_analysis::names::used(statements);
    let effects = effects::read(client, &binding.search_path, &scope, &used)
        .await
        .map_err(pg_failed(ExecutionErrorCode::IntrospectionFailed, None))?;
    let changes = effects.changes_since(binding);
    if changes.is_empty() {
        migration_path(client, request).await?;
        return Ok(before);
    }
    Err(Stop::Finish(Finish::Failed(ExecutionError {
        code: ExecutionErrorCode::SchemaDrift,
        message: format!(
            "what this migration's statements do changed since it was analyzed: {}; nothing \
             was applied — analyze the migration again",
            changes.join("; ")
        ),
        statement_index: None,
        sqlstate: None,
    })))
}

fn unbound() -> Stop {
    Stop::Finish(Finish::Failed(ExecutionError {
        code: ExecutionErrorCode::SchemaDrift,
        message: "the approval binds no schema fingerprint, so autodb cannot show the schema \
                  is still the one analyzed; nothing was applied — analyze the migration again"
            .into(),
        statement_index: None,
        sqlstate: None,
    }))
}

/// `SHARE UPDATE EXCLUSIVE` on the named tables and views that exist.
async fn lock_named(client: &impl GenericClient, names: &[String]) -> Result<(), Stop> {
    let (schemas, relations) = crate::schema::introspect::split_names(names);
    let existing: Vec<String> = client
        .query(
            "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS s(nsp, rel)
               JOIN pg_catalog.pg_namespace n ON n.nspname = s.nsp
               JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.rel
              WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')",
            &[&schemas, &relations],
        )
        .await
        .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    client
        .batch_execute(&format!(
            "LOCK TABLE {} IN SHARE UPDATE EXCLUSIVE MODE",
            existing.join(", ")
        ))
        .await
        .map_err(pg_failed(ExecutionErrorCode::LockTimeout, None))
}

async fn drift(
    deps: &Deps<'_>,
    request: &MigrationRequest,
    statements: &[ParsedStatement],
    now: &SchemaSnapshot,
    scope: &[String],
    expected: &str,
) -> Stop {
    // The analysis used the latest stored snapshot at the time; if it still is the latest
    // (its scope fingerprint is the token's), it says exactly what changed.
    let analyzed = match deps.store.latest_snapshot(&request.connection_id).await {
        Ok(Some(record)) => {
            let then = match &request.schema_scope {
                Some(names) => names.clone(),
                None => autodb_analysis::scope::scope(statements, Some(&record.schema)),
            };
            (scope_fingerprint(&record.schema, &then) == expected).then(|| {
                let mut names = then;
                names.extend(scope.iter().cloned());
                scope_changes(&record.schema, now, &names)
            })
        }
        _ => None,
    };
    let what = what_drifted(analyzed, scope);
    Stop::Finish(Finish::Failed(ExecutionError {
        code: ExecutionErrorCode::SchemaDrift,
        message: format!(
            "the schema this migration was analyzed against changed since: {what}; nothing \
             was applied — analyze the migration again"
        ),
        statement_index: None,
        sqlstate: None,
    }))
}

/// What a drift failure names: the changes found against the analysis' snapshot, or — when
/// there is no such snapshot to compare with, or it shows nothing it can describe — every
/// name of the scope, so the message never names nothing.
fn what_drifted(changes: Option<Vec<String>>, scope: &[String]) -> String {
    match changes {
        Some(changes) if !changes.is_empty() => changes.join("; "),
        _ => format!("one of {}", scope.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drift_names_what_changed_or_else_the_whole_scope() {
        let scope = ["public.a".to_string(), "public.b".to_string()];
        let found = vec![
            "`public.a`: column `x` added".to_string(),
            "`public.b` now exists".into(),
        ];
        assert_eq!(
            what_drifted(Some(found), &scope),
            "`public.a`: column `x` added; `public.b` now exists"
        );
        // The scope's fingerprint changed, but not in a way a change can be described.
        assert_eq!(
            what_drifted(Some(vec![]), &scope),
            "one of public.a, public.b"
        );
        assert_eq!(what_drifted(None, &scope), "one of public.a, public.b");
    }
}
