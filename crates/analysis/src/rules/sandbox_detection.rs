//! Code that observes where it runs — the database's name, the server's address or start
//! time, the system identifier, the role names, its own backend — can tell the sandbox from
//! production and behave in the one and not the other: `CASE WHEN current_database() NOT
//! LIKE 'autodb\_sbx%' THEN pg_sleep(40) END` passes the sandbox and blocks production. A
//! sandbox pass vouches for nothing such code does, so it is said.
//!
//! Looked for in function and procedure bodies (any language: the body is opaque text, so
//! the names are looked for as words), in `DO` blocks, and in the conditional expressions of
//! plain statements (`CASE`, `COALESCE`, comparisons, boolean logic). A plain
//! `DEFAULT current_user` is not a finding: it records who wrote, it decides nothing.

use pg_query::protobuf::SqlValueFunctionOp;
use pg_query::{NodeEnum, NodeRef};

use super::{Ctx, Findings, Rule};
use crate::ast;

/// Functions whose value differs between the sandbox and production.
const FUNCTIONS: &[&str] = &[
    "current_database",
    "inet_server_addr",
    "inet_server_port",
    "inet_client_addr",
    "inet_client_port",
    "pg_postmaster_start_time",
    "pg_conf_load_time",
    "pg_control_system",
    "pg_backend_pid",
    "pg_current_logfile",
];

/// Words that, in a function body or a `DO` block, observe the environment: the functions,
/// the role and catalog keywords, and the catalogs naming databases and sessions.
const BODY_WORDS: &[&str] = &[
    "current_user",
    "session_user",
    "current_role",
    "current_catalog",
    "system_identifier",
    "pg_stat_activity",
    "pg_database",
];

/// Settings that name the server.
const SERVER_SETTINGS: &[&str] = &[
    "port",
    "cluster_name",
    "data_directory",
    "listen_addresses",
    "config_file",
    "hba_file",
];

const ALTERNATIVE: &str = "Make the code behave the same everywhere; if it must differ per environment, pass the difference in explicitly (a setting the migration sets, a table row) so the sandbox runs the production branch.";

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let (kind, found) = match &ctx.stmt.ast {
        NodeEnum::CreateFunctionStmt(f) => {
            let mut found = in_body(&f.options);
            if let Some(body) = &f.sql_body {
                if let Some(node) = &body.node {
                    found.extend(anywhere(node));
                }
            }
            let what = if f.is_procedure {
                "procedure"
            } else {
                "function"
            };
            (format!("The {what} `{}`", ast::dotted(&f.funcname)), found)
        }
        NodeEnum::DoStmt(d) => ("The DO block".to_string(), in_body(&d.args)),
        other => ("A conditional expression".to_string(), in_conditions(other)),
    };
    let mut found = found;
    found.sort();
    found.dedup();
    if found.is_empty() {
        return;
    }
    out.push(
        Rule::SandboxDetection,
        format!(
            "{kind} observes where it runs ({}): it can behave one way in the sandbox and another in production, so a sandbox pass vouches for nothing it does.",
            found
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ALTERNATIVE,
    );
}

/// The names found in the `AS '…'` text of a function's or a `DO` block's options.
fn in_body(options: &[pg_query::protobuf::Node]) -> Vec<String> {
    let mut out = Vec::new();
    for option in options {
        let Some(NodeEnum::DefElem(d)) = &option.node else {
            continue;
        };
        if d.defname != "as" {
            continue;
        }
        let texts: Vec<String> = match d.arg.as_ref().and_then(|a| a.node.as_ref()) {
            Some(NodeEnum::String(s)) => vec![s.sval.clone()],
            Some(NodeEnum::List(l)) => ast::strings(&l.items),
            _ => vec![],
        };
        for text in texts {
            out.extend(words_in(&text));
        }
    }
    out
}

/// Each of [`FUNCTIONS`] and [`BODY_WORDS`] that occurs in `text` as a whole word.
fn words_in(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    FUNCTIONS
        .iter()
        .chain(BODY_WORDS)
        .filter(|name| {
            lower.match_indices(*name).any(|(at, _)| {
                let before = lower[..at].chars().next_back();
                let after = lower[at + name.len()..].chars().next();
                !before.is_some_and(word) && !after.is_some_and(word)
            })
        })
        .map(|name| name.to_string())
        .collect()
}

