//! The command line's connection to an autodb service (`autodb serve` or a deployed stack):
//! where it is, the API key, and HTTP calls a pipeline can rely on.
//!
//! Where: `--url`/`--api-key` flags, else the profile named by `--profile` (or
//! `AUTODB_PROFILE`), else `AUTODB_URL`/`AUTODB_API_KEY`, else the config file's
//! `default_profile`. The config file is `AUTODB_CONFIG`, else
//! `$XDG_CONFIG_HOME/autodb/config.toml`, else `~/.config/autodb/config.toml`:
//!
//! ```toml
//! default_profile = "staging"
//! [profiles.staging]
//! url = "https://abc123.execute-api.eu-west-1.amazonaws.com/"
//! api_key_env = "STAGING_AUTODB_KEY"   # or api_key = "…" in a file only you can read
//! ```
//!
//! The key is a `SecretString`: it goes into the `X-API-Key` header and nowhere else.
//!
//! Network behaviour: every call has a timeout; a call that could not connect is retried
//! (nothing was sent); a call marked idempotent (reads, analyze, introspect, and execute,
//! which its token makes idempotent) is also retried after a timeout, a dropped connection,
//! 429 and 5xx, with exponential backoff (honouring `Retry-After`). What is left is one
//! [`Failure`], whose kind is the exit code (README, "Exit codes").

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use autodb::domain::error_code::ApiErrorCode;

/// Why a command did not succeed; the discriminant is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The gate refused a migration, or a migration failed.
    Refused = 1,
    /// A usage or parse error: the command, a file, or what the server found wrong in the
    /// request (4xx other than the two below).
    Usage = 2,
    /// The service could not be reached, or stayed unavailable (5xx, 429) through retries.
    Unreachable = 3,
    /// The API key was refused (401/403), or a token was invalid or expired.
    Auth = 4,
    /// Ctrl-C while waiting for a migration (which goes on).
    Interrupted = 130,
}

/// A command's failure: its exit code and one line for a person.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    /// The service's `error.code`, when the failure is its answer and this version knows
    /// the code.
    pub code: Option<ApiErrorCode>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            code: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }
}

pub type Outcome<T> = Result<T, Failure>;

#[derive(clap::Args, Clone)]
pub struct RemoteArgs {
    /// The service's base URL (`autodb serve`'s address, or the stack's ApiUrl output).
    /// Default: the profile's, else AUTODB_URL.
    #[arg(long, global = true)]
    url: Option<String>,
    /// The API key. Default: the profile's, else AUTODB_API_KEY. Prefer the environment:
    /// a flag is visible to other users of the machine.
    #[arg(long, global = true, hide = true)]
    api_key: Option<String>,
    /// A named profile of the config file (AUTODB_PROFILE).
    #[arg(long, global = true, env = "AUTODB_PROFILE")]
    profile: Option<String>,
    /// Seconds one HTTP call may take.
    #[arg(long, global = true, env = "AUTODB_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// How many times a failed idempotent call is retried.
    #[arg(long, global = true, env = "AUTODB_RETRIES", default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=20))]
    retries: u32,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: std::collections::BTreeMap<String, Profile>,
}

#[derive(serde::Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct Profile {
    url: Option<String>,
    api_key: Option<String>,
    api_key_env: Option<String>,
}

impl Profile {
    fn key(&self) -> Option<String> {
        self.api_key
            .clone()
            .or_else(|| std::env::var(self.api_key_env.as_ref()?).ok())
    }
}

fn config_path() -> Option<std::path::PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(path) = var("AUTODB_CONFIG") {
        return Some(path.into());
    }
    let base = var("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| var("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))?;
    Some(base.join("autodb").join("config.toml"))
}

