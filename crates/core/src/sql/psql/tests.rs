//! Which meta-commands are accepted or refused, and proof that blanking them never hides,
//! adds or changes a statement. The property over generated migrations is in
//! `crates/core/tests/round_trip.rs`.

use super::*;
use crate::sql::{parse, parse_for_execution, parse_migration};

fn refused(sql: &str) -> ParseError {
    match parse_migration(sql) {
        Ok(m) => panic!("accepted {sql:?}: {:?}", m.psql_commands),
        Err(err) => err,
    }
}

#[test]
fn accepts_harmless_commands_and_keeps_every_offset() {
    let sql = "\\set ON_ERROR_STOP 1\n\\echo héllo wörld\n\\timing on\nCREATE TABLE a (id int);\n\\pset pager off\nDROP TABLE b;";
    let m = parse_migration(sql).unwrap();
    let lines: Vec<(usize, &str)> = m
        .psql_commands
        .iter()
        .map(|c| (c.line, c.command.as_str()))
        .collect();
    assert_eq!(
        lines,
        [(1, "\\set"), (2, "\\echo"), (3, "\\timing"), (5, "\\pset")]
    );
    assert!(m.psql_commands[0].effect.contains("always stops"));
    assert_eq!(m.statements.len(), 2);
    for (statement, line) in m.statements.iter().zip([4, 6]) {
        assert_eq!(statement.line, line);
        assert_eq!(
            &sql[statement.offset..statement.offset + statement.sql.len()],
            statement.sql
        );
    }
    let blanked = blank(sql).unwrap();
    assert_eq!(blanked.text.len(), sql.len());
    assert_eq!(
        blanked.text.lines().nth(1).unwrap(),
        " ".repeat("\\echo héllo wörld".len())
    );
    assert_eq!(
        blanked.text.matches('\n').count(),
        sql.matches('\n').count()
    );
}

#[test]
fn text_without_meta_commands_is_not_copied() {
    let blanked = blank("SELECT 'a\\b' -- c\\d\n").unwrap();
    assert!(matches!(blanked.text, Cow::Borrowed(_)));
    assert!(blanked.commands.is_empty());
}

#[test]
fn crlf_line_ends_are_kept() {
    let sql = "\\set ON_ERROR_STOP on\r\nSELECT 1;\r\n";
    let blanked = blank(sql).unwrap();
    assert_eq!(blanked.text, format!("{}\r\nSELECT 1;\r\n", " ".repeat(21)));
    assert_eq!(parse(sql).unwrap()[0].line, 2);
}

#[test]
fn the_executor_path_accepts_what_analyze_accepts() {
    let sql = "\\set ON_ERROR_STOP 1\nBEGIN;\nCREATE TABLE a (id int);\n\\echo done\nCOMMIT;\n";
    let statements = parse_for_execution(sql).unwrap();
    let texts: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
    assert_eq!(texts, ["BEGIN", "CREATE TABLE a (id int)", "COMMIT"]);
}

#[test]
fn refuses_commands_that_change_what_runs_naming_line_and_command() {
    let cases = [
        ("\\i other.sql", "\\i", "includes another file"),
        ("\\ir other.sql", "\\ir", "includes another file"),
        ("\\include other.sql", "\\include", "includes another file"),
        (
            "\\connect other",
            "\\connect",
            "connects to another database",
        ),
        ("\\c other", "\\c", "connects to another database"),
        ("\\copy t FROM 'x.csv'", "\\copy", "copies data"),
        ("SELECT 'x'\n\\gexec", "\\gexec", "sends the query buffer"),
        ("SELECT 1\n\\g", "\\g", "sends the query buffer"),
        ("SELECT 1\n\\gset", "\\gset", "sends the query buffer"),
        ("\\! rm -rf /", "\\!", "runs a shell command"),
        (
            "\\o out.txt",
            "\\o",
            "runs a shell command or writes a file",
        ),
        ("\\if :flag", "\\if", "runs statements conditionally"),
        ("\\endif", "\\endif", "runs statements conditionally"),
        ("\\q", "\\q", "ends the script"),
        ("\\r", "\\r", "edits the query buffer"),
        (
            "\\encoding LATIN1",
            "\\encoding",
            "changes how psql encodes",
        ),
        ("\\set AUTOCOMMIT off", "\\set", "changes how psql runs"),
        (
            "\\unset on_error_rollback",
            "\\unset",
            "changes how psql runs",
        ),
        (
            "\\set 2 x",
            "\\set",
            "sets a variable whose name does not start with a letter",
        ),
        (
            "\\echo a \\\\ \\i x.sql",
            "\\echo",
            "shares its line with another backslash",
        ),
        ("\\echo `rm -rf /`", "\\echo", "has a backquoted argument"),
        ("\\prompt 'name' v", "\\prompt", "is not one autodb knows"),
        ("\\;", "\\;", "sends the query buffer"),
    ];
    for (command, name, why) in cases {
        let sql = format!("CREATE TABLE a (id int);\n{command}\nDROP TABLE a;");
        let err = refused(&sql);
        let line = 2 + command.matches('\n').count();
        assert!(
            err.message
                .contains(&format!("psql meta-command {name} on line {line} {why}")),
            "{command}: {}",
            err.message
        );
        assert_eq!((err.line, err.column), (line, 1), "{command}");
        assert_eq!(err.statement_index, 1, "{command}");
    }
}

#[test]
fn refuses_a_backslash_after_sql_on_the_same_line() {
    for sql in [
        "SELECT 1 \\g",
        "SELECT 1 \\; SELECT 2;",
        "SELECT 1; \\echo x",
    ] {
        let err = refused(sql);
        assert!(
            err.message.contains("follows SQL on the same line"),
            "{sql}: {}",
            err.message
        );
        assert_eq!(err.column, sql.find('\\').unwrap() + 1, "{sql}");
    }
}

