//! User-defined types: enums, domains and composite types (those that belong to an extension
//! come with it and are left out).

use autodb_core::schema::model::{Attribute, CompositeType, Domain, EnumType};
use tokio_postgres::GenericClient;

use super::{not_in_extension, USER_SCHEMAS};

pub(super) async fn enums(
    client: &impl GenericClient,
) -> Result<Vec<EnumType>, tokio_postgres::Error> {
    Ok(client
        .query(
            &format!(
                "SELECT n.nspname, t.typname,
                        ARRAY(SELECT e.enumlabel::text FROM pg_enum e
                               WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
                   FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                  WHERE t.typtype = 'e' AND {USER_SCHEMAS} AND {}",
                not_in_extension("pg_type", "t.oid")
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
        .collect())
}

/// `schema.collation`, quoted, for a collation oid column `oid` of the outer query.
fn collation_name(oid: &str) -> String {
    format!(
        "(SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
            FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
           WHERE co.oid = {oid})"
    )
}

pub(super) async fn domains(
    client: &impl GenericClient,
) -> Result<Vec<Domain>, tokio_postgres::Error> {
    let checks = "FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c' \
                  ORDER BY k.conname";
    Ok(client
        .query(
            &format!(
                "SELECT n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod),
                        CASE WHEN t.typcollation <> b.typcollation
                             THEN {} END,
                        t.typdefault, t.typnotnull,
                        ARRAY(SELECT k.conname::text {checks}),
                        ARRAY(SELECT pg_get_constraintdef(k.oid) {checks})
                   FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   JOIN pg_type b ON b.oid = t.typbasetype
                  WHERE t.typtype = 'd' AND {USER_SCHEMAS} AND {}",
                collation_name("t.typcollation"),
                not_in_extension("pg_type", "t.oid")
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            let names: Vec<String> = row.get(6);
            let definitions: Vec<String> = row.get(7);
            Domain {
                schema: row.get(0),
                name: row.get(1),
                base_type: row.get(2),
                collation: row.get(3),
                default: row.get(4),
                not_null: row.get(5),
                checks: names.into_iter().zip(definitions).collect(),
            }
        })
        .collect())
}

pub(super) async fn composites(
    client: &impl GenericClient,
) -> Result<Vec<CompositeType>, tokio_postgres::Error> {
    let attributes = "FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                     ORDER BY a.attnum";
    Ok(client
        .query(
            &format!(
                "SELECT n.nspname, t.typname,
                        ARRAY(SELECT a.attname::text {attributes}),
                        ARRAY(SELECT format_type(a.atttypid, a.atttypmod) {attributes}),
                        ARRAY(SELECT coalesce(CASE WHEN a.attcollation <> at.typcollation
                                                   THEN {} END, '') {attributes})
                   FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
                  WHERE t.typtype = 'c' AND {USER_SCHEMAS} AND {}",
                collation_name("a.attcollation"),
                not_in_extension("pg_type", "t.oid")
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            let names: Vec<String> = row.get(2);
            let types: Vec<String> = row.get(3);
            let collations: Vec<String> = row.get(4);
            CompositeType {
                schema: row.get(0),
                name: row.get(1),
                attributes: names
                    .into_iter()
                    .zip(types)
                    .zip(collations)
                    .map(|((name, data_type), collation)| Attribute {
                        name,
                        data_type,
                        collation: Some(collation).filter(|c| !c.is_empty()),
                    })
                    .collect(),
            }
        })
        .collect())
}
