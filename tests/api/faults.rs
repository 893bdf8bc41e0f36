//! Fault injection: the executor stopped or cut off at the points where a wrong answer is
//! dangerous. For each, on both backends: the final status is right, the migration is
//! applied exactly once (ledger, steps and data agree), and the connection is usable again.
//!
//! Faults are injected at the real seams: a store whose status writes are lost (wrapping the
//! real SQLite or DynamoDB store), and runs cut off mid-statement by dropping their task,
//! which closes their PostgreSQL connection as a killed process would.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use autodb::app::App;
use autodb::domain::access::ApiKeyRecord;
use autodb::domain::approval::{AnalysisRecord, Decision};
use autodb::domain::audit::{AuditQuery, AuditRecord};
use autodb::domain::Finish;
use autodb::domain::{Connection, ConnectionId, MigrationRequest, RequestId, SnapshotRecord};
use autodb::executor::{give_up, run_job, run_job_until, GaveUp, Outcome};
use autodb::ports::{
    AnalysisStore, AuditLog, BeginExecution, BeginOutcome, ClaimOutcome, Clock, ConnectionStore,
    KeyStore, LockStore, PortError, RequestStore, Store,
};
use autodb::settings::Settings;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};

use crate::helpers::{run_until_not_busy, wait_until, Backend, TestApp, SLEEPING};

/// The real store, except that the next `lose` status writes fail after reaching nothing —
/// as when the process dies between COMMIT and the write, or the store is unreachable then —
/// and likewise the next `lose_releases` lock releases.
struct LoseStatusWrites {
    inner: Arc<dyn Store>,
    lose: AtomicU32,
    lose_releases: AtomicU32,
    /// Lock renewals that go through; after them the lock reads as taken by another request.
    renewals: AtomicU32,
    /// Renewals that reached the real store.
    renewed: AtomicU32,
}

fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[async_trait]
impl ConnectionStore for LoseStatusWrites {
    async fn put_connection(&self, c: &Connection) -> Result<(), PortError> {
        self.inner.put_connection(c).await
    }

    async fn get_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, PortError> {
        self.inner.get_connection(id).await
    }

    async fn list_connections(&self) -> Result<Vec<Connection>, PortError> {
        self.inner.list_connections().await
    }

    async fn put_snapshot(&self, s: &SnapshotRecord) -> Result<(), PortError> {
        self.inner.put_snapshot(s).await
    }

    async fn latest_snapshot(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<SnapshotRecord>, PortError> {
        self.inner.latest_snapshot(id).await
    }
}

#[async_trait]
impl KeyStore for LoseStatusWrites {
    async fn put_api_key(&self, k: &ApiKeyRecord) -> Result<(), PortError> {
        self.inner.put_api_key(k).await
    }

    async fn get_api_key(&self, h: &str) -> Result<Option<ApiKeyRecord>, PortError> {
        self.inner.get_api_key(h).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, PortError> {
        self.inner.list_api_keys().await
    }
}

#[async_trait]
impl AnalysisStore for LoseStatusWrites {
    async fn put_analysis(&self, a: &AnalysisRecord) -> Result<(), PortError> {
        self.inner.put_analysis(a).await
    }

    async fn get_analysis(&self, id: &str) -> Result<Option<AnalysisRecord>, PortError> {
        self.inner.get_analysis(id).await
    }

    async fn decide_analysis(&self, a: &AnalysisRecord, d: &Decision) -> Result<bool, PortError> {
        self.inner.decide_analysis(a, d).await
    }
}

#[async_trait]
impl AuditLog for LoseStatusWrites {
    async fn append_audit(&self, r: &AuditRecord) -> Result<(), PortError> {
        self.inner.append_audit(r).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, PortError> {
        self.inner.list_audit(q).await
    }
}

#[async_trait]
impl RequestStore for LoseStatusWrites {
    async fn begin_execution(&self, b: &BeginExecution<'_>) -> Result<BeginOutcome, PortError> {
        self.inner.begin_execution(b).await
    }

