//! Triggers as `pg_get_triggerdef` prints them, with their enabled state. Internal triggers
//! (those behind foreign keys) come with their constraint, and a partition's copy of its
//! parent's trigger (`tgparentid`, PostgreSQL 13 and later) comes with the parent's.

use autodb_core::schema::model::Trigger;
use tokio_postgres::GenericClient;

use super::{not_in_extension, USER_SCHEMAS};

pub(super) async fn read(
    client: &impl GenericClient,
    server_version_num: i32,
) -> Result<Vec<Trigger>, tokio_postgres::Error> {
    let cloned = if server_version_num >= 130_000 {
        "AND t.tgparentid = 0"
    } else {
        ""
    };
    Ok(client
        .query(
            &format!(
                "SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid),
                        t.tgenabled::text
                   FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE NOT t.tgisinternal {cloned} AND {USER_SCHEMAS} AND {}",
                not_in_extension("pg_class", "c.oid")
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| Trigger {
            schema: row.get(0),
            table: row.get(1),
            name: row.get(2),
            definition: row.get(3),
            enabled: row.get(4),
        })
        .collect())
}
