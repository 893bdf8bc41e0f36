//! What autodb refuses to run, whatever the score: statements that would switch off the
//! executor's own protections, change what the analysis' names mean, or cannot be run by
//! it at all.
//!
//! The executor runs every migration with a `lock_timeout` and a `statement_timeout`, under
//! a PostgreSQL advisory lock, as the role it connected as, with the default `search_path`
//! the analysis resolved names against. A migration could undo each of these (`RESET ALL`,
//! `SET lock_timeout = 0`, `pg_advisory_unlock_all()`, `SET ROLE`, `SET search_path`), and
//! then run with no protection at all. So those statements are refused at analyze, with the
//! statement and the reason — never scored and approved. One form is kept because it is
//! provably harmless: a *stricter* timeout (`SET lock_timeout = '2s'` when the executor's is
//! 5 s), the idiom every migration guide recommends.
//!
//! What no static check can see — a `DO` block or a function that does the same through
//! dynamic SQL — the executor catches at run time: after every statement it checks the
//! timeouts, the role and its advisory lock, and rolls back if any was touched.
//!
//! Refusals are not findings: `-- autodb:ignore` does not silence them.

use autodb_core::sql::ParsedStatement;
use pg_query::protobuf::{a_const, VariableSetKind};
use pg_query::{NodeEnum, NodeRef};
use serde::Serialize;

/// The executor's limits, which a migration may only tighten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub lock_timeout_ms: u64,
    pub statement_timeout_ms: u64,
}

impl Default for Limits {
    /// The executor's defaults.
    fn default() -> Self {
        Self {
            lock_timeout_ms: 5_000,
            statement_timeout_ms: 15 * 60 * 1000,
        }
    }
}

/// A statement autodb will not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub statement_index: usize,
    pub operation: String,
    pub reason: String,
    pub safe_alternative: String,
}

/// Settings the executor owns: changing them changes how (or as whom) the migration runs.
const OWNED: &[(&str, &str)] = &[
    (
        "idle_in_transaction_session_timeout",
        "the executor sets it so that a dead executor's transaction is ended by the server",
    ),
    (
        "transaction_timeout",
        "the executor's timeouts bound the migration",
    ),
    ("role", "the migration must run as the role autodb connected as"),
    (
        "session_authorization",
        "the migration must run as the role autodb connected as",
    ),
    (
        "search_path",
        "the analysis resolved every unqualified name through the search path autodb pins for the run",
    ),
    (
        "standard_conforming_strings",
        "it changes how the statements after it are read, so they would not be the statements analyzed",
    ),
    (
        "backslash_quote",
        "it changes how the statements after it are read",
    ),
    (
        "client_encoding",
        "it changes how the server reads the bytes of the statements after it (under SJIS or \
         BIG5 a quote can end a string the analysis saw continue), so they would not be the \
         statements analyzed",
    ),
    (
        "transform_null_equals",
        "it changes what `= NULL` means in the statements after it",
    ),
    (
        "client_connection_check_interval",
        "the executor sets it so that a vanished executor's statement ends at once",
    ),
    (
        "session_replication_role",
        "`replica` silently disables triggers and foreign-key checks",
    ),
    (
        "application_name",
        "autodb's sessions are found by it (pg_stat_activity, blocking reports)",
    ),
];

/// The schema that holds autodb's own ledger in every target database.
pub const OWN_SCHEMA: &str = "autodb";

/// Checks every statement; the result is empty when the migration may be run.
pub fn refusals(stmts: &[ParsedStatement], limits: Limits) -> Vec<Refusal> {
    let mut out = Vec::new();
    for stmt in stmts {
        if let Some(reason) = own_objects(stmt) {
            out.push(Refusal {
                statement_index: stmt.index,
                operation: stmt.operation.clone(),
                reason,
                safe_alternative: "Leave the `autodb` schema alone: it holds autodb's ledger of \
                                   applied migrations, which only the executor writes."
                    .into(),
            });
        }
        let mut refuse = |reason: String, safe: &str| {
            out.push(Refusal {
                statement_index: stmt.index,
                operation: stmt.operation.clone(),
                reason,
                safe_alternative: safe.to_string(),
            });
        };
        match &stmt.ast {
            NodeEnum::VariableSetStmt(v) => {
                if let Some((reason, safe)) = setting_change(v, limits) {
                    refuse(reason, safe);
                }
            }
            NodeEnum::DiscardStmt(_) => refuse(
                "DISCARD resets the session autodb prepared: its timeouts, and with ALL its \
                 advisory lock"
                    .into(),
                "Remove it; autodb runs each migration in a fresh session state.",
            ),
            NodeEnum::AlterSystemStmt(_) => refuse(
                "ALTER SYSTEM changes the server's configuration for every database and session; \
                 it is not a schema change and cannot run in a transaction"
                    .into(),
                "Change server settings through your configuration management (or the RDS \
                 parameter group), not a migration.",
            ),
            NodeEnum::CopyStmt(c) if c.filename.is_empty() && !c.is_program => refuse(
                format!(
                    "COPY … {} needs a client stream that the executor does not provide",
                    if c.is_from { "FROM STDIN" } else { "TO STDOUT" }
                ),
                "Load data with INSERT … SELECT or INSERT … VALUES, or outside the migration.",
            ),
            _ => {}
        }
        for call in function_calls(&stmt.ast) {
            if let Some(reason) = forbidden_call(&call) {
                refuse(
                    reason,
                    "Remove the call; the executor sets its timeouts and holds its lock itself.",
                );
            }
        }
    }
    out
}

