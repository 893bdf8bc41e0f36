//! Splitting and parsing a migration with the real PostgreSQL parser (`pg_query`).
//!
//! A migration is parsed once, here, into [`ParsedStatement`]s that keep three things every
//! later stage needs: the exact source text of each statement (byte-for-byte, so what the
//! executor runs is what the user approved), the comments written just above it (inline
//! directives such as `-- autodb:ignore rule`), and the parse tree.
//!
//! `pg_query` reports a syntax error without its position, so the position is recovered
//! here: the scanner (which works on invalid SQL) splits the text into statements, each is
//! parsed alone, and the failing one is searched for the token the error names.

use pg_query::protobuf::{ObjectType, Token};
use pg_query::NodeEnum;
use serde::Serialize;

/// One statement of a migration, as the parser saw it.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    /// 0-based position in the migration.
    pub index: usize,
    /// The statement's source text, without the comments above it and without the `;`.
    pub sql: String,
    /// Byte offset of `sql` in the whole migration.
    pub offset: usize,
    /// 1-based line of `sql` in the whole migration.
    pub line: usize,
    /// Comment lines directly above the statement (text after `--`, trimmed).
    pub leading_comments: Vec<String>,
    /// A short upper-case name of what the statement does, e.g. `ALTER TABLE`.
    pub operation: String,
    /// The parse tree.
    pub ast: NodeEnum,
}

/// Why a migration could not be parsed. `position` is 1-based in characters, as PostgreSQL
/// reports it, and points into the whole migration, not the statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message} (line {line}, column {column})")]
pub struct ParseError {
    pub message: String,
    pub statement_index: usize,
    pub position: usize,
    pub line: usize,
    pub column: usize,
}

/// Parses a whole migration. An input with no statements (only comments or whitespace)
/// yields an empty list; the caller decides whether that is an error.
pub fn parse(sql: &str) -> Result<Vec<ParsedStatement>, ParseError> {
    if sql.contains('\0') {
        let offset = sql.find('\0').unwrap_or(0);
        return Err(error_at(
            sql,
            offset,
            0,
            "SQL must not contain NUL bytes".into(),
        ));
    }
    match pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) {
        Ok(result) => {
            // The parser's location skips comments before the first statement only, so each
            // statement's region is taken from the end of the previous one instead.
            let mut region_start = 0;
            // Lines are counted incrementally: rescanning from the start for every statement
            // made large files quadratic.
            let mut cursor = LineCursor::default();
            let mut out = Vec::with_capacity(result.protobuf.stmts.len());
            for (index, raw) in result.protobuf.stmts.into_iter().enumerate() {
                let start = usize::try_from(raw.stmt_location).unwrap_or(0);
                let end = match usize::try_from(raw.stmt_len) {
                    Ok(0) | Err(_) => sql.len(),
                    Ok(len) => (start + len).min(sql.len()),
                };
                let from = region_start.min(start);
                region_start = end;
                if let Some(node) = raw.stmt.and_then(|s| s.node) {
                    out.push(statement(sql, index, from, end, node, &mut cursor));
                }
            }
            Ok(out)
        }
        Err(err) => Err(locate_error(sql, &err.to_string())),
    }
}

/// The line number at a byte offset, for offsets visited in increasing order.
#[derive(Default)]
struct LineCursor {
    offset: usize,
    line: usize,
}

