//! The four real function binaries under the Lambda Runtime API emulator (`runtime`), with
//! moto and PostgreSQL: API Gateway events for connections, analyze, execute (202, then 409
//! for a second migration on the busy connection) and status, and an SQS event built from the
//! real queue's message for the executor, through a completed migration.
//!
//! The same run checks least privilege from the other side: every AWS call each function made
//! (recorded by its proxy) must be one `infra/iam/calls.json` lists for it — the map the
//! template's roles are checked against (`scripts/check-iam`) — and status and the executor
//! never read the signing key. The executor also publishes the request's end to EventBridge
//! and handles an S3 upload under an auto-approve policy, so those calls are recorded too.
//! (Init time and footprint are measured by `scripts/bench-lambda`, on release binaries.)

use std::collections::BTreeSet;

use autodb::adapters::aws::DynamoStore;
use autodb::domain::access::Role;
use serde_json::{json, Value};

use crate::helpers::{aws_resources, aws_sdk, create_database};
use crate::runtime::{http_event, Function};

/// An SQS event from a message actually on `queue_url`, as Lambda's event source delivers it.
async fn sqs_event_from_queue(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Value {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .wait_time_seconds(5)
        .send()
        .await
        .expect("receive from moto");
    let message = received
        .messages
        .unwrap_or_default()
        .into_iter()
        .next()
        .expect("the execute function queued a job");
    let arn = crate::helpers::queue_arn(sqs, queue_url).await;
    let attributes: serde_json::Map<String, Value> = message
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_string(), Value::String(v)))
        .collect();
    json!({"Records": [{
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": message.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": "us-east-1",
    }]})
}