    async fn nonce_request(&self, nonce: &str) -> Result<Option<RequestId>, PortError> {
        self.inner.nonce_request(nonce).await
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<MigrationRequest>, PortError> {
        self.inner.get_request(id).await
    }

    async fn claim_request(
        &self,
        id: &RequestId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<ClaimOutcome, PortError> {
        self.inner.claim_request(id, now, until).await
    }

    async fn release_claim(&self, id: &RequestId) -> Result<(), PortError> {
        self.inner.release_claim(id).await
    }

    async fn set_progress(&self, id: &RequestId, p: &str) -> Result<(), PortError> {
        self.inner.set_progress(id, p).await
    }

    async fn finish_request(
        &self,
        id: &RequestId,
        finish: &Finish,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        if take_one(&self.lose) {
            return Err(PortError::unavailable(
                "store",
                "injected: status write lost",
            ));
        }
        self.inner.finish_request(id, finish, now).await
    }
}

#[async_trait]
impl LockStore for LoseStatusWrites {
    async fn renew_lock(
        &self,
        key: &str,
        request: &RequestId,
        until: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        if !take_one(&self.renewals) {
            return Ok(false);
        }
        let renewed = self.inner.renew_lock(key, request, until).await;
        self.renewed.fetch_add(1, Ordering::SeqCst);
        renewed
    }

    async fn release_lock(&self, key: &str, request: &RequestId) -> Result<(), PortError> {
        if take_one(&self.lose_releases) {
            return Err(PortError::unavailable(
                "store",
                "injected: lock release lost",
            ));
        }
        self.inner.release_lock(key, request).await
    }
}

/// The same application, over a store that loses the next `lose` status writes.
fn losing_status_writes(t: &TestApp, lose: u32) -> App {
    losing(t, lose, 0)
}

/// The same application, over a store that loses the next `lose` status writes and the next
/// `lose_releases` lock releases.
fn losing(t: &TestApp, lose: u32, lose_releases: u32) -> App {
    with_store(
        t,
        LoseStatusWrites {
            inner: Arc::clone(&t.app.store),
            lose: AtomicU32::new(lose),
            lose_releases: AtomicU32::new(lose_releases),
            renewals: AtomicU32::new(u32::MAX),
            renewed: AtomicU32::new(0),
        },
    )
}

/// The same application, over a store whose connection lock is lost after `renewals`
/// renewals (another request holds it from then on).
fn losing_the_lock_after(t: &TestApp, renewals: u32) -> App {
    with_store(
        t,
        LoseStatusWrites {
            inner: Arc::clone(&t.app.store),
            lose: AtomicU32::new(0),
            lose_releases: AtomicU32::new(0),
            renewals: AtomicU32::new(renewals),
            renewed: AtomicU32::new(0),
        },
    )
}

fn with_store(t: &TestApp, store: LoseStatusWrites) -> App {
    with_store_and_settings(t, Arc::new(store), t.app.settings.clone())
}

fn with_store_and_settings(t: &TestApp, store: Arc<dyn Store>, settings: Settings) -> App {
    App::new(
        store,
        Arc::clone(&t.app.queue),
        Arc::clone(&t.app.secrets),
        t.app.keys.current(),
        Arc::clone(&t.app.clock),
        settings,
    )
}

/// Runs the job `id` on `app` in a task of its own.
fn spawn_job(app: &Arc<App>, id: &str) -> tokio::task::JoinHandle<Result<Outcome, PortError>> {
    let app = Arc::clone(app);
    let id = request_id(id);
    tokio::spawn(async move { run_job(&app.executor(), &id).await })
}

fn request_id(raw: &str) -> RequestId {
    RequestId::parse(raw).unwrap()
}

async fn ledger_rows(t: &TestApp) -> i64 {
    t.count("SELECT count(*) FROM autodb.migration_ledger")
        .await
}

/// COMMIT succeeded, the status write was lost. The lock lease then lapsed and another
/// migration took the connection. The request must end `completed` — from the ledger —
/// not "failed, nothing was applied", which would invite a second application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_status_write_was_lost_ends_completed() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let conn = t.connect().await;
        let first = t.submit(&conn, "CREATE TABLE committed (id int);").await;
        let faulty = losing_status_writes(&t, 1);
        assert!(run_job(&faulty.executor(), &request_id(&first))
            .await
            .is_err());
        assert_eq!(t.status(&first).await["status"], "executing");
        assert_eq!(ledger_rows(&t).await, 1, "{backend:?}: committed");

        // The lease lapses; another migration takes the connection.
        t.clock
            .advance(Duration::seconds(t.app.settings.lock_lease_seconds + 60));
        let second = t.submit(&conn, "CREATE TABLE next_one (id int);").await;

        // The first request is settled through the ledger, without re-applying.
        assert_eq!(
            run_job(&t.app.executor(), &request_id(&first))
                .await
                .unwrap(),
            Outcome::Completed,
            "{backend:?}"
        );
        let status = t.status(&first).await;
        assert_eq!(status["status"], "completed", "{status}");
        assert_eq!(
            status["result"]["tables_added"],
            serde_json::json!(["committed"])
        );
        assert_eq!(ledger_rows(&t).await, 1, "{backend:?}: applied once");
        assert_eq!(
            run_job(&t.app.executor(), &request_id(&second))
                .await
                .unwrap(),
            Outcome::Completed
        );
    }
}

/// Status write lost, then redelivered at once: completes from the ledger, promptly (the
/// failed attempt released its claim), and the connection is free afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_status_write_is_settled_by_the_next_delivery_at_once() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let conn = t.connect().await;
        let id = t.submit(&conn, "CREATE TABLE once (id int);").await;
        let faulty = losing_status_writes(&t, 1);
        assert!(run_job(&faulty.executor(), &request_id(&id)).await.is_err());
        // No clock movement: the claim was given back.
        assert_eq!(
            run_job(&t.app.executor(), &request_id(&id)).await.unwrap(),
            Outcome::Completed
        );
        assert_eq!(ledger_rows(&t).await, 1);
        let sql = "CREATE TABLE after (id int);";
        let token = t.approve(&conn, sql).await;
        let (status, body) = t.execute(&token, sql, &conn).await;
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "{backend:?}: connection free: {body}"
        );
    }
}

