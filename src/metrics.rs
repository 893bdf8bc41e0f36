//! Metrics in CloudWatch's Embedded Metric Format (EMF): a JSON log line that CloudWatch
//! Logs turns into metrics, with no agent and no API call on the request's path.
//!
//! The formatting is pure (the lines are built here and unit-tested); where they go is the
//! [`Metrics`] sink the process chose: stdout in Lambda (the runtime ships every stdout line
//! to the function's log group, and EMF needs the line to be the whole log event, not a
//! field of a tracing record), nowhere locally.
//!
//! Emitted where the events happen: migrations completed/failed with their duration (the
//! executor's end of a request), analyses by risk category (analyze), lock waits (each
//! attempt that timed out waiting for locks), and event-publishing failures.

use serde_json::{json, Map, Value};

use crate::domain::Finish;

/// The CloudWatch namespace of every autodb metric.
pub const NAMESPACE: &str = "autodb";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One value of one metric.
#[derive(Debug, Clone, Copy)]
pub struct Metric<'a> {
    pub name: &'a str,
    pub unit: Unit,
    pub value: f64,
}

impl<'a> Metric<'a> {
    pub fn count(name: &'a str) -> Self {
        Self {
            name,
            unit: Unit::Count,
            value: 1.0,
        }
    }
}

/// One EMF line: `metrics` under the dimension `Service=autodb` plus `dimensions`.
pub fn emf_line(timestamp_ms: i64, dimensions: &[(&str, &str)], metrics: &[Metric<'_>]) -> String {
    let mut names: Vec<&str> = vec!["Service"];
    names.extend(dimensions.iter().map(|(k, _)| *k));
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": metrics.iter().map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()})).collect::<Vec<_>>(),
            }],
        }),
    );
    root.insert("Service".into(), NAMESPACE.into());
    for (key, value) in dimensions {
        root.insert((*key).into(), (*value).into());
    }
    for metric in metrics {
        root.insert(metric.name.into(), json!(metric.value));
    }
    Value::Object(root).to_string()
}

/// The end of a migration: `MigrationsCompleted` or `MigrationsFailed`, and
/// `MigrationDuration` when the executor measured one.
pub fn migration_ended(timestamp_ms: i64, finish: &Finish) -> String {
    match finish {
        Finish::Completed(result) => emf_line(
            timestamp_ms,
            &[],
            &[
                Metric::count("MigrationsCompleted"),
                Metric {
                    name: "MigrationDuration",
                    unit: Unit::Milliseconds,
                    value: result.execution_time_ms as f64,
                },
            ],
        ),
        Finish::Failed(error) => emf_line(
            timestamp_ms,
            &[("ErrorCode", error.code.as_str())],
            &[Metric::count("MigrationsFailed")],
        ),
    }
}

/// One analysis, by the risk category it came to.
pub fn analyzed(timestamp_ms: i64, risk_category: &str) -> String {
    emf_line(
        timestamp_ms,
        &[("RiskCategory", risk_category)],
        &[Metric::count("MigrationsAnalyzed")],
    )
}

/// One attempt of a migration that timed out waiting for its locks (and will be retried or
/// fail with `LOCK_TIMEOUT`).
pub fn lock_wait(timestamp_ms: i64) -> String {
    emf_line(timestamp_ms, &[], &[Metric::count("LockWaits")])
}

/// An end-of-request event that could not be published.
pub fn event_publish_failed(timestamp_ms: i64) -> String {
    emf_line(timestamp_ms, &[], &[Metric::count("EventPublishFailures")])
}

/// Where EMF lines go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Metrics {
    /// Dropped: locally there is no CloudWatch to read them.
    #[default]
    Off,
    /// Printed to stdout, one line each (Lambda).
    Stdout,
}

impl Metrics {
    pub fn emit(self, line: String) {
        if self == Self::Stdout {
            println!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error_code::ExecutionErrorCode;
    use crate::domain::{ExecutionError, ExecutionResult};

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).expect("one JSON object")
    }

    #[test]
    fn a_line_declares_every_metric_and_dimension_it_carries() {
        let line = parse(&analyzed(1_700_000_000_000, "high"));
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(declared["Namespace"], "autodb");
        assert_eq!(declared["Dimensions"], json!([["Service", "RiskCategory"]]));
        assert_eq!(
            declared["Metrics"],
            json!([{"Name": "MigrationsAnalyzed", "Unit": "Count"}])
        );
        assert_eq!(line["RiskCategory"], "high");
        assert_eq!(line["Service"], "autodb");
        assert_eq!(line["MigrationsAnalyzed"], 1.0);
        insta::assert_snapshot!(analyzed(0, "low"));
    }

    #[test]
    fn completed_migrations_carry_their_duration_and_failed_ones_their_code() {
        let result = ExecutionResult {
            diff: Default::default(),
            statements_executed: 3,
            execution_time_ms: 1234,
            lock_window_ms: None,
        };
        let done = parse(&migration_ended(5, &Finish::Completed(result)));
        assert_eq!(done["MigrationsCompleted"], 1.0);
        assert_eq!(done["MigrationDuration"], 1234.0);
        assert_eq!(
            done["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Unit"],
            "Milliseconds"
        );
        let failed = parse(&migration_ended(
            5,
            &Finish::Failed(ExecutionError {
                code: ExecutionErrorCode::LockTimeout,
                message: "m".into(),
                statement_index: Some(1),
                sqlstate: Some("55P03".into()),
            }),
        ));
        assert_eq!(failed["MigrationsFailed"], 1.0);
        assert_eq!(failed["ErrorCode"], "LOCK_TIMEOUT");
        assert!(failed.get("MigrationsCompleted").is_none());
        assert!(
            !failed.to_string().contains("\"m\""),
            "no messages in metrics"
        );
        assert_eq!(parse(&lock_wait(0))["LockWaits"], 1.0);
        assert_eq!(parse(&event_publish_failed(0))["EventPublishFailures"], 1.0);
    }
}
