//! A Lambda Runtime API emulator, a recording proxy in front of moto, and the real function
//! binaries run as child processes against both: the deployed path from runtime protocol to
//! AWS calls, without AWS.
//!
//! The emulator implements what a custom runtime talks to
//! (`/2018-06-01/runtime/invocation/next`, `…/{id}/response`, `…/{id}/error`,
//! `/2018-06-01/runtime/init/error`) and hands out one event per `invoke`. The proxy forwards
//! every AWS call of one function to moto and records its operation (`X-Amz-Target`, which the
//! SDK sends for DynamoDB, SQS and Secrets Manager alike), so a test knows exactly which API
//! calls each function made.
//!
//! The function binaries are built once per test run with `cargo build -p autodb-<name>`
//! into the test's own target directory, without the root package's `local` feature, as Lambda
//! gets them. `AUTODB_LAMBDA_BIN_DIR` names prebuilt ones instead (`scripts/bench-lambda`
//! points it at the release build).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{oneshot, Notify};

/// The four functions, by binary name.
pub const FUNCTIONS: [&str; 4] = ["analyze", "execute", "status", "executor"];

/// Where the function binaries are, building them on first use.
pub fn function_binary(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        if let Ok(dir) = std::env::var("AUTODB_LAMBDA_BIN_DIR") {
            return PathBuf::from(dir);
        }
        // The test executable is <target>/<profile>/deps/api-<hash>.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target layout");
        let target_dir = profile_dir.parent().expect("target layout");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build
            .args(["build", "--quiet", "--target-dir"])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        for f in FUNCTIONS {
            build.args(["-p", &format!("autodb-{f}")]);
        }
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build for the functions");
        assert!(status.success(), "building the function binaries failed");
        profile_dir.to_path_buf()
    });
    // cargo lambda's layout (<dir>/<name>/bootstrap) or cargo's (<dir>/<name>).
    let lambda_layout = dir.join(name).join("bootstrap");
    if lambda_layout.is_file() {
        lambda_layout
    } else {
        dir.join(name)
    }
}

type Outcome = Result<Value, Value>;

#[derive(Default)]
struct Shared {
    events: Mutex<VecDeque<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    event_ready: Notify,
    init_error: Mutex<Option<Value>>,
}

/// One function's runtime endpoint: events go in through [`Emulator::invoke`], the function
/// fetches them from `/next` and posts its answers back.
pub struct Emulator {
    shared: Arc<Shared>,
    pub address: std::net::SocketAddr,
}

impl Emulator {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(|s, p, b| answer(s, p, b, true)),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(|s, p, b| answer(s, p, b, false)),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the emulator");
        let address = listener.local_addr().expect("emulator address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { shared, address }
    }

