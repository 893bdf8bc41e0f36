//! Syntax errors with a position.
//!
//! `pg_query` reports a syntax error without its position, so the position is recovered
//! here: the scanner (which works on most invalid SQL) splits the text at top-level `;`
//! tokens, each piece is parsed alone, and the failing one is searched for the token the
//! error names. This only decides where an error is *shown*; nothing is ever executed from
//! these pieces.

use pg_query::protobuf::Token;
use serde::Serialize;

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

/// Recovers the statement and position of a parse error that `pg_query` reported by message
/// only.
pub(super) fn locate_error(sql: &str, message: &str) -> ParseError {
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
    // The statements parse alone but not together (an unterminated comment, literal or
    // `BEGIN ATOMIC` body that the split cut differently). Point at the end of the input.
    error_at(
        sql,
        sql.trim_end().len(),
        bounds.len().saturating_sub(1),
        message,
    )
}

pub(super) fn error_at(
    sql: &str,
    offset: usize,
    statement_index: usize,
    message: String,
) -> ParseError {
    let offset = floor_char_boundary(sql, offset);
    let (line, column) = line_col(sql, offset);
    ParseError {
        message,
        statement_index,
        position: sql[..offset].chars().count() + 1,
        line,
        column,
    }
}

fn floor_char_boundary(sql: &str, offset: usize) -> usize {
    let mut offset = offset.min(sql.len());
    while !sql.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Byte ranges of the statements, by the scanner: split at top-level `;` tokens, dropping
/// pieces that hold only comments.
fn statement_bounds(sql: &str) -> Vec<(usize, usize)> {
    let Ok(tokens) = super::scan(sql) else {
        return vec![(0, sql.len())];
    };
    let mut bounds = Vec::new();
    let mut start = 0usize;
    let mut has_code = false;
    for token in &tokens {
        let s = usize::try_from(token.start).unwrap_or(start);
        if token.token == Token::Ascii59 as i32 {
            if has_code {
                bounds.push((start, s));
            }
            start = usize::try_from(token.end).unwrap_or(s);
            has_code = false;
        } else if !super::is_comment(token) {
            has_code = true;
        }
    }
    if has_code || bounds.is_empty() {
        bounds.push((start, sql.len()));
    }
    bounds
}

/// PostgreSQL's syntax errors read `syntax error at or near "X"` or `... at end of input`.
fn near_token_offset(text: &str, message: &str) -> Option<usize> {
    if message.contains("at end of input") {
        return Some(text.trim_end().len());
    }
    let near = message.split("at or near \"").nth(1)?;
    let near = &near[..near.rfind('"')?];
    match super::scan(text) {
        Ok(tokens) => tokens.iter().find_map(|t| {
            let (s, e) = (usize::try_from(t.start).ok()?, usize::try_from(t.end).ok()?);
            (text.get(s..e)? == near).then_some(s)
        }),
        // The scanner itself failed (an unterminated comment, string or dollar quote): the
        // error quotes the text from where it starts, up to the end of the input.
        Err(_) => text.rfind(near),
    }
}

/// The offset of the first token that is not a comment (or of the end of the text).
fn first_token(text: &str) -> usize {
    super::scan(text)
        .ok()
        .and_then(|tokens| {
            tokens
                .iter()
                .find(|t| !super::is_comment(t))
                .and_then(|t| usize::try_from(t.start).ok())
        })
        // Text the scanner rejects: the start of the piece.
        .unwrap_or(0)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(sql: &str, offset: usize) -> (usize, usize) {
    let before = &sql[..floor_char_boundary(sql, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
