//! Comments (`COMMENT ON`) on objects in user schemas, named by `pg_identify_object`, which
//! quotes and qualifies them the way `COMMENT ON` reads them back.

use autodb_core::schema::model::Comment;
use tokio_postgres::GenericClient;

pub(super) async fn read(
    client: &impl GenericClient,
) -> Result<Vec<Comment>, tokio_postgres::Error> {
    let system = "('pg_catalog', 'information_schema', 'autodb')";
    Ok(client
        .query(
            &format!(
                "SELECT o.type, o.identity, d.description
                   FROM pg_description d,
                        LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
                  -- Built-in objects (oids below FirstNormalObjectId) are thousands of
                  -- descriptions: skip them before naming anything, schemas aside.
                  WHERE (d.objoid >= 16384 OR d.classoid = 'pg_namespace'::regclass)
                    AND (o.schema NOT IN {system} AND o.schema NOT LIKE 'pg\\_%'
                         OR o.type = 'schema' AND o.identity NOT IN {system}
                            AND o.identity NOT LIKE 'pg\\_%')
                    AND {}",
                "NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = d.classoid AND x.objid = d.objoid AND x.deptype = 'e')"
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| Comment {
            object_type: row.get(0),
            identity: row.get(1),
            text: row.get(2),
        })
        .collect())
}