fn read_config() -> Outcome<ConfigFile> {
    let Some(path) = config_path() else {
        return Ok(ConfigFile::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| Failure::usage(format!("{}: {}", path.display(), e.message()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(Failure::usage(format!("{}: {e}", path.display()))),
    }
}

/// A configured service: where, the key, and the HTTP client.
pub struct Remote {
    base: String,
    key: SecretString,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    retries: u32,
}

/// The API's answer to a call that reached it: the status and the JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// The envelope's `data`, or the body itself (the status poll's bare object).
    pub fn data(self) -> Value {
        match self.body {
            Value::Object(mut map) if map.contains_key("success") => {
                map.remove("data").unwrap_or(Value::Null)
            }
            other => other,
        }
    }
}

impl Remote {
    pub fn from_args(args: &RemoteArgs) -> Outcome<Self> {
        let file = read_config()?;
        let named = args.profile.as_ref().map(|name| {
            file.profiles.get(name).cloned().ok_or_else(|| {
                Failure::usage(format!("no profile `{name}` in the autodb config file"))
            })
        });
        let named = named.transpose()?;
        let fallback = file
            .default_profile
            .as_ref()
            .and_then(|name| file.profiles.get(name).cloned())
            .unwrap_or_default();
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let url = args
            .url
            .clone()
            .or_else(|| named.as_ref().and_then(|p| p.url.clone()))
            .or_else(|| env("AUTODB_URL"))
            .or_else(|| fallback.url.clone())
            .ok_or_else(|| {
                Failure::usage("no service URL: set AUTODB_URL, pass --url, or use a profile")
            })?;
        let key = args
            .api_key
            .clone()
            .or_else(|| named.as_ref().and_then(Profile::key))
            .or_else(|| env("AUTODB_API_KEY"))
            .or_else(|| fallback.key())
            .ok_or_else(|| {
                Failure::new(
                    Exit::Auth,
                    "no API key: set AUTODB_API_KEY, or use a profile with api_key_env",
                )
            })?;
        Self::new(&url, SecretString::from(key), args)
    }

    fn new(url: &str, key: SecretString, args: &RemoteArgs) -> Outcome<Self> {
        let trimmed = url.trim().trim_end_matches('/');
        let base = trimmed
            .strip_suffix("/api/v1")
            .unwrap_or(trimmed)
            .to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::usage(format!(
                "the service URL must start with http:// or https:// (got `{url}`)"
            )));
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::usage(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(args.timeout.min(10))));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            base,
            key,
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout: Duration::from_secs(args.timeout),
            retries: args.retries,
        })
    }

    /// The service's base URL (without `/api/v1`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /api/v1{path}`: idempotent.
    pub async fn get(&self, path: &str) -> Outcome<Answer> {
        self.call(Method::GET, path, None, true).await
    }

    /// `POST /api/v1{path}`; `idempotent` allows retries after the request may have arrived.
    pub async fn post(&self, path: &str, body: &Value, idempotent: bool) -> Outcome<Answer> {
        self.call(Method::POST, path, Some(body), idempotent).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Outcome<Answer> {
        let url = format!("{}/api/v1{path}", self.base);
        let body = Bytes::from(body.map(Value::to_string).unwrap_or_default());
        let mut delay = Duration::from_millis(500);
        let mut attempt = 0;
        loop {
            let request = Request::builder()
                .method(method.clone())
                .uri(&url)
                .header("x-api-key", self.key.expose_secret())
                .header("content-type", "application/json")
                .header(
                    "user-agent",
                    concat!("autodb-cli/", env!("CARGO_PKG_VERSION")),
                )
                .body(Full::new(body.clone()))
                .map_err(|e| Failure::usage(format!("{url}: {e}")))?;
            let last = attempt >= self.retries;
            let wait = match tokio::time::timeout(self.timeout, self.send(request)).await {
                Err(_) if idempotent && !last => delay,
                Err(_) => {
                    return Err(Failure::new(
                        Exit::Unreachable,
                        format!("{method} {url}: no answer within {:?}", self.timeout),
                    ))
                }
                Ok(Err(Sent::NotConnected(_))) if !last => delay,
                Ok(Err(Sent::Lost(_))) if idempotent && !last => delay,
                Ok(Err(Sent::NotConnected(e) | Sent::Lost(e))) => {
                    return Err(Failure::new(
                        Exit::Unreachable,
                        format!("{method} {url}: {e}"),
                    ))
                }
                Ok(Ok((answer, retry_after))) => {
                    let busy = answer.status == StatusCode::TOO_MANY_REQUESTS
                        || answer.status.is_server_error();
                    if !(busy && idempotent && !last) {
                        return judge(&method, &url, answer);
                    }
                    retry_after.map_or(delay, |s| Duration::from_secs(s.min(30)))
                }
            };
            attempt += 1;
            tokio::time::sleep(jitter(wait)).await;
            delay = (delay * 2).min(Duration::from_secs(8));
        }
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<(Answer, Option<u64>), Sent> {
        let response = self.client.request(request).await.map_err(|e| {
            let text = chain(&e);
            if e.is_connect() {
                Sent::NotConnected(text)
            } else {
                Sent::Lost(text)
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.trim().parse().ok());
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Sent::Lost(chain(&e)))?
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&bytes).chars().take(200).collect())
        });
        Ok((Answer { status, body }, retry_after))
    }
}