impl LineCursor {
    fn line_at(&mut self, sql: &str, offset: usize) -> usize {
        let offset = offset.min(sql.len());
        if offset < self.offset {
            *self = Self::default();
        }
        self.line += sql.as_bytes()[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = offset;
        self.line + 1
    }
}

fn statement(
    sql: &str,
    index: usize,
    start: usize,
    end: usize,
    ast: NodeEnum,
    cursor: &mut LineCursor,
) -> ParsedStatement {
    let raw = &sql[start..end];
    // A region that follows another statement begins with that statement's `;`.
    let skip = raw.len() - raw.trim_start().trim_start_matches(';').len();
    let (comments, body_offset) = leading_comments(&raw[skip..]);
    let body_offset = body_offset + skip;
    let body = raw[body_offset..].trim_end();
    let body = body.strip_suffix(';').unwrap_or(body).trim_end();
    let offset = start + body_offset;
    ParsedStatement {
        index,
        sql: body.to_string(),
        offset,
        line: cursor.line_at(sql, offset),
        leading_comments: comments,
        operation: operation(&ast),
        ast,
    }
}

/// Splits the comments and blank space above a statement from its body.
fn leading_comments(raw: &str) -> (Vec<String>, usize) {
    let mut comments = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &raw[pos..];
        let trimmed = rest.trim_start();
        pos += rest.len() - trimmed.len();
        if let Some(after) = trimmed.strip_prefix("--") {
            let line_end = after.find('\n').map_or(after.len(), |i| i);
            comments.push(after[..line_end].trim().to_string());
            pos += 2 + line_end;
        } else if let Some(after) = trimmed.strip_prefix("/*") {
            match after.find("*/") {
                Some(close) => {
                    comments.extend(after[..close].lines().map(|l| l.trim().to_string()));
                    pos += 2 + close + 2;
                }
                None => return (comments, pos),
            }
        } else {
            return (comments, pos);
        }
    }
}

/// Recovers the statement and position of a parse error that `pg_query` reported by message
/// only.
fn locate_error(sql: &str, message: &str) -> ParseError {
    let message = message
        .strip_prefix("Invalid statement: ")
        .unwrap_or(message)
        .to_string();
    let bounds = statement_bounds(sql);
    for (index, &(start, end)) in bounds.iter().enumerate() {
        let text = &sql[start..end];
        if let Err(err) = pg_query::parse(text, pg_query::ParserOptions::DEFAULT) {
            let local = err.to_string();
            let local = local.strip_prefix("Invalid statement: ").unwrap_or(&local);
            let at = near_token_offset(text, local).unwrap_or_else(|| first_token(text));
            return error_at(sql, start + at, index, local.to_string());
        }
    }
    // The statements parse alone but not together (rare: e.g. an unterminated literal the
    // scanner split differently). Point at the end of the input.
    error_at(
        sql,
        sql.trim_end().len(),
        bounds.len().saturating_sub(1),
        message,
    )
}

fn error_at(sql: &str, offset: usize, statement_index: usize, message: String) -> ParseError {
    let (line, column) = line_col(sql, offset);
    ParseError {
        message,
        statement_index,
        position: sql[..offset.min(sql.len())].chars().count() + 1,
        line,
        column,
    }
}

/// Byte ranges of the statements, by the scanner: split at top-level `;` tokens.
fn statement_bounds(sql: &str) -> Vec<(usize, usize)> {
    let Ok(scan) = pg_query::scan(sql) else {
        return vec![(0, sql.len())];
    };
    let mut bounds = Vec::new();
    let mut start = 0usize;
    for token in &scan.tokens {
        if token.token == Token::Ascii59 as i32 {
            let end = usize::try_from(token.start).unwrap_or(start);
            bounds.push((start, end));
            start = usize::try_from(token.end).unwrap_or(end);
        }
    }
    if !sql[start..].trim().is_empty() || bounds.is_empty() {
        bounds.push((start, sql.len()));
    }
    bounds.retain(|&(s, e)| !only_comments(&sql[s..e]));
    bounds
}

fn only_comments(text: &str) -> bool {
    let (_, body) = leading_comments(text);
    text[body..].trim().is_empty()
}

/// PostgreSQL's syntax errors read `syntax error at or near "X"` or `... at end of input`.
fn near_token_offset(text: &str, message: &str) -> Option<usize> {
    if message.contains("at end of input") {
        return Some(text.trim_end().len());
    }
    let near = message.split("at or near \"").nth(1)?;
    let near = &near[..near.rfind('"')?];
    let scan = pg_query::scan(text).ok()?;
    scan.tokens.iter().find_map(|t| {
        let (s, e) = (usize::try_from(t.start).ok()?, usize::try_from(t.end).ok()?);
        (text.get(s..e)? == near).then_some(s)
    })
}

