//! `TestApp`: the real application with isolated state, for one test.
//!
//! Each test gets its own PostgreSQL database (in the cluster `scripts/test` started, named
//! by `AUTODB_TEST_PG_URL`), its own data directory (local backend) or its own DynamoDB
//! table, SQS queue and signing-key secret (AWS backend, on the moto server named by
//! `AWS_ENDPOINT_URL`), and its own clock. Nothing is shared between tests but the servers.

use std::sync::Arc;

use autodb::adapters::aws::{build_app, dynamo, AwsResources};
use autodb::adapters::local::service;
use autodb::app::api_keys::{self, NewKey};
use autodb::app::{App, Settings};
use autodb::domain::access::{Principal, Role, DEFAULT_TENANT};
use autodb::domain::RequestId;
use autodb::executor::{run_job, Outcome};
use autodb::ports::Store;
use autodb::ports::{Clock, ManualClock};
use autodb::sandbox::{Sandbox, SandboxSettings, UrlServer};
use autodb::token::KeyRing;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Mutex;
use tokio_postgres::NoTls;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    Aws,
}

enum Jobs {
    Local(Mutex<UnboundedReceiver<RequestId>>),
    Aws {
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
    },
}

pub struct TestApp {
    pub app: Arc<App>,
    pub router: Router,
    /// The default tenant's key with every role.
    pub api_key: String,
    /// A second key of the default tenant with only the `approve` role: what
    /// [`TestApp::approve`] uses when an analysis needs another key's approval.
    pub approver_key: String,
    pub clock: Arc<ManualClock>,
    pub db_url: String,
    jobs: Jobs,
    _data_dir: Option<TempDir>,
}

/// A directory removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("autodb-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `autodb serve` as a process on port 0 with `data` as its data directory and `key` as its
/// API key; returns it (killed when dropped) and the address it listens on. Its output is
/// read on, so that it never blocks on a full pipe. Built on [`serve_command`] and
/// [`listening`], as `serve.rs`'s own starts are.
pub async fn serve_process(
    data: &std::path::Path,
    key: &str,
    args: &[&str],
) -> (tokio::process::Child, std::net::SocketAddr) {
    use tokio::io::AsyncBufReadExt;
    let mut child = serve_command(data, &[("AUTODB_API_KEY", key), ("RUST_LOG", "warn")])
        .args(args)
        .spawn()
        .expect("start autodb serve");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = listening(&mut lines, |_| {}).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with scripts/test, which starts PostgreSQL and moto"
        )
    })
}

/// A fresh, empty database in the test cluster; returns its URL.
pub async fn create_database() -> String {
    create_database_as("").await
}

/// A copy of the database at `template` (a URL [`create_database`] returned, with no session
/// open on it): a file copy, much faster than running the template's DDL again.
pub async fn clone_database(template: &str) -> String {
    let name = template.rsplit_once('/').expect("URL with a database").1;
    create_database_as(&format!(" TEMPLATE {name}")).await
}

async fn create_database_as(clause: &str) -> String {
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    admin()
        .await
        .batch_execute(&format!("CREATE DATABASE {name}{clause}"))
        .await
        .expect("create test database");
    let admin = env("AUTODB_TEST_PG_URL");
    let base = admin.rsplit_once('/').expect("URL with a database").0;
    format!("{base}/{name}")
}

/// A session on the test cluster's `postgres` database, as its superuser.
pub async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&env("AUTODB_TEST_PG_URL"), NoTls)
        .await
        .expect("connect to the test cluster");
    tokio::spawn(conn);
    client
}

/// Drops a database [`create_database`] made, for tests that make many: the cluster is
/// discarded after the run anyway, but not its disk space during it.
pub async fn drop_database(url: &str) {
    let name = url.rsplit_once('/').expect("URL with a database").1;
    admin()
        .await
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .expect("drop test database");
}

pub async fn aws_sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(env("AWS_ENDPOINT_URL"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// Creates a table, a queue and a signing-key secret with unique names on moto.
/// A new SQS queue on moto named `name`; returns its URL and ARN.
pub async fn sqs_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue URL");
    let arn = queue_arn(sqs, &url).await;
    (url, arn)
}

/// The ARN of the moto queue at `url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("queue ARN")
}

