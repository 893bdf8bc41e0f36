//! `autodb serve` as a process, against callers that send bytes slowly or not at all
//! (issue 21): header-read timeout, a bound on client connections, and a clean stop.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Child;

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

async fn serve(args: &[&str]) -> Served {
    let dir = TempDir::new();
    let mut child = serve_command(
        &dir.0.join("data"),
        &[("AUTODB_API_KEY", "test-key"), ("RUST_LOG", "warn")],
    )
    .args(args)
    .spawn()
    .expect("start autodb serve");
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
