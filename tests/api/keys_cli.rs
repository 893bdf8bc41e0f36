//! `autodb keys create|list|revoke` and the key `autodb serve` starts with, run as a user
//! runs them; judged by the store they leave behind.

use std::sync::Arc;

use autodb::adapters::local::service;
use autodb::domain::access::Role;
use autodb::domain::sha256_hex;
use autodb::ports::{ManualClock, Store};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::{http_call, listening, serve_command, settings, stop, TempDir};

/// `autodb keys ARGS --data-dir DIR`: (stdout, stderr); panics unless it succeeds.
async fn keys(dir: &std::path::Path, args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_autodb"))
        .arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("AUTODB_TABLE")
        .output()
        .await
        .expect("run autodb keys");
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "autodb keys {args:?}: {stderr}");
    (stdout, stderr)
}

fn store_at(dir: &std::path::Path) -> Arc<dyn Store> {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    service::open(dir, settings(), clock)
        .unwrap()
        .app
        .store
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_created_scoped_listed_and_revoked() {
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let conn = "conn_0123456789abcdef0123456789abcdef";
    let (key, note) = keys(
        &data,
        &[
            "create",
            "--tenant",
            "acme",
            "--role",
            "analyze,execute",
            "--connections",
            conn,
        ],
    )
    .await;
    let key = key.trim().to_string();
    assert!(key.starts_with("adb_") && key.len() == 68, "{key}");
    let hash = sha256_hex(key.as_bytes());
    let id = autodb::domain::access::ApiKeyRecord::key_id_of(&hash);
    assert!(note.contains(&id), "{note}");

    // Stored hashed, with its scope; the key itself is nowhere in the store.
    let store = store_at(&data);
    let record = store.get_api_key(&hash).await.unwrap().expect("stored");
    assert_eq!(record.tenant, "acme");
    assert_eq!(
        record.roles,
        [Role::Analyze, Role::Execute].into_iter().collect()
    );
    assert_eq!(record.connections, Some([conn.to_string()].into()));
    assert_eq!(record.revoked_at, None);

    let (list, _) = keys(&data, &["list", "--tenant", "acme"]).await;
    let line = list.lines().find(|l| l.starts_with(&id)).expect("listed");
    assert!(
        line.contains("acme") && line.contains("analyze,execute") && line.contains(conn),
        "{line}"
    );
    assert!(line.ends_with("\t-"), "not revoked: {line}");
    assert!(!list.contains(&key), "list never shows a key");

    keys(&data, &["revoke", &id]).await;
    let record = store.get_api_key(&hash).await.unwrap().unwrap();
    assert!(record.revoked_at.is_some());
    let (list, _) = keys(&data, &["list"]).await;
    let line = list.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(!line.ends_with("\t-"), "revoked: {line}");
    // Both are on the tenant's trail, by the operator.
    let trail = store
        .list_audit(&autodb::domain::audit::AuditQuery {
            tenant: "acme".into(),
            connection_id: None,
            since: None,
            until: None,
            limit: 100,
        })
        .await
        .unwrap();
    let actions: Vec<_> = trail
        .iter()
        .map(|r| (r.action, r.subject.clone()))
        .collect();
    use autodb::domain::audit::Action;
    assert_eq!(
        actions,
        vec![
            (Action::CreateKey, Some(id.clone())),
            (Action::RevokeKey, Some(id.clone()))
        ]
    );
    assert!(trail.iter().all(|r| r.actor.starts_with("cli:")));
    // Read only now: closing any descriptor of the database file drops this process's
    // SQLite locks on it (POSIX), which a store still open here must not see happen.
    drop(store);
    let file = std::fs::read(data.join("autodb.sqlite3")).unwrap();
    assert!(
        !file.windows(key.len()).any(|w| w == key.as_bytes()),
        "the key is stored only as its hash"
    );
}

/// Starts `autodb serve` on `data` without `AUTODB_API_KEY`, reads its banner, stops it;
/// returns the banner.
async fn serve_banner(data: &std::path::Path) -> String {
    let mut child = serve_command(data, &[("RUST_LOG", "warn")])
        .arg("--no-sandbox")
        .env_remove("AUTODB_API_KEY")
        .spawn()
        .expect("start autodb serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    // The banner ends with the registration example (no --demo).
    while let Some(line) = lines.next_line().await.unwrap() {
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Register a database") {
            break;
        }
    }
    stop(&mut child).await;
    banner
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_creates_its_first_key_once_and_keeps_it() {
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let first = serve_banner(&data).await;
    let shown = first
        .lines()
        .find_map(|l| l.strip_prefix("API key (shown once; only its hash is stored): "))
        .expect("the first start shows its key")
        .to_string();
    let second = serve_banner(&data).await;
    assert!(!second.contains(&shown), "shown once: {second}");
    assert!(!second.contains("shown once"), "{second}");
    let store = store_at(&data);
    let all = store.list_api_keys().await.unwrap();
    assert_eq!(all.len(), 1, "no new key at the second start");
    let kept = &all[0];
    assert_eq!(kept.sha256, sha256_hex(shown.as_bytes()));
    assert_eq!(kept.tenant, "default");
    assert_eq!(kept.roles, Role::ALL.into_iter().collect());
}

/// The status of `GET /api/v1/connections` with `key`.
async fn status_with(addr: std::net::SocketAddr, key: &str) -> u16 {
    http_call(addr, key, "GET", "/connections", None)
        .await
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_with_the_cli_is_refused_by_a_running_serve_at_once() {
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let mut child = serve_command(
        &data,
        &[
            ("AUTODB_API_KEY", "adb_the_operators_own_key"),
            ("RUST_LOG", "warn"),
        ],
    )
    .arg("--no-sandbox")
    .spawn()
    .expect("start autodb serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = listening(&mut lines, |_| {}).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let (key, _) = keys(&data, &["create", "--tenant", "acme"]).await;
    let key = key.trim();
    assert_eq!(status_with(addr, key).await, 200);
    let id = autodb::domain::access::ApiKeyRecord::key_id_of(&sha256_hex(key.as_bytes()));
    keys(&data, &["revoke", &id]).await;
    // The very next request: no cache stands between the store and the check.
    assert_eq!(status_with(addr, key).await, 401);
    assert_eq!(status_with(addr, "adb_the_operators_own_key").await, 200);
    drop(child);
}
