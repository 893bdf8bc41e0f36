//! The S3 trigger: a migration file put under `migrations/<connection-id>/` in the stack's
//! uploads bucket is handled by `app::upload`, and `<key>.analysis.json` and
//! `<key>.result.json` are written beside it.
//!
//! It runs in the executor function (decided so because that function already reaches the
//! target databases, has the 15-minute timeout an auto-approved migration may need, and
//! holds the executor's permissions; a fifth function would duplicate all three). The
//! bucket notifies a queue for keys under `migrations/` ending in `.sql` (so the JSON it
//! writes back never triggers it again), and the queue the executor: each upload is one
//! message, retried and dead-lettered by itself (`lambda::handle_upload_messages`); a direct
//! S3 notification is taken too. Keys that do not name a connection are ignored.
//!
//! Each record runs at most once per object version (`app::upload`, "Exactly once"): the
//! record's version id (versioned bucket) or ETag names the version, the object read is that
//! version (`versionId`, else `If-Match` on the ETag: content overwritten since the event is
//! not read, its own event handles it), and at most [`MAX_UPLOAD_BYTES`] are read whatever
//! the object's metadata says.

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::app::upload::{earlier, handle_upload, UploadId, UploadOutcome};
use crate::app::{App, AppError};
use crate::ports::PortError;

/// Where uploaded migrations go: `migrations/<connection-id>/<name>.sql`.
pub const PREFIX: &str = "migrations/";

/// Files larger than this are not read (the request body cap of the HTTP API).
const MAX_UPLOAD_BYTES: i64 = crate::api::MAX_BODY_BYTES as i64;

pub struct Uploads {
    s3: Client,
    /// The queue the bucket notifies (`AUTODB_UPLOADS_QUEUE_ARN`), whose messages each carry
    /// one S3 event: [`crate::lambda::handle_upload_messages`].
    queue_arn: Option<String>,
}

/// The connection id a key names, if it is an uploaded migration.
pub fn connection_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (connection, name) = rest.split_once('/')?;
    (name.ends_with(".sql") && !connection.is_empty()).then_some(connection)
}

/// An S3 event's key: URL-encoded, with `+` for spaces.
fn decoded_key(record: &S3EventRecord) -> Option<String> {
    let raw = record.s3.object.key.as_deref()?;
    Some(crate::pgconn::percent_decode(&raw.replace('+', " ")))
}

/// Which version of an object an event is about.
enum Version {
    /// A versioned bucket's version id.
    Id(String),
    /// The ETag (unquoted), which changes with the content.
    ETag(String),
}

impl Version {
    fn name(&self) -> String {
        match self {
            Self::Id(id) => format!("version:{id}"),
            Self::ETag(etag) => format!("etag:{etag}"),
        }
    }
}

fn too_large() -> String {
    format!("the file is larger than {MAX_UPLOAD_BYTES} bytes")
}

impl Uploads {
    pub fn new(s3: Client) -> Self {
        Self {
            s3,
            queue_arn: None,
        }
    }

    /// Uploads whose notifications come through the SQS queue `arn`.
    pub fn through_queue(mut self, arn: impl Into<String>) -> Self {
        self.queue_arn = Some(arn.into());
        self
    }

    pub fn queue_arn(&self) -> Option<&str> {
        self.queue_arn.as_deref()
    }

    /// From the SDK's configuration in the environment (the executor function), with the
    /// uploads queue of `AUTODB_UPLOADS_QUEUE_ARN` when set.
    pub async fn from_env() -> Self {
        let uploads = Self::new(Client::new(&super::sdk_config().await));
        match std::env::var("AUTODB_UPLOADS_QUEUE_ARN") {
            Ok(arn) if !arn.is_empty() => uploads.through_queue(arn),
            _ => uploads,
        }
    }