/// A dead letter for a job whose executor still holds a live claim is left to that executor;
/// once the claim is over, the request is ended as the database says (here: nothing
/// applied, and the message says that was checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_never_ends_a_request_an_executor_still_runs() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let conn = t.connect().await;
        let id = t.submit(&conn, "CREATE TABLE unfinished (id int);").await;
        let now = t.clock.now();
        t.app
            .store
            .claim_request(&request_id(&id), now, now + Duration::minutes(15))
            .await
            .unwrap();
        assert_eq!(
            give_up(&t.app.executor(), &request_id(&id), "dead-lettered")
                .await
                .unwrap(),
            GaveUp::StillRunning
        );
        assert_eq!(t.status(&id).await["status"], "executing");

        t.clock.advance(Duration::minutes(16));
        assert_eq!(
            give_up(&t.app.executor(), &request_id(&id), "dead-lettered")
                .await
                .unwrap(),
            GaveUp::Ended
        );
        let status = t.status(&id).await;
        assert_eq!(status["status"], "failed");
        let message = status["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("nothing was applied (checked"),
            "{message}"
        );
    }
}

/// A split migration cut off after its first segments committed, then given up on: the
/// failure names the statements that stayed applied (read from `migration_steps`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_applied_split_migration_given_up_says_what_stayed_applied() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let sql = "CREATE TABLE s1 (id int);\nCREATE INDEX CONCURRENTLY s1_id ON s1 (id);\nSELECT pg_sleep(5);";
    let id = t.submit(&conn, sql).await;
    let app = Arc::clone(&t.app);
    let job = request_id(&id);
    let running = tokio::spawn(async move { run_job(&app.executor(), &job).await });
    let db = t.db().await;
    let reached = wait_until(&db, SLEEPING).await;
    assert!(reached);
    running.abort();
    let _ = running.await;

    t.clock.advance(Duration::minutes(16));
    assert_eq!(
        give_up(
            &t.app.executor(),
            &request_id(&id),
            "the job was not completed"
        )
        .await
        .unwrap(),
        GaveUp::Ended
    );
    let status = t.status(&id).await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("statements 1 to 2 were committed and remain applied"),
        "{message}"
    );
    assert_eq!(ledger_rows(&t).await, 0);
}

/// An attempt knows its deadline: it starts nothing it has no time for, and a statement that
/// would run past it is cut off as a terminal STATEMENT_TIMEOUT with advice, not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_never_runs_past_its_deadline() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let id = t
        .submit(&conn, "CREATE TABLE slow (id int);\nSELECT pg_sleep(10);")
        .await;
    let job = request_id(&id);
    // 20 s are kept for bookkeeping: with 20.5 s left there is no time to start.
    let too_late = t.clock.now() + Duration::milliseconds(20_500);
    assert_eq!(
        autodb::executor::run_job_until(&t.app.executor(), &job, too_late)
            .await
            .unwrap(),
        Outcome::Busy
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'slow'")
            .await,
        0
    );
    // With 21.5 s left, statements get 1.5 s: the sleep is cut off.
    let soon = t.clock.now() + Duration::milliseconds(21_500);
    assert_eq!(
        autodb::executor::run_job_until(&t.app.executor(), &job, soon)
            .await
            .unwrap(),
        Outcome::Failed
    );
    let status = t.status(&id).await;
    assert_eq!(status["error"]["code"], "STATEMENT_TIMEOUT", "{status}");
    assert_eq!(status["error"]["statement_index"], 1);
    assert!(status["error"]["message"]
        .as_str()
        .unwrap()
        .contains("split the migration"));
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'slow'")
            .await,
        0
    );
}

