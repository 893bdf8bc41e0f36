use super::*;

fn refused(sql: &str) -> Vec<Refusal> {
    let stmts = autodb_core::sql::parse(sql).expect("test SQL parses");
    refusals(&stmts, Limits::default())
}

fn is_refused(sql: &str) -> bool {
    !refused(sql).is_empty()
}

#[test]
fn statements_that_switch_off_the_timeouts_are_refused() {
    for sql in [
        "RESET ALL",
        "RESET lock_timeout",
        "RESET statement_timeout",
        "SET lock_timeout = 0",
        "SET lock_timeout TO DEFAULT",
        "SET LOCAL lock_timeout = '0'",
        "SET statement_timeout = 0",
        "SET lock_timeout = '1h'",
        "SET lock_timeout = 5001",
        "SET statement_timeout = '1d'",
        "SET lock_timeout = 'soon'",
        "SELECT set_config('lock_timeout', '0', false)",
        "SELECT pg_catalog.set_config('statement_timeout', '0', true)",
        "SELECT set_config(name, '0', false) FROM (VALUES ('lock_timeout')) v(name)",
        "SET idle_in_transaction_session_timeout = 0",
    ] {
        assert!(is_refused(sql), "{sql}");
    }
}

#[test]
fn a_stricter_timeout_is_kept() {
    for sql in [
        "SET lock_timeout = '2s'",
        "SET lock_timeout = 5000",
        "SET LOCAL lock_timeout = '500ms'",
        "SET lock_timeout TO '0.05min'",
        "SET statement_timeout = '10min'",
        "SET lock_timeout = '1.5s'",
        "SELECT set_config('work_mem', '64MB', true)",
        "SET work_mem = '64MB'",
        "SET maintenance_work_mem = '1GB'",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    ] {
        assert!(refused(sql).is_empty(), "{sql}: {:?}", refused(sql));
    }
}

#[test]
fn the_limit_is_the_executors() {
    let stmts = autodb_core::sql::parse("SET lock_timeout = '3s'").unwrap();
    let strict = Limits {
        lock_timeout_ms: 2_000,
        ..Limits::default()
    };
    assert!(!refusals(&stmts, strict).is_empty());
    assert!(refusals(&stmts, Limits::default()).is_empty());
}

#[test]
fn role_lock_and_session_changes_are_refused() {
    for sql in [
        "SET ROLE admin",
        "SET LOCAL ROLE admin",
        "RESET ROLE",
        "SET SESSION AUTHORIZATION admin",
        "SET search_path = other, public",
        "SET standard_conforming_strings = off",
        "SET session_replication_role = replica",
        "DISCARD ALL",
        "DISCARD PLANS",
        "SELECT pg_advisory_unlock_all()",
        "SELECT pg_catalog.pg_advisory_unlock(1)",
        "SELECT pg_try_advisory_lock(1)",
        "SELECT 1 WHERE pg_advisory_xact_lock(7) IS NULL",
        "SELECT set_config('role', 'admin', false)",
        "SELECT set_config('search_path', 'other', false)",
        "ALTER SYSTEM SET lock_timeout = 0",
        "COPY t FROM STDIN",
        "COPY t TO STDOUT",
    ] {
        assert!(is_refused(sql), "{sql}");
    }
}

#[test]
fn a_refusal_names_the_statement_and_why() {
    let r = refused("CREATE TABLE a (id int);\nRESET ALL;");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].statement_index, 1);
    assert_eq!(r[0].operation, "SET");
    assert!(r[0].reason.contains("lock_timeout"), "{}", r[0].reason);
    assert!(!r[0].safe_alternative.is_empty());
}

#[test]
fn ignore_comments_do_not_silence_refusals() {
    assert!(is_refused("-- autodb:ignore guard\nRESET ALL"));
}

#[test]
fn ordinary_migrations_are_not_refused() {
    for sql in [
        "CREATE TABLE a (id int); ALTER TABLE a ADD b text",
        "SELECT now()",
        "COPY t FROM '/tmp/x'",
        "UPDATE t SET a = pg_catalog.lower(b)",
    ] {
        assert!(refused(sql).is_empty(), "{sql}");
    }
}

