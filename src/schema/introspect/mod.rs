//! Introspection: fill a [`SchemaSnapshot`] from a live database's catalogs.
//!
//! It works on any `GenericClient`, so the executor can snapshot inside its migration
//! transaction (seeing its own uncommitted changes) to compute the diff before COMMIT.
//! System schemas and autodb's own `autodb` schema (the ledger) are left out.
//!
//! One module per object kind, each one catalog query for the whole schema (never one per
//! object), so a schema of thousands of tables still takes a handful of round trips; the
//! queries that do not depend on each other are pipelined on the one connection. Tables and
//! views are read by the same code for the full and the scoped snapshot (the drift check
//! compares fingerprints computed from both); everything else a faithful clone needs is read
//! by the full snapshot only, which is what analyze and the sandbox use.

mod comments;
mod dependencies;
mod details;
mod extensions;
mod functions;
mod policies;
mod sequences;
mod tables;
mod triggers;
mod types;
mod views;

use autodb_core::schema::model::qualified;
use autodb_core::schema::SchemaSnapshot;
use tokio_postgres::GenericClient;

const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'autodb') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// A table's size from the catalog alone (heap, TOAST and indexes, by `relpages`): no lock.
/// Each part is an index lookup (an `OR` over `pg_class` would scan it once per table).
const ESTIMATED_SIZE: &str = "(c.relpages::bigint
           + coalesce((SELECT t.relpages FROM pg_class t WHERE t.oid = c.reltoastrelid), 0)
           + coalesce((SELECT sum(ic.relpages) FROM pg_index i
                         JOIN pg_class ic ON ic.oid = i.indexrelid
                        WHERE i.indrelid = c.oid), 0))::bigint
         * current_setting('block_size')::bigint";

/// A condition that the object `oid` of catalog `catalog` (e.g. `pg_proc`) is not a member
/// of an extension: those come with `CREATE EXTENSION`.
fn not_in_extension(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '{catalog}'::regclass \
         AND x.objid = {oid} AND x.deptype = 'e')"
    )
}

/// `schema.name` as the catalog queries spell it, as autodb shows it (bare in `public`).
fn display_name(schema_dot_name: &str) -> String {
    let (schema, name) = schema_dot_name
        .split_once('.')
        .unwrap_or(("public", schema_dot_name));
    qualified(schema, name)
}

/// Relation names as autodb shows them (`schema.name`, bare in `public`) split into the
/// schema and relation arrays the catalog queries join against.
pub fn split_names(names: &[String]) -> (Vec<&str>, Vec<&str>) {
    names
        .iter()
        .map(|n| n.split_once('.').unwrap_or(("public", n.as_str())))
        .unzip()
}

/// Which database the client is connected to, however it was reached: the cluster's system
/// identifier (the same through any host name, address or pooler) and the database's name.
pub async fn database_key(client: &impl GenericClient) -> Result<String, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT (SELECT system_identifier::text FROM pg_control_system()) || '/' \
             || current_database()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// The whole schema: every table, view, enum and sequence outside the system schemas, with
/// exact sizes (`pg_total_relation_size`). For analyze and `introspect`.
pub async fn snapshot(
    client: &impl GenericClient,
) -> Result<SchemaSnapshot, tokio_postgres::Error> {
    read(client, None).await
}

/// Only the relations named in `names` (`schema.name`, bare in `public`; names that do not
/// exist are skipped), their partitions and the tables whose foreign keys point at any of
/// them — everything a drift-scope fingerprint and a migration's diff need, in time that does
/// not grow with the rest of the schema. Sizes are catalog estimates (`relpages`), which take
/// no lock: the executor calls this inside its migration transaction.
pub async fn snapshot_of(
    client: &impl GenericClient,
    names: &[String],
) -> Result<SchemaSnapshot, tokio_postgres::Error> {
    let (schemas, relations) = split_names(names);
    let oids: Vec<u32> = client
        .query(
            "WITH RECURSIVE named AS (
                 SELECT c.oid FROM unnest($1::text[], $2::text[]) AS s(nsp, rel)
                   JOIN pg_namespace n ON n.nspname = s.nsp
                   JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.rel
                  WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm')
                 UNION
                 SELECT i.inhrelid FROM pg_inherits i JOIN named ON i.inhparent = named.oid)
             SELECT oid FROM named
             UNION
             -- Foreign keys pointing into the scope, found through pg_depend's index on the
             -- referenced table (pg_constraint has none on confrelid: a scan of every
             -- constraint would grow with the schema).
             SELECT k.conrelid FROM named
               JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass
                               AND d.refobjid = named.oid
                               AND d.classid = 'pg_constraint'::regclass
               JOIN pg_constraint k ON k.oid = d.objid AND k.contype = 'f'",
            &[&schemas, &relations],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    read(client, Some(oids)).await
}