/// A request that did not start within its bound never starts: it expires, frees its
/// connection, and a replay of its token returns it, failed, without running it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_started_expires_instead_of_running_late() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let conn = t.connect().await;
        let sql = "CREATE TABLE too_late (id int);";
        let token = t.approve(&conn, sql).await;
        let (status, body) = t.execute(&token, sql, &conn).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let id = body["data"]["request_id"].as_str().unwrap().to_string();
        // The queue lost the job; an hour and a bit later it surfaces.
        t.clock.advance(Duration::seconds(
            t.app.settings.request_expiry_seconds + 60,
        ));
        assert_eq!(
            run_job(&t.app.executor(), &request_id(&id)).await.unwrap(),
            Outcome::Failed
        );
        let status = t.status(&id).await;
        assert_eq!(status["error"]["code"], "EXPIRED", "{backend:?}: {status}");
        assert!(status["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing was applied (checked"));
        assert_eq!(
            t.count("SELECT count(*) FROM pg_class WHERE relname = 'too_late'")
                .await,
            0
        );
        // The replay returns the same, failed request and runs nothing.
        let (status, replay) = t.execute(&token, sql, &conn).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
        assert_eq!(replay["data"]["request_id"], id.as_str());
        assert_eq!(replay["data"]["status"], "failed");
        // The connection is free.
        let next = "CREATE TABLE in_time (id int);";
        let token = t.approve(&conn, next).await;
        assert_eq!(t.execute(&token, next, &conn).await.0, StatusCode::ACCEPTED);
    }
}