enum Sent {
    /// No connection was made: nothing reached the server.
    NotConnected(String),
    /// The request may have arrived.
    Lost(String),
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Up to a quarter more, so that many clients retrying together spread out.
fn jitter(wait: Duration) -> Duration {
    wait + wait.mul_f64(rand::random::<f64>() / 4.0)
}

/// A 2xx answer as is; anything else as the failure its status means.
fn judge(method: &Method, url: &str, answer: Answer) -> Outcome<Answer> {
    if answer.status.is_success() {
        return Ok(answer);
    }
    let error = &answer.body["error"];
    let code = error["code"]
        .as_str()
        .or_else(|| answer.body["message"].as_str())
        .unwrap_or("");
    let message = error["message"]
        .as_str()
        .or(answer.body.as_str())
        .unwrap_or("");
    let known = ApiErrorCode::parse(code);
    let exit = known.map_or_else(|| exit_for_status(answer.status), exit_for);
    Err(Failure {
        code: known,
        ..Failure::new(
            exit,
            format!(
                "{method} {url}: {} {code}{}{message}",
                answer.status.as_u16(),
                if code.is_empty() || message.is_empty() {
                    ""
                } else {
                    ": "
                },
            ),
        )
    })
}

/// The exit code an error response means, decided by its `error.code` (each code has one
/// status, but a status does not tell a refused migration from a malformed request).
fn exit_for(code: ApiErrorCode) -> Exit {
    use ApiErrorCode as C;
    match code {
        C::Unauthorized
        | C::Forbidden
        | C::TokenInvalid
        | C::TokenExpired
        | C::TokenMismatch
        | C::AnalysisUnknown => Exit::Auth,
        C::ApprovalRequired
        | C::ApprovalRejected
        | C::SelfApproval
        | C::MigrationInProgress
        | C::AlreadyDecided
        | C::MigrationRefused => Exit::Refused,
        C::InvalidJson
        | C::NotFound
        | C::MethodNotAllowed
        | C::PayloadTooLarge
        | C::ValidationError
        | C::SqlParseError => Exit::Usage,
        C::RequestTimeout | C::RateLimited | C::Internal | C::DependencyUnavailable => {
            Exit::Unreachable
        }
    }
}

/// A body without a code this version knows (a gateway's own answer, a newer server's code):
/// the status decides.
fn exit_for_status(status: StatusCode) -> Exit {
    match status.as_u16() {
        401 | 403 => Exit::Auth,
        409 => Exit::Refused,
        408 | 429 | 500..=599 => Exit::Unreachable,
        _ => Exit::Usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body,
        }
    }

    #[test]
    fn each_status_means_one_exit_code() {
        let error = |code: &str| serde_json::json!({"success": false, "error": {"code": code, "message": "m"}});
        let exit = |status, body| {
            judge(&Method::GET, "u", answer(status, body))
                .err()
                .map(|f| f.exit)
        };
        assert_eq!(exit(200, serde_json::json!({})), None);
        assert_eq!(exit(401, error("UNAUTHORIZED")), Some(Exit::Auth));
        assert_eq!(exit(401, error("TOKEN_EXPIRED")), Some(Exit::Auth));
        assert_eq!(exit(403, error("FORBIDDEN")), Some(Exit::Auth));
        assert_eq!(
            exit(409, error("MIGRATION_IN_PROGRESS")),
            Some(Exit::Refused)
        );
        assert_eq!(exit(404, error("NOT_FOUND")), Some(Exit::Usage));
        assert_eq!(exit(422, error("SQL_PARSE_ERROR")), Some(Exit::Usage));
        assert_eq!(
            exit(503, error("DEPENDENCY_UNAVAILABLE")),
            Some(Exit::Unreachable)
        );
        // API Gateway's own throttling body is not the envelope.
        let throttled = judge(
            &Method::GET,
            "u",
            answer(429, serde_json::json!({"message": "Too Many Requests"})),
        )
        .unwrap_err();
        assert_eq!(throttled.exit, Exit::Unreachable);
        assert!(
            throttled.message.contains("429 Too Many Requests"),
            "{}",
            throttled.message
        );
    }

