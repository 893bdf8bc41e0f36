//! Relation details a clone needs and analysis does not (see `autodb_core::schema::objects`):
//! partitioning, persistence, row-level security, storage options, column collations, view
//! definitions, materialized views' indexes, partition indexes attached to their parent's,
//! and a partition's copies of its parent's foreign keys. Four catalog queries for the whole
//! schema, pipelined; only relations with something to say get an entry.

use std::collections::BTreeMap;

use autodb_core::schema::model::{ColumnCollation, IndexAttachment, RelationDetails};
use tokio_postgres::GenericClient;

use super::USER_SCHEMAS;

pub(super) async fn read(
    client: &impl GenericClient,
) -> Result<Vec<RelationDetails>, tokio_postgres::Error> {
    let main_sql = format!(
        "SELECT n.nspname, c.relname,
                    CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
                    CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END,
                    pn.nspname, p.relname,
                    c.relpersistence = 'u', c.relrowsecurity, c.relforcerowsecurity,
                    coalesce(c.reloptions, '{{}}')::text[],
                    CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
                    CASE WHEN c.relkind = 'm' THEN
                         ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
                                WHERE i.indrelid = c.oid ORDER BY i.indexrelid)
                    END
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN pg_inherits h ON h.inhrelid = c.oid AND c.relispartition
               LEFT JOIN pg_class p ON p.oid = h.inhparent
               LEFT JOIN pg_namespace pn ON pn.oid = p.relnamespace
              WHERE c.relkind IN ('r', 'p', 'v', 'm') AND {USER_SCHEMAS}
                AND (c.relkind IN ('p', 'v', 'm') OR c.relispartition
                     OR c.relpersistence = 'u' OR c.relrowsecurity
                     OR c.reloptions IS NOT NULL)"
    );
    let collations_sql = format!(
        "SELECT n.nspname, c.relname, a.attname,
                    quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
               FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p')
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_type t ON t.oid = a.atttypid
               JOIN pg_collation co ON co.oid = a.attcollation
               JOIN pg_namespace cn ON cn.oid = co.collnamespace
              WHERE a.attnum > 0 AND NOT a.attisdropped
                AND a.attcollation <> t.typcollation AND {USER_SCHEMAS}
              ORDER BY a.attrelid, a.attnum"
    );
    let attached_sql = format!(
        "SELECT n.nspname, c.relname, ic.relname, pn.nspname, pc.relname
               FROM pg_index i
               JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_class ic ON ic.oid = i.indexrelid
               JOIN pg_inherits h ON h.inhrelid = i.indexrelid
               JOIN pg_class pc ON pc.oid = h.inhparent
               JOIN pg_namespace pn ON pn.oid = pc.relnamespace
              WHERE {USER_SCHEMAS}
              ORDER BY ic.relname"
    );
    let inherited_sql = format!(
        "SELECT n.nspname, c.relname, k.conname
               FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE k.contype = 'f' AND k.conparentid <> 0 AND {USER_SCHEMAS}"
    );
    let (main, collations, attached, inherited) = tokio::try_join!(
        client.query(&main_sql, &[]),
        client.query(&collations_sql, &[]),
        client.query(&attached_sql, &[]),
        client.query(&inherited_sql, &[]),
    )?;
    let mut details: BTreeMap<(String, String), RelationDetails> = BTreeMap::new();
    for row in main {
        let d = entry(&mut details, row.get(0), row.get(1));
        d.partition_key = row.get(2);
        d.partition_bound = row.get(3);
        d.partition_parent = match (row.get(4), row.get(5)) {
            (Some(schema), Some(name)) => Some((schema, name)),
            _ => None,
        };
        d.unlogged = row.get(6);
        d.row_security = row.get(7);
        d.force_row_security = row.get(8);
        d.options = row.get(9);
        d.view_definition = row.get(10);
        d.view_indexes = row.get::<_, Option<Vec<String>>>(11).unwrap_or_default();
    }
    for row in collations {
        entry(&mut details, row.get(0), row.get(1))
            .collations
            .push(ColumnCollation {
                column: row.get(2),
                collation: row.get(3),
            });
    }
    for row in attached {
        entry(&mut details, row.get(0), row.get(1))
            .attached_indexes
            .push(IndexAttachment {
                index: row.get(2),
                parent_schema: row.get(3),
                parent_index: row.get(4),
            });
    }
    for row in inherited {
        entry(&mut details, row.get(0), row.get(1))
            .inherited_constraints
            .push(row.get(2));
    }
    Ok(details.into_values().collect())
}

fn entry(
    details: &mut BTreeMap<(String, String), RelationDetails>,
    schema: String,
    name: String,
) -> &mut RelationDetails {
    details
        .entry((schema.clone(), name.clone()))
        .or_insert_with(|| RelationDetails {
            schema,
            name,
            ..Default::default()
        })
}
