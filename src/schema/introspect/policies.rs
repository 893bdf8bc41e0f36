//! Row-level-security policies (whether a table enforces them is in its relation details).

use autodb_core::schema::model::Policy;
use tokio_postgres::GenericClient;

use super::USER_SCHEMAS;

pub(super) async fn read(
    client: &impl GenericClient,
) -> Result<Vec<Policy>, tokio_postgres::Error> {
    Ok(client
        .query(
            &format!(
                "SELECT n.nspname, c.relname, p.polname, p.polpermissive,
                        CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                                      WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE'
                                      ELSE 'ALL' END,
                        ARRAY(SELECT CASE WHEN r = 0 THEN 'public'
                                          ELSE (SELECT rolname::text FROM pg_roles
                                                 WHERE oid = r) END
                                FROM unnest(p.polroles) r),
                        pg_get_expr(p.polqual, p.polrelid),
                        pg_get_expr(p.polwithcheck, p.polrelid)
                   FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE {USER_SCHEMAS}"
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| Policy {
            schema: row.get(0),
            table: row.get(1),
            name: row.get(2),
            permissive: row.get(3),
            command: row.get(4),
            roles: row.get(5),
            using: row.get(6),
            with_check: row.get(7),
        })
        .collect())
}