/// The IAM map's list of calls for `function`.
fn mapped_calls(function: &str) -> BTreeSet<String> {
    let path = format!("{}/infra/iam/calls.json", env!("CARGO_MANIFEST_DIR"));
    let map: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("calls.json"))
        .expect("calls.json is JSON");
    map["functions"][function]["calls"]
        .as_array()
        .unwrap_or_else(|| panic!("{path} lists no calls for {function}"))
        .iter()
        .map(|c| c.as_str().expect("call name").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binaries_speak_the_runtime_protocol_end_to_end() {
    let sdk = aws_sdk().await;
    let resources = aws_resources(&sdk).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &resources.table);
    let api_key = crate::helpers::add_key(&store, "default", &Role::ALL).await;
    let db_url = create_database().await;
    let (db, conn) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    db.batch_execute("CREATE TABLE users (id int PRIMARY KEY)")
        .await
        .unwrap();

    let signing_key = resources.signing_key_secret.clone().expect("a key ring");
    let prefix = format!("autodb-test/{}/", uuid::Uuid::new_v4().simple());
    let common = vec![
        ("AUTODB_TABLE", resources.table.clone()),
        ("AUTODB_QUEUE_URL", resources.queue_url.clone()),
        ("AUTODB_SECRET_PREFIX", prefix),
    ];
    let keyed = [
        common.clone(),
        vec![("AUTODB_SIGNING_KEY_SECRET_ARN", signing_key.clone())],
    ]
    .concat();
    let analyze = Function::start("analyze", &keyed).await;
    let execute = Function::start("execute", &keyed).await;
    let status = Function::start("status", &common).await;
    let bus = format!("autodb-test-{}", uuid::Uuid::new_v4().simple());
    aws_sdk_eventbridge::Client::new(&sdk)
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("an event bus on moto");
    // The executor analyzes uploads, and runs them only after they pass the sandbox: its
    // server is the test cluster, named by a secret as the template does.
    let sandbox_secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(format!(
            "autodb-test/{}/sandbox",
            uuid::Uuid::new_v4().simple()
        ))
        .secret_string(std::env::var("AUTODB_TEST_PG_URL").expect("AUTODB_TEST_PG_URL"))
        .send()
        .await
        .expect("a sandbox secret on moto")
        .arn
        .expect("the secret's ARN");
    let executor = Function::start(
        "executor",
        &[
            common.clone(),
            vec![
                ("AUTODB_EVENT_BUS_NAME", bus),
                ("AUTODB_SANDBOX_SECRET_ID", sandbox_secret),
            ],
        ]
        .concat(),
    )
    .await;

    // analyze: connections and analysis, each answer through the runtime API.
    let (code, created) = analyze
        .http(http_event(
            "POST",
            "/api/v1/connections",
            &api_key,
            Some(&json!({"name": "app", "db_type": "postgresql", "connection_string": db_url})),
        ))
        .await;
    assert_eq!(code, 201, "{created}");
    let conn = created["data"]["id"].as_str().unwrap().to_string();
    let (code, listed) = analyze
        .http(http_event("GET", "/api/v1/connections", &api_key, None))
        .await;
    assert_eq!(
        (code, listed["data"][0]["id"].as_str()),
        (200, Some(conn.as_str()))
    );
    let approve = |sql: &'static str| {
        http_event(
            "POST",
            &format!("/api/v1/connections/{conn}/migrations/analyze"),
            &api_key,
            Some(&json!({ "sql": sql })),
        )
    };
    let first_sql = "ALTER TABLE users ADD COLUMN email varchar(20);";
    let second_sql = "CREATE TABLE orders (id int);";
    let (code, first) = analyze.http(approve(first_sql)).await;
    assert_eq!(code, 200, "{first}");
    let (code, second) = analyze.http(approve(second_sql)).await;
    assert_eq!(code, 200, "{second}");

    // execute: the first is accepted; the second finds the connection busy.
    let execute_event = |token: &Value, sql: &str| {
        http_event(
            "POST",
            "/api/v1/migrations/execute",
            &api_key,
            Some(&json!({"approval_token": token, "sql": sql, "connection_id": conn})),
        )
    };
    let (code, accepted) = execute
        .http(execute_event(&first["data"]["approval_token"], first_sql))
        .await;
    assert_eq!(code, 202, "{accepted}");
    let request_id = accepted["data"]["request_id"].as_str().unwrap().to_string();
    let (code, busy) = execute
        .http(execute_event(&second["data"]["approval_token"], second_sql))
        .await;
    assert_eq!(
        (code, busy["error"]["code"].as_str()),
        (409, Some("MIGRATION_IN_PROGRESS")),
        "{busy}"
    );

    // executor: the job the execute function queued, as SQS hands it to Lambda.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let event = sqs_event_from_queue(&sqs, &resources.queue_url).await;
    let batch = executor.invoke(event).await.expect("a batch response");
    assert_eq!(batch["batchItemFailures"], json!([]), "{batch}");

    // status: completed, with the schema diff.
    let (code, polled) = status
        .http(http_event(
            "GET",
            &format!("/api/v1/migrations/requests/{request_id}"),
            &api_key,
            None,
        ))
        .await;
    assert_eq!(code, 200, "{polled}");
    assert_eq!(polled["status"], "completed", "{polled}");
    assert_eq!(polled["result"]["columns_added"][0]["type"], "varchar(20)");
    let columns: i64 = db
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(columns, 2, "the migration ran once");

    // The S3 trigger, in the executor: the second migration, uploaded once the connection is
    // free, runs under the auto-approve policy set through the API.
    let (code, policy) = analyze
        .http(http_event(
            "PUT",
            &format!("/api/v1/connections/{conn}/auto-approve"),
            &api_key,
            Some(&json!({"max_risk": "low"})),
        ))
        .await;
    assert_eq!(code, 200, "{policy}");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("uploads-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let key = format!("migrations/{conn}/0002_orders.sql");
    let etag = s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(second_sql.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap()
        .e_tag()
        .expect("an ETag")
        .trim_matches('"')
        .to_string();
    let notification = std::fs::read_to_string(format!(
        "{}/infra/events/s3-upload.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("PLACEHOLDER_BUCKET", &bucket)
    .replace("PLACEHOLDER_KEY", &key)
    .replace("0123456789abcdef0123456789abcdef", &etag);
    executor
        .invoke(serde_json::from_str(&notification).unwrap())
        .await
        .expect("the upload was handled");
    let written = s3
        .get_object()
        .bucket(&bucket)
        .key(format!("{key}.result.json"))
        .send()
        .await
        .expect("the outcome written beside the upload")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let outcome: Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(outcome["status"], "completed", "{outcome}");
    let orders: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'orders'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(orders, 1, "the uploaded migration ran");

    // Least privilege: each function called only what its role is meant to grant.
    for f in [&analyze, &execute, &status, &executor] {
        let made = f.proxy.calls();
        let allowed = mapped_calls(f.name);
        let unlisted: Vec<_> = made.difference(&allowed).collect();
        assert!(
            unlisted.is_empty(),
            "{} made calls infra/iam/calls.json does not list: {unlisted:?}",
            f.name
        );
    }
    for f in [&status, &executor] {
        assert!(
            !f.proxy.secrets_read().contains(&signing_key),
            "{} read the signing key",
            f.name
        );
    }
    assert!(execute.proxy.secrets_read().contains(&signing_key));
    assert!(
        !status
            .proxy
            .calls()
            .iter()
            .any(|c| c.starts_with("secretsmanager:")),
        "status read a secret"
    );
    assert!(execute.proxy.calls().contains("sqs:SendMessage"));
    let executor_calls = executor.proxy.calls();
    for call in ["events:PutEvents", "s3:GetObject", "s3:PutObject"] {
        assert!(
            executor_calls.contains(call),
            "executor: {call} not seen in {executor_calls:?}"
        );
    }
    assert!(analyze
        .proxy
        .calls()
        .contains("secretsmanager:CreateSecret"));
}
