//! The proof that what is sent is what was judged.
//!
//! The executor sends each statement's text on its own. [`verify`] parses every such text
//! alone and requires exactly one statement whose parse tree is *equal* — node for node,
//! constant for constant, location for location — to the tree the whole migration's parse
//! gave it, the tree every rule and score was computed from. To compare locations without
//! rewriting trees, the text is parsed at its original byte offset behind blank space, which
//! PostgreSQL's lexer skips.
//!
//! Anything that fails this is refused at analyze (and again by the executor, which verifies
//! before it sends anything); it never reaches production.

use super::error::error_at;
use super::{parse, ParseError, ParsedStatement};

/// A statement whose text, parsed alone, is not the statement the migration's parse saw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "statement {} does not parse on its own to what it parses to within the migration ({reason}); \
     autodb refuses to run text it did not analyze", .statement_index + 1
)]
pub struct RoundTripError {
    pub statement_index: usize,
    pub reason: String,
}

/// Checks every statement of a parsed migration (see the module doc).
pub fn verify(statements: &[ParsedStatement]) -> Result<(), RoundTripError> {
    let mut padded = String::new();
    let mut previous_end = 0;
    for statement in statements {
        let fail = |reason: &str| RoundTripError {
            statement_index: statement.index,
            reason: reason.to_string(),
        };
        if statement.offset < previous_end {
            return Err(fail("its text overlaps the previous statement's"));
        }
        previous_end = statement.offset + statement.sql.len();
        padded.clear();
        padded.extend(std::iter::repeat_n(' ', statement.offset));
        padded.push_str(&statement.sql);
        let alone = super::depth::parse_deep(&padded)
            .map_err(|e| fail(&format!("alone it does not parse: {e}")))?;
        let [raw] = alone.protobuf.stmts.as_slice() else {
            return Err(fail(&format!(
                "alone it is {} statements",
                alone.protobuf.stmts.len()
            )));
        };
        let tree = raw.stmt.as_ref().and_then(|n| n.node.as_ref());
        if tree != Some(&statement.ast) {
            return Err(fail("alone it has another parse tree"));
        }
    }
    Ok(())
}

/// [`verify`], reporting a statement that does not round-trip as a parse error at its
/// position in `sql`. Its cost grows with the statements' offsets: bound the statement count
/// first.
pub fn check_round_trip(sql: &str, statements: &[ParsedStatement]) -> Result<(), ParseError> {
    verify(statements).map_err(|err| {
        let offset = statements.get(err.statement_index).map_or(0, |s| s.offset);
        error_at(sql, offset, err.statement_index, err.to_string())
    })
}

/// [`parse`], then [`check_round_trip`]: the statements of a migration that is to be run.
pub fn parse_for_execution(sql: &str) -> Result<Vec<ParsedStatement>, ParseError> {
    let statements = parse(sql)?;
    check_round_trip(sql, &statements)?;
    Ok(statements)
}
