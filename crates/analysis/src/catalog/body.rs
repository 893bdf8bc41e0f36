//! What a function's or `DO` block's body does, read with PostgreSQL's own parsers: SQL
//! bodies with the SQL parser, PL/pgSQL with libpg_query's PL/pgSQL parser, each embedded
//! query with the SQL parser again.
//!
//! A migration that calls a function runs its body; a body that terminates backends or runs
//! `COPY … PROGRAM` does so when called, however innocent the `SELECT` that calls it looks. A
//! `SECURITY DEFINER` function that `EXECUTE`s SQL built from its input runs whatever its
//! caller passes with its owner's privileges.

use pg_query::protobuf::{CreateFunctionStmt, DoStmt};
use pg_query::NodeEnum;

use super::disruption::{disruptive_calls, statement_disruption, Disruption};
use crate::ast;

/// The facts of one body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// What running the body disrupts (calls and statements inside it).
    pub disruptions: Vec<Disruption>,
    /// `EXECUTE` of a string that is not a constant: SQL built at run time, from arguments or
    /// data.
    pub dynamic_sql: bool,
    pub security_definer: bool,
    /// The body could not be read (another language, or a parse error): it is opaque.
    pub unread: bool,
}

impl Body {
    fn add(&mut self, d: Disruption) {
        if !self.disruptions.contains(&d) {
            self.disruptions.push(d);
        }
    }

    /// Reads every statement of SQL text into the body's facts.
    fn read_sql(&mut self, sql: &str) -> bool {
        let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
            return false;
        };
        for raw in &parsed.protobuf.stmts {
            if let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) {
                self.read_node(node);
            }
        }
        true
    }

    fn read_node(&mut self, node: &NodeEnum) {
        // A BEGIN ATOMIC body is a list of statements.
        if let NodeEnum::List(l) = node {
            for item in l.items.iter().filter_map(|i| i.node.as_ref()) {
                self.read_node(item);
            }
            return;
        }
        if let Some(d) = statement_disruption(node) {
            self.add(d);
        }
        for call in disruptive_calls(node) {
            self.add(call.disruption);
        }
    }
}

/// The body of a `CREATE FUNCTION`/`PROCEDURE`.
pub fn of_function(f: &CreateFunctionStmt) -> Body {
    let mut body = Body::default();
    let mut language = String::from("sql");
    let mut text: Option<String> = None;
    for option in &f.options {
        let Some(NodeEnum::DefElem(d)) = &option.node else {
            continue;
        };
        let arg = d.arg.as_ref().and_then(|a| a.node.as_ref());
        match (d.defname.as_str(), arg) {
            ("language", Some(NodeEnum::String(s))) => language = s.sval.to_lowercase(),
            ("security", Some(NodeEnum::Boolean(b))) => body.security_definer = b.boolval,
            ("as", Some(NodeEnum::List(l))) => text = ast::strings(&l.items).into_iter().next(),
            _ => {}
        }
    }
    if let Some(sql_body) = f.sql_body.as_ref().and_then(|b| b.node.as_ref()) {
        body.read_node(sql_body);
        return body;
    }
    let Some(text) = text else {
        body.unread = true;
        return body;
    };
    match language.as_str() {
        "sql" => body.unread = !body.read_sql(&text),
        "plpgsql" => {
            let whole = NodeEnum::CreateFunctionStmt(Box::new(f.clone()))
                .deparse(pg_query::DeparseOptions::default());
            body.unread = !whole.is_ok_and(|sql| read_plpgsql(&sql, &mut body));
        }
        _ => body.unread = true,
    }
    body
}

/// The body of a `DO` block.
pub fn of_do(d: &DoStmt) -> Body {
    let mut body = Body::default();
    let mut language = String::from("plpgsql");
    let mut text = None;
    for arg in &d.args {
        if let Some(NodeEnum::DefElem(e)) = &arg.node {
            if let Some(NodeEnum::String(s)) = e.arg.as_ref().and_then(|a| a.node.as_ref()) {
                match e.defname.as_str() {
                    "language" => language = s.sval.to_lowercase(),
                    "as" => text = Some(s.sval.clone()),
                    _ => {}
                }
            }
        }
    }
    match (language.as_str(), text) {
        ("plpgsql", Some(text)) => {
            let tag = (0..)
                .map(|i| format!("$autodb{i}$"))
                .find(|t| !text.contains(t.as_str()))
                .unwrap_or_default();
            let wrapped = format!(
                "CREATE FUNCTION autodb_do() RETURNS void LANGUAGE plpgsql AS {tag}{text}{tag}"
            );
            body.unread = !read_plpgsql(&wrapped, &mut body);
        }
        _ => body.unread = true,
    }
    body
}

/// Reads the PL/pgSQL function `create` defines: every embedded query, and whether it
/// `EXECUTE`s anything but a constant.
fn read_plpgsql(create: &str, body: &mut Body) -> bool {
    let Ok(tree) = pg_query::parse_plpgsql(create) else {
        return false;
    };
    let mut stack = vec![&tree];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    if key == "query" {
                        if let Some(q) = child.as_str() {
                            // Statements are written whole; expressions (conditions,
                            // RETURN's) read as a SELECT list, assignments (`x := …`) by
                            // their right-hand side.
                            let read = body.read_sql(q) || body.read_sql(&format!("SELECT {q}"));
                            if let (false, Some((_, value))) = (read, q.split_once(":=")) {
                                body.read_sql(&format!("SELECT {value}"));
                            }
                        }
                    }
                    if matches!(
                        key.as_str(),
                        "PLpgSQL_stmt_dynexecute" | "PLpgSQL_stmt_dynfors"
                    ) || key == "dynquery"
                    {
                        body.dynamic_sql |= !constant_query(child);
                    }
                    stack.push(child);
                }
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    true
}