/// The observing calls inside the statement's conditional expressions.
fn in_conditions(statement: &NodeEnum) -> Vec<String> {
    let mut out = Vec::new();
    for (node, _, _, _) in statement.nodes() {
        let conditional = matches!(
            node,
            NodeRef::CaseExpr(_)
                | NodeRef::CoalesceExpr(_)
                | NodeRef::NullIfExpr(_)
                | NodeRef::MinMaxExpr(_)
                | NodeRef::BoolExpr(_)
                | NodeRef::AExpr(_)
                | NodeRef::BooleanTest(_)
                | NodeRef::NullTest(_)
        );
        if conditional {
            out.extend(anywhere(&node.to_enum()));
        }
    }
    out
}

/// Every observing call or value in `node`'s tree.
fn anywhere(node: &NodeEnum) -> Vec<String> {
    let mut out = Vec::new();
    let mut visit = |n: NodeRef| match n {
        NodeRef::FuncCall(f) => {
            let names = ast::strings(&f.funcname);
            let Some(last) = names.last() else { return };
            let last = last.to_ascii_lowercase();
            if FUNCTIONS.contains(&last.as_str()) {
                out.push(last);
            } else if matches!(last.as_str(), "current_setting" | "pg_settings") {
                let setting = f.args.first().and_then(|a| match &a.node {
                    Some(NodeEnum::AConst(c)) => match &c.val {
                        Some(pg_query::protobuf::a_const::Val::Sval(s)) => Some(s.sval.clone()),
                        _ => None,
                    },
                    _ => None,
                });
                if let Some(s) = setting.filter(|s| SERVER_SETTINGS.contains(&s.as_str())) {
                    out.push(format!("current_setting('{s}')"));
                }
            }
        }
        NodeRef::SqlvalueFunction(f) => {
            let name = match f.op() {
                SqlValueFunctionOp::SvfopCurrentRole => "current_role",
                SqlValueFunctionOp::SvfopCurrentUser => "current_user",
                SqlValueFunctionOp::SvfopUser => "user",
                SqlValueFunctionOp::SvfopSessionUser => "session_user",
                SqlValueFunctionOp::SvfopCurrentCatalog => "current_catalog",
                _ => return,
            };
            out.push(name.to_string());
        }
        _ => {}
    };
    visit(node.to_ref());
    for (child, _, _, _) in node.nodes() {
        visit(child);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_a_case_on_the_database_name() {
        let f = findings(
            "SELECT CASE WHEN current_database() NOT LIKE 'autodb\\_sbx%' THEN pg_sleep(40) END",
            Rule::SandboxDetection,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn err_function_bodies_and_do_blocks() {
        let sql = "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN IF inet_server_addr() <> '10.0.0.1' THEN PERFORM pg_sleep(40); END IF; END $$;
                   DO $$ BEGIN IF SESSION_USER = 'app' THEN DROP TABLE t; END IF; END $$;
                   CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT pg_backend_pid(); END;
                   UPDATE t SET a = 1 WHERE current_setting('cluster_name') = 'prod'";
        let f = findings(sql, Rule::SandboxDetection);
        assert_eq!(f.len(), 4, "{f:?}");
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_plain_defaults_and_lookalike_words() {
        let sql = "CREATE TABLE t (a int, who text DEFAULT current_user, at timestamptz DEFAULT now());
                   CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ DECLARE my_current_database_count int; BEGIN RETURN 1; END $$;
                   SELECT CASE WHEN a > 1 THEN 'x' END FROM t;
                   SELECT current_setting('app.tenant')";
        assert!(findings(sql, Rule::SandboxDetection).is_empty());
    }

    #[test]
    fn err_each_role_and_catalog_keyword_in_a_condition() {
        for name in [
            "current_role",
            "current_user",
            "user",
            "session_user",
            "current_catalog",
        ] {
            let sql = format!("UPDATE t SET a = 1 WHERE {name} = 'prod'");
            let f = findings(&sql, Rule::SandboxDetection);
            assert_eq!(f.len(), 1, "{sql}");
            assert!(
                f[0].message.contains(&format!("(`{name}`)")),
                "{}",
                f[0].message
            );
        }
    }

    #[test]
    fn ok_a_name_that_only_starts_or_ends_like_one() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ DECLARE current_databases int; old_pg_backend_pid int; BEGIN RETURN 1; END $$";
        assert!(findings(sql, Rule::SandboxDetection).is_empty());
    }
}
