//! The `autodb` binary as a client (issue 23), run as a pipeline runs it: the real binary
//! against a real `autodb serve` (its own data directory, port 0) with a real PostgreSQL
//! target and sandbox. Judged by exit codes, parsed JSON, the database's state, and
//! snapshots of the text output (no terminal, so no colour; ids and timings redacted).

use std::process::Stdio;

use serde_json::Value;

use crate::cli_harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_subcommand_against_a_real_service() {
    let (dir, mut served, cli, target, conn) = stack().await;

    let listed = cli.run(&["connections", "list", "--json"]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == conn.as_str()));
    let shown = cli.run(&["connections", "show", &conn]).await;
    assert_eq!(shown.code, 0);
    assert!(
        shown.stdout.contains(&format!("id: {conn}")),
        "{}",
        shown.stdout
    );
    let introspected = cli
        .run(&["connections", "introspect", &conn, "--json"])
        .await;
    assert_eq!(
        introspected.json()["table_count"],
        2,
        "{}",
        introspected.stdout
    );

    // The saved schema is what `autodb lint --schema` reads: the table it knows is judged
    // with its size, so dropping it is an error finding.
    let schema_file = dir.0.join("schema.json");
    let saved = cli
        .run(&["schema", &conn, "-o", &schema_file.to_string_lossy()])
        .await;
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let drop = write(&dir.0, "drop.sql", "DROP TABLE orders;\n");
    let linted = cli
        .run(&[
            "lint",
            "--json",
            "--schema",
            &schema_file.to_string_lossy(),
            &drop,
        ])
        .await;
    let linted = linted.json();
    assert_eq!(linted["sizes_known"], true, "{linted}");
    let finding = &linted["statements"][0]["findings"][0];
    assert_eq!(finding["rule"], "ban-drop-table", "{linted}");
    assert!(
        finding["message"].as_str().unwrap().contains("~100 rows"),
        "{linted}"
    );

    // analyze: the readable report, and the same as JSON.
    let migration = "ALTER TABLE customers ADD COLUMN phone text;\n\
                     ALTER TABLE customers DROP COLUMN id CASCADE;\n";
    let file = write(&dir.0, "001_phone.sql", migration);
    let text = cli.run(&["analyze", &file, "--connection", &conn]).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(!text.stdout.contains('\x1b'), "no colour off a terminal");
    insta::assert_snapshot!("analyze_text", redact(&text.stdout, &dir.0));
    let gated = cli
        .run(&["analyze", &file, "-c", &conn, "--max-risk", "medium"])
        .await;
    assert_eq!(gated.code, 1, "above the gate: {}", gated.stderr);

    let safe = "ALTER TABLE customers ADD COLUMN phone text;\n";
    let safe_file = write(&dir.0, "002_safe.sql", safe);
    let mut stdin_analyze = cli.command(&["analyze", "-", "-c", &conn, "--json"]);
    stdin_analyze.stdin(Stdio::piped());
    let mut child = stdin_analyze.stdout(Stdio::piped()).spawn().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut child.stdin.take().unwrap(), safe.as_bytes())
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["total_statements"], 1);
    let token = report["approval_token"]
        .as_str()
        .expect("a token")
        .to_string();

    // execute with the token, then status --wait to the end.
    let executed = cli
        .run(&["execute", "--token", &token, "-c", &conn, &safe_file])
        .await;
    assert_eq!(executed.code, 0, "{}", executed.stderr);
    let request = executed
        .stdout
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(request.starts_with("req_"), "{}", executed.stdout);
    let waited = cli.run(&["status", &request, "--wait"]).await;
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    insta::assert_snapshot!("status_completed", redact(&waited.stdout, &dir.0));
    assert!(
        waited
            .stderr
            .lines()
            .any(|l| l.contains(&request) && l.contains("COMPLETED")),
        "timestamped progress lines off a terminal: {}",
        waited.stderr
    );
    assert!(column_exists(&target, "customers", "phone").await);
    let status = cli.run(&["status", &request, "--json"]).await.json();
    assert_eq!(status["status"], "completed");
    assert_eq!(status["result"]["columns_added"][0]["column"], "phone");

    // Exit codes: a wrong key is 4, an unknown connection 2, a bad token 4, a refused
    // migration 1, nothing listening 3 — each with one line on stderr that never shows the key.
    let mut wrong_key = cli.command(&["connections", "list"]);
    wrong_key.env("AUTODB_API_KEY", "not-the-key");
    let denied = cli.run_with(wrong_key).await;
    assert_eq!(denied.code, 4, "{}", denied.stderr);
    assert!(!denied.stderr.contains("not-the-key") && !denied.stderr.contains(KEY));
    let unknown = cli
        .run(&[
            "analyze",
            &safe_file,
            "-c",
            "conn_00000000000000000000000000000000",
        ])
        .await;
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    let forged = cli
        .run(&["execute", "--token", "a.b", "-c", &conn, &safe_file])
        .await;
    assert_eq!(forged.code, 4, "{}", forged.stderr);
    // A migration the gate refuses outright (422 MIGRATION_REFUSED) is a refusal, not a
    // usage error: the exit code follows the error's code, not its status.
    let ledger_file = write(&dir.0, "003_ledger.sql", "DROP TABLE autodb.requests;\n");
    let refused = cli.run(&["analyze", &ledger_file, "-c", &conn]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("MIGRATION_REFUSED"),
        "{}",
        refused.stderr
    );
    let usage = cli.run(&["deploy", &safe_file, "-c", &conn]).await;
    assert_eq!(usage.code, 2, "--max-risk is required: {}", usage.stderr);
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut nowhere = cli.command(&["connections", "list", "--retries", "1"]);
    nowhere.env("AUTODB_URL", format!("http://{closed}"));
    let unreachable = cli.run_with(nowhere).await;
    assert_eq!(unreachable.code, 3, "{}", unreachable.stderr);
    assert_eq!(
        unreachable.stderr.lines().count(),
        1,
        "{}",
        unreachable.stderr
    );

    // A profile of the config file names the service; flags still win.
    let config = dir.0.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.local]\nurl = \"{}\"\napi_key_env = \"LOCAL_KEY\"\n",
            served.url
        ),
    )
    .unwrap();
    let mut profiled = cli.command(&["connections", "list", "--profile", "local", "--json"]);
    profiled
        .env("AUTODB_CONFIG", &config)
        .env("LOCAL_KEY", KEY)
        .env("AUTODB_URL", format!("http://{closed}"))
        .env_remove("AUTODB_API_KEY");
    let by_profile = cli.run_with(profiled).await;
    assert_eq!(by_profile.code, 0, "{}", by_profile.stderr);

    stop(&mut served).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_applies_a_directory_in_order_skips_what_is_applied_and_stops_at_the_gate() {
    let (dir, mut served, cli, target, conn) = stack().await;
    let migrations = dir.0.join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    // Version order, not lexical order: 2 before 10; 10 needs 2's table.
    let first = write(
        &migrations,
        "1_phone.sql",
        "ALTER TABLE customers ADD COLUMN phone text;\n",
    );
    write(
        &migrations,
        "2_notes.sql",
        "CREATE TABLE notes (id bigint PRIMARY KEY, body text);\n",
    );
    write(
        &migrations,
        "10_note_index.sql",
        "CREATE INDEX notes_body ON notes (body);\n",
    );
    write(&migrations, "11_drop.sql", "DROP TABLE orders;\n");
    write(
        &migrations,
        "12_after.sql",
        "ALTER TABLE customers ADD COLUMN after_drop text;\n",
    );

    // The first file applied on its own beforehand: the directory deploy skips it.
    let single = cli
        .run_with(cli.deploy(&first, &conn, &["--wait", "--json"]))
        .await;
    assert_eq!(single.code, 0, "{}", single.stderr);
    let single = single.json();
    assert_eq!(single[0]["outcome"], "applied");
    assert_eq!(single[0]["status"]["status"], "completed");

    let deployed = cli
        .run_with(cli.deploy(&migrations.to_string_lossy(), &conn, &[]))
        .await;
    assert_eq!(
        deployed.code, 1,
        "refused at 11_drop.sql: {}",
        deployed.stderr
    );
    insta::assert_snapshot!("deploy_directory", redact(&deployed.stdout, &dir.0));
    let positions: Vec<usize> = ["1_phone", "2_notes", "10_note_index", "11_drop"]
        .iter()
        .map(|name| {
            deployed
                .stdout
                .find(name)
                .unwrap_or_else(|| panic!("{name} not shown: {}", deployed.stdout))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "files shown out of version order: {}",
        deployed.stdout
    );
    assert!(
        !deployed.stdout.contains("12_after"),
        "nothing after a refusal"
    );

    // The database: 2 and 10 applied, 11 and 12 not; 1 applied once.
    let client = db(&target).await;
    let notes: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'notes_body'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(notes, 1);
    assert!(
        client.query("SELECT 1 FROM orders", &[]).await.is_ok(),
        "orders was dropped"
    );
    assert!(!column_exists(&target, "customers", "after_drop").await);
    assert_eq!(ledger_rows(&target).await, 3);

    // Again, as JSON: everything applied is skipped, the gate refuses the same file.
    let again = cli
        .run_with(cli.deploy(&migrations.to_string_lossy(), &conn, &["--json"]))
        .await;
    assert_eq!(again.code, 1);
    let outcomes: Vec<String> = again
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["file"].as_str().unwrap().rsplit('/').next().unwrap(),
                s["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            "1_phone.sql already-applied",
            "2_notes.sql already-applied",
            "10_note_index.sql already-applied",
            "11_drop.sql refused"
        ]
    );
    assert_eq!(ledger_rows(&target).await, 3);
    stop(&mut served).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_deploy_reuses_the_earlier_request() {
    let (dir, mut served, cli, target, conn) = stack().await;
    let file = write(
        &dir.0,
        "add.sql",
        "ALTER TABLE customers ADD COLUMN tier text;\n",
    );
    let deploy = |wait: bool| {
        let command = cli.deploy(
            &file,
            &conn,
            if wait {
                &["--json", "--wait"]
            } else {
                &["--json"]
            },
        );
        async { cli.run_with(command).await }
    };

    // A reader holds a lock the migration needs, so that it is still running while the
    // deploy is retried.
    let holder = hold_customers(&target).await;

    // Without --wait: submitted, and recorded in the state directory.
    let first = deploy(false).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first = first.json();
    assert_eq!(first[0]["outcome"], "applied", "{first}");
    let request = first[0]["request_id"].as_str().unwrap().to_string();

    // A run that was killed after the analysis, before it learnt the request id, left only
    // the token: the retry presents it again, and execute answers with the same request.
    for record in std::fs::read_dir(cli.state.0.join("deploys")).unwrap() {
        let path = record.unwrap().path();
        let mut value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(value["token"].is_string());
        value["request_id"] = Value::Null;
        std::fs::write(&path, value.to_string()).unwrap();
    }
    let replayed = deploy(false).await;
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    let replayed = replayed.json();
    assert_eq!(replayed[0]["outcome"], "reused", "{replayed}");
    assert_eq!(replayed[0]["request_id"], request.as_str());
    assert!(replayed[0]["risk_category"].is_null(), "not analyzed again");

    // The lock released, a retry with --wait follows the recorded request to its end (or,
    // if the migration got there first, finds it in the ledger).
    holder.batch_execute("COMMIT").await.unwrap();
    let waited = deploy(true).await;
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    let waited = waited.json();
    assert_eq!(waited[0]["request_id"], request.as_str());
    match waited[0]["outcome"].as_str() {
        Some("reused") => assert_eq!(waited[0]["status"]["status"], "completed"),
        Some("already-applied") => {}
        _ => panic!("{waited}"),
    }

    // Once applied, the ledger answers, from any machine (no state directory).
    let elsewhere = Cli::new(&served.url);
    let skipped = elsewhere
        .run_with(elsewhere.deploy(&file, &conn, &["--json"]))
        .await
        .json();
    assert_eq!(skipped[0]["outcome"], "already-applied");
    assert_eq!(skipped[0]["request_id"], request.as_str());

    assert!(column_exists(&target, "customers", "tier").await);
    assert_eq!(ledger_rows(&target).await, 1, "applied once");
    stop(&mut served).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_waiting_not_the_migration() {
    let (dir, mut served, cli, target, conn) = stack().await;
    let file = write(
        &dir.0,
        "wait.sql",
        "ALTER TABLE customers ADD COLUMN patient text;\n",
    );
    let holder = hold_customers(&target).await;
    let (mut child, mut lines, request) = waiting(cli.deploy(&file, &conn, &["--wait"])).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(HANG_GUARD, child.wait())
        .await
        .expect("Ctrl-C did not stop the waiting")
        .unwrap();
    let rest = rest_of(&mut lines).await;
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(
        rest.contains(&format!("autodb status {request} --wait")),
        "{rest}"
    );

    // The migration goes on: still running, and done once the lock is free.
    let now = cli.run(&["status", &request, "--json"]).await.json();
    assert!(
        matches!(now["status"].as_str(), Some("pending" | "executing")),
        "{now}"
    );
    holder.batch_execute("COMMIT").await.unwrap();
    let done = cli.run(&["status", &request, "--wait"]).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(column_exists(&target, "customers", "patient").await);
    stop(&mut served).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_stopping_mid_wait_exits_3_and_leaves_the_migration_alone() {
    let (dir, mut served, cli, target, conn) = stack().await;
    let data = dir.0.join("data");
    let file = write(
        &dir.0,
        "wait.sql",
        "ALTER TABLE customers ADD COLUMN waited text;\n",
    );

    // A reader holds a lock the migration needs: it waits (and retries) for it.
    let holder = hold_customers(&target).await;
    let (mut child, mut lines, request) =
        waiting(cli.deploy(&file, &conn, &["--wait", "--retries", "1"])).await;

    stop(&mut served).await;
    let status = tokio::time::timeout(HANG_GUARD, child.wait())
        .await
        .expect("deploy kept waiting for a stopped service")
        .unwrap();
    let rest = rest_of(&mut lines).await;
    assert_eq!(status.code(), Some(3), "{rest}");
    assert!(rest.contains("autodb deploy:"), "{rest}");

    // Nothing half-done: the column is not there, the ledger records nothing.
    assert!(!column_exists(&target, "customers", "waited").await);
    assert_eq!(ledger_rows(&target).await, 0);

    // The request was not cancelled: with the service back and the lock released it
    // completes, once.
    holder.batch_execute("COMMIT").await.unwrap();
    let mut again = serve(&data).await;
    let back = Cli::new(&again.url);
    let waited = back.run(&["status", &request, "--wait", "--json"]).await;
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    assert_eq!(waited.json()["status"], "completed");
    assert!(column_exists(&target, "customers", "waited").await);
    assert_eq!(ledger_rows(&target).await, 1);
    stop(&mut again).await;
}
