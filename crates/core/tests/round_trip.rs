//! Property: what the executor sends is what the analysis judged.
//!
//! Migrations are generated from the shapes that have fooled hand-written splitters — nested
//! and unterminated block comments, `--` comments ended by `\r`, `\r\n`, dollar quotes with
//! tags, `E''` strings with escaped quotes, quoted identifiers containing `;` and `--`,
//! empty statements, psql meta-command lines (accepted and refused, also inside statements,
//! literals and comments) — and mutated with stray characters. For every input, either the
//! migration is refused, or each statement text that would be sent, parsed *alone* by
//! PostgreSQL's parser, is exactly one statement that deparses to the same SQL as the
//! statement the whole migration's parse reported, in the same order, and nothing else is
//! sent. The whole migration's parse is of the text with the accepted meta-commands blanked,
//! and that text differs from the input only on the reported meta-command lines, each
//! turned into blanks with its line break kept.
//!
//! The oracle is `pg_query`'s deparser, independent of the tree comparison `verify` uses.
//! `PROPTEST_CASES` raises the case count (the closing notes record the large runs).

use autodb_core::sql::{blank, parse, parse_for_execution};
use proptest::prelude::*;

const STATEMENTS: &[&str] = &[
    "CREATE TABLE a (id int)",
    "DROP TABLE t",
    "ALTER TABLE t ADD COLUMN c int",
    "SELECT 1",
    "INSERT INTO t VALUES ('x;--y', 'a/*b')",
    "SELECT $tag$ ; -- /* $tag$",
    "SELECT $$;$$",
    "SELECT E'it\\'s; -- not a comment'",
    "CREATE TABLE \"x;--y\" (\"/*\" int)",
    "UPDATE t SET c = 2 WHERE \"a;b\" = 'c--'",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
    "CREATE INDEX CONCURRENTLY i ON t (c)",
    "COMMENT ON TABLE t IS '*/ DROP TABLE t; /*'",
];

const GAPS: &[&str] = &[
    " ",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "-- c\n",
    "-- c\r",
    "-- c\r\n",
    "--\r",
    "/* c */",
    "/* a /* b */ c */",
    "/* a /* b */ DROP TABLE z; -- */\n",
    "/* */ -- */ DROP TABLE z;\n",
    "\n\\set ON_ERROR_STOP 1\n",
    "\n\\echo it's a ; DROP TABLE z;\n",
    "\n  \\timing on\r\n",
    "\n\\i evil.sql\n",
    "\\gexec\n",
    ";",
    ";;",
];

/// Fragments that leave a comment, literal or identifier open.
const OPENERS: &[&str] = &["/*", "*/", "'", "$x$", "E'\\'", "\"", "$$"];

const STRAY: &[char] = &[
    ';', '-', '/', '*', '\'', '"', '$', '\\', '\r', '\n', ' ', 'E', 'x', '(', ')',
];

fn migration() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(STATEMENTS).prop_map(|s| format!("{s};")),
        2 => proptest::sample::select(STATEMENTS).prop_map(str::to_string),
        4 => proptest::sample::select(GAPS).prop_map(str::to_string),
        1 => proptest::sample::select(OPENERS).prop_map(str::to_string),
    ];
    let stray = proptest::collection::vec(
        (
            any::<prop::sample::Index>(),
            proptest::sample::select(STRAY),
        ),
        0..2,
    );
    (proptest::collection::vec(piece, 1..10), stray).prop_map(|(pieces, stray)| {
        let mut sql = pieces.concat();
        for (at, ch) in stray {
            let mut i = at.index(sql.len() + 1);
            while !sql.is_char_boundary(i) {
                i -= 1;
            }
            sql.insert(i, ch);
        }
        sql
    })
}

/// 3,000 cases by default; `PROPTEST_CASES` overrides (an explicit config would ignore it).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn deparse(node: &pg_query::NodeEnum) -> Option<String> {
    node.deparse(pg_query::DeparseOptions::default()).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn what_is_sent_parses_to_what_was_analyzed(sql in migration()) {
        let Ok(statements) = parse_for_execution(&sql) else {
            // Refused at analyze: nothing reaches the executor.
            return Ok(());
        };
        let blanked = blank(&sql).expect("accepted migrations blank");
        prop_assert_eq!(blanked.text.len(), sql.len());
        let reported: Vec<usize> = blanked.commands.iter().map(|c| c.line).collect();
        for (i, (a, b)) in sql.split('\n').zip(blanked.text.split('\n')).enumerate() {
            if a != b {
                prop_assert!(reported.contains(&(i + 1)), "line {} changed: {:?}", i + 1, a);
                prop_assert!(b.bytes().all(|c| c == b' ' || c == b'\r'), "{:?}", b);
            }
        }
        prop_assert_eq!(sql.split('\n').count(), blanked.text.split('\n').count());
        let sql = blanked.text.into_owned();
        let whole = pg_query::parse(&sql, pg_query::ParserOptions::DEFAULT)
            .expect("accepted migrations parse");
        let judged: Vec<_> = whole
            .protobuf
            .stmts
            .iter()
            .filter_map(|raw| raw.stmt.as_ref().and_then(|n| n.node.clone()))
            .collect();
        prop_assert_eq!(statements.len(), judged.len());
        for (statement, judged) in statements.iter().zip(&judged) {
            let alone = pg_query::parse(&statement.sql, pg_query::ParserOptions::DEFAULT)
                .expect("a verified statement parses alone");
            prop_assert_eq!(alone.protobuf.stmts.len(), 1, "{:?}", statement.sql);
            let sent = alone.protobuf.stmts[0].stmt.as_ref().and_then(|n| n.node.clone());
            let sent = sent.expect("one statement");
            prop_assert_eq!(deparse(&sent), deparse(judged), "{:?}", statement.sql);
            prop_assert_eq!(&statement.ast, judged);
            // The text sent is the statement's own slice of the migration.
            prop_assert_eq!(&sql[statement.offset..statement.offset + statement.sql.len()], statement.sql.as_str());
        }
        // The statements sent one after another say the same as the whole migration.
        let resent = statements.iter().map(|s| s.sql.as_str()).collect::<Vec<_>>().join(";\n");
        let again = parse(&resent).expect("the sent statements parse together");
        prop_assert_eq!(again.len(), statements.len());
        for (a, b) in again.iter().zip(&statements) {
            prop_assert_eq!(deparse(&a.ast), deparse(&b.ast));
        }
    }

    #[test]
    fn parsing_never_panics(sql in "[ -~\r\n\t]{0,64}") {
        let _ = parse_for_execution(&sql);
    }
}
