//! The sandbox as a sealed room, tried as a hostile author would: each attack of issue 19 on
//! the real test cluster, judged by the server's state (`pg_roles`, `pg_auth_members`,
//! `pg_db_role_setting`, `pg_stat_activity`, files on disk), with the verdict and the token
//! each must get.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio_postgres::NoTls;

use crate::helpers::{Backend, TestApp};

async fn admin() -> tokio_postgres::Client {
    let url = std::env::var("AUTODB_TEST_PG_URL").expect("AUTODB_TEST_PG_URL");
    let (client, conn) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}

async fn count(sql: &str, prefix: &str) -> i64 {
    admin()
        .await
        .query_one(sql, &[&prefix])
        .await
        .expect(sql)
        .get(0)
}

/// Roles of `prefix` that could do more than their own database allows: a superuser, a
/// role maker, a database maker, a member of any role.
async fn privileged_roles(prefix: &str) -> i64 {
    count(
        "SELECT count(*) FROM pg_roles r WHERE r.rolname LIKE $1 || '\\_%'
           AND (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication
                OR r.rolbypassrls
                OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid))",
        prefix,
    )
    .await
}

/// Settings stored for the sandbox's databases or roles.
async fn stored_settings(prefix: &str) -> i64 {
    count(
        "SELECT count(*) FROM pg_db_role_setting s
           LEFT JOIN pg_database d ON d.oid = s.setdatabase
           LEFT JOIN pg_roles r ON r.oid = s.setrole
          WHERE d.datname LIKE $1 || '\\_%' OR r.rolname LIKE $1 || '\\_%'",
        prefix,
    )
    .await
}

/// Sessions of the sandbox's roles.
async fn sessions(prefix: &str) -> i64 {
    count(
        "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE $1 || '\\_%'",
        prefix,
    )
    .await
}

async fn setup(t: &TestApp, schema: &str) -> String {
    t.db().await.batch_execute(schema).await.expect("schema");
    t.connect().await
}

async fn analyze(t: &TestApp, conn: &str, sql: &str) -> Value {
    let (status, body) = t.analyze(conn, sql).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

const SHOP: &str =
    "CREATE TABLE customers (id serial PRIMARY KEY, email varchar(20) NOT NULL UNIQUE, note text);
     CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
                          total numeric(8,2) CHECK (total >= 0));";

