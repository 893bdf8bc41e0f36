//! Calls to the user's own functions, and the other calls whose effect is not on a table:
//! `pg_sleep`, and the row locks a `SELECT … FOR UPDATE/SHARE` takes.
//!
//! A function the snapshot holds, or one the migration created earlier, runs code autodb
//! did not see in the statement: like a `DO` block it is opaque (scored at least
//! [`crate::score::UNKNOWN_FLOOR`]), and what its body is known to do (terminate backends,
//! run a program) counts as if the statement did it. A function of neither is taken for a
//! built-in or an extension's: its name alone says nothing more.

use pg_query::{NodeEnum, NodeRef};

use super::body::{self, Body};
use super::{Disruption, Effect, LockMode};
use crate::ast;
use crate::state::MigrationState;

/// A call to a function the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCall {
    /// As written: `kill_all` or `app.kill_all`.
    pub function: String,
    pub body: Body,
}

/// Statements whose function calls do not run when the statement does: definitions.
fn defines_only(node: &NodeEnum) -> bool {
    matches!(
        node,
        NodeEnum::CreateFunctionStmt(_)
            | NodeEnum::CreateStmt(_)
            | NodeEnum::ViewStmt(_)
            | NodeEnum::CreatePolicyStmt(_)
            | NodeEnum::AlterPolicyStmt(_)
            | NodeEnum::CreateTrigStmt(_)
            | NodeEnum::RuleStmt(_)
            | NodeEnum::CreateDomainStmt(_)
    )
}

/// Every call in the statement to a function of the snapshot or of the migration.
pub fn user_calls(node: &NodeEnum, state: &MigrationState) -> Vec<UserCall> {
    if defines_only(node) {
        return vec![];
    }
    let mut out: Vec<UserCall> = Vec::new();
    for (child, _, _, _) in node.nodes() {
        let NodeRef::FuncCall(f) = child else {
            continue;
        };
        let names = ast::strings(&f.funcname);
        let (schema, name) = match names.as_slice() {
            [name] => (None, name.as_str()),
            [schema, name] => (Some(schema.as_str()), name.as_str()),
            _ => continue,
        };
        if schema == Some("pg_catalog") {
            continue;
        }
        let function = names.join(".");
        if out.iter().any(|c| c.function == function) {
            continue;
        }
        if let Some(body) = state.function_body(schema, name) {
            out.push(UserCall { function, body });
        }
    }
    out
}

/// The body of a snapshot function's definition.
pub fn body_of_definition(definition: &str) -> Body {
    let parsed = pg_query::parse(definition, pg_query::ParserOptions::DEFAULT);
    let node = parsed.ok().and_then(|p| {
        p.protobuf
            .stmts
            .into_iter()
            .next()
            .and_then(|r| r.stmt)
            .and_then(|n| n.node)
    });
    match node {
        Some(NodeEnum::CreateFunctionStmt(f)) => body::of_function(&f),
        _ => Body {
            unread: true,
            ..Body::default()
        },
    }
}

/// The longest `pg_sleep` the statement calls, in milliseconds (`pg_sleep_for` of an
/// interval it cannot read counts as a minute).
pub fn sleep_ms(node: &NodeEnum) -> Option<u64> {
    let mut longest: Option<u64> = None;
    for (child, _, _, _) in node.nodes() {
        let NodeRef::FuncCall(f) = child else {
            continue;
        };
        let names = ast::strings(&f.funcname);
        let name = match names.as_slice() {
            [n] => n.as_str(),
            [s, n] if s == "pg_catalog" => n.as_str(),
            _ => continue,
        };
        let arg = f.args.first().and_then(|a| a.node.as_ref());
        let ms = match name {
            "pg_sleep" => seconds(arg).map_or(60_000, |s| (s * 1000.0) as u64),
            "pg_sleep_for" | "pg_sleep_until" => 60_000,
            _ => continue,
        };
        longest = Some(longest.map_or(ms, |l| l.max(ms)));
    }
    longest
}

fn seconds(arg: Option<&NodeEnum>) -> Option<f64> {
    use pg_query::protobuf::a_const::Val;
    match arg? {
        NodeEnum::AConst(c) => match c.val.as_ref()? {
            Val::Ival(i) => Some(f64::from(i.ival)),
            Val::Fval(f) => f.fval.parse().ok(),
            _ => None,
        },
        NodeEnum::TypeCast(t) => seconds(t.arg.as_ref().and_then(|a| a.node.as_ref())),
        _ => None,
    }
}

