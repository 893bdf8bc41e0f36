//! Splitting and parsing a migration with the real PostgreSQL parser and scanner (`pg_query`).
//!
//! A migration is parsed once, here, into [`ParsedStatement`]s that keep three things every
//! later stage needs: the exact source text of each statement (byte-for-byte, so what the
//! executor runs is what the user approved), the comments written just above it (inline
//! directives such as `-- autodb:ignore rule`), and the parse tree.
//!
//! **Where a statement begins and ends is decided by PostgreSQL's own code, never by a lexer
//! written here.** The parser gives each statement's region; the scanner's tokens — comments
//! are tokens too — say where, inside that region, the statement's first and last tokens are.
//! A hand-written comment scanner once disagreed with PostgreSQL (block comments nest; a `--`
//! comment also ends at `\r`) and an approved `CREATE TABLE` executed as a `DROP TABLE`.
//! [`verify`] then proves, for the statements that will be sent, that each text parses alone
//! to the very tree the analysis judged.
//!
//! Before any of this, [`blank`] takes the accepted psql meta-commands (`\set ON_ERROR_STOP
//! 1`, `\echo`) out of the text, keeping every offset, and refuses the others; everything
//! here works on that text.

mod depth;
mod error;
mod operation;
mod psql;
mod renames;
mod transaction;
mod verify;

use pg_query::protobuf::{ScanToken, Token};
use pg_query::NodeEnum;

pub use depth::MAX_NESTING;
pub use error::{line_col, ParseError};
pub use operation::operation;
pub use psql::{blank, Blanked, PsqlCommand};
pub use renames::renames;
pub use transaction::{
    is_transactional, plan, transaction_wrapper, tx_control, Plan, PlanError, Segment, TxControl,
};
pub use verify::{check_round_trip, parse_for_execution, verify, RoundTripError};

/// One statement of a migration, as the parser saw it.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    /// 0-based position in the migration.
    pub index: usize,
    /// The statement's source text, from its first token to its last: without the comments
    /// above it and without the `;`. This is exactly what the executor sends.
    pub sql: String,
    /// Byte offset of `sql` in the whole migration.
    pub offset: usize,
    /// 1-based line of `sql` in the whole migration.
    pub line: usize,
    /// Comments directly above the statement (text after `--`, or each line of a `/* */`
    /// comment, trimmed).
    pub leading_comments: Vec<String>,
    /// A short upper-case name of what the statement does, e.g. `ALTER TABLE`.
    pub operation: String,
    /// The parse tree.
    pub ast: NodeEnum,
}

/// A parsed migration file.
#[derive(Debug, Clone, Default)]
pub struct Migration {
    pub statements: Vec<ParsedStatement>,
    /// The accepted psql meta-commands, which were blanked out before parsing ([`blank`]).
    pub psql_commands: Vec<PsqlCommand>,
}

/// Parses a whole migration. An input with no statements (only comments or whitespace)
/// yields an empty list; the caller decides whether that is an error. Accepted psql
/// meta-commands are left out, as in [`parse_migration`], which also lists them.
pub fn parse(sql: &str) -> Result<Vec<ParsedStatement>, ParseError> {
    parse_migration(sql).map(|m| m.statements)
}

/// [`parse`], also returning the psql meta-commands that were left out.
pub fn parse_migration(sql: &str) -> Result<Migration, ParseError> {
    if let Some(offset) = sql.find('\0') {
        return Err(error::error_at(
            sql,
            offset,
            0,
            "SQL must not contain NUL bytes".into(),
        ));
    }
    // A byte-order mark is not SQL to PostgreSQL's scanner, but editors write one; three
    // spaces in its place keep every offset (the executor sends statement texts, which start
    // after it).
    let unmarked;
    let sql = match sql.strip_prefix('\u{FEFF}') {
        Some(rest) => {
            unmarked = format!("   {rest}");
            unmarked.as_str()
        }
        None => sql,
    };
    let blanked = blank(sql)?;
    Ok(Migration {
        statements: parse_blanked(&blanked.text)?,
        psql_commands: blanked.commands,
    })
}

