//! `autodb serve` as a process, against callers that send bytes slowly or not at all
//! (issue 21): header-read timeout, a bound on client connections, and a clean stop.

use std::net::SocketAddr;
use std::time::Duration;

use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use tokio::process::{Child, Command};

use crate::helpers::{listening, serve_command, sigterm, TempDir};

const MAX_CLIENTS: usize = 8;
const SLOW_CLIENTS: usize = 24;

/// A generous bound on steps that must end by themselves, so a regression fails instead of
/// hanging the suite.
const HANG_GUARD: Duration = Duration::from_secs(120);

struct Served {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

const ENV: &[(&str, &str)] = &[("AUTODB_API_KEY", "test-key"), ("RUST_LOG", "warn")];

async fn serve(args: &[&str]) -> Served {
    let dir = TempDir::new();
    let mut command = serve_command(&dir.0.join("data"), ENV);
    command.args(args);
    serve_in(dir, command).await
}

/// `autodb serve` started by `command` (the binary with its arguments, or a wrapper that runs
/// it), its data directory in `dir`.
async fn serve_in(dir: TempDir, mut command: Command) -> Served {
    let mut child = command.spawn().expect("start autodb serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = listening(&mut lines, |_| {}).await;
    // Keep reading its output so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Served {
        child,
        addr,
        _dir: dir,
    }
}

/// Sockets the process holds open.
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

async fn healthz(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /api/v1/healthz HTTP/1.1\r\nHost: autodb\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_neither_starves_nor_exhausts_autodb_serve() {
    let mut served = serve(&[
        "--no-sandbox",
        "--header-timeout-ms",
        "500",
        "--max-clients",
        &MAX_CLIENTS.to_string(),
    ])
    .await;
    let pid = served.child.id().unwrap();
    assert!(healthz(served.addr).await.starts_with("HTTP/1.1 200"));
    let before = sockets(pid);

    // Clients that start a request and never finish its headers, and one that sends nothing.
    let mut slow = Vec::new();
    for i in 0..SLOW_CLIENTS {
        let mut stream = TcpStream::connect(served.addr).await.unwrap();
        if i > 0 {
            stream
                .write_all(b"GET /api/v1/healthz HTTP/1.1\r\nHost: autodb\r\nX-Slow: ")
                .await
                .unwrap();
        }
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let during = sockets(pid);
    assert!(
        during <= before + MAX_CLIENTS,
        "autodb holds {during} sockets with {SLOW_CLIENTS} slow clients (before: {before}, limit \
         {MAX_CLIENTS})"
    );

    // Another client is served: the slow ones are closed when their headers are late.
    let response = tokio::time::timeout(HANG_GUARD, healthz(served.addr))
        .await
        .expect("healthz was never answered");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for mut stream in slow {
        let mut rest = Vec::new();
        tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut rest))
            .await
            .expect("a slow client was never disconnected")
            .ok();
    }
    assert!(
        served.child.try_wait().unwrap().is_none(),
        "autodb serve died"
    );

    sigterm(&served.child);
    let status = tokio::time::timeout(HANG_GUARD, served.child.wait())
        .await
        .expect("autodb serve did not stop on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// The throwaway clusters `pid` owns (`autodb::pgcluster::OWNER_FILE`).
fn clusters_of(pid: u32) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|dir| {
            std::fs::read_to_string(dir.join(autodb::pgcluster::OWNER_FILE))
                .is_ok_and(|owner| owner.trim() == pid.to_string())
        })
        .collect()
}

/// The server process of the cluster in `dir`.
fn postmaster(dir: &std::path::Path) -> u32 {
    std::fs::read_to_string(dir.join("data").join("postmaster.pid"))
        .expect("a running cluster has a pid file")
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([name, &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits (bounded) until `pid` is gone; a stopped postmaster may take a moment to exit.
async fn gone(pid: u32) -> bool {
    for _ in 0..600 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// `autodb serve` with its default sandbox: a throwaway cluster it started and owns.
async fn serve_with_sandbox() -> (Served, std::path::PathBuf, u32) {
    if autodb::pgcluster::find_bin_dir().is_none() {
        panic!("PostgreSQL server binaries are needed (infra/local/services.sh installs them)");
    }
    let served = serve(&[]).await;
    let owned = clusters_of(served.child.id().unwrap());
    assert_eq!(owned.len(), 1, "one sandbox cluster: {owned:?}");
    let dir = owned.into_iter().next().unwrap();
    let server = postmaster(&dir);
    assert!(alive(server));
    (served, dir, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_stop_the_clusters_autodb_serve_started() {
    for name in ["-TERM", "-INT"] {
        let (mut served, dir, server) = serve_with_sandbox().await;
        signal(&served.child, name);
        let status = tokio::time::timeout(HANG_GUARD, served.child.wait())
            .await
            .expect("autodb serve did not stop")
            .unwrap();
        assert!(status.success(), "{name}: {status}");
        assert!(gone(server).await, "{name}: the sandbox cluster still runs");
        assert!(!dir.exists(), "{name}: {} is left behind", dir.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_stops_what_a_killed_predecessor_left() {
    let (mut killed, dir, server) = serve_with_sandbox().await;
    signal(&killed.child, "-KILL");
    killed.child.wait().await.unwrap();
    assert!(alive(server), "a killed process stops nothing");

    let (mut next, next_dir, next_server) = serve_with_sandbox().await;
    assert!(gone(server).await, "the predecessor's cluster still runs");
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert!(
        alive(next_server),
        "the new process's own cluster was stopped"
    );

    signal(&next.child, "-TERM");
    tokio::time::timeout(HANG_GUARD, next.child.wait())
        .await
        .expect("autodb serve did not stop")
        .unwrap();
    assert!(gone(next_server).await);
    assert!(!next_dir.exists());
}

/// The ordinary OS user autodb runs as in [`an_ordinary_users_serve_keeps_its_data_directory_from_migrations`]:
/// `nobody` when the suite runs as root, else the suite's own user.
fn ordinary_user() -> Option<(u32, u32)> {
    let id = |flag: &str, name: Option<&str>| {
        let out = std::process::Command::new("id")
            .arg(flag)
            .args(name)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    (id("-u", None) == 0).then(|| (id("-u", Some("nobody")), id("-g", Some("nobody"))))
}

/// The long tokens of a secrets file (keys, in whatever encoding it stores them).
fn secrets_in(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c)))
        .filter(|token| token.len() >= 32)
}

/// Sends one JSON request to a served autodb; returns the status and the body.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<axum::body::Bytes>>();
    let request = axum::http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}/api/v1{path}"))
        .header("x-api-key", "test-key")
        .header("content-type", "application/json")
        .body(http_body_util::Full::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        ))
        .unwrap();
    let response = client.request(request).await.expect("autodb answers");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).expect("a JSON body"))
}

/// Issue 19: `autodb serve` in its default mode, as an ordinary (non-root) OS user, runs the
/// sandbox on a throwaway cluster of that same user — so nothing a migration or the target's
/// schema defines may run there with a role that could read files. Judged by the files: the
/// keys were not read into the report, no copy of them appeared, and no program ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordinary_users_serve_keeps_its_data_directory_from_migrations() {
    if autodb::pgcluster::find_bin_dir().is_none() {
        panic!("PostgreSQL server binaries are needed (infra/local/services.sh installs them)");
    }
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let mut command = match ordinary_user() {
        Some((uid, gid)) => {
            std::os::unix::fs::chown(&dir.0, Some(uid), Some(gid)).unwrap();
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
                "--",
                env!("CARGO_BIN_EXE_autodb"),
            ]);
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_autodb")),
    };
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .envs(ENV.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut served = serve_in(dir, command).await;
    let owned = clusters_of(served.child.id().unwrap());
    assert_eq!(
        owned.len(),
        1,
        "serve runs its own sandbox cluster: {owned:?}"
    );
    let keys = data.join("signing-keys.json");
    let secrets = data.join("secrets.json");
    let signing_key = std::fs::read_to_string(&keys).expect("serve wrote its signing keys");
    let copy = std::env::temp_dir().join(format!("autodb-copy-{}", uuid::Uuid::new_v4().simple()));
    let ran = std::env::temp_dir().join(format!("autodb-ran-{}", uuid::Uuid::new_v4().simple()));

    // The target's schema carries a default that tries every way out when the sandbox fills
    // its template; the migrations try the same directly.
    let target = crate::helpers::create_database().await;
    let steal = format!(
        "BEGIN RESET ROLE; EXCEPTION WHEN OTHERS THEN NULL; END;
         BEGIN PERFORM pg_catalog.pg_read_file('{keys}'); EXCEPTION WHEN OTHERS THEN NULL; END;
         BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''cp {keys} {copy}; touch {ran}'''; EXCEPTION WHEN OTHERS THEN NULL; END;
         BEGIN EXECUTE 'CREATE TABLE loot (t text)'; EXECUTE 'COPY loot FROM ''{secrets}'''; EXCEPTION WHEN OTHERS THEN NULL; END;",
        keys = keys.display(),
        copy = copy.display(),
        ran = ran.display(),
        secrets = secrets.display()
    );
    let (client, connection) = tokio_postgres::connect(&target, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "CREATE FUNCTION steal() RETURNS text LANGUAGE plpgsql AS $f$ BEGIN {steal} RETURN 'x'; END $f$;
             CREATE TABLE notes (id int PRIMARY KEY, body text DEFAULT steal());
             INSERT INTO notes (id, body) SELECT g, 'n' FROM generate_series(1, 50) g;"
        ))
        .await
        .unwrap();
    let (status, body) = call(
        served.addr,
        "POST",
        "/connections",
        Some(
            serde_json::json!({"name": "t", "db_type": "postgresql", "connection_string": target}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let conn = body["data"]["id"].as_str().unwrap().to_string();

    for sql in [
        "INSERT INTO notes (id) VALUES (100000);".to_string(),
        format!("SELECT pg_read_file('{}');", keys.display()),
        format!(
            "COPY (SELECT 1) TO PROGRAM 'cp {} {}; touch {}';",
            keys.display(),
            copy.display(),
            ran.display()
        ),
        format!(
            "CREATE TABLE k (t text);\nCOPY k FROM '{}';",
            secrets.display()
        ),
    ] {
        let (status, body) = call(
            served.addr,
            "POST",
            &format!("/connections/{conn}/migrations/analyze"),
            Some(serde_json::json!({"sql": sql})),
        )
        .await;
        assert_eq!(status, 200, "{sql}: {body}");
        let sandbox = &body["data"]["sandbox_result"];
        assert!(
            matches!(sandbox["status"].as_str(), Some("passed" | "failed")),
            "the sandbox ran: {sandbox}"
        );
        if sql.starts_with("INSERT") {
            assert_eq!(sandbox["status"], "passed", "{sandbox}");
        } else {
            assert_eq!(sandbox["status"], "failed", "{sql}: {sandbox}");
            assert_eq!(sandbox["migration_error"]["sqlstate"], "42501", "{sandbox}");
        }
        let text = body.to_string();
        assert!(
            !secrets_in(&signing_key).any(|s| text.contains(s)),
            "the report carries the signing keys"
        );
    }
    assert!(!copy.exists(), "the signing keys were copied out");
    assert!(!ran.exists(), "a program ran on the sandbox's server");

    sigterm(&served.child);
    tokio::time::timeout(HANG_GUARD, served.child.wait())
        .await
        .expect("autodb serve did not stop")
        .unwrap();
    crate::helpers::drop_database(&target).await;
}

/// A client that sends a request's headers quickly and its body slowly (or never) gets `408
/// REQUEST_TIMEOUT` once the body timeout passes, and the service goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_is_cut_off() {
    let mut served = serve(&["--no-sandbox", "--body-timeout-ms", "500"]).await;
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/v1/migrations/analyze HTTP/1.1\r\nHost: autodb\r\nX-API-Key: test-key\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n\
              {\"sql\": ",
        )
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(HANG_GUARD, stream.read_to_string(&mut response))
        .await
        .expect("the trickling client was never answered")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("\"REQUEST_TIMEOUT\""), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("x-request-id"),
        "{response}"
    );
    assert!(healthz(served.addr).await.starts_with("HTTP/1.1 200"));
    sigterm(&served.child);
    tokio::time::timeout(HANG_GUARD, served.child.wait())
        .await
        .expect("autodb serve did not stop")
        .unwrap();
}