    #[test]
    fn the_code_decides_where_the_status_would_mislead() {
        let error = |code: &str| serde_json::json!({"success": false, "error": {"code": code, "message": "m"}});
        let exit = |code: ApiErrorCode| {
            judge(
                &Method::POST,
                "u",
                answer(code.status().as_u16(), error(code.as_str())),
            )
            .unwrap_err()
            .exit
        };
        // A refusal by the gate is 1 whatever its status; a token for other SQL is a token
        // problem, not a usage error.
        assert_eq!(exit(ApiErrorCode::MigrationRefused), Exit::Refused);
        assert_eq!(exit(ApiErrorCode::ApprovalRequired), Exit::Refused);
        assert_eq!(exit(ApiErrorCode::ApprovalRejected), Exit::Refused);
        assert_eq!(exit(ApiErrorCode::SelfApproval), Exit::Refused);
        assert_eq!(exit(ApiErrorCode::TokenMismatch), Exit::Auth);
        assert_eq!(exit(ApiErrorCode::RequestTimeout), Exit::Unreachable);
        // Every other code means what its status means.
        let differ: Vec<&str> = ApiErrorCode::ALL
            .iter()
            .filter(|c| exit_for(**c) != exit_for_status(c.status()))
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            differ,
            [
                "TOKEN_MISMATCH",
                "APPROVAL_REQUIRED",
                "APPROVAL_REJECTED",
                "SELF_APPROVAL",
                "MIGRATION_REFUSED"
            ]
        );
        // A code this version does not know: the status decides.
        let newer = |status| {
            judge(&Method::POST, "u", answer(status, error("SOMETHING_NEW")))
                .unwrap_err()
                .exit
        };
        assert_eq!(newer(403), Exit::Auth);
        assert_eq!(newer(409), Exit::Refused);
        assert_eq!(newer(408), Exit::Unreachable);
        assert_eq!(newer(422), Exit::Usage);
        // The failure keeps the code it knows, for a caller that acts on one (a 404 status
        // poll, an absent snapshot).
        let missing = judge(&Method::GET, "u", answer(404, error("NOT_FOUND"))).unwrap_err();
        assert_eq!(missing.code, Some(ApiErrorCode::NotFound));
        let gateway = judge(
            &Method::GET,
            "u",
            answer(404, serde_json::json!({"message": "Not Found"})),
        )
        .unwrap_err();
        assert_eq!((gateway.exit, gateway.code), (Exit::Usage, None));
    }

    #[test]
    fn the_base_url_takes_the_service_or_its_api_root() {
        let args = RemoteArgs {
            url: None,
            api_key: None,
            profile: None,
            timeout: 5,
            retries: 0,
        };
        let key = || SecretString::from("k".to_string());
        for url in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/api/v1/",
        ] {
            assert_eq!(
                Remote::new(url, key(), &args).unwrap().base(),
                "http://127.0.0.1:8080"
            );
        }
        assert_eq!(
            Remote::new("localhost:8080", key(), &args)
                .err()
                .unwrap()
                .exit,
            Exit::Usage
        );
    }

    #[test]
    fn the_envelope_gives_its_data_and_a_bare_object_itself() {
        let enveloped = answer(
            200,
            serde_json::json!({"success": true, "data": {"a": 1}, "error": null}),
        );
        assert_eq!(enveloped.data(), serde_json::json!({"a": 1}));
        let bare = answer(
            200,
            serde_json::json!({"request_id": "req_1", "status": "pending"}),
        );
        assert_eq!(bare.data()["status"], "pending");
    }
}