fn marker() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("autodb-escape-{}", uuid::Uuid::new_v4().simple()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_that_resets_its_role_stays_an_unprivileged_role() {
    let t = TestApp::spawn(Backend::Local).await;
    let prefix = t.with_sandbox();
    let evil = format!("evil_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (filled, migrated) = (marker(), marker());
    // The schema on production: a column default that tries to escape whenever it runs —
    // in the sandbox's fill, and in the migration's INSERT.
    let escape = |m: &std::path::Path| {
        format!(
            "BEGIN RESET ROLE; EXCEPTION WHEN OTHERS THEN NULL; END;
             BEGIN EXECUTE 'CREATE ROLE {evil} SUPERUSER LOGIN'; EXCEPTION WHEN OTHERS THEN NULL; END;
             BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {m}'''; EXCEPTION WHEN OTHERS THEN NULL; END;
             BEGIN EXECUTE 'ALTER ROLE ' || quote_ident(current_user) || ' SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;",
            m = m.display()
        )
    };
    let schema = format!(
        "CREATE FUNCTION escape() RETURNS text LANGUAGE plpgsql AS $f$ BEGIN {} RETURN current_user; END $f$;
         CREATE FUNCTION escape_again() RETURNS text LANGUAGE plpgsql AS $f$ BEGIN {} RETURN current_user; END $f$;
         CREATE TABLE victims (id int PRIMARY KEY, note text DEFAULT escape(), again text);
         {SHOP}",
        escape(&filled),
        escape(&migrated)
    );
    let conn = setup(&t, &schema).await;
    let sql = "ALTER TABLE victims ALTER COLUMN again SET DEFAULT escape_again();\n\
               INSERT INTO victims (id) VALUES (100000);";
    let report = analyze(&t, &conn, sql).await;
    let sandbox = &report["sandbox_result"];
    assert_eq!(sandbox["status"], "passed", "{sandbox}");
    assert!(sandbox["rows_inserted"].as_u64().unwrap() > 0, "{sandbox}");
    // Judged by the server: no new role, no program ran, no sandbox role gained anything.
    let evil_roles = count("SELECT count(*) FROM pg_roles WHERE rolname = $1", &evil).await;
    assert_eq!(evil_roles, 0, "the default created a role");
    assert!(
        !filled.exists(),
        "COPY TO PROGRAM ran while the template was filled"
    );
    assert!(
        !migrated.exists(),
        "COPY TO PROGRAM ran in the migration's run"
    );
    assert_eq!(privileged_roles(&prefix).await, 0);
    // The template's owner role exists, without login and without privileges.
    let owners = count(
        "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1 || '\\_tpo\\_%' AND NOT rolcanlogin",
        &prefix,
    )
    .await;
    assert_eq!(owners, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cannot_alter_other_sandbox_databases() {
    let t = TestApp::spawn(Backend::Local).await;
    let prefix = t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    // A first run leaves a template and ready copies behind: the targets.
    let first = analyze(&t, &conn, "ALTER TABLE orders ADD COLUMN shipped boolean;").await;
    assert_eq!(first["sandbox_result"]["status"], "passed");
    let targets = count(
        "SELECT count(*) FROM pg_database WHERE datname LIKE $1 || '\\_%'",
        &prefix,
    )
    .await;
    assert!(targets >= 1);
    // Every sandbox database and role, read-only from now on — if the run could.
    let attack = format!(
        "DO $$ DECLARE d text; BEGIN
           FOR d IN SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%' LOOP
             BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', d);
             EXCEPTION WHEN OTHERS THEN NULL; END;
             BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO PUBLIC', d);
             EXCEPTION WHEN OTHERS THEN NULL; END;
           END LOOP;
           FOR d IN SELECT rolname FROM pg_roles WHERE rolname LIKE '{prefix}%' LOOP
             BEGIN EXECUTE format('ALTER ROLE %I SET default_transaction_read_only = on', d);
             EXCEPTION WHEN OTHERS THEN NULL; END;
           END LOOP;
         END $$;"
    );
    let report = analyze(&t, &conn, &attack).await;
    assert_eq!(report["sandbox_result"]["status"], "passed", "{report}");
    // Nothing it did outlived its own database. (A copy being made is closed to every
    // connection until it is sealed, so only databases that accept connections count.)
    assert_eq!(stored_settings(&prefix).await, 0);
    let open = count(
        "SELECT count(*) FROM pg_database WHERE datname LIKE $1 || '\\_%'
            AND datallowconn
            AND (datacl IS NULL OR has_database_privilege('public', oid, 'CONNECT'))",
        &prefix,
    )
    .await;
    assert_eq!(
        open, 0,
        "a sandbox database accepts connections from PUBLIC"
    );
    // The next, unrelated migration is not disturbed.
    let next = analyze(&t, &conn, "ALTER TABLE customers ADD COLUMN vip boolean;").await;
    assert_eq!(next["sandbox_result"]["status"], "passed", "{next}");
    assert!(next["risk_score"].as_u64().unwrap() < 50, "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_lifts_its_timeout_is_ended_by_the_watchdog() {
    let t = TestApp::spawn(Backend::Local).await;
    let prefix = t.with_sandbox_settings(|s| s.run_deadline_ms = 2_000);
    let schema = format!(
        "{SHOP}
         CREATE FUNCTION slow() RETURNS void LANGUAGE plpgsql AS $$ BEGIN
           PERFORM set_config('statement_timeout', '0', false);
           BEGIN PERFORM pg_sleep(60); EXCEPTION WHEN query_canceled THEN PERFORM pg_sleep(60); END;
         END $$;
         CREATE FUNCTION lift() RETURNS void LANGUAGE sql
           AS $$ SELECT set_config('statement_timeout', '0', false) $$;"
    );
    let conn = setup(&t, &schema).await;
    let started = std::time::Instant::now();
    let report = analyze(&t, &conn, "SELECT slow();").await;
    // The sandbox's statement_timeout is 20 s; the deadline ended it long before.
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let sandbox = &report["sandbox_result"];
    assert_eq!(sandbox["status"], "failed", "{sandbox}");
    assert!(
        sandbox["migration_error"]["message"]
            .as_str()
            .unwrap()
            .contains("deadline"),
        "{sandbox}"
    );
    assert!(report["risk_score"].as_u64().unwrap() >= 50, "{report}");
    assert_eq!(report["sandboxed"], true);
    assert_eq!(
        sessions(&prefix).await,
        0,
        "a session of the run outlived it"
    );

    // Between statements, the protection check: a statement that removes the timeout
    // ends the run as a failure with the reason.
    let lifted = "SELECT lift();\nSELECT 1;";
    let report = analyze(&t, &conn, lifted).await;
    let error = &report["sandbox_result"]["migration_error"];
    assert_eq!(error["statement_index"], 0, "{report}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("statement_timeout"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_slow_runs_are_bounded_and_those_that_did_not_run_get_no_token() {
    let t = Arc::new(TestApp::spawn(Backend::Local).await);
    let prefix = t.with_sandbox_settings(|s| {
        s.max_concurrent_runs = 2;
        s.queue_timeout_ms = 300;
        s.run_deadline_ms = 1_500;
    });
    let conn = setup(&t, SHOP).await;
    // Warm the template first, so every run below is only the slow migration.
    analyze(&t, &conn, "ALTER TABLE orders ADD COLUMN a int;").await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (prefix, done) = (prefix.clone(), Arc::clone(&done));
        async move {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(sessions(&prefix).await);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            most
        }
    });
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let (t, conn) = (Arc::clone(&t), conn.clone());
            tokio::spawn(async move { analyze(&t, &conn, "SELECT pg_sleep(30);").await })
        })
        .collect();
    let mut reports = Vec::new();
    for run in runs {
        reports.push(run.await.expect("analysis"));
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.await.unwrap();
    // Two runs at most, two sessions each.
    assert!(most <= 4, "{most} sandbox sessions at once");
    let mut skipped = 0;
    for report in &reports {
        let sandbox = &report["sandbox_result"];
        match sandbox["status"].as_str().unwrap() {
            "failed" => {
                assert!(report["approval_token"].is_string(), "{report}");
                assert_eq!(report["sandboxed"], true);
            }
            "skipped" => {
                skipped += 1;
                assert!(
                    sandbox["reason"].as_str().unwrap().contains("capacity"),
                    "{sandbox}"
                );
                assert_eq!(sandbox["passed"], false);
                assert!(report["approval_token"].is_null(), "{report}");
                assert!(report["approval_withheld"].is_string(), "{report}");
                assert_eq!(report["sandboxed"], false);
            }
            other => panic!("a slow run {other}: {sandbox}"),
        }
    }
    assert!(
        skipped >= 1,
        "eight 1.5 s runs fit two slots and a 0.3 s queue"
    );
    assert_eq!(sessions(&prefix).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temp_view_over_pg_locks_does_not_blind_the_observation() {
    let t = TestApp::spawn(Backend::Local).await;
    t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    let sql = "CREATE TEMP VIEW pg_locks AS SELECT 1 AS x;\n\
               CREATE TEMP VIEW pg_class AS SELECT 1 AS x;\n\
               ALTER TABLE orders ADD COLUMN code text NOT NULL;";
    let report = analyze(&t, &conn, sql).await;
    let sandbox = &report["sandbox_result"];
    assert_eq!(sandbox["status"], "failed", "{sandbox}");
    assert_eq!(
        sandbox["migration_error"]["statement_index"], 2,
        "{sandbox}"
    );
    assert_eq!(sandbox["migration_error"]["sqlstate"], "23502", "{sandbox}");
    assert!(report["risk_score"].as_u64().unwrap() >= 50, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_that_detects_the_sandbox_is_a_finding_and_a_pass_lowers_nothing() {
    let t = TestApp::spawn(Backend::Local).await;
    let prefix = t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    let sql =
        format!("SELECT CASE WHEN current_database() NOT LIKE '{prefix}%' THEN pg_sleep(40) END;");
    let (status, without) = t
        .post(
            &format!("/connections/{conn}/migrations/analyze?sandbox=false"),
            json!({"sql": sql}),
        )
        .await;
    assert_eq!(status, 200, "{without}");
    let report = analyze(&t, &conn, &sql).await;
    // It behaved in the sandbox…
    assert_eq!(report["sandbox_result"]["status"], "passed", "{report}");
    // …and is reported for what it could do elsewhere, no lower than without the sandbox.
    let rules: Vec<&str> = report["statements"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"sandbox-detection"), "{rules:?}");
    assert!(report["risk_score"].as_u64() >= without["data"]["risk_score"].as_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_that_cannot_run_withholds_the_token_unless_the_policy_allows() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = setup(&t, SHOP).await;
    // A sandbox server that is configured but unusable (its database does not exist).
    let url = std::env::var("AUTODB_TEST_PG_URL").unwrap();
    let base = url.rsplit_once('/').unwrap().0;
    t.with_sandbox_at(&format!("{base}/no_such_database_here"), |_| {});
    let sql = "ALTER TABLE orders ADD COLUMN shipped boolean;";
    let report = analyze(&t, &conn, sql).await;
    assert_eq!(report["sandbox_result"]["status"], "skipped", "{report}");
    assert!(report["approval_token"].is_null(), "{report}");
    assert_eq!(report["sandboxed"], false);
    let (status, body) = t
        .send(t.request(
            axum::http::Method::PUT,
            &format!("/connections/{conn}/sandbox-policy"),
            Some(&json!({"allow_unsandboxed_approval": true})),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["allow_unsandboxed_approval"], true);
    let report = analyze(&t, &conn, sql).await;
    let token = report["approval_token"].as_str().expect("a token");
    // The token says the migration was not sandbox-tested.
    let payload = token.split('.').next().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sandboxed"], false, "{claims}");
    // And so does the status of the request it starts.
    let (status, accepted) = t.execute(token, sql, &conn).await;
    assert_eq!(status, 202, "{accepted}");
    t.drain().await;
    let request = t
        .status(accepted["data"]["request_id"].as_str().unwrap())
        .await;
    assert_eq!(request["status"], "completed", "{request}");
    assert_eq!(request["sandboxed"], false, "{request}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_cannot_read_autodbs_data_directory() {
    let t = TestApp::spawn(Backend::Local).await;
    let prefix = t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    let keys = t.data_dir().unwrap().join("signing-keys.json");
    assert!(keys.exists());
    let copied = marker();
    for sql in [
        format!("SELECT pg_read_file('{}');", keys.display()),
        format!(
            "COPY (SELECT 1) TO PROGRAM 'cat {} > {}';",
            keys.display(),
            copied.display()
        ),
        format!(
            "CREATE TABLE k (t text);\nCOPY k FROM '{}';",
            keys.display()
        ),
    ] {
        let report = analyze(&t, &conn, &sql).await;
        let sandbox = &report["sandbox_result"];
        assert_eq!(sandbox["status"], "failed", "{sql}: {sandbox}");
        assert_eq!(sandbox["migration_error"]["sqlstate"], "42501", "{sandbox}");
    }
    assert!(!copied.exists());
    assert_eq!(privileged_roles(&prefix).await, 0);
    // The directory itself is autodb's alone: the server's OS user (when autodb runs as
    // root, the cluster runs as `postgres`) cannot read it either.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.data_dir().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the data directory is open to others: {mode:o}"
    );
    let root = std::process::Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&root.stdout).trim() == "0" {
        let read = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--", "cat"])
            .arg(&keys)
            .output()
            .unwrap();
        assert!(!read.status.success(), "the postgres OS user read the keys");
    }
}
