//! The Lambda entry points, driven by the sample events in `infra/events/` (API Gateway HTTP
//! API payload 2.0 and SQS), against moto and PostgreSQL: the same path a deployed function
//! takes from event to response.

use autodb::lambda::{handle_sqs, LambdaConfig, Tokens};
use autodb::ports::Clock;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::request::LambdaRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::{Backend, TestApp};

fn event(name: &str, replacements: &[(&str, &str)]) -> String {
    let path = format!("{}/infra/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    text
}

/// Runs an API Gateway event through `lambda_http`'s adapter around the router, as
/// `lambda_http::run` does; returns the status code and the decoded JSON body.
async fn invoke_http(t: &TestApp, name: &str, replacements: &[(&str, &str)]) -> (u16, Value) {
    let request: LambdaRequest =
        serde_json::from_str(&event(name, replacements)).expect("a valid API Gateway v2 event");
    let adapter = lambda_http::Adapter::from(t.router.clone());
    let response = adapter
        .oneshot(LambdaEvent::new(request, Context::default()))
        .await
        .expect("router is infallible");
    let response = serde_json::to_value(&response).expect("serializable response");
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    let body = response["body"].as_str().unwrap_or("null");
    (status, serde_json::from_str(body).expect("JSON body"))
}

fn sqs_event(request_id: &str, receives: u32) -> SqsEvent {
    let text = event("sqs-job.json", &[("PLACEHOLDER_REQUEST_ID", request_id)]).replace(
        "\"ApproximateReceiveCount\": \"1\"",
        &format!("\"ApproximateReceiveCount\": \"{receives}\""),
    );
    serde_json::from_str(&text).expect("a valid SQS event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_events_and_sqs_executor_end_to_end() {
    let t = TestApp::spawn(Backend::Aws).await;
    t.db()
        .await
        .batch_execute("CREATE TABLE users (id int PRIMARY KEY)")
        .await
        .unwrap();

    let (status, health) = invoke_http(&t, "apigw-v2-healthz.json", &[]).await;
    assert_eq!((status, &health["success"]), (200, &Value::Bool(true)));
    let (status, denied) = invoke_http(&t, "apigw-v2-no-api-key.json", &[]).await;
    assert_eq!(
        (status, denied["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );

    let (status, created) = invoke_http(
        &t,
        "apigw-v2-create-connection.json",
        &[
            ("PLACEHOLDER_API_KEY", &t.api_key),
            ("PLACEHOLDER_DATABASE_URL", &t.db_url),
        ],
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let conn = created["data"]["id"].as_str().unwrap().to_string();

    let sql = "ALTER TABLE users ADD COLUMN email varchar(20);";
    let token = t.approve(&conn, sql).await;
    let placeholders = [
        ("PLACEHOLDER_API_KEY", t.api_key.as_str()),
        ("PLACEHOLDER_TOKEN", token.as_str()),
        ("PLACEHOLDER_SQL", sql),
        ("PLACEHOLDER_CONNECTION_ID", conn.as_str()),
    ];
    let (status, accepted) = invoke_http(&t, "apigw-v2-execute.json", &placeholders).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["data"]["request_id"].as_str().unwrap().to_string();

    let response = handle_sqs(&t.app, sqs_event(&id, 1), None).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    let (status, polled) = invoke_http(
        &t,
        "apigw-v2-status.json",
        &[
            ("PLACEHOLDER_API_KEY", &t.api_key),
            ("PLACEHOLDER_REQUEST_ID", &id),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(polled["status"], "completed", "{polled}");
    assert_eq!(polled["result"]["columns_added"][0]["type"], "varchar(20)");

    // A redelivery of the same message is harmless.
    let again = handle_sqs(&t.app, sqs_event(&id, 2), None).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(
        t.count("SELECT count(*) FROM autodb.migration_ledger")
            .await,
        1,
        "applied once"
    );
    assert_eq!(t.status(&id).await["status"], "completed");
}

/// A queued `CREATE TABLE t` whose request another executor has claimed (and still holds).
async fn claimed_by_another_executor() -> (TestApp, String, String) {
    let t = TestApp::spawn(Backend::Aws).await;
    let conn = t.connect().await;
    let sql = "CREATE TABLE t (id int);";
    let id = t.submit(&conn, sql).await;
    let request_id = autodb::domain::RequestId::parse(&id).unwrap();
    let now = autodb::ports::Clock::now(t.clock.as_ref());
    t.app
        .store
        .claim_request(&request_id, now, now + chrono::Duration::minutes(15))
        .await
        .unwrap();
    (t, conn, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_jobs_are_batch_failures_until_the_last_receive() {
    // Another executor holds the request (an unexpired claim).
    let (t, conn, id) = claimed_by_another_executor().await;
    let response = handle_sqs(&t.app, sqs_event(&id, 1), None).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier,
        "11111111-1111-1111-1111-111111111111"
    );
    assert_eq!(t.status(&id).await["status"], "executing");
    // The last receive does not give up on a request another executor still runs.
    let response = handle_sqs(&t.app, sqs_event(&id, autodb::lambda::MAX_RECEIVES), None).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(t.status(&id).await["status"], "executing");
    // Once that claim is over (its executor died), the last receive takes the job over and
    // runs it, rather than giving up on work that can still be done.
    t.clock.advance(chrono::Duration::minutes(16));
    let response = handle_sqs(&t.app, sqs_event(&id, autodb::lambda::MAX_RECEIVES), None).await;
    assert_eq!(response.batch_item_failures.len(), 0);
    assert_eq!(t.status(&id).await["status"], "completed");
    let next = "CREATE TABLE u (id int);";
    let token = t.approve(&conn, next).await;
    assert_eq!(
        t.execute(&token, next, &conn).await.0,
        axum::http::StatusCode::ACCEPTED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_messages_are_dropped_not_retried() {
    let t = TestApp::spawn(Backend::Aws).await;
    let mut event = sqs_event("req_not-an-id", 1);
    event.records[0].body = Some("not json".into());
    assert!(handle_sqs(&t.app, event, None)
        .await
        .batch_item_failures
        .is_empty());
}

#[test]
fn lambda_config_reads_the_template_variables() {
    let vars = std::collections::HashMap::from([
        ("AUTODB_TABLE", "t"),
        ("AUTODB_QUEUE_URL", "https://q"),
        ("AUTODB_SIGNING_KEY_SECRET_ARN", "arn:k"),
        ("AUTODB_TOKEN_TTL_SECONDS", "60"),
        ("AUTODB_KEY_RELOAD_SECONDS", "120"),
        ("AUTODB_EVENT_BUS_NAME", "autodb-bus"),
    ]);
    let get = |n: &str| vars.get(n).map(|v| v.to_string());
    let config = LambdaConfig::from_vars(get, Tokens::Used).unwrap();
    assert_eq!(config.resources.table, "t");
    assert_eq!(
        config.resources.signing_key_secret.as_deref(),
        Some("arn:k")
    );
    // Status and the executor never read the key ring, even when given its secret.
    let keyless = LambdaConfig::from_vars(get, Tokens::Unused).unwrap();
    assert_eq!(keyless.resources.signing_key_secret, None);
    let unkeyed = |n: &str| {
        (n != "AUTODB_SIGNING_KEY_SECRET_ARN")
            .then(|| get(n))
            .flatten()
    };
    assert!(LambdaConfig::from_vars(unkeyed, Tokens::Unused).is_ok());
    let err = LambdaConfig::from_vars(unkeyed, Tokens::Used).unwrap_err();
    assert!(err.to_string().contains("AUTODB_SIGNING_KEY_SECRET_ARN"));
    assert_eq!(config.settings.token_ttl_seconds, 60);
    assert_eq!(config.settings.lock_lease_seconds, 900);
    assert_eq!(config.settings.key_reload_seconds, 120);
    assert_eq!(config.event_bus.as_deref(), Some("autodb-bus"));
    let defaults = LambdaConfig::from_vars(
        |n| match n {
            "AUTODB_KEY_RELOAD_SECONDS" | "AUTODB_EVENT_BUS_NAME" => None,
            other => vars.get(other).map(|v| v.to_string()),
        },
        Tokens::Used,
    )
    .unwrap();
    assert_eq!(defaults.settings.key_reload_seconds, 300);
    assert_eq!(defaults.event_bus, None, "no bus: events are only logged");
    let missing = LambdaConfig::from_vars(
        |n| {
            (n != "AUTODB_TABLE")
                .then(|| vars.get(n).map(|v| v.to_string()))
                .flatten()
        },
        Tokens::Used,
    )
    .unwrap_err();
    assert!(missing.to_string().contains("AUTODB_TABLE"));
    let bad = LambdaConfig::from_vars(
        |n| match n {
            "AUTODB_LOCK_LEASE_SECONDS" => Some("-1".into()),
            other => vars.get(other).map(|v| v.to_string()),
        },
        Tokens::Used,
    )
    .unwrap_err();
    assert!(bad.to_string().contains("AUTODB_LOCK_LEASE_SECONDS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giving_up_on_an_applied_migration_completes_it_from_the_ledger() {
    let (t, _, id) = claimed_by_another_executor().await;
    // The attempt that holds the claim committed, then died before recording it.
    t.db()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA autodb; CREATE TABLE autodb.migration_ledger (request_id text PRIMARY KEY, \
             sql_sha256 text NOT NULL, result text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
             INSERT INTO autodb.migration_ledger (request_id, sql_sha256, result) VALUES ('{id}', 'x',
             '{{\"tables_added\":[\"t\"],\"tables_removed\":[],\"columns_added\":[],\"columns_removed\":[],\"columns_altered\":[],\"indexes_added\":[],\"indexes_removed\":[],\"constraints_added\":[],\"constraints_removed\":[],\"statements_executed\":1,\"execution_time_ms\":3}}')"
        ))
        .await
        .unwrap();
    // Its claim is over (it died): the last receive settles the request from the ledger.
    t.clock.advance(chrono::Duration::minutes(16));
    let response = handle_sqs(&t.app, sqs_event(&id, autodb::lambda::MAX_RECEIVES), None).await;
    assert_eq!(response.batch_item_failures.len(), 0);
    let done = t.status(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["tables_added"][0], "t");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_lettered_jobs_end_their_requests() {
    let t = TestApp::spawn(Backend::Aws).await;
    let conn = t.connect().await;
    let sql = "CREATE TABLE t (id int);";
    let id = t.submit(&conn, sql).await;
    let dlq = "arn:aws:sqs:us-east-1:123456789012:autodb-jobs-dlq";
    let executor = autodb::lambda::Executor {
        app: t.app.clone(),
        dead_letter_queue_arn: Some(dlq.to_string()),
        jobs: None,
    };
    let mut dead = sqs_event(&id, 6);
    dead.records[0].event_source_arn = Some(dlq.to_string());
    let response = executor.handle(dead, None).await;
    assert!(response.batch_item_failures.is_empty());
    let failed = t.status(&id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "RETRIES_EXHAUSTED");
    // The connection is free again, and a record from the jobs queue is still a job.
    let next = "CREATE TABLE u (id int);";
    let next_id = t.submit(&conn, next).await;
    assert!(executor
        .handle(sqs_event(&next_id, 1), None)
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(t.status(&next_id).await["status"], "completed");
}

/// On Lambda a claim lasts until the invocation's deadline plus a margin: a redelivery
/// after that takes over the work a killed invocation left, long before 15 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_invocations_job_is_taken_over_after_its_deadline() {
    let t = TestApp::spawn(Backend::Aws).await;
    let conn = t.connect().await;
    let id = t.submit(&conn, "CREATE TABLE taken_over (id int);").await;
    let request_id = autodb::domain::RequestId::parse(&id).unwrap();
    // The first invocation (deadline in 60 s) claimed the job and was killed.
    let deadline = t.clock.now() + chrono::Duration::seconds(60);
    let claim_until = deadline + chrono::Duration::seconds(autodb::lambda::CLAIM_MARGIN_SECONDS);
    t.app
        .store
        .claim_request(&request_id, t.clock.now(), claim_until)
        .await
        .unwrap();
    // A redelivery before the claim ends leaves it alone.
    let busy = handle_sqs(&t.app, sqs_event(&id, 2), Some(deadline)).await;
    assert_eq!(busy.batch_item_failures.len(), 1);
    // Just after it, the job is taken over and completed.
    t.clock.advance(chrono::Duration::seconds(
        60 + autodb::lambda::CLAIM_MARGIN_SECONDS + 1,
    ));
    let done = handle_sqs(
        &t.app,
        sqs_event(&id, 3),
        Some(t.clock.now() + chrono::Duration::seconds(60)),
    )
    .await;
    assert!(done.batch_item_failures.is_empty());
    assert_eq!(t.status(&id).await["status"], "completed");
}

/// A job that found its request busy comes back within seconds (`ChangeMessageVisibility`),
/// not after the queue's visibility timeout — here a real message on the moto queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_job_is_made_visible_again_within_seconds() {
    use aws_sdk_sqs::types::MessageSystemAttributeName;
    let (t, _conn, id) = claimed_by_another_executor().await;
    let (sqs, url) = t.jobs_queue().unwrap();
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .visibility_timeout(600)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let message = received.messages.unwrap().remove(0);
    let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
    record.message_id = message.message_id.clone();
    record.receipt_handle = message.receipt_handle.clone();
    record.body = message.body.clone();
    record
        .attributes
        .insert("ApproximateReceiveCount".into(), "1".into());
    let mut event = SqsEvent::default();
    event.records.push(record);

    let executor = autodb::lambda::Executor {
        app: t.app.clone(),
        dead_letter_queue_arn: None,
        jobs: Some(autodb::adapters::aws::sqs::JobsQueue {
            sqs: sqs.clone(),
            url: url.clone(),
        }),
    };
    let response = executor.handle(event, None).await;
    assert_eq!(response.batch_item_failures.len(), 1, "busy: retried");
    assert_eq!(autodb::lambda::retry_delay_seconds(1), 5);
    // Invisible for 600 s as received; visible again after 5 s.
    let again = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(15)
        .send()
        .await
        .unwrap();
    let messages = again.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1, "the job came back well before 600 s");
    assert!(messages[0].body().unwrap_or_default().contains(&id));
}

#[test]
fn retry_delays_grow_to_five_minutes() {
    let delays: Vec<i32> = (1..=9).map(autodb::lambda::retry_delay_seconds).collect();
    assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
}

/// A job that keeps finding its connection busy (or its target down) is handed back until its
/// request may no longer start, not dead-lettered before: the receives' delays span the
/// request's start bound, and the queue's `maxReceiveCount` is the executor's.
#[test]
fn a_waiting_job_is_retried_until_its_request_expires() {
    let waited: i64 = (1..autodb::lambda::MAX_RECEIVES)
        .map(|r| i64::from(autodb::lambda::retry_delay_seconds(r)))
        .sum();
    let expiry = autodb::app::Settings::default().request_expiry_seconds;
    assert!(
        waited > expiry,
        "{waited} s of retries, but a request may wait {expiry} s"
    );
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    // The jobs queue's (the uploads queue has its own).
    let jobs = &template[template.find("\n  JobsQueue:").expect("the jobs queue")..];
    let counts: Vec<&str> = jobs
        .lines()
        .filter_map(|l| l.trim().strip_prefix("maxReceiveCount:"))
        .map(str::trim)
        .take(1)
        .collect();
    assert_eq!(
        counts,
        [autodb::lambda::MAX_RECEIVES.to_string()],
        "template.yaml's maxReceiveCount"
    );
}