    /// Hands `event` to the function and waits for its response (`Ok`) or error (`Err`).
    pub async fn invoke(&self, event: Value) -> Outcome {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().unwrap().insert(id.clone(), tx);
        self.shared.events.lock().unwrap().push_back((id, event));
        self.shared.event_ready.notify_one();
        match tokio::time::timeout(Duration::from_secs(120), rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!(
                "the function did not answer (init error: {:?})",
                self.shared.init_error.lock().unwrap()
            ),
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    loop {
        let notified = shared.event_ready.notified();
        if let Some((id, event)) = shared.events.lock().unwrap().pop_front() {
            let deadline = chrono::Utc::now().timestamp_millis() + 900_000;
            return (
                [
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:autodb-test".into(),
                    ),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000".into(),
                    ),
                    ("content-type", "application/json".into()),
                ],
                event.to_string(),
            )
                .into_response();
        }
        notified.await;
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
    ok: bool,
) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match shared.waiting.lock().unwrap().remove(&id) {
        Some(tx) => {
            let _ = tx.send(if ok { Ok(value) } else { Err(value) });
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().unwrap() = Some(serde_json::from_slice(&body).unwrap_or(Value::Null));
    StatusCode::ACCEPTED
}

/// Forwards to moto and records each call as `service:Operation` (e.g. `dynamodb:PutItem`).
pub struct RecordingProxy {
    calls: Arc<Mutex<BTreeSet<String>>>,
    secrets_read: Arc<Mutex<BTreeSet<String>>>,
    pub url: String,
}

impl RecordingProxy {
    pub async fn start(upstream: String) -> Self {
        let calls = Arc::new(Mutex::new(BTreeSet::new()));
        let secrets_read = Arc::new(Mutex::new(BTreeSet::new()));
        let read = Arc::clone(&secrets_read);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Body>();
        let recorded = Arc::clone(&calls);
        let app = Router::new().fallback(move |request: Request| {
            let client = client.clone();
            let recorded = Arc::clone(&recorded);
            let upstream = upstream.clone();
            let read = Arc::clone(&read);
            async move {
                let call = operation(request.method(), request.uri(), request.headers());
                let (mut parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .expect("request body");
                if call == "secretsmanager:GetSecretValue" {
                    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
                    if let Some(id) = request["SecretId"].as_str() {
                        read.lock().unwrap().insert(id.to_string());
                    }
                }
                recorded.lock().unwrap().insert(call);
                let body = Body::from(body);
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                parts.uri = format!("{upstream}{path}").parse().expect("upstream URI");
                match client.request(Request::from_parts(parts, body)).await {
                    Ok(response) => response.map(Body::new).into_response(),
                    Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            calls,
            secrets_read,
            url,
        }
    }

    pub fn calls(&self) -> BTreeSet<String> {
        self.calls.lock().unwrap().clone()
    }

    /// The `SecretId` of every `GetSecretValue`.
    pub fn secrets_read(&self) -> BTreeSet<String> {
        self.secrets_read.lock().unwrap().clone()
    }
}

/// The IAM-style name of a call: `X-Amz-Target: DynamoDB_20120810.PutItem` →
/// `dynamodb:PutItem` (likewise `AmazonSQS.*`, `secretsmanager.*`, `AWSEvents.*`); S3 has
/// no target header, so a path-style object read or write is `s3:GetObject` (with a
/// `versionId`, `s3:GetObjectVersion`) / `s3:PutObject` by its method. Anything else is recorded as it came, so a call the map
/// does not know fails the test instead of passing unseen.
fn operation(method: &axum::http::Method, uri: &axum::http::Uri, headers: &HeaderMap) -> String {
    if let Some((service, op)) = headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.split_once('.'))
    {
        let service = match service {
            s if s.starts_with("DynamoDB") => "dynamodb",
            "AmazonSQS" => "sqs",
            "secretsmanager" => "secretsmanager",
            "AWSEvents" => "events",
            other => other,
        };
        return format!("{service}:{op}");
    }
    let object = uri
        .path()
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(bucket, key)| !bucket.is_empty() && !key.is_empty());
    match (object, method.as_str()) {
        // A read of a given version needs its own permission.
        (true, "GET" | "HEAD")
            if uri
                .query()
                .is_some_and(|q| q.split('&').any(|p| p.starts_with("versionId="))) =>
        {
            "s3:GetObjectVersion".into()
        }
        (true, "GET" | "HEAD") => "s3:GetObject".into(),
        (true, "PUT") => "s3:PutObject".into(),
        _ => format!("unknown:{method} {}", uri.path()),
    }
}

/// A function binary running under its own emulator, its AWS calls through its own proxy.
pub struct Function {
    pub name: &'static str,
    pub emulator: Emulator,
    pub proxy: RecordingProxy,
    /// Killed when the function is dropped (`kill_on_drop`).
    _child: tokio::process::Child,
}

impl Function {
    /// Starts `name` with `env` (the template's variables) plus what Lambda sets.
    pub async fn start(name: &'static str, env: &[(&str, String)]) -> Self {
        let binary = function_binary(name);
        let emulator = Emulator::start().await;
        let moto = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (moto)");
        let proxy = RecordingProxy::start(moto).await;
        let mut command = tokio::process::Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", emulator.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("autodb-{name}"))
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/autodb-{name}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &proxy.url)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .kill_on_drop(true);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        Self {
            name,
            emulator,
            proxy,
            _child: child,
        }
    }

    pub async fn invoke(&self, event: Value) -> Outcome {
        self.emulator.invoke(event).await
    }

    /// Invokes an HTTP function; its status and decoded JSON body.
    pub async fn http(&self, event: Value) -> (u16, Value) {
        http_answer(self.invoke(event).await)
    }
}

/// An API Gateway HTTP API (payload 2.0) event, from the sample in `infra/events/`.
pub fn http_event(method: &str, path: &str, api_key: &str, body: Option<&Value>) -> Value {
    let sample = format!(
        "{}/infra/events/apigw-v2-execute.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(sample).expect("sample event"))
            .expect("sample event JSON");
    event["routeKey"] = Value::String(format!("{method} {path}"));
    event["rawPath"] = Value::String(path.into());
    event["requestContext"]["http"]["method"] = Value::String(method.into());
    event["requestContext"]["http"]["path"] = Value::String(path.into());
    event["requestContext"]["routeKey"] = event["routeKey"].clone();
    event["headers"]["x-api-key"] = Value::String(api_key.into());
    match body {
        Some(b) => event["body"] = Value::String(b.to_string()),
        None => {
            event.as_object_mut().expect("object").remove("body");
        }
    }
    event
}

/// An HTTP function's answer: status and decoded JSON body.
fn http_answer(outcome: Outcome) -> (u16, Value) {
    let response = outcome.unwrap_or_else(|e| panic!("the function reported an error: {e}"));
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    let body = response["body"].as_str().unwrap_or("null");
    let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.into()));
    (status, body)
}
