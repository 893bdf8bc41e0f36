//! What runs is what was analyzed, when the migration's author and a concurrent writer on the
//! target are attackers. Each attack is played on a real PostgreSQL as described — the
//! author's statements, a second role changing the database between analyze and execute — and
//! judged by the database's state (rows, roles, settings, objects), not by autodb's answer.

use axum::http::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

async fn approve_change_execute(t: &TestApp, conn: &str, sql: &str, meanwhile: &str) -> Value {
    t.approve_change_execute(conn, sql, meanwhile).await
}

async fn run(t: &TestApp, conn: &str, sql: &str) -> Value {
    let id = t.submit(conn, sql).await;
    t.drain().await;
    t.status(&id).await
}

fn refused(status: StatusCode, body: &Value) -> &str {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "MIGRATION_REFUSED", "{body}");
    assert!(body["data"].is_null(), "no token for a refused migration");
    body["error"]["details"]["refused"][0]["reason"]
        .as_str()
        .unwrap()
}

/// A login role of the test cluster, unique to the test (roles are cluster-wide).
async fn second_role(t: &TestApp) -> (String, tokio_postgres::Client) {
    let role = format!("mallory_{}", uuid::Uuid::new_v4().simple());
    let db = t.db_url.rsplit('/').next().unwrap().to_string();
    t.db()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; GRANT CREATE ON DATABASE \"{db}\" TO {role};
             GRANT USAGE, CREATE ON SCHEMA public TO {role}"
        ))
        .await
        .unwrap();
    let url = t.db_url.replace("postgres@", &format!("{role}@"));
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    (role, client)
}

/// Deletes nothing as the analysis reads it (`standard_conforming_strings = on`: the
/// backslash is a character); with it off, the backslash escapes the quote and the statement
/// deletes every row.
const TWO_READINGS: &str =
    "DELETE FROM notes WHERE body = 'x\\' AND id < 0 AND body <> ' OR id > 0 --'";

const NOTES: &str = "CREATE TABLE notes (id int PRIMARY KEY, body text);
    INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 100) g;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reads_the_statements_that_were_analyzed() {
    let t = TestApp::spawn(Backend::Local).await;
    t.db().await.batch_execute(NOTES).await.unwrap();
    let conn = t.connect().await;

    // Changing how the server reads the next statement is refused at analyze.
    for sql in [
        "SET NAMES 'SJIS'; UPDATE notes SET body = 'x' WHERE id = 1",
        "SET client_encoding = 'BIG5'",
        "SELECT set_config('client_encoding', 'SJIS', false)",
        "SET standard_conforming_strings = off",
        "SELECT 0x1F AS n",
    ] {
        let (status, body) = t.analyze(&conn, sql).await;
        let reason = refused(status, &body);
        assert!(!reason.is_empty(), "{sql}");
    }

    // Changed where the analysis cannot see it (a function, a DO block): the executor reads
    // the settings back after the statement and never sends the next one.
    for (sql, what) in [
        (
            &format!(
                "CREATE FUNCTION lax() RETURNS text LANGUAGE sql AS \
             $$ SELECT set_config('standard_conforming_strings', 'off', false) $$;\n\
             SELECT lax();\n{TWO_READINGS}"
            ),
            "standard_conforming_strings",
        ),
        (
            &format!(
                "CREATE TABLE marker (id int);\n\
                 DO $$ BEGIN PERFORM set_config('client_encoding', 'SJIS', false); END $$;\n\
                 {TWO_READINGS}"
            ),
            "client_encoding",
        ),
    ] {
        let status = run(&t, &conn, sql).await;
        assert_eq!(status["status"], "failed", "{sql}: {status}");
        assert_eq!(status["error"]["code"], "PROTECTION_VIOLATED", "{status}");
        assert_eq!(status["error"]["statement_index"], 1, "{status}");
        let message = status["error"]["message"].as_str().unwrap();
        assert!(message.contains(what), "{message}");
        assert_eq!(t.count("SELECT count(*) FROM notes").await, 100, "{sql}");
        assert_eq!(
            t.count("SELECT count(*) FROM pg_class WHERE relname = 'marker'")
                .await,
            0,
            "rolled back"
        );
    }

    // A database whose default is standard_conforming_strings = off: the executor pins it,
    // so the backslash is the character the analysis read, not an escape.
    let t = TestApp::spawn(Backend::Local).await;
    t.db().await.batch_execute(NOTES).await.unwrap();
    let db = t.db_url.rsplit('/').next().unwrap().to_string();
    t.db()
        .await
        .batch_execute(&format!(
            "ALTER DATABASE \"{db}\" SET standard_conforming_strings = off;
             ALTER DATABASE \"{db}\" SET escape_string_warning = off"
        ))
        .await
        .unwrap();
    let conn = t.connect().await;
    let status = run(
        &t,
        &conn,
        &format!("INSERT INTO notes VALUES (1000, 'C:\\new');\n{TWO_READINGS}"),
    )
    .await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(t.count("SELECT count(*) FROM notes").await, 101);
    let stored: String = t
        .db()
        .await
        .query_one("SELECT body FROM notes WHERE id = 1000", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, "C:\\new");
}

