//! Unit tests of statement boundaries, verification and transaction planning. The same
//! properties over generated migrations are in `crates/core/tests/round_trip.rs`.

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

/// The statements' texts and tree kinds, for compact assertions.
fn texts(sql: &str) -> Vec<String> {
    parse(sql).unwrap().into_iter().map(|s| s.sql).collect()
}

#[test]
fn nested_block_comments_hide_what_they_contain() {
    // PostgreSQL nests block comments: the DROP is inside the comment, and the statement is
    // the CREATE TABLE. A scanner that stopped at the first `*/` would send the DROP.
    let sql = "/* a /* b */ DROP TABLE t; -- */\nCREATE TABLE a (id int);";
    let stmts = parse(sql).unwrap();
    assert_eq!(stmts.len(), 1);
    assert_eq!(stmts[0].sql, "CREATE TABLE a (id int)");
    assert_eq!(stmts[0].operation, "CREATE TABLE");
    verify(&stmts).unwrap();
}

#[test]
fn a_line_comment_ends_at_carriage_return() {
    // `--` ends at `\r` as well as `\n`: the DROP is a statement, and it is sent.
    let sql = "-- harmless\rDROP TABLE t;\nCREATE TABLE a (id int);";
    let stmts = parse(sql).unwrap();
    assert_eq!(texts(sql), vec!["DROP TABLE t", "CREATE TABLE a (id int)"]);
    assert_eq!(stmts[0].operation, "DROP TABLE");
    assert_eq!(stmts[0].leading_comments, vec!["harmless"]);
    verify(&stmts).unwrap();
}

#[test]
fn crlf_line_endings_and_trailing_comments() {
    let sql = "-- one\r\nCREATE TABLE a (id int); -- after\r\n/* two */ ALTER TABLE a ADD b int /* end */;\r\n";
    let stmts = parse(sql).unwrap();
    assert_eq!(
        texts(sql),
        vec!["CREATE TABLE a (id int)", "ALTER TABLE a ADD b int"]
    );
    assert_eq!(stmts[1].leading_comments, vec!["after", "two"]);
    assert_eq!((stmts[0].line, stmts[1].line), (2, 3));
}

#[test]
fn quoted_text_that_looks_like_comments_or_separators_stays_in_the_statement() {
    let sql =
        "CREATE TABLE \"a;--b\" (\"c/*\" text DEFAULT E'x\\';--', d text DEFAULT $t$ ; /* $t$);\n\
               SELECT 1";
    let stmts = parse(sql).unwrap();
    assert_eq!(stmts.len(), 2);
    assert!(stmts[0].sql.ends_with("$t$ ; /* $t$)"), "{}", stmts[0].sql);
    verify(&stmts).unwrap();
}

#[test]
fn empty_statements_are_skipped() {
    assert_eq!(
        texts(";;SELECT 1;;; ;SELECT 2;"),
        vec!["SELECT 1", "SELECT 2"]
    );
}

#[test]
fn begin_atomic_bodies_keep_their_semicolons() {
    let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\nSELECT f();";
    let stmts = parse(sql).unwrap();
    assert_eq!(stmts.len(), 2);
    assert!(stmts[0].sql.ends_with("SELECT 2; END"), "{}", stmts[0].sql);
    verify(&stmts).unwrap();
}

#[test]
fn verify_refuses_a_text_that_is_not_the_statement_analyzed() {
    let mut stmts = parse("CREATE TABLE a (id int); SELECT 1").unwrap();
    // What a wrong splitter would have produced: the text of another statement.
    stmts[0].sql = "DROP TABLE a".into();
    let err = verify(&stmts).unwrap_err();
    assert_eq!(err.statement_index, 0);
    // Two statements in one text.
    let mut stmts = parse("CREATE TABLE a (id int); SELECT 1").unwrap();
    stmts[0].sql = "CREATE TABLE a (id int); DROP TABLE b".into();
    assert!(verify(&stmts).unwrap_err().reason.contains("2 statements"));
    // Same statement kind, another constant.
    let mut stmts = parse("SELECT 1").unwrap();
    stmts[0].sql = "SELECT 2".into();
    assert!(verify(&stmts).is_err());
    // Overlapping texts.
    let mut stmts = parse("SELECT 1; SELECT 2").unwrap();
    stmts[1].offset = 0;
    stmts[1].sql = "SELECT 1".into();
    assert!(verify(&stmts).is_err());
}

#[test]
fn parse_for_execution_reports_a_refusal_at_the_statement() {
    let sql = "SELECT 1;\nSELECT 2;";
    assert_eq!(parse_for_execution(sql).unwrap().len(), 2);
    assert!(parse_for_execution("SELECT (").is_err());
}

