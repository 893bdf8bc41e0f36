//! Tables with their columns, indexes and constraints: the part of a snapshot the scoped
//! snapshot shares with the full one, so a table reads the same through both (the drift
//! check compares fingerprints computed from each).

use std::collections::HashMap;

use autodb_core::schema::model::{Column, Constraint, ConstraintKind, Index, Table, TableKind};
use tokio_postgres::types::ToSql;
use tokio_postgres::GenericClient;

use super::{display_name, USER_SCHEMAS};

/// The tables `class_filter` lets through (`$1` is the scope's oid array), keyed by oid.
pub(super) async fn read(
    client: &impl GenericClient,
    class_filter: &str,
    size: &str,
    scope_oids: &[u32],
) -> Result<HashMap<u32, Table>, tokio_postgres::Error> {
    let mut tables: HashMap<u32, Table> = HashMap::new();
    let table_rows = client
        .query(
            &format!(
                "SELECT c.oid, n.nspname, c.relname, c.relkind::text,
                        greatest(c.reltuples, 0)::bigint, {size},
                        (SELECT pn.nspname || '.' || p.relname FROM pg_inherits i
                           JOIN pg_class p ON p.oid = i.inhparent
                           JOIN pg_namespace pn ON pn.oid = p.relnamespace
                          WHERE i.inhrelid = c.oid AND c.relispartition),
                        (SELECT coalesce(array_agg(pn.nspname || '.' || p.relname
                                                   ORDER BY i.inhseqno), '{{}}')
                           FROM pg_inherits i
                           JOIN pg_class p ON p.oid = i.inhparent
                           JOIN pg_namespace pn ON pn.oid = p.relnamespace
                          WHERE i.inhrelid = c.oid AND NOT c.relispartition)
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
        let inherits: Vec<String> = row.get(7);
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
                inherits: inherits.iter().map(|p| display_name(p)).collect(),
            },
        );
    }

    let oids: Vec<u32> = tables.keys().copied().collect();
    let by_oid: &[&(dyn ToSql + Sync)] = &[&oids];
    // Three independent queries, pipelined on the one connection.
    let (columns, indexes, constraints) = tokio::try_join!(
        client.query(
            "SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                    pg_get_expr(d.adbin, d.adrelid), nullif(a.attidentity::text, ''),
                    nullif(a.attgenerated::text, '')
               FROM pg_attribute a
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
              WHERE a.attnum > 0 AND NOT a.attisdropped
                AND a.attrelid = ANY($1)
              ORDER BY a.attrelid, a.attnum",
            by_oid,
        ),
        client.query(
            "SELECT i.indrelid, c.relname, pg_get_indexdef(i.indexrelid), i.indisunique,
                    i.indisprimary, i.indisvalid
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE i.indrelid = ANY($1)",
            by_oid,
        ),
        client.query(
            "SELECT c.conrelid, c.conname, c.contype::text, pg_get_constraintdef(c.oid),
                    c.convalidated,
                    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) k
                            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k),
                    (SELECT rn.nspname || '.' || r.relname FROM pg_class r
                       JOIN pg_namespace rn ON rn.oid = r.relnamespace WHERE r.oid = c.confrelid),
                    nullif(c.confdeltype::text, ' ')
               FROM pg_constraint c
              WHERE c.conrelid = ANY($1)",
            by_oid,
        ),
    )?;
    for row in columns {
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
    for row in indexes {
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
    for row in constraints {
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
    Ok(tables)
}