/// Why `stmt` reaches into autodb's own schema, if it does: by a qualified name, by creating,
/// dropping, renaming or granting on the schema, or in text that may run as SQL later
/// (dynamic SQL in a `DO` block or a function body).
fn own_objects(stmt: &ParsedStatement) -> Option<String> {
    if crate::names::used(std::slice::from_ref(stmt)).touches_schema(OWN_SCHEMA) {
        return Some(format!(
            "the statement names an object in the `{OWN_SCHEMA}` schema, autodb's own ledger"
        ));
    }
    // Schemas are named by bare `String` nodes, which the tree walk does not visit.
    let schema_objects: &[pg_query::protobuf::Node] = match &stmt.ast {
        NodeEnum::DropStmt(d)
            if d.remove_type() == pg_query::protobuf::ObjectType::ObjectSchema =>
        {
            &d.objects
        }
        NodeEnum::GrantStmt(g) => &g.objects,
        _ => &[],
    };
    if crate::ast::strings(schema_objects)
        .iter()
        .any(|s| s == OWN_SCHEMA)
    {
        return Some(format!(
            "the statement changes the `{OWN_SCHEMA}` schema, autodb's own ledger"
        ));
    }
    // Dynamic SQL (`EXECUTE '…'` in a `DO` block, a function body) is text the tree does
    // not parse: any mention of the schema in the statement's text is refused.
    let lower = stmt.sql.to_ascii_lowercase();
    if lower.contains(&format!("{OWN_SCHEMA}."))
        || lower.contains(&format!("\"{OWN_SCHEMA}\""))
        || matches!(&stmt.ast, NodeEnum::CreateSchemaStmt(c) if c.schemaname == OWN_SCHEMA)
        || matches!(&stmt.ast, NodeEnum::RenameStmt(r) if r.subname == OWN_SCHEMA)
    {
        return Some(format!(
            "the statement names the `{OWN_SCHEMA}` schema (autodb's own ledger), possibly in \
             text that can run as SQL"
        ));
    }
    None
}

/// Numeric literals PostgreSQL 16 reads differently from older servers: non-decimal integers
/// (`0x1F`, `0o17`, `0b101`) and digit separators (`1_000`). Before 15 the server reads
/// `0x1F` as `0` followed by the column alias `x1F` and `1_000` as `1 AS _000`; 15 rejects
/// both. The parser reads them as 16 does, so on an older server the statement analyzed
/// would not be the statement run.
pub fn lexing_refusals(stmts: &[ParsedStatement], server_major: u32) -> Vec<Refusal> {
    if server_major >= 16 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for stmt in stmts {
        let Ok(tokens) = pg_query::scan_tokens(&stmt.sql) else {
            continue;
        };
        for token in tokens {
            let numeric = [
                pg_query::protobuf::Token::Iconst as i32,
                pg_query::protobuf::Token::Fconst as i32,
            ];
            if !numeric.contains(&token.token) {
                continue;
            }
            let (start, end) = (
                usize::try_from(token.start).unwrap_or(0),
                usize::try_from(token.end).unwrap_or(0),
            );
            let Some(text) = stmt.sql.get(start..end) else {
                continue;
            };
            let lower = text.to_ascii_lowercase();
            let prefixed = ["0x", "0o", "0b"].iter().any(|p| lower.starts_with(p));
            if prefixed || text.contains('_') {
                out.push(Refusal {
                    statement_index: stmt.index,
                    operation: stmt.operation.clone(),
                    reason: format!(
                        "the literal `{text}` is read differently by PostgreSQL {server_major}: \
                         {} before 16 (the analysis read it as PostgreSQL 16 and later do)",
                        if server_major >= 15 {
                            "it is a syntax error"
                        } else {
                            "it is a number followed by a column alias"
                        }
                    ),
                    safe_alternative: "Write the number in decimal digits without `_`.".into(),
                });
                break;
            }
        }
    }
    out
}