async fn read(
    client: &impl GenericClient,
    only: Option<Vec<u32>>,
) -> Result<SchemaSnapshot, tokio_postgres::Error> {
    let scoped = only.is_some();
    // The scoped filter is a plain `oid = ANY(…)`, which PostgreSQL answers from pg_class's
    // oid index; an "or no filter" form would scan the whole catalog every time.
    let scope_oids = only.unwrap_or_default();
    let (class_filter, view_filter) = if scoped {
        ("AND c.oid = ANY($1)", "AND v.oid = ANY($1)")
    } else {
        (
            "AND cardinality($1::oid[]) = 0",
            "AND cardinality($1::oid[]) = 0",
        )
    };
    // Exact sizes open each relation (and its indexes and TOAST table): a lock that waits
    // behind any ACCESS EXCLUSIVE (a migration running elsewhere would hang the snapshot),
    // and in a new session a relation-cache entry per relation, which for thousands of tables
    // costs more than the rest of the snapshot. The scoped snapshot, taken inside a
    // migration, always uses the catalog's page counts. The full one uses them too where the
    // statistics are there — as of the last VACUUM or ANALYZE, the same moment the row
    // estimate (`reltuples`) comes from — and measures exactly the tables never vacuumed or
    // analyzed (`reltuples` −1, from PostgreSQL 14; before 14 that cannot be told from an
    // empty table, so every table is measured), except tables someone holds exclusively.
    let size = if scoped {
        ESTIMATED_SIZE.to_string()
    } else {
        format!(
            "CASE WHEN c.reltuples >= 0
                       AND current_setting('server_version_num')::int >= 140000
                  THEN {ESTIMATED_SIZE}
                  WHEN c.oid IN (SELECT relation FROM pg_locks
                                  WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
                                    AND relation IS NOT NULL)
                  THEN {ESTIMATED_SIZE} ELSE pg_total_relation_size(c.oid) END"
        )
    };
    let (tables, views) = tokio::try_join!(
        tables::read(client, class_filter, &size, &scope_oids),
        views::read(client, view_filter, &scope_oids),
    )?;
    let mut snap = SchemaSnapshot {
        tables: tables.into_values().collect(),
        views,
        ..Default::default()
    };
    if !scoped {
        read_everything_else(client, &mut snap).await?;
    }
    snap.normalize();
    Ok(snap)
}

/// What only the full snapshot reads: schemas, types, sequences, functions, triggers,
/// policies, comments, relation details and dependencies, all pipelined.
async fn read_everything_else(
    client: &impl GenericClient,
    snap: &mut SchemaSnapshot,
) -> Result<(), tokio_postgres::Error> {
    let session = client
        .query_one(
            &format!(
                "SELECT current_setting('server_version_num')::int,
                        current_schemas(false)::text[],
                        ARRAY(SELECT n.nspname::text FROM pg_namespace n
                               WHERE {USER_SCHEMAS} AND {})",
                not_in_extension("pg_namespace", "n.oid")
            ),
            &[],
        )
        .await?;
    snap.server_version_num = session.get(0);
    snap.search_path = session.get(1);
    snap.schemas = session.get(2);
    (
        snap.enums,
        snap.domains,
        snap.composite_types,
        snap.sequences,
        snap.extensions,
        snap.functions,
        snap.triggers,
        snap.policies,
        snap.comments,
        snap.relation_details,
        snap.dependencies,
    ) = tokio::try_join!(
        types::enums(client),
        types::domains(client),
        types::composites(client),
        sequences::read(client),
        extensions::read(client),
        functions::read(client),
        triggers::read(client, snap.server_version_num),
        policies::read(client),
        comments::read(client),
        details::read(client),
        dependencies::read(client),
    )?;
    Ok(())
}