/// Temporary views named like every catalog autodb reads, created by the migration in the
/// executor's session, answer none of autodb's questions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_views_named_like_catalogs_change_nothing() {
    const CATALOGS: &[&str] = &[
        "pg_settings",
        "pg_locks",
        "pg_class",
        "pg_namespace",
        "pg_attribute",
        "pg_attrdef",
        "pg_constraint",
        "pg_index",
        "pg_inherits",
        "pg_depend",
        "pg_trigger",
        "pg_rewrite",
        "pg_policy",
        "pg_proc",
        "pg_type",
        "pg_stat_activity",
        "pg_description",
        "pg_sequence",
        "pg_enum",
        "pg_roles",
        "pg_views",
        "pg_tables",
    ];
    let shadows: String = CATALOGS
        .iter()
        .map(|c| {
            format!(
                "CREATE TEMP VIEW {c} AS SELECT 'lock_timeout'::text AS name, '2000'::text AS \
                 setting, 'advisory'::text AS locktype, true AS granted;\n"
            )
        })
        .collect();
    let t = TestApp::spawn(Backend::Local).await;
    t.db().await.batch_execute(NOTES).await.unwrap();
    let conn = t.connect().await;

    // With the shadows in place, a DO block switches the timeouts off and frees the lock.
    let sql = format!(
        "{shadows}DO $$ BEGIN PERFORM set_config('lock_timeout', '0', false); \
         PERFORM set_config('statement_timeout', '0', false); \
         PERFORM pg_advisory_unlock_all(); END $$;\nDELETE FROM notes WHERE id = -1"
    );
    let status = run(&t, &conn, &sql).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["error"]["code"], "PROTECTION_VIOLATED", "{status}");
    assert_eq!(status["error"]["statement_index"], CATALOGS.len());
    let message = status["error"]["message"].as_str().unwrap();
    for what in ["lock_timeout", "statement_timeout", "advisory lock"] {
        assert!(message.contains(what), "{message}");
    }

    // With the same shadows, a plain migration completes and its diff is the real one.
    let sql = format!("{shadows}CREATE TABLE created (id int);\nALTER TABLE notes ADD c int");
    let status = run(&t, &conn, &sql).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        status["result"]["tables_added"],
        serde_json::json!(["created"])
    );
    assert_eq!(status["result"]["columns_added"][0]["column"], "c");
    assert_eq!(
        t.count("SELECT count(*) FROM autodb.migration_ledger")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolve_as_the_server_resolves_them() {
    // A schema named after the executor's role, created after approval by another role,
    // with a table of the approved name whose trigger makes its owner a superuser.
    let t = TestApp::spawn(Backend::Local).await;
    t.db().await.batch_execute(NOTES).await.unwrap();
    let conn = t.connect().await;
    let sql = "UPDATE notes SET body = 'approved' WHERE id = 1";
    let token = t.approve(&conn, sql).await;
    let (role, mallory) = second_role(&t).await;
    mallory
        .batch_execute(&format!(
            "CREATE SCHEMA postgres;
             CREATE TABLE postgres.notes (id int, body text);
             INSERT INTO postgres.notes VALUES (1, 'bait');
             CREATE FUNCTION postgres.grab() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN EXECUTE 'ALTER ROLE {role} SUPERUSER'; RETURN NEW; END $$;
             CREATE TRIGGER grab BEFORE UPDATE ON postgres.notes
               FOR EACH ROW EXECUTE FUNCTION postgres.grab();"
        ))
        .await
        .unwrap();
    let (status, body) = t.execute(&token, sql, &conn).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    t.drain().await;
    let status = t.status(body["data"]["request_id"].as_str().unwrap()).await;
    assert_eq!(status["status"], "completed", "{status}");
    let db = t.db().await;
    let superuser: bool = db
        .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .unwrap()
        .get(0);
    assert!(!superuser, "the other role's trigger never ran");
    let row = |sql: &'static str| {
        let db = &db;
        async move { db.query_one(sql, &[]).await.unwrap().get::<_, String>(0) }
    };
    assert_eq!(
        row("SELECT body FROM public.notes WHERE id = 1").await,
        "approved"
    );
    assert_eq!(
        row("SELECT body FROM postgres.notes WHERE id = 1").await,
        "bait"
    );

    // A search path with a schema before public: a relation that appears there after
    // approval is drift, and what the analysis would judge in the wrong schema is refused.
    let t = TestApp::spawn(Backend::Local).await;
    let name = t.db_url.rsplit('/').next().unwrap().to_string();
    t.db()
        .await
        .batch_execute(&format!(
            "{NOTES} CREATE SCHEMA app;
             ALTER DATABASE \"{name}\" SET search_path = app, public;"
        ))
        .await
        .unwrap();
    let conn = t.connect().await;
    let (status, report) = t
        .analyze(&conn, "UPDATE notes SET body = 'x' WHERE id = 2")
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report["data"]["search_path"],
        serde_json::json!(["app", "public"])
    );
    let (status, body) = t.analyze(&conn, "CREATE TABLE fresh (id int)").await;
    let reason = refused(status, &body);
    assert!(reason.contains("created in `app`"), "{reason}");
    let status = approve_change_execute(
        &t,
        &conn,
        "UPDATE notes SET body = 'approved' WHERE id = 1",
        "CREATE TABLE app.notes (id int, body text); INSERT INTO app.notes VALUES (1, 'x')",
    )
    .await;
    assert_eq!(status["error"]["code"], "SCHEMA_DRIFT", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(message.contains("now resolves to app.notes"), "{message}");
    assert_eq!(
        t.count("SELECT count(*) FROM public.notes WHERE body = 'approved'")
            .await,
        0
    );
    let (status, body) = t
        .analyze(&conn, "UPDATE notes SET body = 'x' WHERE id = 1")
        .await;
    let reason = refused(status, &body);
    assert!(reason.contains("resolves to app.notes"), "{reason}");

    // A temporary view over a real table: the delete is judged as a delete from the table.
    let t = TestApp::spawn(Backend::Local).await;
    t.db().await.batch_execute(NOTES).await.unwrap();
    let conn = t.connect().await;
    let (status, report) = t
        .analyze(
            &conn,
            "CREATE TEMP VIEW staging AS SELECT * FROM public.notes; DELETE FROM staging",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let delete = &report["data"]["statements"][1];
    assert!(
        delete["tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "notes"),
        "{delete}"
    );
    assert_eq!(delete["destructive"], true, "{delete}");
}

const SHOP: &str = "CREATE TABLE orders (id int PRIMARY KEY, note text);
    CREATE INDEX orders_note_idx ON orders (note);
    INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 50) g;
    CREATE TABLE staging (id int, note text);
    CREATE TABLE audit (id int);
    CREATE VIEW open_orders AS SELECT * FROM orders WHERE id < 0;
    CREATE FUNCTION touch() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
    CREATE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NEW; END $$;
    CREATE TRIGGER audited BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION audit_fn();";

/// Every change a concurrent writer makes that alters what an approved statement does stops
/// it before anything is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_covers_what_changes_a_statements_effect() {
    let update = "UPDATE orders SET note = 'approved' WHERE id = 1";
    let cases: &[(&str, &str, &str)] = &[
        (
            update,
            "CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN DELETE FROM staging; RETURN NEW; END $$;
             CREATE TRIGGER evil BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION evil()",
            "triggers",
        ),
        (
            update,
            "CREATE RULE also_delete AS ON UPDATE TO orders DO ALSO DELETE FROM audit",
            "rules",
        ),
        (
            update,
            "ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
             CREATE POLICY deny_all ON orders USING (false)",
            "`orders`",
        ),
        (
            "UPDATE open_orders SET note = 'approved'",
            "CREATE OR REPLACE VIEW open_orders AS SELECT * FROM orders",
            "view definition",
        ),
        (
            "TRUNCATE staging",
            "ALTER TABLE orders INHERIT staging",
            "inheritance",
        ),
        (
            "DROP INDEX IF EXISTS old_idx",
            "ALTER INDEX orders_note_idx RENAME TO old_idx",
            "`old_idx` now resolves to public.old_idx",
        ),
        (
            "SELECT touch()",
            "CREATE OR REPLACE FUNCTION touch() RETURNS int LANGUAGE sql AS
               $$ DELETE FROM orders RETURNING 1 $$",
            "function `touch`",
        ),
        (
            "INSERT INTO audit VALUES (7)",
            "CREATE OR REPLACE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RETURN NULL; END $$",
            "triggers",
        ),
        (
            "ALTER TABLE orders ALTER COLUMN note TYPE varchar(100)",
            "INSERT INTO orders SELECT g, repeat('x', 100) FROM generate_series(100, 60000) g",
            "`orders` grew from",
        ),
        (update, "ALTER TABLE orders OWNER TO pg_monitor", "owner"),
    ];
    for (sql, meanwhile, what) in cases {
        let t = TestApp::spawn(Backend::Local).await;
        t.db().await.batch_execute(SHOP).await.unwrap();
        let conn = t.connect().await;
        let before: Vec<(i64, i64, i64)> = {
            let db = t.db().await;
            let r = db
                .query_one(
                    "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM staging),
                            (SELECT count(*) FROM orders WHERE note = 'approved')",
                    &[],
                )
                .await
                .unwrap();
            vec![(r.get(0), r.get(1), r.get(2))]
        };
        let status = approve_change_execute(&t, &conn, sql, meanwhile).await;
        assert_eq!(status["status"], "failed", "{meanwhile}: {status}");
        assert_eq!(status["error"]["code"], "SCHEMA_DRIFT", "{meanwhile}");
        let message = status["error"]["message"].as_str().unwrap();
        assert!(message.contains(what), "{meanwhile}: {message}");
        assert!(message.contains("nothing was applied"), "{message}");
        // Nothing applied: no approved note, the index is still there under its new name,
        // the trigger never ran, the column type unchanged.
        let db = t.db().await;
        let r = db
            .query_one(
                "SELECT (SELECT count(*) FROM orders WHERE note = 'approved'),
                        (SELECT count(*) FROM pg_class WHERE relname IN ('orders_note_idx', 'old_idx')),
                        (SELECT count(*) FROM audit WHERE id = 7),
                        (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                          WHERE attrelid = 'orders'::regclass AND attname = 'note')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(r.get::<_, i64>(0), before[0].2, "{meanwhile}");
        assert_eq!(r.get::<_, i64>(1), 1, "{meanwhile}");
        assert_eq!(r.get::<_, i64>(2), 0, "{meanwhile}");
        assert_eq!(r.get::<_, String>(3), "text", "{meanwhile}");
        if *sql == "TRUNCATE staging" {
            assert_eq!(t.count("SELECT count(*) FROM ONLY orders").await, 50);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autodbs_ledger_cannot_be_hooked() {
    let t = TestApp::spawn(Backend::Local).await;
    t.db()
        .await
        .batch_execute(
            "CREATE TABLE victim (id int, note text); INSERT INTO victim VALUES (1, 'intact');
             CREATE FUNCTION hook() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN UPDATE victim SET note = 'hooked'; RETURN NEW; END $$;",
        )
        .await
        .unwrap();
    let conn = t.connect().await;

    // Naming autodb's schema is refused.
    let (status, body) = t
        .analyze(
            &conn,
            "CREATE TRIGGER h AFTER INSERT ON autodb.migration_ledger \
             FOR EACH ROW EXECUTE FUNCTION hook()",
        )
        .await;
    assert!(refused(status, &body).contains("autodb"));

    // The ledger exists after a first migration.
    let status = run(&t, &conn, "CREATE TABLE first (id int)").await;
    assert_eq!(status["status"], "completed", "{status}");

    // A migration that hooks the ledger through dynamic SQL the analysis cannot read: the
    // check before the ledger write stops it, and the hook goes with the rollback.
    let sql = "CREATE TABLE second (id int);\n\
               DO $$ BEGIN EXECUTE format('CREATE TRIGGER h AFTER INSERT ON %I.migration_ledger \
               FOR EACH ROW EXECUTE FUNCTION public.hook()', 'auto' || 'db'); END $$;";
    let status = run(&t, &conn, sql).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["error"]["code"], "LEDGER_TAMPERED", "{status}");
    assert_eq!(
        t.count("SELECT count(*) FROM pg_trigger WHERE tgname = 'h'")
            .await,
        0
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'second'")
            .await,
        0
    );

    // A writer hooks it between migrations: the next migration applies nothing.
    t.db()
        .await
        .batch_execute(
            "CREATE TRIGGER h AFTER INSERT ON autodb.migration_ledger
               FOR EACH ROW EXECUTE FUNCTION hook()",
        )
        .await
        .unwrap();
    let status = run(&t, &conn, "CREATE TABLE third (id int)").await;
    assert_eq!(status["error"]["code"], "LEDGER_TAMPERED", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("migration_ledger has 1 trigger"),
        "{message}"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'third'")
            .await,
        0
    );
    assert_eq!(
        t.count("SELECT count(*) FROM victim WHERE note = 'intact'")
            .await,
        1
    );
}

/// Statements that change how the server reads what follows, or shadow names, in the forms
/// a migration's author can write them: refused at analyze, caught after the statement, or
/// (shadows) answering nothing.
const CHANGERS: &[&str] = &[
    "",
    "SET NAMES 'SJIS'",
    "SET standard_conforming_strings = off",
    "SELECT set_config('standard_conforming_strings', 'off', false)",
    "DO $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); END $$",
    "DO $$ BEGIN PERFORM set_config('client_encoding', 'SJIS', false); END $$",
    "DO $$ BEGIN PERFORM set_config('backslash_quote', 'on', false); END $$",
    "CREATE TEMP VIEW victim AS SELECT 1 AS id, 'shadow'::text AS note",
    "CREATE TEMP VIEW pg_settings AS SELECT 'x'::text AS name, 'y'::text AS setting",
    "CREATE TEMP TABLE pg_locks (locktype text, pid int, granted bool)",
];

/// Statements whose meaning depends on how they are lexed.
const BODIES: &[&str] = &[
    "DELETE FROM victim WHERE note = 'x\\' AND id < 0 AND note <> ' OR id > 0 --'",
    "UPDATE victim SET note = 'a\\' WHERE id = 1",
    "UPDATE victim SET note = E'it\\'s' WHERE id = 2",
    "INSERT INTO victim VALUES (10, 'C:\\new')",
    "INSERT INTO victim VALUES (11, U&'\\0041')",
    "DELETE FROM victim WHERE id = 3",
    "UPDATE victim SET note = $q$\\'$q$ WHERE id = 4",
];

const VICTIM: &str = "CREATE TABLE victim (id int, note text);
    INSERT INTO victim SELECT g, 'row ' || g FROM generate_series(1, 5) g;";

async fn victim_state(client: &tokio_postgres::Client) -> String {
    client
        .query_one(
            "SELECT coalesce(string_agg(id || ':' || note, ',' ORDER BY id), '') FROM public.victim",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Property (the server-side half of `crates/core/tests/round_trip.rs`): whatever the
/// database's defaults say and whatever a migration does first to how the server reads the
/// rest — `client_encoding`,
/// `standard_conforming_strings` and `backslash_quote` changed directly or from dynamic SQL,
/// temporary relations shadowing a table or a catalog — it is refused at analyze, or stopped
/// before the next statement with nothing applied, or it runs with exactly the effect of the
/// analyzed statements as PostgreSQL reads them with the pinned settings (a reference
/// database running the same statements). `PROPTEST_CASES` raises the case count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_runs_is_what_was_read_whatever_changes_the_reading() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(24);
    let strategy = (
        0..CHANGERS.len(),
        proptest::collection::vec(0..BODIES.len(), 1..4),
        0..DEFAULTS.len(),
    );
    let mut runner = TestRunner::new(Config::with_cases(cases));
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&strategy, |(changer, bodies, defaults)| {
        let changer = CHANGERS[changer];
        let body: Vec<&str> = bodies.iter().map(|&b| BODIES[b]).collect();
        let outcome = tokio::task::block_in_place(|| {
            handle.block_on(one_case(DEFAULTS[defaults], changer, &body))
        });
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
        Ok(())
    });
    result.unwrap();
}

/// Database defaults a writer on the target can set before anything connects.
const DEFAULTS: &[&[&str]] = &[
    &[],
    &[
        "standard_conforming_strings = off",
        "escape_string_warning = off",
    ],
    &["backslash_quote = on", "standard_conforming_strings = off"],
    &["client_encoding = 'SJIS'"],
    &["search_path = pg_temp, public"],
];

/// One case of the property above; `Err` says how it was broken.
async fn one_case(defaults: &[&str], changer: &str, body: &[&str]) -> Result<(), String> {
    let t = TestApp::spawn(Backend::Local).await;
    t.db().await.batch_execute(VICTIM).await.unwrap();
    let db = t.db_url.rsplit('/').next().unwrap().to_string();
    for setting in defaults {
        t.db()
            .await
            .batch_execute(&format!("ALTER DATABASE \"{db}\" SET {setting}"))
            .await
            .unwrap();
    }
    let conn = t.connect().await;
    let mut statements: Vec<&str> = Vec::new();
    if !changer.is_empty() {
        statements.push(changer);
    }
    statements.extend(body);
    let sql = statements.join(";\n");
    let before = victim_state(&t.db().await).await;

    let (status, report) = t.analyze(&conn, &sql).await;
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        return Ok(());
    }
    if status != StatusCode::OK {
        return Err(format!("{sql}: analyze answered {status}: {report}"));
    }
    t.second_approval(&report).await;
    let token = report["data"]["approval_token"].as_str().unwrap();
    let (status, accepted) = t.execute(token, &sql, &conn).await;
    if status != StatusCode::ACCEPTED {
        return Err(format!("{sql}: execute answered {status}: {accepted}"));
    }
    t.drain().await;
    let result = t
        .status(accepted["data"]["request_id"].as_str().unwrap())
        .await;
    let now = victim_state(&t.db().await).await;
    match result["status"].as_str() {
        Some("failed") => {
            if now != before {
                return Err(format!("{sql}: failed but changed the table: {now}"));
            }
            Ok(())
        }
        Some("completed") => {
            // The reference: the analyzed statements alone, read as the parser reads them.
            let reference = crate::helpers::create_database().await;
            let (client, connection) = tokio_postgres::connect(&reference, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client
                .batch_execute(&format!(
                    "SET standard_conforming_strings = on; SET client_encoding = 'UTF8'; {VICTIM}"
                ))
                .await
                .unwrap();
            for stmt in body {
                client.batch_execute(stmt).await.unwrap();
            }
            let expected = victim_state(&client).await;
            if now != expected {
                return Err(format!("{sql}: completed with {now}, analyzed {expected}"));
            }
            Ok(())
        }
        other => Err(format!("{sql}: ended {other:?}: {result}")),
    }
}

/// Nothing changed, nothing drifts: on a schema with everything the bindings print — serial
/// defaults, foreign keys, checks calling functions, triggers, rules, policies, views,
/// inheritance and partitions — a migration touching all of it completes. (The catalog
/// prints names relative to the search path: read under another path than analyze's, every
/// one of these would look changed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_rich_schema_is_no_drift() {
    let t = TestApp::spawn(Backend::Local).await;
    t.db()
        .await
        .batch_execute(
            "CREATE SCHEMA app;
             CREATE FUNCTION app.positive(n int) RETURNS bool LANGUAGE sql IMMUTABLE AS $$ SELECT n > 0 $$;
             CREATE TABLE customers (id serial PRIMARY KEY, name text DEFAULT app.positive(1)::text);
             CREATE TABLE orders (id bigserial PRIMARY KEY,
                                  customer_id int REFERENCES customers (id) ON DELETE CASCADE,
                                  qty int CHECK (app.positive(qty)));
             CREATE INDEX orders_expr ON orders ((customer_id + 1));
             CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RETURN NEW; END $$;
             CREATE TRIGGER audited BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION audit();
             CREATE RULE keep AS ON DELETE TO customers WHERE false DO INSTEAD NOTHING;
             ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
             CREATE POLICY mine ON orders USING (customer_id > 0);
             CREATE VIEW big_orders AS SELECT o.*, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE qty > 10;
             CREATE TABLE archive (LIKE orders INCLUDING DEFAULTS);
             CREATE TABLE archive_2024 () INHERITS (archive);
             CREATE TABLE events (at date, note text) PARTITION BY RANGE (at);
             CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
             INSERT INTO customers (name) VALUES ('a'), ('b');
             INSERT INTO orders (customer_id, qty) VALUES (1, 5), (2, 50);",
        )
        .await
        .unwrap();
    let conn = t.connect().await;
    let status = run(
        &t,
        &conn,
        "ALTER TABLE orders ADD COLUMN note text;
         UPDATE orders SET qty = qty + 1 WHERE id = 1;
         ALTER TABLE customers ADD COLUMN email text;
         INSERT INTO archive SELECT id, customer_id, qty FROM orders WHERE id = 2;
         INSERT INTO events VALUES ('2024-05-01', 'x');
         SELECT app.positive(2);
         CREATE OR REPLACE VIEW big_orders AS SELECT o.id, o.customer_id, o.qty, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE qty > 10",
    )
    .await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        t.count("SELECT count(*) FROM orders WHERE qty = 6").await,
        1
    );
}

/// The ledger's schema handed to another role (who could then drop and replace its tables at
/// any time): the next migration applies nothing, and the schema is named once, not once per
/// table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_schema_owned_by_another_role_stops_the_next_migration() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let status = run(&t, &conn, "CREATE TABLE first (id int)").await;
    assert_eq!(status["status"], "completed", "{status}");
    t.db()
        .await
        .batch_execute("ALTER SCHEMA autodb OWNER TO pg_monitor")
        .await
        .unwrap();
    let status = run(&t, &conn, "CREATE TABLE second (id int)").await;
    assert_eq!(status["error"]["code"], "LEDGER_TAMPERED", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert_eq!(
        message
            .matches("schema autodb is owned by `pg_monitor`")
            .count(),
        1,
        "{message}"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'second'")
            .await,
        0
    );
}
