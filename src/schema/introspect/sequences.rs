//! Sequences with their options and the column that owns them (serial or identity).

use autodb_core::schema::model::{ColumnRef, Sequence};
use tokio_postgres::GenericClient;

use super::{not_in_extension, USER_SCHEMAS};

pub(super) async fn read(
    client: &impl GenericClient,
) -> Result<Vec<Sequence>, tokio_postgres::Error> {
    Ok(client
        .query(
            &format!(
                "SELECT n.nspname, c.relname, o.schema, o.tab, o.col, coalesce(o.identity, false),
                        format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
                        s.seqmax, s.seqcache, s.seqcycle
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   JOIN pg_sequence s ON s.seqrelid = c.oid
                   LEFT JOIN LATERAL (
                        SELECT tn.nspname::text AS schema, t.relname::text AS tab,
                               a.attname::text AS col, d.deptype = 'i' AS identity
                          FROM pg_depend d
                          JOIN pg_class t ON t.oid = d.refobjid
                          JOIN pg_namespace tn ON tn.oid = t.relnamespace
                          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
                         WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass
                           AND d.refclassid = 'pg_class'::regclass
                           AND d.deptype IN ('a', 'i') LIMIT 1) o ON true
                  WHERE c.relkind = 'S' AND {USER_SCHEMAS} AND {}",
                not_in_extension("pg_class", "c.oid")
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            let owner = match (row.get(2), row.get(3), row.get(4)) {
                (Some(schema), Some(table), Some(column)) => Some(ColumnRef {
                    schema,
                    table,
                    column,
                }),
                _ => None,
            };
            Sequence {
                schema: row.get(0),
                name: row.get(1),
                owned_by: owner
                    .as_ref()
                    .map(|o| format!("{}.{}.{}", o.schema, o.table, o.column)),
                owner,
                identity: row.get(5),
                data_type: row.get(6),
                start: row.get(7),
                increment: row.get(8),
                min: row.get(9),
                max: row.get(10),
                cache: row.get(11),
                cycle: row.get(12),
            }
        })
        .collect())
}
