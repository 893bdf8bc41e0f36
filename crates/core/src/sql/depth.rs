//! A bound on how deeply a statement's parse tree nests, checked on the scanner's tokens
//! before the parser builds (and pg_query decodes) the tree.
//!
//! PostgreSQL's grammar builds operator chains (`a || b || c`, `1 + 1 + …`), `UNION` chains,
//! nested calls, `CASE`, `ARRAY[…]` and subqueries as nested nodes; decoding the tree, and
//! later comparing, walking and dropping it, recurses once per level. prost's default limit
//! (100 nested messages) refused SQL PostgreSQL runs — a 46-term `||` chain — so that limit
//! is off (the workspace's `prost` feature `no-recursion-limit`), and this module is the
//! limit instead: far above what migrations write, far below what overflows a thread stack.
//!
//! The bound is an over-estimate read off the tokens PostgreSQL's own scanner produces (no
//! lexer is written here): every bracket opens a level, and within a bracket each operator,
//! keyword that nests (`NOT`, `CASE`, `SELECT`, `ARRAY`, `UNION`, …) or cast adds one until a
//! separator that makes siblings, not children (`,`, `AND`, `OR`, which PostgreSQL flattens
//! into one list). Sibling rows of a `VALUES` list, or the columns of a long `SELECT`, so add
//! nothing.

use pg_query::protobuf::{ScanToken, Token};

/// The deepest nesting autodb parses. Real migrations stay under 30; libpg_query itself
/// refuses to serialize a tree much deeper than a 700-term chain.
pub const MAX_NESTING: usize = 500;

/// The stack the parser's thread gets: decoding recurses once per nested message, and an
/// unoptimized build spends kilobytes on each. Reserved, not committed: only the pages a deep
/// tree touches are used.
const PARSER_STACK: usize = 256 << 20;

/// `pg_query::parse` on a thread with [`PARSER_STACK`], so that every tree within
/// [`MAX_NESTING`] (and within libpg_query's own serialization limit) decodes without
/// overflowing the caller's stack, whatever thread the caller runs on.
pub fn parse_deep(sql: &str) -> pg_query::Result<pg_query::ParseResult> {
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new()
            .name("autodb-parse".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, || {
                pg_query::parse(sql, pg_query::ParserOptions::DEFAULT)
            });
        match parser {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had: parse here, as before.
            Err(_) => pg_query::parse(sql, pg_query::ParserOptions::DEFAULT),
        }
    })
}

/// Where a statement first nests deeper than [`MAX_NESTING`]: the byte offset of the token
/// that crossed it, and the statement's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    pub offset: usize,
    pub statement_index: usize,
}

/// The first place the tokens nest deeper than `limit`, if any.
pub fn too_deep(tokens: &[ScanToken], limit: usize) -> Option<TooDeep> {
    // Per open bracket: how many nesting tokens since its last separator.
    let mut frames: Vec<usize> = vec![0];
    let mut statement_index = 0;
    for token in tokens {
        let kind = Token::try_from(token.token).unwrap_or(Token::Nul);
        match kind {
            Token::Ascii59 => {
                statement_index += 1;
                frames.clear();
                frames.push(0);
                continue;
            }
            Token::Ascii40 | Token::Ascii91 => frames.push(0),
            Token::Ascii41 | Token::Ascii93 => {
                if frames.len() > 1 {
                    frames.pop();
                }
            }
            Token::Ascii44 | Token::And | Token::Or => {
                if let Some(top) = frames.last_mut() {
                    *top = 0;
                }
            }
            k if nests(k) => {
                if let Some(top) = frames.last_mut() {
                    *top += 1;
                }
            }
            _ => continue,
        }
        let depth: usize = frames.iter().map(|ops| ops + 1).sum();
        if depth > limit {
            return Some(TooDeep {
                offset: usize::try_from(token.start).unwrap_or(0),
                statement_index,
            });
        }
    }
    None
}

/// Tokens that make what follows a child of a new node: operators, casts and the keywords
/// that open a nested expression or query.
fn nests(kind: Token) -> bool {
    use Token as T;
    matches!(
        kind,
        T::Op
            | T::Ascii37
            | T::Ascii42
            | T::Ascii43
            | T::Ascii45
            | T::Ascii47
            | T::Ascii60
            | T::Ascii61
            | T::Ascii62
            | T::Ascii94
            | T::Typecast
            | T::LessEquals
            | T::GreaterEquals
            | T::NotEquals
            | T::Not
            | T::Case
            | T::Select
            | T::Array
            | T::Union
            | T::Intersect
            | T::Except
            | T::Exists
            | T::Is
            | T::Like
            | T::Ilike
            | T::Similar
            | T::Between
            | T::InP
            | T::Any
            | T::All
            | T::Some
            | T::Collate
            | T::Row
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(sql: &str, limit: usize) -> Option<TooDeep> {
        too_deep(&crate::sql::scan(sql).unwrap(), limit)
    }

    #[test]
    fn chains_and_brackets_count_siblings_do_not() {
        // 3 operators in one bracket: depth 4.
        assert_eq!(bound("SELECT 1 + 1 + 1", 5), None);
        assert!(bound("SELECT 1 + 1 + 1 + 1 + 1", 5).is_some());
        assert!(bound("SELECT f(f(f(f(f(f(1))))))", 5).is_some());
        // A thousand rows or columns are siblings.
        let values: Vec<String> = (0..2000).map(|i| format!("({i}, -{i} + 1)")).collect();
        let sql = format!("INSERT INTO t VALUES {}", values.join(", "));
        assert_eq!(bound(&sql, 10), None);
        let and: Vec<String> = (0..2000).map(|i| format!("a{i} = {i}")).collect();
        assert_eq!(
            bound(&format!("SELECT 1 WHERE {}", and.join(" AND ")), 10),
            None
        );
    }

    #[test]
    fn reports_the_statement_and_offset_that_crossed() {
        let sql = "SELECT 1; SELECT 1 + 1 + 1 + 1";
        let deep = bound(sql, 3).unwrap();
        assert_eq!(deep.statement_index, 1);
        assert_eq!(&sql[deep.offset..deep.offset + 1], "+");
        // The next statement starts afresh.
        assert_eq!(bound("SELECT 1 + 1; SELECT 1 + 1", 3), None);
    }
}