/// COMMIT durable but never acknowledged: the database's own cluster waits for a synchronous
/// standby that does not exist, and the executor is killed while it waits. The next attempt
/// finds the ledger row and completes without applying again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_never_acknowledged_is_settled_through_the_ledger() {
    use crate::helpers::TempDir;
    let t = TestApp::spawn(Backend::Local).await;
    let dir = TempDir::new();
    // Its own cluster: the standby setting holds every commit on the server.
    let cluster = autodb::pgcluster::PgCluster::start(&dir.0.join("pg")).unwrap();
    let admin = |url: String| async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    };
    admin(cluster.url("postgres"))
        .await
        .batch_execute("CREATE DATABASE target")
        .await
        .unwrap();
    let (status, body) = t
        .post(
            "/connections",
            serde_json::json!({"name": "own cluster", "db_type": "postgresql",
                               "connection_string": cluster.url("target")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let conn = body["data"]["id"].as_str().unwrap().to_string();
    // A first migration creates autodb's ledger tables, so that later only the migration's
    // own commit writes (and waits).
    let warmup = t.submit(&conn, "CREATE TABLE warmup (id int);").await;
    assert_eq!(
        run_job(&t.app.executor(), &request_id(&warmup))
            .await
            .unwrap(),
        Outcome::Completed
    );
    let id = t
        .submit(&conn, "CREATE TABLE unacknowledged (id int);")
        .await;

    let server = admin(cluster.url("postgres")).await;
    for sql in [
        "ALTER SYSTEM SET synchronous_standby_names = 'ghost'",
        "SELECT pg_reload_conf()",
    ] {
        server.batch_execute(sql).await.unwrap();
    }
    let app = Arc::clone(&t.app);
    let job = request_id(&id);
    let running = tokio::spawn(async move { run_job(&app.executor(), &job).await });
    let waiting = wait_until(
        &server,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
    )
    .await;
    assert!(waiting, "the migration's COMMIT waits for the standby");
    // The executor dies while its COMMIT is unacknowledged.
    running.abort();
    let _ = running.await;
    for sql in [
        "ALTER SYSTEM RESET synchronous_standby_names",
        "SELECT pg_reload_conf()",
    ] {
        server.batch_execute(sql).await.unwrap();
    }
    assert_eq!(t.status(&id).await["status"], "executing");

    // The process restarts (a restart releases its predecessor's claims: see
    // `queue::requeue_unfinished`). The next attempt, once the dead session is gone, finds the
    // ledger row.
    t.app.store.release_claim(&request_id(&id)).await.unwrap();
    let outcome = run_until_not_busy(&t.app, &request_id(&id)).await;
    assert_eq!(outcome, Outcome::Completed);
    let status = t.status(&id).await;
    assert_eq!(
        status["result"]["tables_added"],
        serde_json::json!(["unacknowledged"])
    );
    let target = admin(cluster.url("target")).await;
    let rows: i64 = target
        .query_one(
            "SELECT count(*) FROM autodb.migration_ledger WHERE request_id = $1",
            &[&id.as_str()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "applied exactly once");
}

/// Stopped after the status write, before the lock release: the request is completed, the
/// connection answers 409 only until the job's next delivery, which runs nothing and frees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_left_after_the_status_write_is_freed_by_the_next_delivery() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let conn = t.connect().await;
        let id = t.submit(&conn, "CREATE TABLE done_once (id int);").await;
        let faulty = losing(&t, 0, 1);
        assert!(run_job(&faulty.executor(), &request_id(&id)).await.is_err());
        assert_eq!(t.status(&id).await["status"], "completed");
        let next = "CREATE TABLE waits (id int);";
        let token = t.approve(&conn, next).await;
        assert_eq!(t.execute(&token, next, &conn).await.0, StatusCode::CONFLICT);
        // The redelivered job finds the request finished: nothing runs, the lock is freed.
        assert_eq!(
            run_job(&t.app.executor(), &request_id(&id)).await.unwrap(),
            Outcome::AlreadyFinished(autodb::domain::RequestStatus::Completed)
        );
        assert_eq!(ledger_rows(&t).await, 1, "{backend:?}: applied once");
        assert_eq!(t.execute(&token, next, &conn).await.0, StatusCode::ACCEPTED);
    }
}

/// Two deliveries of one job at the same time: one applies it, the other does nothing. The
/// overlap is made certain, not timed: the test holds a lock the migration needs, so the
/// delivery that claimed the job is still inside its transaction while the other one runs to
/// its end — which must be `Busy` (the job is claimed), never a second application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_apply_once() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let conn = t.connect().await;
        t.db()
            .await
            .batch_execute("CREATE TABLE gate (id int)")
            .await
            .unwrap();
        let id = t
            .submit(
                &conn,
                "CREATE TABLE raced (id int);\nINSERT INTO gate VALUES (1);",
            )
            .await;
        let holder = t.db().await;
        holder
            .batch_execute("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        let run = || {
            let app = Arc::clone(&t.app);
            let job = request_id(&id);
            tokio::spawn(async move { run_job(&app.executor(), &job).await.unwrap() })
        };
        let (mut a, mut b) = (run(), run());
        // One delivery ends while the other waits behind the test's lock.
        let (first, rest) = tokio::select! {
            r = &mut a => (r.unwrap(), b),
            r = &mut b => (r.unwrap(), a),
        };
        assert_eq!(
            first,
            Outcome::Busy,
            "{backend:?}: the other delivery holds the job"
        );
        assert!(
            crate::helpers::wait_until(
                &t.db().await,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND datname = current_database()",
            )
            .await,
            "{backend:?}: the claiming delivery never waited inside its transaction"
        );
        holder.batch_execute("COMMIT").await.unwrap();
        let second = rest.await.unwrap();
        assert_eq!(second, Outcome::Completed, "{backend:?}");
        assert_eq!(ledger_rows(&t).await, 1);
        assert_eq!(t.status(&id).await["status"], "completed");
        assert_eq!(t.count("SELECT count(*) FROM gate").await, 1);
    }
}

/// The fence before COMMIT: a migration whose connection lock was lost while it ran (its
/// lease taken by another request) commits nothing, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_lost_before_commit_commits_nothing() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let conn = t.connect().await;
        let id = t
            .submit(
                &conn,
                "CREATE TABLE fenced (id int);\nCREATE INDEX ON fenced (id);",
            )
            .await;
        // The lease renewal at the start goes through; the fence before COMMIT finds the lock
        // taken.
        let app = losing_the_lock_after(&t, 1);
        assert_eq!(
            run_job(&app.executor(), &request_id(&id)).await.unwrap(),
            Outcome::Failed
        );
        let status = t.status(&id).await;
        assert_eq!(
            status["error"]["code"], "LOCK_LOST",
            "{backend:?}: {status}"
        );
        assert!(
            status["error"]["message"]
                .as_str()
                .unwrap()
                .contains("nothing more was applied"),
            "{status}"
        );
        assert!(
            !status["error"]["message"]
                .as_str()
                .unwrap()
                .contains("remain"),
            "nothing committed, nothing said to remain: {status}"
        );
        assert_eq!(
            t.count("SELECT count(*) FROM pg_class WHERE relname = 'fenced'")
                .await,
            0,
            "{backend:?}: rolled back"
        );
        assert_eq!(ledger_rows(&t).await, 0);
    }
}