#[test]
fn refuses_psql_variables_the_file_sets_or_psql_sets() {
    for (sql, reference) in [
        ("\\set foo 1\nSELECT :foo;", ":foo"),
        ("\\set foo 1\nSELECT :'foo';", ":'foo'"),
        (
            "\\set col a\nSELECT * FROM t WHERE a = :\"col\"",
            ":\"col\"",
        ),
        ("SELECT :{?foo}", ":{?foo}"),
        (
            "\\set schema s\nSELECT 1; CREATE TABLE :schema.t (id int)",
            ":schema.t",
        ),
        ("\\set hi 3\nSELECT a[lo:hi] FROM t", ":hi"),
        ("SELECT :DBNAME", ":DBNAME"),
    ] {
        let err = refused(sql);
        assert!(
            err.message
                .starts_with(&format!("psql variable {reference} on line")),
            "{sql}: {}",
            err.message
        );
        let at = sql.rfind(':').unwrap();
        assert_eq!(
            err.column,
            at - sql[..at].rfind('\n').map_or(0, |n| n + 1) + 1,
            "{sql}"
        );
        let statement_text = &sql[sql[..at].rfind('\n').map_or(0, |n| n + 1)..at];
        assert_eq!(
            err.statement_index,
            statement_text.matches(';').count(),
            "{sql}"
        );
    }
}

/// psql leaves a reference to a variable nobody set as written: the server sees SQL (the
/// MusicBrainz migration that slices `all_merge[2:array_upper(all_merge, 1)]`).
#[test]
fn references_to_unset_variables_are_sql() {
    for sql in [
        "SELECT all_merge[2:array_upper(all_merge, 1)] FROM t",
        "SELECT a[lo:hi] FROM t",
        "SELECT a[1:n] FROM t; \n\\set n 2\n",
        "\\set other 1\nSELECT a[lo:hi] FROM t",
    ] {
        let stmts = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(stmts.len(), 1, "{sql}");
    }
    // Left as written for the server to judge, not refused by autodb.
    assert_eq!(blank("SELECT :'foo'").unwrap().text, "SELECT :'foo'");
    // After its `\set`, the same reference would be substituted: refused.
    refused("\\set n 2\nSELECT a[1:n] FROM t");
}

#[test]
fn colons_that_are_sql_are_accepted() {
    for sql in [
        "SELECT a[1:2] FROM t",
        "SELECT a[lo: hi] FROM t",
        "SELECT x::int FROM t",
        "SELECT f(a := 1)",
        "SELECT ':foo', $$ :bar $$, \":baz\" FROM t -- :qux",
        "SELECT 1 /* :x */",
    ] {
        let m = parse_migration(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(m.statements.len(), 1, "{sql}");
        assert!(m.psql_commands.is_empty(), "{sql}");
    }
}

/// A backslash line inside a literal, a dollar-quoted body, a quoted identifier or a comment
/// is data: it is neither reported, nor refused, nor blanked.
#[test]
fn a_backslash_inside_a_token_is_data_not_a_command() {
    for sql in [
        "INSERT INTO t VALUES ('\n\\i evil.sql\n');",
        "INSERT INTO t VALUES (E'\\'\n\\i evil.sql\n');",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$\n\\i evil.sql\nSELECT 1 $$;",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$\n\\echo x\nSELECT 1 $body$;",
        "CREATE TABLE \"\n\\i evil.sql\n\" (id int);",
        "/*\n\\i evil.sql\n*/ SELECT 1;",
        "/* /* nested */\n\\i evil.sql\n*/ SELECT 1;",
        "-- \\i evil.sql\nSELECT 1;",
    ] {
        let blanked = blank(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(blanked.text, sql);
        assert!(blanked.commands.is_empty(), "{sql}");
        let statements = parse(sql).unwrap();
        assert_eq!(statements.len(), 1, "{sql}");
    }
}

/// psql acts on a meta-command line inside a statement being typed and keeps the statement;
/// blanking keeps every token of it.
#[test]
fn a_meta_command_line_inside_a_statement_leaves_the_statement_whole() {
    let sql = "CREATE TABLE a (\n  id int,\n\\echo inside\n  name text\n);\nDROP TABLE b;";
    let m = parse_migration(sql).unwrap();
    assert_eq!(m.psql_commands.len(), 1);
    assert_eq!(m.psql_commands[0].line, 3);
    let plain =
        parse("CREATE TABLE a (\n  id int,\n            \n  name text\n);\nDROP TABLE b;").unwrap();
    assert_eq!(m.statements.len(), 2);
    for (a, b) in m.statements.iter().zip(&plain) {
        assert_eq!(a.ast, b.ast);
        assert_eq!(a.sql, b.sql);
    }
}

#[test]
fn a_refused_command_after_an_accepted_one_is_still_found() {
    // The accepted line's argument opens a quote in SQL's reading; blanking it first means
    // the next line is scanned as SQL again.
    let err = refused("\\echo it's here\n\\i evil.sql\nSELECT 1;");
    assert!(err.message.contains("\\i on line 2"), "{}", err.message);
}

#[test]
fn setting_an_own_variable_is_accepted() {
    for sql in [
        "\\set my_var 1\nSELECT 1;",
        "\\set _schema public\nSELECT 1;",
        "\\unset x\nSELECT 1;",
    ] {
        let m = parse_migration(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(m.psql_commands.len(), 1, "{sql}");
        assert!(
            m.psql_commands[0]
                .effect
                .starts_with("sets a psql variable"),
            "{sql}: {}",
            m.psql_commands[0].effect
        );
    }
}
