//! The S3 trigger on moto: a migration put under `migrations/<connection-id>/` is analyzed,
//! executed only as far as the connection's auto-approve policy (set through the API)
//! allows, and its analysis and outcome are written beside it.

use std::sync::Arc;

use autodb::adapters::aws::uploads::Uploads;
use autodb::lambda::{handle_executor_event, Executor};
use serde_json::{json, Value};

use crate::helpers::{aws_sdk, Backend, TestApp};

/// The executor function's handler over the test's application.
fn executor(t: &TestApp) -> Executor {
    Executor {
        app: Arc::clone(&t.app),
        dead_letter_queue_arn: None,
        jobs: None,
    }
}

struct Bucket {
    s3: aws_sdk_s3::Client,
    name: String,
}

async fn bucket() -> Bucket {
    let sdk = aws_sdk().await;
    // moto answers path-style requests; AWS itself takes either.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let name = format!("uploads-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("bucket");
    Bucket { s3, name }
}

impl Bucket {
    /// Puts `sql` at `key` and delivers the S3 notification to the executor function's
    /// handler, as Lambda would.
    async fn upload(&self, t: &TestApp, key: &str, sql: &str) {
        let event = self.put(key, sql).await;
        self.deliver(t, event.clone()).await;
    }

    /// Puts `sql` at `key`; returns the notification S3 would send for it.
    async fn put(&self, key: &str, sql: &str) -> Value {
        let put = self
            .s3
            .put_object()
            .bucket(&self.name)
            .key(key)
            .body(sql.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put");
        let etag = put.e_tag().expect("an ETag").trim_matches('"').to_string();
        let path = format!("{}/infra/events/s3-upload.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(
            &std::fs::read_to_string(path)
                .unwrap()
                .replace("PLACEHOLDER_BUCKET", &self.name)
                .replace("PLACEHOLDER_KEY", key)
                .replace("0123456789abcdef0123456789abcdef", &etag),
        )
        .unwrap()
    }

    /// Delivers a notification to the executor function's handler, as Lambda would.
    async fn deliver(&self, t: &TestApp, event: Value) {
        handle_executor_event(&executor(t), &Uploads::new(self.s3.clone()), event, None)
            .await
            .expect("handled");
    }

    async fn json(&self, key: &str) -> Value {
        let body = self
            .s3
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        serde_json::from_slice(&body).unwrap()
    }
}

async fn set_policy(t: &TestApp, conn: &str, max_risk: Value) -> (u16, Value) {
    let req = t.request(
        axum::http::Method::PUT,
        &format!("/connections/{conn}/auto-approve"),
        Some(&json!({ "max_risk": max_risk })),
    );
    let (status, body) = t.send(req).await;
    (status.as_u16(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_within_the_policy_runs_and_its_outcome_is_written_beside_it() {
    let t = TestApp::spawn(Backend::Aws).await;
    let conn = t.connect().await;
    let b = bucket().await;

    // Off by default: analyzed and written back, not executed.
    let key = format!("migrations/{conn}/0001_create.sql");
    b.upload(&t, &key, "CREATE TABLE uploaded (id int);").await;
    let analysis = b.json(&format!("{key}.analysis.json")).await;
    assert_eq!(analysis["connection_id"], conn.as_str());
    assert_eq!(analysis["risk_category"], "low");
    assert!(
        analysis.get("approval_token").is_none(),
        "no token in the bucket"
    );
    let result = b.json(&format!("{key}.result.json")).await;
    assert_eq!(result["status"], "not_executed", "{result}");
    assert_eq!(
        t.count("SELECT count(*) FROM pg_tables WHERE tablename = 'uploaded'")
            .await,
        0
    );

    // Turned on through the API only, with a maximum risk.
    let (status, body) = set_policy(&t, &conn, json!("sometimes")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("VALIDATION_ERROR"))
    );
    let (status, body) = set_policy(&t, &conn, json!("medium")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["auto_approve_max_risk"], "medium");
    let (_, shown) = t.get(&format!("/connections/{conn}")).await;
    assert_eq!(shown["data"]["auto_approve_max_risk"], "medium");

    // Within the policy, but nobody would have tried it first: not executed.
    b.upload(&t, &key, "CREATE TABLE uploaded (id int);").await;
    let result = b.json(&format!("{key}.result.json")).await;
    assert_eq!(result["status"], "not_executed", "{result}");
    let reason = result["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("passed the sandbox"), "{reason}");
    assert!(reason.contains("no sandbox server"), "{reason}");

    // With a sandbox it passes there and then runs.
    t.with_sandbox();
    b.upload(&t, &key, "CREATE TABLE uploaded (id int);").await;
    let result = b.json(&format!("{key}.result.json")).await;
    assert_eq!(result["status"], "completed", "{result}");
    let analysis = b.json(&format!("{key}.analysis.json")).await;
    assert_eq!(analysis["sandbox_result"]["status"], "passed", "{analysis}");
    assert_eq!(result["result"]["tables_added"], json!(["uploaded"]));
    let request_id = result["request_id"].as_str().expect("request id");
    assert_eq!(t.status(request_id).await["status"], "completed");
    assert_eq!(
        t.count("SELECT count(*) FROM pg_tables WHERE tablename = 'uploaded'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_above_the_policy_failed_in_the_sandbox_or_unreadable_is_not_executed() {
    let t = TestApp::spawn(Backend::Aws).await;
    let conn = t.connect().await;
    t.db()
        .await
        .batch_execute("CREATE TABLE accounts (id int PRIMARY KEY, email text)")
        .await
        .unwrap();
    let b = bucket().await;
    let (status, _) = set_policy(&t, &conn, json!("low")).await;
    assert_eq!(status, 200);

    let risky = format!("migrations/{conn}/0002_drop.sql");
    b.upload(&t, &risky, "ALTER TABLE accounts DROP COLUMN email;")
        .await;
    let analysis = b.json(&format!("{risky}.analysis.json")).await;
    assert_ne!(analysis["risk_category"], "low", "{analysis}");
    let result = b.json(&format!("{risky}.result.json")).await;
    assert_eq!(result["status"], "not_executed");
    assert!(
        result["reason"].as_str().unwrap().contains("above"),
        "{result}"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM information_schema.columns WHERE column_name = 'email'")
            .await,
        1
    );

    let broken = format!("migrations/{conn}/0003_broken.sql");
    b.upload(&t, &broken, "ALTER TABLE accounts ADD COLUMN;")
        .await;
    let result = b.json(&format!("{broken}.result.json")).await;
    assert_eq!(result["status"], "rejected", "{result}");
    assert_eq!(
        b.json(&format!("{broken}.analysis.json")).await,
        Value::Null
    );

    // Even the widest policy does not run what failed in the sandbox.
    t.with_sandbox();
    let (status, _) = set_policy(&t, &conn, json!("critical")).await;
    assert_eq!(status, 200);
    let failing = format!("migrations/{conn}/0004_required.sql");
    b.upload(
        &t,
        &failing,
        "ALTER TABLE accounts ADD COLUMN code text NOT NULL;",
    )
    .await;
    let analysis = b.json(&format!("{failing}.analysis.json")).await;
    assert_eq!(analysis["sandbox_result"]["status"], "failed", "{analysis}");
    let result = b.json(&format!("{failing}.result.json")).await;
    assert_eq!(result["status"], "not_executed", "{result}");
    assert!(
        result["reason"]
            .as_str()
            .unwrap()
            .contains("the sandbox failed"),
        "{result}"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM information_schema.columns WHERE column_name = 'code'")
            .await,
        0
    );

    // Off again: `null` turns the policy off.
    let (status, body) = set_policy(&t, &conn, Value::Null).await;
    assert_eq!(status, 200);
    assert!(
        body["data"].get("auto_approve_max_risk").is_none(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_stores_keep_the_policy_and_new_connections_have_none() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let conn = t.connect().await;
        let (_, fresh) = t.get(&format!("/connections/{conn}")).await;
        assert!(
            fresh["data"].get("auto_approve_max_risk").is_none(),
            "{backend:?}: {fresh}"
        );
        let (status, _) = set_policy(&t, &conn, json!("high")).await;
        assert_eq!(status, 200, "{backend:?}");
        let (_, listed) = t.get("/connections").await;
        assert_eq!(
            listed["data"][0]["auto_approve_max_risk"], "high",
            "{backend:?}"
        );
        let (status, missing) =
            set_policy(&t, "conn_00000000000000000000000000000000", json!("low")).await;
        assert_eq!(
            (status, &missing["error"]["code"]),
            (404, &json!("NOT_FOUND"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_function_still_takes_sqs_batches() {
    let t = TestApp::spawn(Backend::Aws).await;
    let b = bucket().await;
    let path = format!("{}/infra/events/sqs-job.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    // An unreadable job is dropped, not retried: an empty list of batch item failures.
    let event: Value = serde_json::from_str(&text).unwrap();
    let response = handle_executor_event(&executor(&t), &Uploads::new(b.s3.clone()), event, None)
        .await
        .expect("handled");
    assert_eq!(response, json!({"batchItemFailures": []}));
    // The same message naming a queued request runs it.
    let conn = t.connect().await;
    let id = t
        .submit(&conn, "CREATE TABLE from_the_queue (id int);")
        .await;
    let event: Value = serde_json::from_str(&text.replace("PLACEHOLDER_REQUEST_ID", &id)).unwrap();
    let response = handle_executor_event(&executor(&t), &Uploads::new(b.s3.clone()), event, None)
        .await
        .expect("handled");
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert_eq!(t.status(&id).await["status"], "completed");
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'from_the_queue'")
            .await,
        1
    );
}

/// S3 delivers notifications at least once and Lambda retries failed events: the same event
/// three times runs the upload once, and an object overwritten between two events runs each
/// version at most once — never the newer content twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_uploaded_version_runs_at_most_once_however_often_its_event_comes() {
    let t = TestApp::spawn(Backend::Aws).await;
    let conn = t.connect().await;
    t.with_sandbox();
    let (status, body) = set_policy(&t, &conn, json!("medium")).await;
    assert_eq!(status, 200, "{body}");
    let b = bucket().await;
    t.db()
        .await
        .batch_execute("CREATE TABLE public.runs (version text)")
        .await
        .unwrap();
    let runs =
        |version: &str| format!("SELECT count(*) FROM public.runs WHERE version = '{version}'");

    // The same event, three times.
    let key = format!("migrations/{conn}/0001_data.sql");
    let first = b
        .put(&key, "INSERT INTO public.runs (version) VALUES ('one');")
        .await;
    let mut requests = Vec::new();
    for _ in 0..3 {
        b.deliver(&t, first.clone()).await;
        let result = b.json(&format!("{key}.result.json")).await;
        assert_eq!(result["status"], "completed", "{result}");
        requests.push(result["request_id"].clone());
    }
    assert!(requests.iter().all(|r| *r == requests[0]), "{requests:?}");
    assert_eq!(t.count(&runs("one")).await, 1);

    // Overwritten between two events: the first event's late copy reads nothing newer, the
    // second event runs the new content once, and its duplicate runs nothing.
    let key = format!("migrations/{conn}/0002_data.sql");
    let old = b
        .put(&key, "INSERT INTO public.runs (version) VALUES ('old');")
        .await;
    let new = b
        .put(&key, "INSERT INTO public.runs (version) VALUES ('new');")
        .await;
    b.deliver(&t, old.clone()).await;
    let result = b.json(&format!("{key}.result.json")).await;
    assert_eq!(result["status"], "rejected", "{result}");
    b.deliver(&t, new.clone()).await;
    b.deliver(&t, new).await;
    b.deliver(&t, old).await;
    assert_eq!(t.count(&runs("old")).await, 0);
    assert_eq!(t.count(&runs("new")).await, 1);
}

/// A queue the bucket notifies, as `template.yaml` sets it up; returns its URL and ARN.
async fn notifying_queue(b: &Bucket) -> (aws_sdk_sqs::Client, String, String) {
    let sqs = aws_sdk_sqs::Client::new(&aws_sdk().await);
    let (url, arn) =
        crate::helpers::sqs_queue(&sqs, &format!("uploads-{}", uuid::Uuid::new_v4().simple()))
            .await;
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, NotificationConfiguration,
        NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
    };
    let rule = |name, value: &str| FilterRule::builder().name(name).value(value).build();
    b.s3.put_bucket_notification_configuration()
        .bucket(&b.name)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(&arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .filter(
                            NotificationConfigurationFilter::builder()
                                .key(
                                    S3KeyFilter::builder()
                                        .filter_rules(rule(FilterRuleName::Prefix, "migrations/"))
                                        .filter_rules(rule(FilterRuleName::Suffix, ".sql"))
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                        .expect("queue configuration"),
                )
                .build(),
        )
        .send()
        .await
        .expect("bucket notification");
    (sqs, url, arn)
}

/// Every message on the queue now, as the SQS event Lambda would deliver (each message's
/// `eventSourceARN` the queue's).
async fn queued_event(sqs: &aws_sdk_sqs::Client, url: &str, arn: &str) -> Value {
    let mut records = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            records.push(json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1"
            }));
        }
    }
    json!({ "Records": records })
}

/// Issue 21: uploads reach the executor through a queue the bucket notifies, one S3 event a
/// message. A message whose upload cannot be handled (here: its bucket is gone), or that
/// arrives with too little of the invocation left, is handed back by itself; the others
/// run, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_through_their_queue_are_handed_back_one_by_one() {
    let t = TestApp::spawn(Backend::Aws).await;
    let conn = t.connect().await;
    t.with_sandbox();
    let (status, body) = set_policy(&t, &conn, json!("medium")).await;
    assert_eq!(status, 200, "{body}");
    t.db()
        .await
        .batch_execute("CREATE TABLE public.runs (version text)")
        .await
        .unwrap();
    let b = bucket().await;
    let (sqs, url, arn) = notifying_queue(&b).await;
    let uploads = Uploads::new(b.s3.clone()).through_queue(arn.clone());
    let key = format!("migrations/{conn}/0001_data.sql");
    b.s3.put_object()
        .bucket(&b.name)
        .key(&key)
        .body(
            b"INSERT INTO public.runs (version) VALUES ('queued');"
                .to_vec()
                .into(),
        )
        .send()
        .await
        .expect("put");
    let mut event = queued_event(&sqs, &url, &arn).await;
    let records = event["Records"].as_array_mut().unwrap();
    let good = records
        .iter()
        .find(|r| r["body"].as_str().unwrap().contains("ObjectCreated"))
        .expect("the bucket notified the queue of the upload")
        .clone();
    // The same notification for a bucket that is gone: reading it fails.
    let mut gone = good.clone();
    gone["messageId"] = json!("gone-1");
    gone["body"] = json!(good["body"]
        .as_str()
        .unwrap()
        .replace(&b.name, &format!("{}-gone", b.name)));
    records.push(gone);
    let ids: Vec<Value> = records.iter().map(|r| r["messageId"].clone()).collect();

    // Too little time left: every upload is handed back, none is started.
    let soon = t.app.clock.now() + chrono::Duration::seconds(30);
    let response = handle_executor_event(&executor(&t), &uploads, event.clone(), Some(soon))
        .await
        .expect("handled");
    let handed_back: Vec<Value> = response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].clone())
        .collect();
    assert!(handed_back.contains(&good["messageId"]), "{response}");
    assert!(handed_back.contains(&json!("gone-1")), "{response}");
    assert_eq!(t.count("SELECT count(*) FROM public.runs").await, 0);

    // With time: only the failing one is handed back; S3's test event (if any) is dropped.
    for _ in 0..2 {
        let response = handle_executor_event(&executor(&t), &uploads, event.clone(), None)
            .await
            .expect("handled");
        assert_eq!(
            response,
            json!({"batchItemFailures": [{"itemIdentifier": "gone-1"}]}),
            "of {ids:?}"
        );
    }
    let result = b.json(&format!("{key}.result.json")).await;
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(
        t.count("SELECT count(*) FROM public.runs WHERE version = 'queued'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_go_through_the_separation_of_duties_as_their_uploader() {
    let t = TestApp::spawn(Backend::Aws).await;
    t.db()
        .await
        .batch_execute(
            "CREATE TABLE ledger (id bigint PRIMARY KEY);
             INSERT INTO ledger SELECT g FROM generate_series(1, 12000) g; ANALYZE ledger;",
        )
        .await
        .unwrap();
    let conn = t.connect().await;
    t.with_sandbox();
    let (status, body) = set_policy(&t, &conn, json!("critical")).await;
    assert_eq!(status, 200, "{body}");
    let b = bucket().await;

    // Auto-approve allows anything, but a drop of 12 000 rows is above what one principal
    // may run alone (`medium`): analyzed, not executed, and the result says why.
    let key = format!("migrations/{conn}/0001_drop.sql");
    b.upload(&t, &key, "DROP TABLE ledger;").await;
    let analysis = b.json(&format!("{key}.analysis.json")).await;
    assert_eq!(analysis["risk_category"], "high", "{analysis}");
    let result = b.json(&format!("{key}.result.json")).await;
    assert_eq!(result["status"], "not_executed", "{result}");
    assert!(
        result["reason"].as_str().unwrap().contains("approve"),
        "{result}"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_tables WHERE tablename = 'ledger'")
            .await,
        1
    );

    // Within both policies it runs, as the uploader.
    let key = format!("migrations/{conn}/0002_create.sql");
    b.upload(&t, &key, "CREATE TABLE uploaded (id int);").await;
    let result = b.json(&format!("{key}.result.json")).await;
    assert_eq!(result["status"], "completed", "{result}");

    let (_, audit) = t.get(&format!("/audit?connection={conn}")).await;
    let by_uploader: Vec<(&str, &str)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["actor"] == "s3:AWS:AIDAEXAMPLE")
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["verdict"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        by_uploader,
        vec![
            ("analyze", "high"),
            ("execute_refused", "APPROVAL_REQUIRED"),
            ("analyze", "low"),
            ("execute", "accepted"),
        ]
    );
}