#[test]
fn plan_groups_statements_into_transactions() {
    let p = plan(
        &parse(
            "CREATE TABLE a (id int); ALTER TABLE a ADD b int; CREATE INDEX CONCURRENTLY i ON a (b); \
             VACUUM a; ALTER TABLE a ADD c int",
        )
        .unwrap(),
    )
    .unwrap();
    let seg = |s: std::ops::Range<usize>, transactional| Segment {
        statements: s,
        transactional,
    };
    assert_eq!(
        p.segments,
        vec![
            seg(0..2, true),
            seg(2..3, false),
            seg(3..4, false),
            seg(4..5, true)
        ]
    );
    assert!(!p.atomic());
    assert_eq!(p.sent(), 5);
    let plain = plan(&parse("CREATE TABLE a (id int); DROP TABLE a").unwrap()).unwrap();
    assert_eq!(plain.segments, vec![seg(0..2, true)]);
    assert!(plain.atomic());
}

#[test]
fn a_wrapped_migration_runs_its_body_in_one_transaction() {
    let p = plan(&parse("BEGIN; CREATE TABLE a (id int); DROP TABLE a; COMMIT;").unwrap()).unwrap();
    assert_eq!(p.wrapper, vec![0, 3]);
    assert_eq!(
        p.segments,
        vec![Segment {
            statements: 1..3,
            transactional: true
        }]
    );
    assert_eq!(p.sent(), 2);
    assert!(p.atomic());
}

#[test]
fn a_wrapped_migration_with_a_non_transactional_statement_is_refused() {
    let err = plan(
        &parse("BEGIN; ALTER TABLE a ADD b int; CREATE INDEX CONCURRENTLY i ON a (b); COMMIT;")
            .unwrap(),
    )
    .unwrap_err();
    assert_eq!(err, PlanError::NotTransactional(2));
    assert_eq!(err.statement_index(), 2);
    assert!(err.to_string().contains("split it into two migrations"));
    let err = plan(&parse("SELECT 1; ROLLBACK;").unwrap()).unwrap_err();
    assert_eq!(err, PlanError::TransactionControl(1));
}

#[test]
fn statements_the_server_refuses_in_a_transaction_block() {
    let t = |sql: &str| is_transactional(&parse(sql).unwrap()[0].ast);
    for sql in [
        "CLUSTER",
        "REINDEX SCHEMA public",
        "REINDEX DATABASE shop",
        "REINDEX SYSTEM shop",
        "REINDEX TABLE CONCURRENTLY t",
        "VACUUM (ANALYZE) t",
        "CREATE DATABASE x",
        "DROP DATABASE x",
        "ALTER DATABASE x SET TABLESPACE pg_default",
        "ALTER SYSTEM SET work_mem = '8MB'",
        "DISCARD ALL",
        "COMMIT PREPARED 'x'",
    ] {
        assert!(!t(sql), "{sql}");
    }
    for sql in [
        "CLUSTER t USING i",
        "REINDEX TABLE t",
        "REINDEX INDEX i",
        "ALTER DATABASE x SET work_mem = '8MB'",
        "DISCARD PLANS",
        "ALTER TYPE e ADD VALUE 'x'",
    ] {
        assert!(t(sql), "{sql}");
    }
}

#[test]
fn an_error_without_a_token_points_at_the_statements_first_token() {
    // "invalid Unicode escape value" names no token: the position is the statement's start,
    // after the comment above it.
    let err = parse("SELECT 1;\n/* x */ SELECT U&'\\0000'").unwrap_err();
    assert_eq!(err.statement_index, 1);
    assert_eq!((err.line, err.column), (2, 9), "{err:?}");
    let err = parse("-- a\nSELECT U&'\\0000'").unwrap_err();
    assert_eq!((err.line, err.column), (2, 1), "{err:?}");
}

#[test]
fn an_unterminated_comment_is_located_where_it_opens() {
    let err = parse("SELECT 1;\n  /* never closed").unwrap_err();
    assert_eq!((err.line, err.column), (2, 3), "{err:?}");
    assert!(err.message.contains("unterminated"), "{}", err.message);
}

#[test]
fn comment_only_pieces_do_not_count_as_statements_in_errors() {
    let err = parse("SELECT 1; /* c */; -- d\n; SELEC 2").unwrap_err();
    assert_eq!(err.statement_index, 1, "{err:?}");
}

#[test]
fn positions_never_split_a_character() {
    // Offsets inside a multi-byte character are moved back to its start.
    let sql = "é";
    assert_eq!(line_col(sql, 1), (1, 1));
    assert_eq!(error::error_at(sql, 1, 0, String::new()).position, 1);
    assert_eq!(error::error_at("aé", 2, 0, String::new()).position, 2);
    assert_eq!(line_col("a\né", 4), (2, 2));
}