/// Whether the query expression of an `EXECUTE` is a string constant.
fn constant_query(stmt: &serde_json::Value) -> bool {
    let query = stmt
        .pointer("/query/PLpgSQL_expr/query")
        .or_else(|| stmt.pointer("/PLpgSQL_expr/query"))
        .and_then(|q| q.as_str());
    let Some(query) = query else { return false };
    let Ok(parsed) = pg_query::parse(&format!("SELECT {query}"), pg_query::ParserOptions::DEFAULT)
    else {
        return false;
    };
    let Some(NodeEnum::SelectStmt(s)) = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|r| r.stmt.as_ref())
        .and_then(|n| n.node.as_ref())
    else {
        return false;
    };
    s.target_list.iter().all(|t| match &t.node {
        Some(NodeEnum::ResTarget(r)) => matches!(
            r.val.as_ref().and_then(|v| v.node.as_ref()),
            Some(NodeEnum::AConst(_))
        ),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Disruption as D;

    fn function(sql: &str) -> Body {
        let stmts = autodb_core::sql::parse(sql).unwrap();
        match &stmts[0].ast {
            NodeEnum::CreateFunctionStmt(f) => of_function(f),
            NodeEnum::DoStmt(d) => of_do(d),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plpgsql_bodies_are_read() {
        let b = function(
            "CREATE FUNCTION kill() RETURNS void LANGUAGE plpgsql AS $$ BEGIN \
             PERFORM pg_terminate_backend(pid) FROM pg_stat_activity; \
             COPY (SELECT 1) TO PROGRAM 'curl x'; END $$",
        );
        assert_eq!(b.disruptions.len(), 2, "{:?}", b.disruptions);
        assert!(b.disruptions.contains(&D::Backends { terminates: true }));
        assert!(b.disruptions.contains(&D::ServerProgram));
        assert!(!b.dynamic_sql && !b.security_definer && !b.unread);
        let b = function("DO $$ BEGIN PERFORM pg_cancel_backend(1); END $$");
        assert_eq!(b.disruptions, [D::Backends { terminates: false }]);
    }

    #[test]
    fn do_blocks_are_read_in_plpgsql_only() {
        let b = function("DO $$ BEGIN PERFORM 1; END $$");
        assert!(!b.unread && b.disruptions.is_empty());
        let b = function("DO LANGUAGE plpgsql $$ BEGIN PERFORM pg_reload_conf(); END $$");
        assert_eq!(b.disruptions, [D::Server { settings: true }]);
        // Another language's text is not PL/pgSQL, whatever it looks like.
        let b = function("DO LANGUAGE plperl $$ BEGIN PERFORM pg_reload_conf(); END $$");
        assert!(b.unread && b.disruptions.is_empty(), "{b:?}");
        // PL/pgSQL that libpg_query cannot read is unread, not harmless.
        assert!(function("DO $$ BEGIN PERFORM FROM WHERE; END $$").unread);
    }

    #[test]
    fn conditions_and_assignments_are_read() {
        let b = function(
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ \
             DECLARE ok bool; BEGIN \
             IF pg_reload_conf() THEN RETURN; END IF; \
             ok := pg_terminate_backend(1); END $$",
        );
        assert!(
            b.disruptions.contains(&D::Server { settings: true }),
            "{b:?}"
        );
        assert!(
            b.disruptions.contains(&D::Backends { terminates: true }),
            "{b:?}"
        );
    }

    #[test]
    fn sql_bodies_are_read() {
        let b =
            function("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'SELECT pg_reload_conf()'");
        assert_eq!(b.disruptions, [D::Server { settings: true }]);
        let b = function(
            "CREATE FUNCTION f() RETURNS bool LANGUAGE sql BEGIN ATOMIC SELECT pg_terminate_backend(1); END",
        );
        assert_eq!(b.disruptions, [D::Backends { terminates: true }]);
        assert!(function("CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'x', 'y'").unread);
    }

    #[test]
    fn dynamic_sql_over_an_argument() {
        let b = function(
            "CREATE FUNCTION run(q text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER \
             AS $$ BEGIN EXECUTE q; END $$",
        );
        assert!(b.security_definer && b.dynamic_sql);
        let b = function(
            "CREATE FUNCTION run(t text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER \
             AS $$ BEGIN EXECUTE 'DELETE FROM ' || t; END $$",
        );
        assert!(b.dynamic_sql);
        let b = function(
            "CREATE FUNCTION run() RETURNS void LANGUAGE plpgsql SECURITY DEFINER \
             AS $$ BEGIN EXECUTE 'ANALYZE'; END $$",
        );
        assert!(b.security_definer && !b.dynamic_sql);
        let b = function(
            "CREATE FUNCTION run(q text) RETURNS void LANGUAGE plpgsql \
             AS $$ BEGIN EXECUTE q; END $$",
        );
        assert!(!b.security_definer && b.dynamic_sql);
    }
}