/// A migration that runs longer than the connection lock's lease keeps its connection: the
/// heartbeat renews the lease from the clock's time while the migration waits, so another
/// migration on the connection is refused (409) however far the clock moves, and the first
/// then commits through its fence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_the_connection_while_a_migration_runs_past_its_lease() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let holder = t.db().await;
    holder
        .batch_execute("CREATE TABLE held (id int)")
        .await
        .unwrap();
    let id = t.submit(&conn, "INSERT INTO held VALUES (1)").await;

    // A lease of 3 s: the heartbeat renews every second.
    let store = Arc::new(LoseStatusWrites {
        inner: Arc::clone(&t.app.store),
        lose: AtomicU32::new(0),
        lose_releases: AtomicU32::new(0),
        renewals: AtomicU32::new(u32::MAX),
        renewed: AtomicU32::new(0),
    });
    let settings = Settings {
        lock_lease_seconds: 3,
        lock_timeout_ms: 60_000,
        ..t.app.settings.clone()
    };
    let app = Arc::new(with_store_and_settings(
        &t,
        Arc::clone(&store) as Arc<dyn Store>,
        settings,
    ));
    // The migration waits on the table the test holds.
    holder
        .batch_execute("BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let running = spawn_job(&app, &id);
    let renewals_reach = |n: u32| {
        let store = Arc::clone(&store);
        async move {
            for _ in 0..300 {
                if store.renewed.load(Ordering::SeqCst) >= n {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            false
        }
    };
    // The renewal at the start, then heartbeats while the migration waits.
    assert!(renewals_reach(3).await, "the heartbeat renews the lease");
    assert_eq!(t.status(&id).await["status"], "executing");

    // Far past the lease as first taken: two more heartbeats, each from the clock's time.
    t.clock.advance(Duration::seconds(600));
    let seen = store.renewed.load(Ordering::SeqCst);
    assert!(renewals_reach(seen + 2).await, "the heartbeat goes on");
    let other = "CREATE TABLE meanwhile (id int)";
    let token = t.approve(&conn, other).await;
    let (status, body) = t.execute(&token, other, &conn).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the connection is still held: {body}"
    );

    holder.batch_execute("COMMIT").await.unwrap();
    assert_eq!(running.await.unwrap().unwrap(), Outcome::Completed);
    assert_eq!(t.status(&id).await["status"], "completed");
    assert_eq!(t.count("SELECT count(*) FROM held").await, 1);
}

/// A split migration whose attempt died after its first part committed, and whose request
/// then outlived its start bound, is not expired: part of it is applied, so the next delivery
/// resumes it from the database's record of the parts that committed, and applies each part
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_applied_split_migration_is_resumed_after_its_start_bound() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let holder = t.db().await;
    holder
        .batch_execute(
            "CREATE TABLE held (id int); CREATE TABLE late (id int); INSERT INTO late VALUES (1)",
        )
        .await
        .unwrap();
    let sql = "CREATE TABLE split_first (id int);
CREATE INDEX CONCURRENTLY split_index ON held (id);
UPDATE late SET id = id + 1;";
    let id = t.submit(&conn, sql).await;

    // The last part waits on a row the test holds locked; the attempt dies there (its future
    // is dropped, its session closed), after the first two parts committed.
    let settings = Settings {
        lock_timeout_ms: 60_000,
        ..t.app.settings.clone()
    };
    let app = Arc::new(with_store_and_settings(
        &t,
        Arc::clone(&t.app.store),
        settings,
    ));
    holder
        .batch_execute("BEGIN; SELECT * FROM late FOR UPDATE")
        .await
        .unwrap();
    let running = spawn_job(&app, &id);
    let observer = t.db().await;
    assert!(
        crate::helpers::wait_until(
            &observer,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE 'UPDATE late%'"
        )
        .await,
        "the last part waits"
    );
    running.abort();
    let _ = running.await;
    holder.batch_execute("COMMIT").await.unwrap();
    assert_eq!(t.status(&id).await["status"], "executing");
    assert_eq!(
        t.count("SELECT count(*) FROM autodb.migration_steps").await,
        2,
        "the first two parts committed"
    );

    // Past the claim and past the request's start bound.
    t.clock.advance(Duration::seconds(
        t.app.settings.request_expiry_seconds + t.app.settings.claim_seconds + 60,
    ));
    assert_eq!(
        crate::helpers::run_until_not_busy(&t.app, &request_id(&id)).await,
        Outcome::Completed
    );
    let status = t.status(&id).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname IN ('split_first', 'split_index')")
            .await,
        2
    );
    assert_eq!(
        t.count("SELECT count(*) FROM late WHERE id = 2").await,
        1,
        "applied once"
    );
    assert_eq!(ledger_rows(&t).await, 1);
}