#[test]
fn timeout_values_in_every_unit() {
    let ms = |v: &str| {
        let stmts = autodb_core::sql::parse(&format!("SET lock_timeout = {v}")).unwrap();
        let NodeEnum::VariableSetStmt(s) = &stmts[0].ast else {
            panic!()
        };
        setting_ms(&s.args)
    };
    assert_eq!(ms("2000"), Some(2000));
    assert_eq!(ms("'2000'"), Some(2000));
    assert_eq!(ms("'2s'"), Some(2000));
    assert_eq!(ms("'2 s'"), Some(2000));
    assert_eq!(ms("'1min'"), Some(60_000));
    assert_eq!(ms("'1h'"), Some(3_600_000));
    assert_eq!(ms("'1d'"), Some(86_400_000));
    assert_eq!(ms("'1500us'"), Some(2));
    assert_eq!(ms("'100us'"), Some(0));
    assert_eq!(ms("'1.5s'"), Some(1500));
    assert_eq!(ms("1.5"), Some(2));
    assert_eq!(ms("'2 fortnights'"), None);
    assert_eq!(ms("'s'"), None);
}

#[test]
fn each_refusal_says_what_to_do_instead() {
    let path = refused("SET search_path = other");
    assert!(
        path[0].safe_alternative.contains("Qualify names"),
        "{path:?}"
    );
    assert!(path[0].reason.starts_with("SET search_path"), "{path:?}");
    let role = refused("RESET ROLE");
    assert!(
        role[0].safe_alternative.contains("executor manages"),
        "{role:?}"
    );
    assert!(role[0].reason.starts_with("RESET role"), "{role:?}");
}

#[test]
fn settings_that_change_how_the_next_statement_is_read_are_refused() {
    for sql in [
        "SET NAMES 'SJIS'",
        "SET client_encoding = 'BIG5'",
        "SET client_encoding TO DEFAULT",
        "RESET client_encoding",
        "SELECT set_config('client_encoding', 'SJIS', false)",
        "SET standard_conforming_strings = off",
        "SELECT set_config('standard_conforming_strings', 'off', false)",
        "SET backslash_quote = on",
        "SET transform_null_equals = on",
        "SET client_connection_check_interval = 0",
        "SET session_replication_role = replica",
    ] {
        assert!(is_refused(sql), "{sql}");
    }
}

#[test]
fn autodbs_own_schema_is_off_limits() {
    for sql in [
        "CREATE TRIGGER t AFTER INSERT ON autodb.migration_ledger FOR EACH ROW EXECUTE FUNCTION f()",
        "UPDATE autodb.migration_ledger SET result = '{}'",
        "DROP TABLE autodb.migration_steps",
        "DROP SCHEMA autodb CASCADE",
        "ALTER SCHEMA autodb RENAME TO elsewhere",
        "CREATE SCHEMA autodb",
        "GRANT ALL ON SCHEMA autodb TO PUBLIC",
        "SELECT autodb.f()",
        "DO $$ BEGIN EXECUTE 'DELETE FROM autodb.migration_ledger'; END $$",
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE \"autodb\".migration_steps SET statement_index = 0; RETURN NULL; END $$",
    ] {
        let refused = refused(sql);
        assert_eq!(refused.len(), 1, "{sql}: {refused:?}");
        assert!(refused[0].reason.contains("autodb"), "{sql}");
    }
    for sql in [
        "CREATE TABLE autodb_settings (id int)",
        "CREATE SCHEMA autodbx",
        "DROP EXTENSION IF EXISTS autodb",
        "INSERT INTO notes VALUES ('autodb is a service')",
    ] {
        assert!(refused(sql).is_empty(), "{sql}: {:?}", refused(sql));
    }
}

#[test]
fn literals_older_servers_read_differently_are_refused_for_them() {
    let stmts = autodb_core::sql::parse(
        "SELECT 1.5, 10; SELECT 0x1F; UPDATE t SET n = 1_000; SELECT 0B101",
    )
    .unwrap();
    let at = |major| {
        lexing_refusals(&stmts, major)
            .iter()
            .map(|r| r.statement_index)
            .collect::<Vec<_>>()
    };
    assert_eq!(at(14), [1, 2, 3]);
    assert_eq!(at(15), [1, 2, 3]);
    assert!(at(16).is_empty());
    assert!(at(18).is_empty());
    let reason = &lexing_refusals(&stmts, 14)[0].reason;
    assert!(
        reason.contains("`0x1F`") && reason.contains("alias"),
        "{reason}"
    );
    assert!(lexing_refusals(&stmts, 15)[0]
        .reason
        .contains("syntax error"));
}