/// Parses a migration whose meta-commands were blanked: positions in it are positions in the
/// submitted text.
fn parse_blanked(sql: &str) -> Result<Vec<ParsedStatement>, ParseError> {
    // Text the scanner refuses is refused by the parser too, with a better position: the
    // depth bound is checked on what scans, the parser reports the rest.
    let scanned = scan(sql);
    if let Some(deep) = scanned
        .as_ref()
        .ok()
        .and_then(|tokens| depth::too_deep(tokens, MAX_NESTING))
    {
        return Err(error::error_at(
            sql,
            deep.offset,
            deep.statement_index,
            format!(
                "the statement nests expressions or queries more than {MAX_NESTING} levels \
                 deep; autodb refuses it rather than risk its stack (split the expression, \
                 e.g. with a CTE or an intermediate column)"
            ),
        ));
    }
    let result =
        depth::parse_deep(sql).map_err(|err| error::locate_error(sql, &err.to_string()))?;
    // The parser accepted the text, so the scanner does too; if it ever did not, refuse
    // rather than guess where statements begin.
    let tokens =
        scanned.map_err(|err| error::error_at(sql, 0, 0, format!("the scanner failed: {err}")))?;
    let mut tokens = Tokens::new(&tokens);
    // Lines are counted incrementally: rescanning from the start for every statement made
    // large files quadratic.
    let mut cursor = LineCursor::default();
    let mut region_start = 0;
    let mut out = Vec::with_capacity(result.protobuf.stmts.len());
    for raw in result.protobuf.stmts {
        let start = usize::try_from(raw.stmt_location).unwrap_or(0);
        let end = match usize::try_from(raw.stmt_len) {
            Ok(0) | Err(_) => sql.len(),
            Ok(len) => (start + len).min(sql.len()),
        };
        // The parser's location skips what precedes the first statement only; the region
        // of every statement reaches back to the end of the previous one, so the comments
        // above it are found.
        let from = region_start.min(start);
        region_start = end;
        let Some(node) = raw.stmt.and_then(|s| s.node) else {
            continue;
        };
        let region = tokens.region(sql, end);
        let Some((body_start, body_end)) = region.body else {
            return Err(error::error_at(
                sql,
                from,
                out.len(),
                "the parser reported a statement the scanner found no tokens for".into(),
            ));
        };
        out.push(ParsedStatement {
            index: out.len(),
            sql: sql[body_start..body_end].to_string(),
            offset: body_start,
            line: cursor.line_at(sql, body_start),
            leading_comments: region.comments,
            operation: operation(&node),
            ast: node,
        });
    }
    Ok(out)
}

/// The scanner's tokens. `pg_query::scan_tokens` builds a slice from a null pointer when
/// there are no tokens, which only blank text has; that case is answered here.
pub(crate) fn scan(sql: &str) -> Result<Vec<ScanToken>, pg_query::Error> {
    if sql
        .bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
    {
        return Ok(Vec::new());
    }
    pg_query::scan_tokens(sql)
}

/// The scanner's tokens, walked once in order.
struct Tokens<'t> {
    tokens: &'t [ScanToken],
    next: usize,
}

/// What the scanner found in one statement's region.
struct Region {
    comments: Vec<String>,
    /// Byte range from the first to the last token that is neither a comment nor a `;`.
    body: Option<(usize, usize)>,
}

fn span(token: &ScanToken) -> (usize, usize) {
    (
        usize::try_from(token.start).unwrap_or(0),
        usize::try_from(token.end).unwrap_or(0),
    )
}

fn is_comment(token: &ScanToken) -> bool {
    token.token == Token::SqlComment as i32 || token.token == Token::CComment as i32
}

fn is_semicolon(token: &ScanToken) -> bool {
    token.token == Token::Ascii59 as i32
}

impl<'t> Tokens<'t> {
    fn new(tokens: &'t [ScanToken]) -> Self {
        Self { tokens, next: 0 }
    }

    /// The tokens that lie before `end`, from where the previous region ended. Regions are
    /// contiguous and come in order, so each token is visited once over the whole migration.
    fn region(&mut self, sql: &str, end: usize) -> Region {
        let mut comments = Vec::new();
        let mut body: Option<(usize, usize)> = None;
        while let Some(token) = self.tokens.get(self.next) {
            let (s, e) = span(token);
            if s >= end {
                break;
            }
            self.next += 1;
            if is_comment(token) {
                if body.is_none() {
                    comments.extend(comment_lines(&sql[s..e.min(sql.len())]));
                }
            } else if !is_semicolon(token) {
                // A `;` never starts or ends a statement's text: a leading one ended the
                // previous statement, a trailing one is the separator, and one inside (a
                // `BEGIN ATOMIC` body) is covered by the tokens around it.
                body = Some((body.map_or(s, |(b, _)| b), e));
            }
        }
        Region { comments, body }
    }
}

/// The text of a comment token: after `--`, or each line inside `/* */`, trimmed.
fn comment_lines(token: &str) -> Vec<String> {
    if let Some(line) = token.strip_prefix("--") {
        return vec![line.trim().to_string()];
    }
    let inner = token.strip_prefix("/*").unwrap_or(token);
    let inner = inner.strip_suffix("*/").unwrap_or(inner);
    inner
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The line number at a byte offset, for offsets visited in increasing order.
#[derive(Default)]
struct LineCursor {
    offset: usize,
    line: usize,
}

impl LineCursor {
    /// Statements come in order, so offsets only grow: only the bytes since the last call
    /// are counted.
    fn line_at(&mut self, sql: &str, offset: usize) -> usize {
        let offset = offset.clamp(self.offset, sql.len());
        self.line += sql.as_bytes()[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = offset;
        self.line + 1
    }
}

#[cfg(test)]
mod tests;
