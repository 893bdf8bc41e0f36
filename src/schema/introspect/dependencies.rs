//! What each object needs to exist first, from `pg_depend`, the way pg_dump orders its
//! output: one query that names both ends of every dependency between relations, types,
//! functions, view rules, column defaults and CHECK constraints by their `object_key`
//! (a rule, a default or a check stands for its relation, an array type for its element
//! type, a table's row type for the table).

use std::collections::BTreeMap;

use tokio_postgres::GenericClient;

use super::USER_SCHEMAS;

pub(super) async fn read(
    client: &impl GenericClient,
) -> Result<BTreeMap<String, Vec<String>>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "WITH keyed(classid, objid, key) AS (
                     SELECT 'pg_class'::regclass, c.oid, n.nspname || '.' || c.relname
                       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f') AND {USER_SCHEMAS}
                     UNION ALL
                     SELECT 'pg_type'::regclass, t.oid,
                            coalesce(en.nspname || '.' || e.typname, n.nspname || '.' || t.typname)
                       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                       LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
                       LEFT JOIN pg_namespace en ON en.oid = e.typnamespace
                      WHERE {USER_SCHEMAS}
                     UNION ALL
                     SELECT 'pg_proc'::regclass, p.oid, n.nspname || '.' || p.proname || '('
                            || pg_get_function_identity_arguments(p.oid) || ')'
                       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE {USER_SCHEMAS}
                     UNION ALL
                     SELECT 'pg_rewrite'::regclass, r.oid, n.nspname || '.' || c.relname
                       FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE {USER_SCHEMAS}
                     UNION ALL
                     SELECT 'pg_attrdef'::regclass, a.oid, n.nspname || '.' || c.relname
                       FROM pg_attrdef a JOIN pg_class c ON c.oid = a.adrelid
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE {USER_SCHEMAS}
                     UNION ALL
                     SELECT 'pg_constraint'::regclass, k.oid, n.nspname || '.'
                            || coalesce(c.relname, t.typname)
                       FROM pg_constraint k
                       LEFT JOIN pg_class c ON c.oid = k.conrelid
                       LEFT JOIN pg_type t ON t.oid = k.contypid
                       JOIN pg_namespace n ON n.oid = coalesce(c.relnamespace, t.typnamespace)
                      WHERE k.contype = 'c' AND {USER_SCHEMAS})
                 SELECT o.key, array_agg(DISTINCT r.key)
                   FROM pg_depend d
                   JOIN keyed o ON o.classid = d.classid AND o.objid = d.objid
                   JOIN keyed r ON r.classid = d.refclassid AND r.objid = d.refobjid
                  -- Every keyed object is a user object (oid >= FirstNormalObjectId):
                  -- pruning the rest first keeps the joins to the schema's own rows.
                  WHERE d.deptype IN ('n', 'a') AND o.key <> r.key
                    AND d.objid >= 16384 AND d.refobjid >= 16384
                  GROUP BY o.key"
            ),
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}