fn setting_change(
    v: &pg_query::protobuf::VariableSetStmt,
    limits: Limits,
) -> Option<(String, &'static str)> {
    let name = v.name.to_ascii_lowercase();
    let kind = v.kind();
    if kind == VariableSetKind::VarResetAll {
        return Some((
            "RESET ALL removes the executor's lock_timeout and statement_timeout".into(),
            "Reset only the settings the migration changed, by name.",
        ));
    }
    let limit = match name.as_str() {
        "lock_timeout" => Some(limits.lock_timeout_ms),
        "statement_timeout" => Some(limits.statement_timeout_ms),
        _ => None,
    };
    if let Some(limit) = limit {
        let value = (kind == VariableSetKind::VarSetValue)
            .then(|| setting_ms(&v.args))
            .flatten();
        return match value {
            Some(ms) if ms > 0 && ms <= limit => None,
            Some(0) => Some((format!("{name} = 0 switches the timeout off"), SAFE_TIMEOUT)),
            Some(ms) => Some((
                format!("{name} = {ms} ms is looser than the executor's {limit} ms"),
                SAFE_TIMEOUT,
            )),
            None => Some((
                format!(
                    "this {} of {name} would replace the executor's {limit} ms with a value autodb \
                     cannot check (or the server default, which may be no timeout)",
                    if kind == VariableSetKind::VarSetValue { "SET" } else { "reset" }
                ),
                SAFE_TIMEOUT,
            )),
        };
    }
    let (_, why) = OWNED.iter().find(|(owned, _)| *owned == name)?;
    let verb = if matches!(kind, VariableSetKind::VarReset) {
        "RESET"
    } else {
        "SET"
    };
    Some((
        format!("{verb} {name} is refused: {why}"),
        if name == "search_path" {
            "Qualify names with their schema (`other.orders`) instead."
        } else {
            "Remove it; the executor manages this setting."
        },
    ))
}

const SAFE_TIMEOUT: &str =
    "Only a stricter positive value may be set (e.g. SET lock_timeout = '2s'); otherwise \
     leave it out: the executor sets it.";

/// A timeout setting's value in milliseconds: `2000`, `'2s'`, `'1.5min'`, `'500ms'`.
fn setting_ms(args: &[pg_query::protobuf::Node]) -> Option<u64> {
    let [arg] = args else { return None };
    let Some(NodeEnum::AConst(c)) = &arg.node else {
        return None;
    };
    let text = match c.val.as_ref()? {
        a_const::Val::Ival(i) => return u64::try_from(i.ival).ok(),
        a_const::Val::Fval(f) => f.fval.clone(),
        a_const::Val::Sval(s) => s.sval.clone(),
        _ => return None,
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..split].parse().ok()?;
    let factor = match text[split..].trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = (number * factor).round();
    // A positive value below a millisecond rounds to 0, which PostgreSQL reads as "off".
    (0.0..1e15).contains(&ms).then_some(ms as u64)
}

/// A function call: its name (lower-case, without schema) and arguments.
struct Call<'a> {
    name: String,
    args: &'a [pg_query::protobuf::Node],
}

fn function_calls(ast: &NodeEnum) -> Vec<Call<'_>> {
    ast.nodes()
        .into_iter()
        .filter_map(|(node, ..)| match node {
            NodeRef::FuncCall(f) => Some(Call {
                name: crate::ast::strings(&f.funcname)
                    .last()
                    .map(|n| n.to_ascii_lowercase())
                    .unwrap_or_default(),
                args: &f.args,
            }),
            _ => None,
        })
        .collect()
}

fn forbidden_call(call: &Call) -> Option<String> {
    let name = call.name.as_str();
    if name.starts_with("pg_advisory_") || name.starts_with("pg_try_advisory_") {
        return Some(format!(
            "{name}() touches advisory locks, and autodb's executor holds one to keep other \
             migrations off this database"
        ));
    }
    if name != "set_config" {
        return None;
    }
    let setting = call.args.first().and_then(|a| match &a.node {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(a_const::Val::Sval(s)) => Some(s.sval.to_ascii_lowercase()),
            _ => None,
        },
        _ => None,
    });
    match setting.as_deref() {
        None => Some(
            "set_config() with a setting name computed at run time could change any of the \
             executor's settings"
                .into(),
        ),
        Some(s @ ("lock_timeout" | "statement_timeout")) => Some(format!(
            "set_config('{s}', …) replaces the executor's timeout; use SET {s} with a stricter value"
        )),
        Some(s) if OWNED.iter().any(|(owned, _)| *owned == s) => {
            Some(format!("set_config('{s}', …) changes a setting the executor owns"))
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests;