pub async fn aws_resources(sdk: &aws_config::SdkConfig) -> AwsResources {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let table = format!("autodb-{suffix}");
    dynamo::create_table(&aws_sdk_dynamodb::Client::new(sdk), &table)
        .await
        .expect("create table on moto");
    let queue_url = aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(format!("autodb-jobs-{suffix}"))
        .send()
        .await
        .expect("create queue on moto")
        .queue_url
        .expect("queue url");
    let signing_key_secret = aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(format!("autodb/signing-key-{suffix}"))
        .secret_string(KeyRing::generate().to_secret())
        .send()
        .await
        .expect("create signing key on moto")
        .arn
        .expect("secret arn");
    AwsResources {
        table,
        queue_url,
        signing_key_secret: Some(signing_key_secret),
    }
}

/// The AWS application on fresh moto resources (see [`aws_resources`]), on `clock`.
pub async fn aws_app(sdk: &aws_config::SdkConfig, clock: Arc<ManualClock>) -> (App, AwsResources) {
    let resources = aws_resources(sdk).await;
    let app = build_app(sdk, &resources, settings(), clock as Arc<dyn Clock>)
        .await
        .expect("build AWS app");
    (app, resources)
}

/// Registers a fresh test database through the use case (no API key needed); returns the
/// connection id.
pub async fn register_database(app: &App) -> String {
    autodb::app::connections::register(
        app,
        &operator(),
        autodb::app::connections::NewConnection {
            production: false,
            name: "test".into(),
            db_type: autodb::domain::DbType::Postgresql,
            credentials: autodb::app::connections::Credentials::ConnectionString(
                create_database().await.into(),
            ),
            lock_timeout_ms: None,
            max_connections: None,
        },
    )
    .await
    .expect("register")
    .id
    .to_string()
}

/// A principal of the default tenant with every role, for tests that call use cases
/// directly.
pub fn operator() -> Principal {
    Principal::operator("key_test_operator")
}

/// Creates a key of `tenant` with `roles` (all of its tenant's connections) in `store`;
/// returns the key.
pub async fn add_key(store: &dyn Store, tenant: &str, roles: &[Role]) -> String {
    add_scoped_key(store, Utc::now(), tenant, roles, None).await
}

/// [`add_key`], limited to `connections` when given.
pub async fn add_scoped_key(
    store: &dyn Store,
    now: chrono::DateTime<Utc>,
    tenant: &str,
    roles: &[Role],
    connections: Option<&[&str]>,
) -> String {
    let (key, _) = api_keys::create(
        store,
        now,
        &operator(),
        NewKey {
            tenant: tenant.into(),
            roles: roles.iter().copied().collect(),
            connections: connections.map(|c| c.iter().map(|s| s.to_string()).collect()),
        },
    )
    .await
    .expect("create key");
    key.expose_secret().to_string()
}

pub fn settings() -> Settings {
    Settings {
        lock_timeout_ms: 2_000,
        statement_timeout_ms: 30_000,
        secret_prefix: format!("autodb-test/{}/", uuid::Uuid::new_v4().simple()),
        ..Settings::default()
    }
}

impl TestApp {
    /// Gives this app a sandbox on the test cluster, under its own database name prefix
    /// (returned), so tests sharing the cluster never sweep each other's databases.
    pub fn with_sandbox(&self) -> String {
        self.with_sandbox_settings(|_| {})
    }

    /// [`TestApp::with_sandbox`], with its settings changed by `change` first.
    pub fn with_sandbox_settings(&self, change: impl FnOnce(&mut SandboxSettings)) -> String {
        let url = std::env::var("AUTODB_TEST_PG_URL").expect("AUTODB_TEST_PG_URL");
        self.with_sandbox_at(&url, change)
    }