    /// Handles every record; `Err` (a backing service failed) makes Lambda retry the event,
    /// which is safe: an upload already executed replays to its request.
    pub async fn handle(
        &self,
        app: &App,
        event: S3Event,
        deadline: DateTime<Utc>,
    ) -> Result<(), PortError> {
        for record in event.records {
            let (Some(bucket), Some(key)) = (record.s3.bucket.name.clone(), decoded_key(&record))
            else {
                continue;
            };
            let Some(connection) = connection_of(&key) else {
                tracing::info!(key = %key, "ignoring an object that is not an uploaded migration");
                continue;
            };
            let object = &record.s3.object;
            let Some(version) = object
                .version_id
                .clone()
                .filter(|v| !v.is_empty() && v != "null")
                .map(Version::Id)
                .or_else(|| {
                    object
                        .e_tag
                        .clone()
                        .filter(|e| !e.is_empty())
                        .map(|e| Version::ETag(e.trim_matches('"').to_string()))
                })
            else {
                tracing::warn!(key = %key, "ignoring an upload event that names no version or ETag");
                continue;
            };
            let upload = UploadId {
                bucket: bucket.clone(),
                key: key.clone(),
                version: version.name(),
            };
            // A duplicate or retried event of an upload that was executed: its request.
            let outcome = match earlier(app, &upload).await {
                Ok(Some(outcome)) => {
                    tracing::info!(key = %key, "duplicate upload event; answering with its request");
                    self.write(&bucket, &format!("{key}.result.json"), &outcome.result)
                        .await?;
                    continue;
                }
                Ok(None) => match self.read(&bucket, &key, &version).await? {
                    Ok(sql) => {
                        let uploader = record
                            .principal_id
                            .principal_id
                            .as_deref()
                            .unwrap_or("unknown");
                        handle_upload(app, connection, &upload, uploader, sql, deadline).await
                    }
                    Err(reason) => Ok(UploadOutcome {
                        analysis: Value::Null,
                        result: serde_json::json!({"status": "rejected", "reason": reason}),
                    }),
                },
                Err(err) => Err(err),
            };
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(AppError::Port(err)) => return Err(err),
                Err(other) => UploadOutcome {
                    analysis: Value::Null,
                    result: serde_json::json!({"status": "rejected", "reason": other.to_string()}),
                },
            };
            tracing::info!(key = %key, status = %outcome.result["status"], "uploaded migration handled");
            self.write(&bucket, &format!("{key}.analysis.json"), &outcome.analysis)
                .await?;
            self.write(&bucket, &format!("{key}.result.json"), &outcome.result)
                .await?;
        }
        Ok(())
    }

    /// The text of the object's `version`; the inner `Err` says why it cannot be a migration.
    async fn read(
        &self,
        bucket: &str,
        key: &str,
        version: &Version,
    ) -> Result<Result<String, String>, PortError> {
        let request = self.s3.get_object().bucket(bucket).key(key);
        let request = match version {
            Version::Id(id) => request.version_id(id),
            Version::ETag(etag) => request.if_match(format!("\"{etag}\"")),
        };
        let mut object = match request.send().await {
            Ok(object) => object,
            Err(err) if err.raw_response().map(|r| r.status().as_u16()) == Some(412) => {
                return Ok(Err(
                    "the object was overwritten after this event; the event of its new content \
                     handles that"
                        .into(),
                ))
            }
            Err(err) => return Err(PortError::unavailable("s3", err)),
        };
        if object.content_length.unwrap_or(0) > MAX_UPLOAD_BYTES {
            return Ok(Err(too_large()));
        }
        // Whatever the metadata said: stop reading past the limit.
        let mut bytes = Vec::new();
        while let Some(chunk) = object
            .body
            .try_next()
            .await
            .map_err(|e| PortError::unavailable("s3", e))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as i64 > MAX_UPLOAD_BYTES {
                return Ok(Err(too_large()));
            }
        }
        Ok(String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".into()))
    }

    async fn write(&self, bucket: &str, key: &str, body: &Value) -> Result<(), PortError> {
        let text = serde_json::to_vec_pretty(body).unwrap_or_default();
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(text))
            .send()
            .await
            .map_err(|e| PortError::unavailable("s3", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sql_files_under_a_connection_are_uploads() {
        assert_eq!(
            connection_of("migrations/conn_1/0001_add.sql"),
            Some("conn_1")
        );
        assert_eq!(connection_of("migrations/conn_1/a/b.sql"), Some("conn_1"));
        assert_eq!(
            connection_of("migrations/conn_1/0001.sql.result.json"),
            None
        );
        assert_eq!(connection_of("migrations/x.sql"), None);
        assert_eq!(connection_of("other/conn_1/x.sql"), None);
        assert_eq!(connection_of("migrations//x.sql"), None);
    }
}
