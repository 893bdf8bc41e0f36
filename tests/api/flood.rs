//! A flood against `autodb serve` on loopback (issue 22): one key sends a bounded burst of
//! requests far over its per-minute limit while another key analyzes and executes a
//! migration. The flood degrades to 429 — never another status, a dropped connection or a
//! crash — and the accepted migration runs exactly once. The figures go to BENCHMARKS.md.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::TempDir;
use crate::helpers::{create_database, http_call, json_body, listening, serve_command, stop};

const FLOOD: usize = 3000;
const CONCURRENCY: usize = 64;
const PER_MINUTE: u32 = 600;

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    limited: AtomicUsize,
    other: AtomicUsize,
    failed: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_key_degrades_to_429_and_loses_no_accepted_request() {
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let flooder = "adb_flooding_key_for_the_load_test";
    let mut child = serve_command(&data, &[("AUTODB_API_KEY", flooder), ("RUST_LOG", "warn")])
        .args([
            "--no-sandbox",
            "--rate-limit-per-minute",
            &PER_MINUTE.to_string(),
        ])
        .spawn()
        .expect("start autodb serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = listening(&mut lines, |_| {}).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_autodb"))
        .args(["keys", "create", "--data-dir"])
        .arg(&data)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let worker = String::from_utf8(out.stdout).unwrap().trim().to_string();

    // The worker registers a database and analyzes a migration before the flood.
    let db_url = create_database().await;
    let body = json!({"name": "flood", "db_type": "postgresql", "connection_string": db_url});
    let (status, created) = http_call(addr, &worker, "POST", "/connections", Some(&body))
        .await
        .unwrap();
    assert_eq!(status, 201, "{created}");
    let conn = json_body(&created)["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sql = "CREATE TABLE during_the_flood (id bigint PRIMARY KEY);";
    let (status, report) = http_call(
        addr,
        &worker,
        "POST",
        &format!("/connections/{conn}/migrations/analyze"),
        Some(&json!({"sql": sql})),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{report}");
    let token = json_body(&report)["data"]["approval_token"].clone();

    // The flood: FLOOD requests, CONCURRENCY at a time, from one key.
    let tally = Arc::new(Tally::default());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let senders: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (tally, next) = (Arc::clone(&tally), Arc::clone(&next));
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < FLOOD {
                    let call = http_call(addr, flooder, "GET", "/connections", None);
                    let counter = match tokio::time::timeout(Duration::from_secs(30), call).await {
                        Ok(Ok((200, _))) => &tally.ok,
                        Ok(Ok((429, _))) => &tally.limited,
                        Ok(Ok(_)) => &tally.other,
                        _ => &tally.failed,
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Meanwhile the worker executes its migration.
    let execute = json!({"approval_token": token, "sql": sql, "connection_id": conn});
    let (status, accepted) =
        http_call(addr, &worker, "POST", "/migrations/execute", Some(&execute))
            .await
            .unwrap();
    assert_eq!(status, 202, "{accepted}");
    let request = json_body(&accepted)["data"]["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    for sender in senders {
        sender.await.unwrap();
    }
    let elapsed = started.elapsed();
    let mut done = serde_json::Value::Null;
    for _ in 0..300 {
        let (_, polled) = http_call(
            addr,
            &worker,
            "GET",
            &format!("/migrations/requests/{request}"),
            None,
        )
        .await
        .unwrap();
        done = json_body(&polled);
        if done["status"] == "completed" || done["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (ok, limited, other, failed) = (
        tally.ok.load(Ordering::SeqCst),
        tally.limited.load(Ordering::SeqCst),
        tally.other.load(Ordering::SeqCst),
        tally.failed.load(Ordering::SeqCst),
    );
    eprintln!(
        "flood: {FLOOD} sent in {:.2} s ({CONCURRENCY} at a time), {ok} accepted (200), \
         {limited} rejected (429), {other} other, {failed} lost; the worker's execute: {}",
        elapsed.as_secs_f64(),
        done["status"]
    );
    assert_eq!(ok + limited + other + failed, FLOOD);
    assert_eq!((other, failed), (0, 0), "only 200 or 429, nothing dropped");
    assert!(limited > 0);
    // The burst, plus what refilled while the flood lasted.
    let refilled = (elapsed.as_secs_f64() * f64::from(PER_MINUTE) / 60.0).ceil() as usize;
    assert!(ok <= PER_MINUTE as usize + refilled + 1, "{ok} accepted");
    assert_eq!(done["status"], "completed", "{done}");
    let (db, connection) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let tables: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'during_the_flood'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1);
    assert!(child.try_wait().unwrap().is_none(), "autodb serve is alive");
    stop(&mut child).await;
}