/// The start bound is inclusive: a request that starts exactly at it still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_started_exactly_at_its_bound_runs() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let id = t.submit(&conn, "CREATE TABLE just_in_time (id int)").await;
    t.clock
        .advance(Duration::seconds(t.app.settings.request_expiry_seconds));
    assert_eq!(
        run_job(&t.app.executor(), &request_id(&id)).await.unwrap(),
        Outcome::Completed
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'just_in_time'")
            .await,
        1
    );
}

/// An attempt that must end by a deadline (a Lambda invocation's) claims its request until
/// the deadline plus the margin, not less: a redelivery within the margin finds the request
/// still claimed (the dead attempt's COMMIT may yet be answered), one after it takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_attempts_claim_lasts_until_its_deadline_and_the_margin() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let holder = t.db().await;
    holder
        .batch_execute("CREATE TABLE claimed (id int); INSERT INTO claimed VALUES (1)")
        .await
        .unwrap();
    let id = t.submit(&conn, "UPDATE claimed SET id = id + 1").await;
    holder
        .batch_execute("BEGIN; SELECT * FROM claimed FOR UPDATE")
        .await
        .unwrap();
    let deadline = t.clock.now() + Duration::seconds(120);
    let running = {
        let app = Arc::clone(&t.app);
        let id = request_id(&id);
        tokio::spawn(async move { run_job_until(&app.executor(), &id, deadline).await })
    };
    let observer = t.db().await;
    assert!(
        crate::helpers::wait_until(
            &observer,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE 'UPDATE claimed%'"
        )
        .await
    );
    // The attempt took the connection's lease from the clock's time: another migration on
    // the connection is refused while it runs.
    let other = "CREATE TABLE meanwhile (id int)";
    let token = t.approve(&conn, other).await;
    assert_eq!(
        t.execute(&token, other, &conn).await.0,
        StatusCode::CONFLICT
    );
    running.abort();
    let _ = running.await;
    holder.batch_execute("COMMIT").await.unwrap();

    // Past the deadline, within the margin: still the dead attempt's.
    t.clock.advance(Duration::seconds(
        120 + autodb::executor::CLAIM_MARGIN_SECONDS - 5,
    ));
    assert_eq!(
        run_job(&t.app.executor(), &request_id(&id)).await.unwrap(),
        Outcome::Busy
    );
    // After it: taken over, and applied once.
    t.clock.advance(Duration::seconds(10));
    assert_eq!(
        crate::helpers::run_until_not_busy(&t.app, &request_id(&id)).await,
        Outcome::Completed
    );
    assert_eq!(
        t.count("SELECT count(*) FROM claimed WHERE id = 2").await,
        1
    );
}

/// The floor is inclusive: an attempt left with exactly the minimum statement time (1 s after
/// the 20 s kept for bookkeeping) runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_left_exactly_the_minimum_time_runs() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let id = t.submit(&conn, "CREATE TABLE just_enough (id int)").await;
    let deadline = t.clock.now() + Duration::milliseconds(21_000);
    assert_eq!(
        run_job_until(&t.app.executor(), &request_id(&id), deadline)
            .await
            .unwrap(),
        Outcome::Completed
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'just_enough'")
            .await,
        1
    );
}

/// A request given up on while its database's ledger can be read only as an error other than
/// "no ledger yet" (here a column renamed under it) says whether anything was applied could
/// not be checked: it never claims that nothing was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_given_up_on_an_unreadable_ledger_never_claims_nothing_was_applied() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let first = t.submit(&conn, "CREATE TABLE first (id int);").await;
    t.drain().await;
    assert_eq!(t.status(&first).await["status"], "completed");
    let id = t.submit(&conn, "CREATE TABLE second (id int);").await;
    t.db()
        .await
        .batch_execute("ALTER TABLE autodb.migration_ledger RENAME COLUMN result TO outcome")
        .await
        .unwrap();
    assert_eq!(
        give_up(&t.app.executor(), &request_id(&id), "dead-lettered")
            .await
            .unwrap(),
        GaveUp::Ended
    );
    let status = t.status(&id).await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("whether anything was applied could not be checked"),
        "{message}"
    );
    assert!(!message.contains("nothing was applied"), "{message}");
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'second'")
            .await,
        0
    );
}

