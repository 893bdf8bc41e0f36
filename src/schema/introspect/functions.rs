//! Functions, procedures and aggregates. `pg_get_functiondef` prints the first two exactly;
//! it refuses aggregates, whose `CREATE AGGREGATE` is assembled here from `pg_aggregate`
//! (transition and final functions, state type, initial value, combine function,
//! parallel safety — what ordinary aggregates use; moving-aggregate and sort-operator
//! options are not read, see docs/sandbox.md).

use autodb_core::schema::model::{Function, FunctionKind};
use tokio_postgres::GenericClient;

use super::{not_in_extension, USER_SCHEMAS};

const AGGREGATE: &str = "'CREATE AGGREGATE ' || quote_ident(n.nspname) || '.'
    || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ') ('
    || 'SFUNC = ' || ag.aggtransfn::regproc::text
    || ', STYPE = ' || format_type(ag.aggtranstype, NULL)
    || CASE WHEN ag.aggfinalfn <> 0 THEN ', FINALFUNC = ' || ag.aggfinalfn::regproc::text
            ELSE '' END
    || CASE WHEN ag.aggcombinefn <> 0
            THEN ', COMBINEFUNC = ' || ag.aggcombinefn::regproc::text ELSE '' END
    || CASE WHEN ag.agginitval IS NOT NULL THEN ', INITCOND = ' || quote_literal(ag.agginitval)
            ELSE '' END
    || CASE p.proparallel WHEN 's' THEN ', PARALLEL = SAFE'
                          WHEN 'r' THEN ', PARALLEL = RESTRICTED' ELSE '' END
    || ')'";

pub(super) async fn read(
    client: &impl GenericClient,
) -> Result<Vec<Function>, tokio_postgres::Error> {
    Ok(client
        .query(
            &format!(
                "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
                        p.prokind::text,
                        CASE WHEN p.prokind = 'a' THEN {AGGREGATE}
                             ELSE pg_get_functiondef(p.oid) END
                   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   LEFT JOIN pg_aggregate ag ON ag.aggfnoid = p.oid
                  WHERE {USER_SCHEMAS} AND {}",
                not_in_extension("pg_proc", "p.oid")
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| Function {
            schema: row.get(0),
            name: row.get(1),
            arguments: row.get(2),
            kind: match row.get::<_, String>(3).as_str() {
                "p" => FunctionKind::Procedure,
                "a" => FunctionKind::Aggregate,
                "w" => FunctionKind::Window,
                _ => FunctionKind::Function,
            },
            definition: row.get(4),
        })
        .collect())
}