fn first_token(text: &str) -> usize {
    leading_comments(text).1
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(sql: &str, offset: usize) -> (usize, usize) {
    let before = &sql[..offset.min(sql.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A short, stable name for what a statement does.
pub fn operation(ast: &NodeEnum) -> String {
    let name = match ast {
        NodeEnum::CreateStmt(s) if s.partbound.is_some() => "CREATE TABLE PARTITION",
        NodeEnum::CreateStmt(_) => "CREATE TABLE",
        NodeEnum::CreateTableAsStmt(s) if s.objtype() == ObjectType::ObjectMatview => {
            "CREATE MATERIALIZED VIEW"
        }
        NodeEnum::CreateTableAsStmt(_) => "CREATE TABLE AS",
        NodeEnum::AlterTableStmt(s) => return format!("ALTER {}", object_name(s.objtype())),
        NodeEnum::IndexStmt(s) if s.concurrent => "CREATE INDEX CONCURRENTLY",
        NodeEnum::IndexStmt(_) => "CREATE INDEX",
        NodeEnum::DropStmt(s) => {
            let concurrently = if s.concurrent { " CONCURRENTLY" } else { "" };
            return format!("DROP {}{concurrently}", object_name(s.remove_type()));
        }
        NodeEnum::RenameStmt(s) => return format!("ALTER {} RENAME", object_name(s.rename_type())),
        NodeEnum::ViewStmt(_) => "CREATE VIEW",
        NodeEnum::InsertStmt(_) => "INSERT",
        NodeEnum::UpdateStmt(_) => "UPDATE",
        NodeEnum::DeleteStmt(_) => "DELETE",
        NodeEnum::MergeStmt(_) => "MERGE",
        NodeEnum::SelectStmt(_) => "SELECT",
        NodeEnum::TruncateStmt(_) => "TRUNCATE",
        NodeEnum::CreateSchemaStmt(_) => "CREATE SCHEMA",
        NodeEnum::CreateSeqStmt(_) => "CREATE SEQUENCE",
        NodeEnum::AlterSeqStmt(_) => "ALTER SEQUENCE",
        NodeEnum::CreateEnumStmt(_) => "CREATE TYPE",
        NodeEnum::CompositeTypeStmt(_) => "CREATE TYPE",
        NodeEnum::CreateRangeStmt(_) => "CREATE TYPE",
        NodeEnum::AlterEnumStmt(_) => "ALTER TYPE",
        NodeEnum::CreateDomainStmt(_) => "CREATE DOMAIN",
        NodeEnum::AlterDomainStmt(_) => "ALTER DOMAIN",
        NodeEnum::CreateFunctionStmt(s) if s.is_procedure => "CREATE PROCEDURE",
        NodeEnum::CreateFunctionStmt(_) => "CREATE FUNCTION",
        NodeEnum::CreateTrigStmt(_) => "CREATE TRIGGER",
        NodeEnum::CreateExtensionStmt(_) => "CREATE EXTENSION",
        NodeEnum::CommentStmt(_) => "COMMENT",
        NodeEnum::GrantStmt(s) if s.is_grant => "GRANT",
        NodeEnum::GrantStmt(_) => "REVOKE",
        NodeEnum::ReindexStmt(_) => "REINDEX",
        NodeEnum::VacuumStmt(s) if s.is_vacuumcmd => "VACUUM",
        NodeEnum::VacuumStmt(_) => "ANALYZE",
        NodeEnum::ClusterStmt(_) => "CLUSTER",
        NodeEnum::RefreshMatViewStmt(s) if s.concurrent => "REFRESH MATERIALIZED VIEW CONCURRENTLY",
        NodeEnum::RefreshMatViewStmt(_) => "REFRESH MATERIALIZED VIEW",
        NodeEnum::LockStmt(_) => "LOCK TABLE",
        NodeEnum::TransactionStmt(_) => "TRANSACTION",
        NodeEnum::VariableSetStmt(_) => "SET",
        NodeEnum::DoStmt(_) => "DO",
        NodeEnum::CreatePolicyStmt(_) => "CREATE POLICY",
        NodeEnum::AlterObjectSchemaStmt(_) => "ALTER SET SCHEMA",
        NodeEnum::AlterOwnerStmt(_) => "ALTER OWNER",
        NodeEnum::CreatedbStmt(_) => "CREATE DATABASE",
        NodeEnum::DropdbStmt(_) => "DROP DATABASE",
        NodeEnum::CallStmt(_) => "CALL",
        other => return fallback_name(other),
    };
    name.to_string()
}

fn object_name(object: ObjectType) -> String {
    object
        .as_str_name()
        .trim_start_matches("OBJECT_")
        .replace('_', " ")
        .replace("MATVIEW", "MATERIALIZED VIEW")
}

/// `CreateEventTrigStmt` → `CREATE EVENT TRIG`: readable enough for the rare forms.
fn fallback_name(node: &NodeEnum) -> String {
    let debug = format!("{node:?}");
    let variant = debug.split('(').next().unwrap_or("UNKNOWN");
    let variant = variant.strip_suffix("Stmt").unwrap_or(variant);
    let mut out = String::new();
    for (i, ch) in variant.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(ch.to_uppercase());
    }
    out
}

/// The transaction-control statements a migration may wrap itself in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxControl {
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK`, `SAVEPOINT`, `RELEASE`, `PREPARE TRANSACTION`, …
    Other,
}

pub fn tx_control(ast: &NodeEnum) -> Option<TxControl> {
    use pg_query::protobuf::TransactionStmtKind as K;
    let NodeEnum::TransactionStmt(t) = ast else {
        return None;
    };
    Some(match t.kind() {
        K::TransStmtBegin | K::TransStmtStart => TxControl::Begin,
        K::TransStmtCommit => TxControl::Commit,
        _ => TxControl::Other,
    })
}

/// Checks that transaction control, if any, is one `BEGIN … COMMIT` around the whole
/// migration: the runner owns the transaction, and a `COMMIT` or `ROLLBACK` in the middle
/// would end it early. On success, returns the indexes of the wrapper statements (to skip).
pub fn transaction_wrapper(statements: &[ParsedStatement]) -> Result<Vec<usize>, usize> {
    let controls: Vec<(usize, TxControl)> = statements
        .iter()
        .enumerate()
        .filter_map(|(i, s)| tx_control(&s.ast).map(|c| (i, c)))
        .collect();
    let last = statements.len().saturating_sub(1);
    match controls.as_slice() {
        [] => Ok(vec![]),
        [(0, TxControl::Begin), (end, TxControl::Commit)] if *end == last => Ok(vec![0, last]),
        // The first control statement that breaks the shape.
        [(i, TxControl::Begin), rest @ ..] if *i == 0 => Err(rest.first().map_or(0, |(j, _)| *j)),
        [(i, _), ..] => Err(*i),
    }
}

/// Whether PostgreSQL refuses to run the statement inside a transaction block.
pub fn is_transactional(ast: &NodeEnum) -> bool {
    match ast {
        NodeEnum::IndexStmt(s) => !s.concurrent,
        NodeEnum::DropStmt(s) => !s.concurrent,
        NodeEnum::ReindexStmt(s) => !s
            .params
            .iter()
            .any(|p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently")),
        NodeEnum::VacuumStmt(s) => !s.is_vacuumcmd,
        NodeEnum::CreatedbStmt(_)
        | NodeEnum::DropdbStmt(_)
        | NodeEnum::AlterSystemStmt(_)
        | NodeEnum::CreateTableSpaceStmt(_)
        | NodeEnum::DropTableSpaceStmt(_) => false,
        NodeEnum::AlterTableStmt(s) => !s.cmds.iter().any(|c| {
            matches!(&c.node, Some(NodeEnum::AlterTableCmd(cmd))
                if matches!(&cmd.def, Some(d) if matches!(&d.node, Some(NodeEnum::PartitionCmd(p)) if p.concurrent)))
        }),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_keeping_exact_text_and_comments() {
        let sql = "-- first\nCREATE TABLE a (id int);\n\n/* block */\n-- autodb:ignore x\nALTER TABLE a ADD COLUMN b text;";
        let stmts = parse(sql).unwrap();
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[0].sql, "CREATE TABLE a (id int)");
        assert_eq!(stmts[0].leading_comments, vec!["first"]);
        assert_eq!(stmts[0].line, 2);
        assert_eq!(stmts[1].sql, "ALTER TABLE a ADD COLUMN b text");
        assert_eq!(stmts[1].leading_comments, vec!["block", "autodb:ignore x"]);
        assert_eq!(stmts[1].operation, "ALTER TABLE");
        assert_eq!(stmts[1].line, 6);
        assert_eq!(&sql[stmts[1].offset..stmts[1].offset + 5], "ALTER");
    }

    #[test]
    fn names_operations() {
        let cases = [
            (
                "CREATE INDEX CONCURRENTLY i ON t (a)",
                "CREATE INDEX CONCURRENTLY",
            ),
            ("DROP TABLE t", "DROP TABLE"),
            ("DROP INDEX CONCURRENTLY i", "DROP INDEX CONCURRENTLY"),
            ("ALTER TABLE t RENAME TO u", "ALTER TABLE RENAME"),
            ("UPDATE t SET a = 1", "UPDATE"),
            (
                "CREATE MATERIALIZED VIEW m AS SELECT 1",
                "CREATE MATERIALIZED VIEW",
            ),
            ("ALTER MATERIALIZED VIEW m SET SCHEMA s", "ALTER SET SCHEMA"),
            (
                "CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()",
                "CREATE EVENT TRIG",
            ),
        ];
        for (sql, op) in cases {
            assert_eq!(parse(sql).unwrap()[0].operation, op, "{sql}");
        }
    }

    #[test]
    fn reports_the_position_of_a_syntax_error() {
        let sql = "CREATE TABLE a (id int);\nALTER TABEL a ADD COLUMN b int;";
        let err = parse(sql).unwrap_err();
        assert_eq!(err.statement_index, 1);
        assert_eq!((err.line, err.column), (2, 7));
        assert_eq!(err.position, 32);
        assert!(err.message.contains("TABEL"), "{}", err.message);
    }

    #[test]
    fn error_at_end_of_input() {
        let err = parse("SELECT 1; CREATE TABLE (").unwrap_err();
        assert_eq!(err.statement_index, 1);
        assert!(err.message.contains("syntax error"), "{}", err.message);
    }

    #[test]
    fn empty_and_comment_only_input_has_no_statements() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("-- nothing\n/* here */").unwrap().is_empty());
    }

    #[test]
    fn rejects_nul_bytes() {
        assert!(parse("SELECT 1;\0").is_err());
    }

    #[test]
    fn only_one_outer_transaction_wrapper_is_allowed() {
        let check = |sql: &str| transaction_wrapper(&parse(sql).unwrap());
        assert_eq!(check("ALTER TABLE t ADD a int"), Ok(vec![]));
        assert_eq!(
            check("BEGIN; ALTER TABLE t ADD a int; COMMIT;"),
            Ok(vec![0, 2])
        );
        assert_eq!(check("START TRANSACTION; SELECT 1; END;"), Ok(vec![0, 2]));
        assert_eq!(check("BEGIN; SELECT 1;"), Err(0));
        assert_eq!(check("SELECT 1; COMMIT;"), Err(1));
        assert_eq!(check("BEGIN; SELECT 1; COMMIT; SELECT 2;"), Err(2));
        assert_eq!(check("BEGIN; SELECT 1; ROLLBACK;"), Err(2));
        assert_eq!(check("SELECT 1; SAVEPOINT a; SELECT 2;"), Err(1));
        assert_eq!(
            check("BEGIN; SELECT 1; COMMIT; BEGIN; SELECT 2; COMMIT;"),
            Err(2)
        );
    }

    #[test]
    fn knows_non_transactional_statements() {
        let t = |sql: &str| is_transactional(&parse(sql).unwrap()[0].ast);
        assert!(!t("CREATE INDEX CONCURRENTLY i ON t (a)"));
        assert!(!t("DROP INDEX CONCURRENTLY i"));
        assert!(!t("REINDEX (CONCURRENTLY) INDEX i"));
        assert!(!t("VACUUM t"));
        assert!(!t("ALTER TABLE p DETACH PARTITION c CONCURRENTLY"));
        assert!(t("CREATE INDEX i ON t (a)"));
        assert!(t("ALTER TABLE p DETACH PARTITION c"));
        assert!(t("ANALYZE t"));
    }
}