/// A migration of one transaction records only its ledger row (with its statements, all or
/// nothing); statements are recorded one by one in `migration_steps` only for a split
/// migration, whose segments commit one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_split_migration_records_its_statements_as_steps() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let atomic = t
        .submit(
            &conn,
            "CREATE TABLE a1 (id int);\nCREATE TABLE a2 (id int);",
        )
        .await;
    t.drain().await;
    assert_eq!(t.status(&atomic).await["status"], "completed");
    assert_eq!(ledger_rows(&t).await, 1);
    assert_eq!(
        t.count("SELECT count(*) FROM autodb.migration_steps").await,
        0
    );
    let split = t
        .submit(
            &conn,
            "CREATE TABLE s1 (id int);\nCREATE INDEX CONCURRENTLY s1_id ON s1 (id);",
        )
        .await;
    t.drain().await;
    assert_eq!(t.status(&split).await["status"], "completed");
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM autodb.migration_steps WHERE request_id = '{split}'"
        ))
        .await,
        2
    );
}

/// While a statement runs, the request's progress names it: "Applying statement 2 of 2"
/// is on the status endpoint during the second statement, not only at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_names_the_statement_being_applied() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let id = t
        .submit(&conn, "CREATE TABLE p1 (id int);\nSELECT pg_sleep(2);")
        .await;
    let app = Arc::clone(&t.app);
    let job = request_id(&id);
    let running = tokio::spawn(async move { run_job(&app.executor(), &job).await });
    assert!(wait_until(&t.db().await, SLEEPING).await);
    let mut seen = Vec::new();
    for _ in 0..200 {
        let status = t.status(&id).await;
        seen.push(status["progress"].as_str().unwrap_or_default().to_string());
        if seen
            .last()
            .is_some_and(|p| p == "Applying statement 2 of 2")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("Applying statement 2 of 2"),
        "while the sleep runs; seen: {seen:?}"
    );
    assert_eq!(running.await.unwrap().unwrap(), Outcome::Completed);
    assert_eq!(
        t.status(&id).await["progress"],
        "Completed 2 of 2 statements"
    );
}

/// A statement that fails after earlier segments of a split migration committed: the
/// failure names the statements that stayed applied, which the database shows; a failure
/// in the first segment claims nothing of the kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_committed_segments_names_them_and_a_first_one_does_not() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    t.db()
        .await
        .batch_execute("CREATE TABLE dup (v int); INSERT INTO dup VALUES (1), (1);")
        .await
        .unwrap();
    let split = "CREATE TABLE s1 (id int);\nCREATE INDEX CONCURRENTLY s1_id ON s1 (id);\n\
                 ALTER TABLE dup ADD CONSTRAINT dup_v UNIQUE (v);";
    let id = t.submit(&conn, split).await;
    t.drain().await;
    let status = t.status(&id).await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("statements 1 to 2 were committed and remain applied"),
        "{message}"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_indexes WHERE indexname = 's1_id'")
            .await,
        1
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_constraint WHERE conname = 'dup_v'")
            .await,
        0
    );

    let single = "CREATE TABLE s2 (id int);\nALTER TABLE dup ADD CONSTRAINT dup_w UNIQUE (v);";
    let id = t.submit(&conn, single).await;
    t.drain().await;
    let status = t.status(&id).await;
    assert_eq!(status["status"], "failed", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(!message.contains("remain"), "{message}");
    assert_eq!(
        t.count("SELECT count(*) FROM pg_tables WHERE tablename = 's2'")
            .await,
        0,
        "rolled back with the failure"
    );
}

/// The fence between the segments of a split migration: what committed before the lock was
/// lost is named, and is what the database has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_lost_between_segments_names_what_stayed_applied() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let id = t
        .submit(
            &conn,
            "CREATE TABLE fenced2 (id int);\nCREATE INDEX CONCURRENTLY fenced2_id ON fenced2 (id);",
        )
        .await;
    // The start's renewal and the first segment's fence go through; the fence before the
    // index finds the lock taken.
    let app = losing_the_lock_after(&t, 2);
    assert_eq!(
        run_job(&app.executor(), &request_id(&id)).await.unwrap(),
        Outcome::Failed
    );
    let status = t.status(&id).await;
    assert_eq!(status["error"]["code"], "LOCK_LOST", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("statement 1 was committed and remains applied"),
        "{message}"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'fenced2'")
            .await,
        1
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'fenced2_id'")
            .await,
        0
    );
}
