//! End-of-request events (EventBridge on moto): a rule on the stack's bus forwards autodb's
//! events to an SQS queue the test reads, so what a pipeline would receive is checked as it
//! arrives — for a completed migration and for one the queue gave up on. A bus that rejects
//! every event leaves the migration's outcome as it was.

use std::sync::Arc;

use async_trait::async_trait;
use autodb::adapters::aws::EventBridge;
use autodb::app::execute::{execute, ExecuteCommand};
use autodb::app::{analyze::analyze, App};
use autodb::domain::{RequestId, RequestStatus, Sql};
use autodb::events::{EventPublisher, MigrationEvent};
use autodb::executor::{give_up, run_job, Outcome};
use autodb::ports::{ManualClock, PortError};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use crate::helpers::{aws_app, aws_sdk, operator, register_database};

/// A bus with a rule that sends `source: autodb` events to a fresh queue; returns the bus
/// name and the queue URL.
async fn bus_to_queue(sdk: &aws_config::SdkConfig) -> (String, String) {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let bus = format!("autodb-{suffix}");
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create bus");
    let (url, arn) = crate::helpers::sqs_queue(&sqs, &format!("events-{suffix}")).await;
    events
        .put_rule()
        .name("autodb-ends")
        .event_bus_name(&bus)
        .event_pattern(json!({"source": ["autodb"]}).to_string())
        .send()
        .await
        .expect("rule");
    events
        .put_targets()
        .rule("autodb-ends")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("target");
    (bus, url)
}

async fn received(sdk: &aws_config::SdkConfig, url: &str) -> Vec<Value> {
    let out = aws_sdk_sqs::Client::new(sdk)
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    out.messages()
        .iter()
        .filter_map(|m| m.body())
        .map(|b| serde_json::from_str(b).expect("event JSON"))
        .collect()
}

async fn app_with(events: Arc<dyn EventPublisher>) -> (App, String) {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 2, 1, 8, 0, 0).unwrap(),
    ));
    let app = aws_app(&aws_sdk().await, clock).await.0.with_events(events);
    let conn = register_database(&app).await;
    (app, conn)
}

async fn submit(app: &App, conn: &str, sql: &str) -> RequestId {
    let sql = Sql::parse(sql.into()).unwrap();
    let token = analyze(app, &operator(), conn, sql.clone(), &Default::default())
        .await
        .expect("analyze")
        .approval_token
        .expect("no sandbox configured: a token");
    execute(
        app,
        &operator(),
        ExecuteCommand {
            approval_token: token,
            sql,
            connection_id: conn.into(),
        },
    )
    .await
    .expect("execute")
    .request_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_end_of_a_request_reaches_the_bus() {
    let sdk = aws_sdk().await;
    let (bus, queue) = bus_to_queue(&sdk).await;
    let (app, conn) = app_with(Arc::new(EventBridge::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        &bus,
    )))
    .await;

    let sql = "CREATE TABLE shipped (id int PRIMARY KEY);";
    let done = submit(&app, &conn, sql).await;
    assert_eq!(
        run_job(&app.executor(), &done).await.unwrap(),
        Outcome::Completed
    );
    let events = received(&sdk, &queue).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["source"], "autodb");
    assert_eq!(event["detail-type"], "Migration Completed");
    assert_eq!(event["detail"]["request_id"], done.to_string());
    assert_eq!(event["detail"]["connection_id"], conn);
    assert_eq!(event["detail"]["status"], "completed");
    assert_eq!(
        event["detail"]["result"]["tables_added"],
        json!(["shipped"])
    );
    assert!(!event.to_string().contains("CREATE TABLE"), "no SQL text");

    // The queue gives up on a job (dead letter): that end is announced too.
    let abandoned = submit(&app, &conn, "CREATE TABLE abandoned (id int);").await;
    give_up(&app.executor(), &abandoned, "dead-lettered")
        .await
        .unwrap();
    let events = received(&sdk, &queue).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "Migration Failed");
    assert_eq!(events[0]["detail"]["request_id"], abandoned.to_string());
    assert_eq!(events[0]["detail"]["error"]["code"], "RETRIES_EXHAUSTED");
}

struct Down;

#[async_trait]
impl EventPublisher for Down {
    async fn publish(&self, _: &MigrationEvent) -> Result<(), PortError> {
        Err(PortError::unavailable("eventbridge", "the bus is down"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_that_is_down_changes_no_outcome() {
    let (app, conn) = app_with(Arc::new(Down)).await;
    let id = submit(&app, &conn, "CREATE TABLE unannounced (id int);").await;
    assert_eq!(
        run_job(&app.executor(), &id).await.unwrap(),
        Outcome::Completed
    );
    let request = app.store.get_request(&id).await.unwrap().unwrap();
    assert_eq!(request.status, RequestStatus::Completed);
    // The connection was freed: the next migration is accepted and runs.
    let next = submit(&app, &conn, "CREATE TABLE after (id int);").await;
    assert_eq!(
        run_job(&app.executor(), &next).await.unwrap(),
        Outcome::Completed
    );
}
