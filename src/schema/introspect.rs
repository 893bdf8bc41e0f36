//! Introspection: fill a [`SchemaSnapshot`] from a live database's catalogs.
//!
//! It works on any `GenericClient`, so the executor can snapshot inside its migration
//! transaction (seeing its own uncommitted changes) to compute the diff before COMMIT.
//! System schemas and autodb's own `autodb` schema (the ledger) are left out.

use std::collections::HashMap;

use autodb_core::schema::model::{
    qualified, Column, Constraint, ConstraintKind, EnumType, Index, Sequence, Table, TableKind,
    View,
};
use autodb_core::schema::SchemaSnapshot;
use tokio_postgres::GenericClient;

const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'autodb') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// A table's size from the catalog alone (heap, TOAST and indexes, by `relpages`): no lock.
const ESTIMATED_SIZE: &str = "(SELECT coalesce(sum(r.relpages), 0)::bigint FROM pg_class r
           WHERE r.oid IN (c.oid, c.reltoastrelid)
              OR r.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = c.oid))
         * current_setting('block_size')::bigint";

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
    // Exact sizes open each relation, a lock that waits behind any ACCESS EXCLUSIVE (a
    // migration running elsewhere would hang the snapshot). The scoped snapshot, taken
    // inside a migration, always uses the catalog's page counts; the full one measures
    // exactly except tables someone holds exclusively at that moment.
    let size = if scoped {
        ESTIMATED_SIZE.to_string()
    } else {
        format!(
            "CASE WHEN c.oid IN (SELECT relation FROM pg_locks
                                  WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
                                    AND relation IS NOT NULL)
                  THEN {ESTIMATED_SIZE} ELSE pg_total_relation_size(c.oid) END"
        )
    };
    let mut snap = SchemaSnapshot {
        schemas: client
            .query(
                &format!("SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMAS}"),
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect(),
        ..Default::default()
    };
    if scoped {
        snap.schemas.clear();
    } else {
        snap.server_version_num = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await?
            .get(0);
    }

    let mut tables: HashMap<u32, Table> = HashMap::new();
    let table_rows = client
        .query(
            &format!(
                "SELECT c.oid, n.nspname, c.relname, c.relkind::text,
                        greatest(c.reltuples, 0)::bigint, {size},
                        (SELECT pn.nspname || '.' || p.relname FROM pg_inherits i
                           JOIN pg_class p ON p.oid = i.inhparent
                           JOIN pg_namespace pn ON pn.oid = p.relnamespace
                          WHERE i.inhrelid = c.oid AND c.relispartition)
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p', 'f') AND {USER_SCHEMAS}
                    {class_filter}"
            ),
            &[&scope_oids],
        )
        .await?;
    for row in table_rows {
        let kind = match row.get::<_, String>(3).as_str() {
            "p" => TableKind::Partitioned,
            "f" => TableKind::Foreign,
            _ => TableKind::Regular,
        };
        let partition_of: Option<String> = row.get(6);
        tables.insert(
            row.get(0),
            Table {
                schema: row.get(1),
                name: row.get(2),
                kind,
                columns: vec![],
                indexes: vec![],
                constraints: vec![],
                estimated_rows: row.get(4),
                total_bytes: row.get(5),
                partition_of: partition_of.as_deref().map(display_name),
            },
        );
    }

    let oids: Vec<u32> = tables.keys().copied().collect();
    for row in client
        .query(
            "SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                    pg_get_expr(d.adbin, d.adrelid), nullif(a.attidentity::text, ''),
                    nullif(a.attgenerated::text, '')
               FROM pg_attribute a
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
              WHERE a.attnum > 0 AND NOT a.attisdropped
                AND a.attrelid = ANY($1)
              ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await?
    {
        if let Some(t) = tables.get_mut(&row.get::<_, u32>(0)) {
            t.columns.push(Column {
                name: row.get(1),
                data_type: row.get(2),
                nullable: row.get(3),
                default: row.get(4),
                identity: row.get(5),
                generated: row.get(6),
            });
        }
    }

    for row in client
        .query(
            "SELECT i.indrelid, c.relname, pg_get_indexdef(i.indexrelid), i.indisunique,
                    i.indisprimary, i.indisvalid
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE i.indrelid = ANY($1)",
            &[&oids],
        )
        .await?
    {
        if let Some(t) = tables.get_mut(&row.get::<_, u32>(0)) {
            t.indexes.push(Index {
                name: row.get(1),
                definition: row.get(2),
                unique: row.get(3),
                primary: row.get(4),
                valid: row.get(5),
            });
        }
    }

    for row in client
        .query(
            "SELECT c.conrelid, c.conname, c.contype::text, pg_get_constraintdef(c.oid),
                    c.convalidated,
                    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) k
                            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k),
                    (SELECT rn.nspname || '.' || r.relname FROM pg_class r
                       JOIN pg_namespace rn ON rn.oid = r.relnamespace WHERE r.oid = c.confrelid),
                    nullif(c.confdeltype::text, ' ')
               FROM pg_constraint c
              WHERE c.conrelid = ANY($1)",
            &[&oids],
        )
        .await?
    {
        let kind = match row.get::<_, String>(2).as_str() {
            "p" => ConstraintKind::PrimaryKey,
            "u" => ConstraintKind::Unique,
            "f" => ConstraintKind::ForeignKey,
            "x" => ConstraintKind::Exclusion,
            "t" => ConstraintKind::Trigger,
            "n" => ConstraintKind::NotNull,
            _ => ConstraintKind::Check,
        };
        let references: Option<String> = row.get(6);
        if let Some(t) = tables.get_mut(&row.get::<_, u32>(0)) {
            t.constraints.push(Constraint {
                name: row.get(1),
                kind,
                definition: row.get(3),
                columns: row.get(5),
                validated: row.get(4),
                references: references.as_deref().map(display_name),
                on_delete: if kind == ConstraintKind::ForeignKey {
                    row.get(7)
                } else {
                    None
                },
            });
        }
    }
    snap.tables = tables.into_values().collect();

    snap.views = client
        .query(
            &format!(
                "SELECT n.nspname, v.relname, v.relkind = 'm',
                        ARRAY(SELECT DISTINCT rn.nspname || '.' || r.relname
                                FROM pg_rewrite rw
                                JOIN pg_depend d ON d.objid = rw.oid
                                 AND d.classid = 'pg_rewrite'::regclass
                                 AND d.refclassid = 'pg_class'::regclass
                                JOIN pg_class r ON r.oid = d.refobjid
                                JOIN pg_namespace rn ON rn.oid = r.relnamespace
                               WHERE rw.ev_class = v.oid AND r.oid <> v.oid)
                   FROM pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace
                  WHERE v.relkind IN ('v', 'm') AND {USER_SCHEMAS}
                    {view_filter}"
            ),
            &[&scope_oids],
        )
        .await?
        .iter()
        .map(|row| View {
            schema: row.get(0),
            name: row.get(1),
            materialized: row.get(2),
            depends_on: row
                .get::<_, Vec<String>>(3)
                .iter()
                .map(|q| display_name(q))
                .collect(),
        })
        .collect();
    if scoped {
        snap.normalize();
        return Ok(snap);
    }

    snap.enums = client
        .query(
            &format!(
                "SELECT n.nspname, t.typname,
                        ARRAY(SELECT e.enumlabel::text FROM pg_enum e
                               WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
                   FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                  WHERE t.typtype = 'e' AND {USER_SCHEMAS}"
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| EnumType {
            schema: row.get(0),
            name: row.get(1),
            labels: row.get(2),
        })
        .collect();

    snap.sequences = client
        .query(
            &format!(
                "SELECT n.nspname, c.relname,
                        (SELECT tn.nspname || '.' || t.relname || '.' || a.attname
                           FROM pg_depend d
                           JOIN pg_class t ON t.oid = d.refobjid
                           JOIN pg_namespace tn ON tn.oid = t.relnamespace
                           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
                          WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass
                            AND d.deptype IN ('a', 'i') LIMIT 1)
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind = 'S' AND {USER_SCHEMAS}"
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| Sequence {
            schema: row.get(0),
            name: row.get(1),
            owned_by: row.get(2),
        })
        .collect();

    snap.normalize();
    Ok(snap)
}