    /// A sandbox on the server at `url`.
    pub fn with_sandbox_at(&self, url: &str, change: impl FnOnce(&mut SandboxSettings)) -> String {
        let prefix = format!(
            "autodb_t{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        let mut settings = SandboxSettings {
            prefix: prefix.clone(),
            estimate_rows: 500,
            ..SandboxSettings::default()
        };
        change(&mut settings);
        let sandbox = Sandbox::new(Arc::new(UrlServer(url.to_string().into())), settings);
        assert!(self.app.sandbox.set(Arc::new(sandbox)).is_ok());
        prefix
    }

    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_local_with(backend, settings()).await
    }

    /// [`TestApp::spawn`], with `local` as the local backend's settings (the AWS backend
    /// keeps [`settings`]).
    pub async fn spawn_local_with(backend: Backend, local: Settings) -> Self {
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
        ));
        let db_url = create_database().await;
        let (app, jobs, data_dir) = match backend {
            Backend::Local => {
                let dir = TempDir::new();
                // A directory autodb creates itself, as `serve` would.
                let parts =
                    service::open(&dir.0.join("data"), local, clock.clone() as Arc<dyn Clock>)
                        .expect("open local service");
                (parts.app, Jobs::Local(Mutex::new(parts.jobs)), Some(dir))
            }
            Backend::Aws => {
                let sdk = aws_sdk().await;
                let (app, resources) = aws_app(&sdk, clock.clone()).await;
                let jobs = Jobs::Aws {
                    sqs: aws_sdk_sqs::Client::new(&sdk),
                    queue_url: resources.queue_url.clone(),
                };
                (Arc::new(app), jobs, None)
            }
        };
        let now = clock.now();
        let api_key =
            add_scoped_key(app.store.as_ref(), now, DEFAULT_TENANT, &Role::ALL, None).await;
        let approver_key = add_scoped_key(
            app.store.as_ref(),
            now,
            DEFAULT_TENANT,
            &[Role::Approve],
            None,
        )
        .await;
        Self {
            approver_key,
            router: autodb::api::router(Arc::clone(&app)),
            app,
            api_key,
            clock,
            db_url,
            jobs,
            _data_dir: data_dir,
        }
    }

    /// The AWS backend's jobs queue: its client and URL.
    pub fn jobs_queue(&self) -> Option<(aws_sdk_sqs::Client, String)> {
        match &self.jobs {
            Jobs::Aws { sqs, queue_url } => Some((sqs.clone(), queue_url.clone())),
            Jobs::Local(_) => None,
        }
    }

    pub fn data_dir(&self) -> Option<std::path::PathBuf> {
        self._data_dir.as_ref().map(|d| d.0.join("data"))
    }

    /// Sends a request through the router; returns the status and the JSON body.
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let response = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router is infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!("response is not JSON: {}", String::from_utf8_lossy(&bytes))
        });
        (status, body)
    }

    pub fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Request<Body> {
        self.request_as(&self.api_key, method, path, body)
    }

    /// A request with `key` as its `X-API-Key`.
    pub fn request_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Request<Body> {
        let builder = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header("x-api-key", key)
            .header("content-type", "application/json");
        builder
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.request(Method::POST, path, Some(&body)))
            .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(Method::GET, path, None)).await
    }

    /// `method path` with `body`, as `key`.
    pub async fn call_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send(self.request_as(key, method, path, body.as_ref()))
            .await
    }

    /// A new key of `tenant` with `roles`.
    pub async fn key(&self, tenant: &str, roles: &[Role]) -> String {
        self.scoped_key(tenant, roles, None).await
    }

    /// A new key of `tenant` with `roles`, limited to `connections` when given.
    pub async fn scoped_key(
        &self,
        tenant: &str,
        roles: &[Role],
        connections: Option<&[&str]>,
    ) -> String {
        let now = self.clock.now();
        add_scoped_key(self.app.store.as_ref(), now, tenant, roles, connections).await
    }

    /// Registers the test's database; returns the connection id.
    pub async fn connect(&self) -> String {
        let (status, body) = self
            .post(
                "/connections",
                json!({"name": "test", "db_type": "postgresql", "connection_string": self.db_url}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["id"].as_str().expect("id").to_string()
    }

    pub async fn analyze(&self, conn: &str, sql: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/connections/{conn}/migrations/analyze"),
            json!({"sql": sql}),
        )
        .await
    }

    /// Has [`TestApp::approver_key`] approve the analysis of `report` (an analyze response)
    /// if its risk needs a second key (`needs_approval`).
    pub async fn second_approval(&self, report: &Value) {
        if report["data"]["needs_approval"] != true {
            return;
        }
        let id = report["data"]["analysis_id"].as_str().expect("analysis_id");
        let (status, approved) = self
            .call_as(
                &self.approver_key,
                Method::POST,
                &format!("/migrations/analyses/{id}/approve"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{approved}");
    }

    /// Analyzes `sql`, and has [`TestApp::approver_key`] approve it if its risk needs a
    /// second key; returns the approval token.
    pub async fn approve(&self, conn: &str, sql: &str) -> String {
        let (status, body) = self.analyze(conn, sql).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.second_approval(&body).await;
        body["data"]["approval_token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    pub async fn execute(&self, token: &str, sql: &str, conn: &str) -> (StatusCode, Value) {
        self.post(
            "/migrations/execute",
            json!({"approval_token": token, "sql": sql, "connection_id": conn}),
        )
        .await
    }

    /// Approves and executes `sql`; returns the new request's id.
    pub async fn submit(&self, conn: &str, sql: &str) -> String {
        let token = self.approve(conn, sql).await;
        let (status, accepted) = self.execute(&token, sql, conn).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        accepted["data"]["request_id"]
            .as_str()
            .expect("request_id")
            .to_string()
    }

    /// Approves `sql`, lets `meanwhile` change the database (as the test's superuser), then
    /// executes and drains; returns the final status.
    pub async fn approve_change_execute(&self, conn: &str, sql: &str, meanwhile: &str) -> Value {
        let token = self.approve(conn, sql).await;
        self.db().await.batch_execute(meanwhile).await.unwrap();
        let (status, body) = self.execute(&token, sql, conn).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        self.drain().await;
        self.status(body["data"]["request_id"].as_str().unwrap())
            .await
    }

    pub async fn status(&self, request_id: &str) -> Value {
        let (status, body) = self
            .get(&format!("/migrations/requests/{request_id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Runs every queued job to its end, as the executor would; returns the outcomes.
    pub async fn drain(&self) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        match &self.jobs {
            Jobs::Local(rx) => {
                let mut rx = rx.lock().await;
                while let Ok(id) = rx.try_recv() {
                    outcomes.push(run_job(&self.app.executor(), &id).await.expect("run job"));
                }
            }
            Jobs::Aws { sqs, queue_url } => loop {
                let received = sqs
                    .receive_message()
                    .queue_url(queue_url)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .expect("receive");
                let messages = received.messages.unwrap_or_default();
                if messages.is_empty() {
                    break;
                }
                for m in messages {
                    let body: Value =
                        serde_json::from_str(m.body().unwrap_or("{}")).expect("job body");
                    let id = RequestId::parse(body["request_id"].as_str().unwrap_or(""))
                        .expect("request id");
                    outcomes.push(run_job(&self.app.executor(), &id).await.expect("run job"));
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .send()
                        .await
                        .expect("delete");
                }
            },
        }
        outcomes
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.db_url, NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db().await.query_one(sql, &[]).await.expect(sql).get(0)
    }
}

/// Polls (bounded: 10 s) until `probe`, a `SELECT count(*) …`, counts a row; whether it did.
/// For fault tests that must stop a run at a given point.
pub async fn wait_until(client: &tokio_postgres::Client, probe: &str) -> bool {
    for _ in 0..200 {
        let n: i64 = client.query_one(probe, &[]).await.expect(probe).get(0);
        if n > 0 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// A session running `SELECT pg_sleep(…)`, for [`wait_until`].
pub const SLEEPING: &str = "SELECT count(*) FROM pg_stat_activity \
     WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'";

/// Runs a job as a queue would after a crash: again while the database is busy (a dead
/// session may hold the advisory lock until PostgreSQL notices it is gone), bounded.
pub async fn run_until_not_busy(app: &App, id: &RequestId) -> Outcome {
    let mut outcome = Outcome::Busy;
    for _ in 0..40 {
        outcome = run_job(&app.executor(), id).await.expect("run job");
        if outcome != Outcome::Busy {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    outcome
}

/// The operations an analyze report lists, in order.
pub fn operations(report: &Value) -> Vec<&str> {
    report["data"]["statements"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| s["operation"].as_str().expect("operation"))
        .collect()
}

/// Runs each named `async fn NAME(backend: Backend)` of the calling module twice, as
/// `local::NAME` (SQLite, in-process queue, file secrets) and `aws::NAME` (DynamoDB, SQS and
/// Secrets Manager on moto).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Local).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Aws).await
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// `autodb serve` on a free loopback port over `data_dir`, with `env` set and stdout piped
/// (read it with [`listening`]); killed when dropped. Further arguments may follow.
pub fn serve_command(data_dir: &std::path::Path, env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_autodb"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Reads `autodb serve`'s stdout up to its "listening" line, handing every line to `each`;
/// the address it listens on.
pub async fn listening(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    mut each: impl FnMut(&str),
) -> std::net::SocketAddr {
    loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("autodb serve exited before listening");
        each(&line);
        if let Some(rest) = line.strip_prefix("autodb listening on http://") {
            return rest.split('/').next().unwrap().parse().unwrap();
        }
    }
}

/// Sends SIGTERM to `child`, as an operator stops `autodb serve`.
pub fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Stops `autodb serve` ([`sigterm`]) and waits, bounded, for it to exit.
pub async fn stop(child: &mut tokio::process::Child) {
    sigterm(child);
    tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .expect("autodb serve stopped")
        .unwrap();
}

/// One HTTP/1.1 exchange with a process on `addr` (`Connection: close`): the status and the
/// whole response text (head and body).
pub async fn http_call(
    addr: std::net::SocketAddr,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "{method} /api/v1{path} HTTP/1.1\r\nHost: autodb\r\nConnection: close\r\n\
         X-API-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
    Ok((status, response))
}

/// The JSON body of a response [`http_call`] returned.
pub fn json_body(response: &str) -> Value {
    response
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null)
}
