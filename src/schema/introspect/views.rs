//! Views and materialized views with the relations they read: shared by the scoped and the
//! full snapshot, like tables.

use autodb_core::schema::model::View;
use tokio_postgres::GenericClient;

use super::{display_name, USER_SCHEMAS};

pub(super) async fn read(
    client: &impl GenericClient,
    view_filter: &str,
    scope_oids: &[u32],
) -> Result<Vec<View>, tokio_postgres::Error> {
    Ok(client
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
        .collect())
}