/// Tables a `SELECT … FOR UPDATE/SHARE` row-locks, with whether it locks every row.
pub fn row_locked(node: &NodeEnum) -> Vec<(String, bool)> {
    let NodeEnum::SelectStmt(s) = node else {
        return vec![];
    };
    if s.locking_clause.is_empty() {
        return vec![];
    }
    let every = !super::narrows(s.where_clause.as_deref()) && s.limit_count.is_none();
    let mut out = Vec::new();
    for from in &s.from_clause {
        if let Some(NodeEnum::RangeVar(rv)) = &from.node {
            out.push((ast::relation(rv), every));
        }
    }
    out
}

/// Records user calls, sleeps and row locks.
pub(super) fn classify(node: &NodeEnum, state: &MigrationState, e: &mut Effect) {
    let add = |d: Disruption, e: &mut Effect| {
        if !e.disruptions.contains(&d) {
            e.disruptions.push(d);
        }
    };
    for call in user_calls(node, state) {
        add(Disruption::OpaqueCall, e);
        for d in call.body.disruptions {
            add(d, e);
        }
    }
    if let NodeEnum::DoStmt(d) = node {
        for d in body::of_do(d).disruptions {
            add(d, e);
        }
    }
    // FOR UPDATE/SHARE takes ROW SHARE on the table and a row lock on each row it returns:
    // every writer of those rows waits until COMMIT.
    for (table, every) in row_locked(node) {
        e.target(&table, LockMode::RowShare);
        e.scans = true;
        e.locks_all_rows |= every;
    }
    e.sleep_ms = sleep_ms(node);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Disruption as D;

    fn ast(sql: &str) -> NodeEnum {
        autodb_core::sql::parse(sql).unwrap().remove(0).ast
    }

    #[test]
    fn sleeps_in_milliseconds() {
        assert_eq!(sleep_ms(&ast("SELECT pg_sleep(40)")), Some(40_000));
        assert_eq!(sleep_ms(&ast("SELECT pg_sleep(0.5)")), Some(500));
        assert_eq!(
            sleep_ms(&ast("SELECT pg_catalog.pg_sleep(2::float8)")),
            Some(2_000)
        );
        assert_eq!(
            sleep_ms(&ast("SELECT pg_sleep(1), pg_sleep(3)")),
            Some(3_000)
        );
        assert_eq!(
            sleep_ms(&ast("SELECT pg_sleep_for('5 minutes')")),
            Some(60_000)
        );
        assert_eq!(sleep_ms(&ast("SELECT pg_sleep(x) FROM t")), Some(60_000));
        assert_eq!(sleep_ms(&ast("SELECT app.pg_sleep(100)")), None);
        assert_eq!(sleep_ms(&ast("SELECT now()")), None);
    }

    #[test]
    fn snapshot_definitions_are_read() {
        let b = body_of_definition(
            "CREATE OR REPLACE FUNCTION public.kick() RETURNS void LANGUAGE plpgsql \
             AS $$ BEGIN PERFORM pg_terminate_backend(1); END $$",
        );
        assert_eq!(b.disruptions, [D::Backends { terminates: true }]);
        assert!(!b.unread);
        assert!(body_of_definition("not a definition").unread);
        assert!(body_of_definition("SELECT 1").unread);
    }

    fn calls_in_last(sql: &str) -> Vec<String> {
        let stmts = autodb_core::sql::parse(sql).unwrap();
        let mut state = MigrationState::new(&stmts, None);
        let mut last = vec![];
        for stmt in &stmts {
            let e = crate::catalog::classify(&stmt.ast, &state);
            last = user_calls(&stmt.ast, &state)
                .into_iter()
                .map(|c| c.function)
                .collect();
            state.record(stmt, &e);
        }
        last
    }

    #[test]
    fn each_user_function_once_and_none_in_definitions() {
        let defs = "CREATE FUNCTION a() RETURNS int LANGUAGE sql AS 'SELECT 1'; \
                    CREATE FUNCTION b() RETURNS int LANGUAGE sql AS 'SELECT 2'; ";
        assert_eq!(
            calls_in_last(&format!("{defs} SELECT a(), b(), a()")),
            ["a", "b"]
        );
        assert!(calls_in_last(&format!("{defs} CREATE VIEW v AS SELECT a()")).is_empty());
        assert!(calls_in_last(&format!(
            "{defs} CREATE TABLE t (x int DEFAULT a() CHECK (x > b()))"
        ))
        .is_empty());
        assert!(calls_in_last(&format!("{defs} CREATE POLICY p ON t USING (a() = 1)")).is_empty());
    }
}
