//! Installed extensions: a clone creates each with `CREATE EXTENSION`, which brings its
//! types, functions and operators; every other introspection query leaves those out.

use autodb_core::schema::model::Extension;
use tokio_postgres::GenericClient;

pub(super) async fn read(
    client: &impl GenericClient,
) -> Result<Vec<Extension>, tokio_postgres::Error> {
    Ok(client
        .query(
            "SELECT e.extname, n.nspname, e.extversion
               FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace",
            &[],
        )
        .await?
        .iter()
        .map(|row| Extension {
            name: row.get(0),
            schema: row.get(1),
            version: row.get(2),
        })
        .collect())
}