#[test]
fn a_lone_non_transactional_statement_is_not_atomic() {
    let p = plan(&parse("CREATE INDEX CONCURRENTLY i ON t (a)").unwrap()).unwrap();
    assert_eq!(p.segments.len(), 1);
    assert!(!p.atomic());
    assert!(plan(&parse("SELECT 1").unwrap()).unwrap().atomic());
    assert_eq!(
        transaction_wrapper(&parse("BEGIN; COMMIT").unwrap()),
        Ok(vec![0, 1])
    );
    assert_eq!(transaction_wrapper(&parse("BEGIN").unwrap()), Err(0));
}

#[test]
fn check_round_trip_reports_the_statement_and_its_position() {
    let sql = "SELECT 1;\nCREATE TABLE a (id int);";
    let mut stmts = parse(sql).unwrap();
    assert_eq!(check_round_trip(sql, &stmts), Ok(()));
    stmts[1].sql = "DROP TABLE a".into();
    let err = check_round_trip(sql, &stmts).unwrap_err();
    assert_eq!(err.statement_index, 1);
    assert_eq!((err.line, err.column), (2, 1));
    assert!(err.message.contains("statement 2"), "{}", err.message);
}

/// SQL PostgreSQL runs that prost's default recursion limit (100 nested messages) refused as
/// "failed to decode Protobuf message"; each parses, and round-trips for the executor.
#[test]
fn deep_expressions_postgres_runs_parse() {
    let concat: Vec<String> = (0..200).map(|i| format!("'{i}'")).collect();
    let sums = vec!["1"; 60].join(" + ");
    let calls = format!("SELECT {}1{}", "abs(".repeat(49), ")".repeat(49));
    let cases = format!(
        "SELECT {}1{}",
        "CASE WHEN true THEN ".repeat(50),
        " END".repeat(50)
    );
    let arrays = format!("SELECT {}1{}", "ARRAY[".repeat(50), "]".repeat(50));
    let subqueries = format!("SELECT {}1{}", "(SELECT ".repeat(50), ")".repeat(50));
    let forms = [
        format!("UPDATE t SET name = name || {}", concat[..46].join(" || ")),
        format!("UPDATE t SET name = name || {}", concat.join(" || ")),
        format!("SELECT {sums}"),
        calls,
        cases,
        arrays,
        subqueries,
    ];
    // On a main thread's stack: see `nesting_is_bounded_below_any_stack_overflow`.
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            for sql in forms {
                let stmts = parse_for_execution(&sql).unwrap_or_else(|e| panic!("{e}: {sql:.80}"));
                assert_eq!(stmts.len(), 1);
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Nesting stays bounded: just under the limit parses, over it is refused with a message
/// that names the limit and where it was crossed. The parser decodes on its own large stack;
/// the caller here gets the 8 MiB of a main thread, because an unoptimized build's derived
/// `Clone` of a `SELECT` node takes tens of kilobytes of stack per nested subquery.
#[test]
fn nesting_is_bounded_below_any_stack_overflow() {
    let near = MAX_NESTING - 2;
    let chain = format!("SELECT {}", vec!["1"; near].join(" + "));
    let calls = format!("SELECT {}1{}", "abs(".repeat(near), ")".repeat(near));
    let subs = format!(
        "SELECT {}1{}",
        "(SELECT ".repeat(near / 2),
        ")".repeat(near / 2)
    );
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            for sql in [&chain, &calls, &subs] {
                let stmts = parse_for_execution(sql).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(stmts.len(), 1);
            }
        })
        .unwrap()
        .join()
        .unwrap();
    let over = format!(
        "SELECT 1;\nSELECT {}",
        vec!["1"; MAX_NESTING + 5].join(" + ")
    );
    let err = parse(&over).unwrap_err();
    assert!(
        err.message
            .contains(&format!("more than {MAX_NESTING} levels")),
        "{}",
        err.message
    );
    assert_eq!(err.statement_index, 1);
    assert_eq!(err.line, 2);
    let calls = format!("SELECT {}1{}", "f(".repeat(50_000), ")".repeat(50_000));
    assert!(parse(&calls).is_err());
}

/// Editors write a UTF-8 byte-order mark; PostgreSQL's scanner does not take it as blank.
#[test]
fn a_leading_byte_order_mark_is_accepted() {
    let sql = "\u{FEFF}-- migration\nCREATE TABLE a (id int);\nSELECT 1;";
    let stmts = parse_for_execution(sql).unwrap();
    assert_eq!(stmts.len(), 2);
    assert_eq!(stmts[0].sql, "CREATE TABLE a (id int)");
    assert_eq!(&sql[stmts[0].offset..][..stmts[0].sql.len()], stmts[0].sql);
    assert_eq!(stmts[0].leading_comments, ["migration"]);
    assert_eq!(stmts[1].line, 3);
    // Only a leading one: elsewhere it is not blank to PostgreSQL either.
    assert!(parse("SELECT 1;\u{FEFF}SELECT 2").is_err());
}
