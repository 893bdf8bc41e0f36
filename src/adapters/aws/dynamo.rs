//! The AWS [`Store`]: one DynamoDB table (single-table design, `pk` + `sk`).
//!
//! | item       | pk                | sk       | notable attributes                         |
//! |------------|-------------------|----------|--------------------------------------------|
//! | connection | `CONN`            | id       | name, db_type, secret_ref, created_at, database_key, lock_timeout_ms, auto_approve_max_risk, allow_unsandboxed_approval, max_connections, executed_at, tenant (absent: `default`), production, self_approve_max_risk |
//! | API key    | `APIKEY#<sha256>` | `APIKEY` | data (JSON: key id, tenant, roles, connections, revoked_at); none: a key from before tenants |
//! | analysis   | `ANALYSIS#<id>`   | `ANALYSIS` | data (JSON `AnalysisRecord`), decided, `ttl` |
//! | audit      | `AUDIT#<tenant>`  | `<RFC 3339 time>#<uuid>` | connection_id, data (JSON `AuditRecord`); never updated or deleted |
//! | nonce      | `NONCE#<nonce>`   | `NONCE`  | request_id, `ttl` (epoch s, for DynamoDB TTL) |
//! | lock       | `LOCK#<key>`      | `LOCK`   | request_id, lease_until (epoch ms); key: `Connection::lock_key` |
//! | request    | `REQ#<id>`        | `REQ`    | the request's fields; claim_until (epoch ms) |
//! | snapshot   | `SNAP#<conn id>`  | `LATEST` | snapshot_id, taken_at, fingerprint, chunks |
//! | snapshot data | `SNAPDATA#<snapshot id>` | chunk no. | `data` (binary), `ttl`      |
//!
//! A snapshot is gzip-compressed JSON cut into chunks of at most [`CHUNK_BYTES`]; the chunks
//! are written before the `LATEST` pointer, so a reader never follows a pointer to missing
//! data. Superseded chunks expire through the table's TTL.
//!
//! `begin_execution` is one `TransactWriteItems`; its cancellation reasons say which
//! condition failed (nonce → replay, lock → busy).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use crate::domain::access::{ApiKeyRecord, DEFAULT_TENANT};
use crate::domain::approval::{AnalysisRecord, Decision};
use crate::domain::audit::{AuditQuery, AuditRecord};
use crate::domain::Finish;
use crate::domain::{
    Connection, ConnectionId, DbType, MigrationRequest, RequestId, RequestStatus, SnapshotRecord,
    Sql,
};
use crate::ports::{
    AnalysisStore, AuditLog, BeginExecution, BeginOutcome, ClaimOutcome, ConnectionStore, KeyStore,
    LockStore, PortError, RequestStore,
};
use crate::schema::codec;

type Item = HashMap<String, AttributeValue>;

/// Bytes of compressed snapshot per item: well under DynamoDB's 400 KB item limit.
pub const CHUNK_BYTES: usize = 300 * 1024;
/// How long superseded snapshot chunks are kept.
const SNAPSHOT_RETENTION_SECONDS: i64 = 30 * 24 * 3600;

pub struct DynamoStore {
    client: Client,
    table: String,
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(err: E) -> PortError {
    PortError::unavailable("dynamodb", err)
}

fn corrupt(what: &'static str, detail: impl ToString) -> PortError {
    PortError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn get_s(item: &Item, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn get_ts(item: &Item, name: &str) -> Result<Option<DateTime<Utc>>, PortError> {
    get_s(item, name)
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| corrupt("request", e))
        })
        .transpose()
}

fn request_item(r: &MigrationRequest) -> Item {
    let mut item = key(format!("REQ#{}", r.request_id), "REQ");
    item.insert("connection_id".into(), s(r.connection_id.as_str()));
    item.insert("sql".into(), s(r.sql.as_str()));
    item.insert("sql_sha256".into(), s(&r.sql_sha256));
    item.insert("status".into(), s(r.status.as_str()));
    if let Some(p) = &r.progress {
        item.insert("progress".into(), s(p));
    }
    item.insert("created_at".into(), s(rfc3339(r.created_at)));
    item.insert("attempts".into(), n(i64::from(r.attempts)));
    if let Some(fp) = &r.schema_fp {
        item.insert("schema_fp".into(), s(fp));
    }
    if let Some(scope) = &r.schema_scope {
        item.insert(
            "schema_scope".into(),
            json_value(serde_json::to_string(scope).unwrap_or_default()),
        );
    }
    if let Some(binding) = &r.binding {
        item.insert(
            "binding".into(),
            json_value(serde_json::to_string(binding).unwrap_or_default()),
        );
    }
    item
}

/// Results above this many bytes of JSON are stored gzip-compressed, so that a request item
/// with SQL at its size limit and a large diff still fits DynamoDB's 400 KB.
const COMPRESS_ABOVE: usize = 16 * 1024;

/// A JSON attribute, stored as a string, or gzip-compressed as binary (the string form of a
/// large one may not fit the item): `S` or `B`.
fn json_value(json: String) -> AttributeValue {
    if json.len() <= COMPRESS_ABOVE {
        return AttributeValue::S(json);
    }
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(json.as_bytes());
    AttributeValue::B(gz.finish().unwrap_or_default().into())
}

fn json_attr<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> Result<Option<T>, PortError> {
    let parsed = match item.get(name) {
        None => return Ok(None),
        Some(AttributeValue::S(text)) => serde_json::from_str(text).map_err(|e| e.to_string()),
        Some(AttributeValue::B(bytes)) => {
            use std::io::Read;
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(bytes.as_ref())
                .take(64 * 1024 * 1024)
                .read_to_end(&mut json)
                .map_err(|e| e.to_string())
                .and_then(|_| serde_json::from_slice(&json).map_err(|e| e.to_string()))
        }
        Some(_) => Err("unexpected attribute type".to_string()),
    };
    parsed.map(Some).map_err(|e| corrupt("request", e))
}

fn parse_request(item: &Item) -> Result<MigrationRequest, PortError> {
    let pk = get_s(item, "pk").unwrap_or_default();
    Ok(MigrationRequest {
        request_id: pk
            .strip_prefix("REQ#")
            .and_then(RequestId::parse)
            .ok_or_else(|| corrupt("request", "pk"))?,
        connection_id: get_s(item, "connection_id")
            .and_then(|c| ConnectionId::parse(&c))
            .ok_or_else(|| corrupt("request", "connection_id"))?,
        sql: Sql::stored(get_s(item, "sql").unwrap_or_default()),
        sql_sha256: get_s(item, "sql_sha256").unwrap_or_default(),
        status: get_s(item, "status")
            .and_then(|v| RequestStatus::parse(&v))
            .ok_or_else(|| corrupt("request", "status"))?,
        progress: get_s(item, "progress"),
        result: json_attr(item, "result")?,
        error: json_attr(item, "error")?,
        created_at: get_ts(item, "created_at")?.ok_or_else(|| corrupt("request", "created_at"))?,
        started_at: get_ts(item, "started_at")?,
        completed_at: get_ts(item, "completed_at")?,
        claim_until: get_n(item, "claim_until").and_then(DateTime::<Utc>::from_timestamp_millis),
        attempts: get_n(item, "attempts")
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        schema_fp: get_s(item, "schema_fp"),
        schema_scope: json_attr(item, "schema_scope")?,
        binding: json_attr(item, "binding")?,
    })
}

fn parse_connection(item: &Item) -> Option<Connection> {
    Some(Connection {
        id: ConnectionId::parse(&get_s(item, "sk")?)?,
        name: get_s(item, "name")?,
        db_type: DbType::parse(&get_s(item, "db_type")?)?,
        secret_ref: get_s(item, "secret_ref")?,
        created_at: DateTime::parse_from_rfc3339(&get_s(item, "created_at")?)
            .ok()?
            .with_timezone(&Utc),
        database_key: get_s(item, "database_key"),
        lock_timeout_ms: get_n(item, "lock_timeout_ms").and_then(|ms| u64::try_from(ms).ok()),
        auto_approve_max_risk: match get_s(item, "auto_approve_max_risk") {
            None => None,
            Some(category) => Some(category.parse().ok()?),
        },
        allow_unsandboxed_approval: get_n(item, "allow_unsandboxed_approval") == Some(1),
        max_connections: get_n(item, "max_connections").and_then(|n| u32::try_from(n).ok()),
        executed_at: match get_s(item, "executed_at") {
            None => None,
            Some(raw) => Some(DateTime::parse_from_rfc3339(&raw).ok()?.with_timezone(&Utc)),
        },
        tenant: get_s(item, "tenant").unwrap_or_else(|| DEFAULT_TENANT.to_string()),
        production: get_n(item, "production") == Some(1),
        self_approve_max_risk: match get_s(item, "self_approve_max_risk") {
            None => None,
            Some(category) => Some(category.parse().ok()?),
        },
    })
}

fn to_json(value: &impl serde::Serialize) -> Result<String, PortError> {
    serde_json::to_string(value).map_err(|e| corrupt("record", e))
}

/// The `data` attribute of `item`, parsed.
fn from_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    item: &Item,
) -> Result<T, PortError> {
    let data = get_s(item, "data").ok_or_else(|| corrupt(what, "no data"))?;
    serde_json::from_str(&data).map_err(|e| corrupt(what, e))
}

/// A stored key; one stored before tenants existed has no data.
fn api_key(item: &Item) -> Result<ApiKeyRecord, PortError> {
    if item.contains_key("data") {
        return from_json("API key", item);
    }
    let pk = get_s(item, "pk").unwrap_or_default();
    let hash = pk
        .strip_prefix("APIKEY#")
        .ok_or_else(|| corrupt("API key", "pk"))?;
    Ok(ApiKeyRecord::legacy(hash))
}

/// How long an analysis record outlives its token: as long as a consumed nonce is kept, so
/// a replay of an approved token still finds its approval.
const ANALYSIS_RETENTION_SECONDS: i64 = 8 * 24 * 3600;

fn analysis_item(a: &AnalysisRecord) -> Result<Item, PortError> {
    let mut item = key(format!("ANALYSIS#{}", a.analysis_id), "ANALYSIS");
    item.insert("data".into(), s(to_json(a)?));
    item.insert("ttl".into(), n(a.expires_at + ANALYSIS_RETENTION_SECONDS));
    Ok(item)
}

/// For writes whose condition failing means "already done": that is success.
fn unless_condition_failed<T, E>(outcome: Result<T, SdkError<E>>) -> Result<(), PortError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    condition_held(outcome).map(|_| ())
}

/// Whether a conditional write's condition held (it was written) or not.
fn condition_held<T, E>(outcome: Result<T, SdkError<E>>) -> Result<bool, PortError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match outcome {
        Ok(_) => Ok(true),
        Err(err) if is_conditional_failure(&err) => Ok(false),
        Err(err) => Err(unavailable(err)),
    }
}

fn is_conditional_failure<E>(err: &SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn put(&self, item: Item, condition: &str, values: Option<Item>) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .build()
            .expect("table, item and condition are set");
        TransactWriteItem::builder().put(put).build()
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    async fn put_item(&self, item: Item) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Puts `item` if `condition` holds; whether it did.
    async fn put_if(&self, item: Item, condition: &str) -> Result<bool, PortError> {
        let outcome = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .send()
            .await;
        condition_held(outcome)
    }

    /// Every item of one partition, in sort-key order, read consistently.
    async fn query_partition(&self, pk: impl Into<String>) -> Result<Vec<Item>, PortError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(unavailable)
    }

    async fn load_request(&self, id: &RequestId) -> Result<Option<MigrationRequest>, PortError> {
        self.get_item(format!("REQ#{id}"), "REQ")
            .await?
            .map(|i| parse_request(&i))
            .transpose()
    }
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn put_connection(&self, c: &Connection) -> Result<(), PortError> {
        let mut item = key("CONN".into(), c.id.as_str());
        item.insert("name".into(), s(&c.name));
        item.insert("db_type".into(), s("postgresql"));
        item.insert("secret_ref".into(), s(&c.secret_ref));
        item.insert("created_at".into(), s(rfc3339(c.created_at)));
        if let Some(db) = &c.database_key {
            item.insert("database_key".into(), s(db));
        }
        if let Some(ms) = c.lock_timeout_ms.and_then(|ms| i64::try_from(ms).ok()) {
            item.insert("lock_timeout_ms".into(), n(ms));
        }
        if let Some(risk) = c.auto_approve_max_risk {
            item.insert("auto_approve_max_risk".into(), s(risk.as_str()));
        }
        if c.allow_unsandboxed_approval {
            item.insert("allow_unsandboxed_approval".into(), n(1));
        }
        if let Some(max) = c.max_connections {
            item.insert("max_connections".into(), n(i64::from(max)));
        }
        if let Some(at) = c.executed_at {
            item.insert("executed_at".into(), s(rfc3339(at)));
        }
        item.insert("tenant".into(), s(&c.tenant));
        if c.production {
            item.insert("production".into(), n(1));
        }
        if let Some(risk) = c.self_approve_max_risk {
            item.insert("self_approve_max_risk".into(), s(risk.as_str()));
        }
        self.put_item(item).await?;
        Ok(())
    }

    async fn get_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, PortError> {
        Ok(self
            .get_item("CONN".into(), id.as_str())
            .await?
            .and_then(|i| parse_connection(&i)))
    }

    async fn list_connections(&self) -> Result<Vec<Connection>, PortError> {
        let items: Vec<Item> = self.query_partition("CONN").await?;
        Ok(items.iter().filter_map(parse_connection).collect())
    }

    async fn put_snapshot(&self, snap: &SnapshotRecord) -> Result<(), PortError> {
        let data = codec::encode(&snap.schema);
        let chunks: Vec<&[u8]> = data.chunks(CHUNK_BYTES).collect();
        let ttl = snap.taken_at.timestamp() + SNAPSHOT_RETENTION_SECONDS;
        for (i, chunk) in chunks.iter().enumerate() {
            let mut item = key(format!("SNAPDATA#{}", snap.snapshot_id), &format!("{i:05}"));
            item.insert("data".into(), AttributeValue::B(chunk.to_vec().into()));
            item.insert("ttl".into(), n(ttl));
            self.put_item(item).await?;
        }
        let mut latest = key(format!("SNAP#{}", snap.connection_id), "LATEST");
        latest.insert("snapshot_id".into(), s(&snap.snapshot_id));
        latest.insert("taken_at".into(), s(rfc3339(snap.taken_at)));
        latest.insert("fingerprint".into(), s(&snap.fingerprint));
        // The pointer expires with its chunks, so an old snapshot disappears whole.
        latest.insert("ttl".into(), n(ttl));
        latest.insert(
            "chunks".into(),
            n(i64::try_from(chunks.len()).unwrap_or(i64::MAX)),
        );
        self.put_item(latest).await?;
        Ok(())
    }

    async fn latest_snapshot(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<SnapshotRecord>, PortError> {
        let Some(latest) = self.get_item(format!("SNAP#{id}"), "LATEST").await? else {
            return Ok(None);
        };
        let snapshot_id = get_s(&latest, "snapshot_id").ok_or_else(|| corrupt("snapshot", "id"))?;
        let expected = get_n(&latest, "chunks").unwrap_or(0);
        let items: Vec<Item> = self
            .query_partition(format!("SNAPDATA#{snapshot_id}"))
            .await?;
        if i64::try_from(items.len()).ok() != Some(expected) {
            // TTL deletion is lazy and per item: chunks may go before their pointer. An
            // incomplete snapshot is an expired one; the caller introspects again.
            tracing::warn!(
                snapshot_id,
                found = items.len(),
                expected,
                "incomplete snapshot; treating it as expired"
            );
            return Ok(None);
        }
        // The sort key is the zero-padded chunk number, so query order is chunk order.
        let mut data = Vec::new();
        for item in &items {
            let chunk = item
                .get("data")
                .and_then(|d| d.as_b().ok())
                .ok_or_else(|| corrupt("snapshot", "chunk without data"))?;
            data.extend_from_slice(chunk.as_ref());
        }
        Ok(Some(SnapshotRecord {
            snapshot_id,
            connection_id: id.clone(),
            taken_at: get_ts(&latest, "taken_at")?
                .ok_or_else(|| corrupt("snapshot", "taken_at"))?,
            fingerprint: get_s(&latest, "fingerprint").unwrap_or_default(),
            schema: codec::decode(&data).map_err(|e| corrupt("snapshot", e))?,
        }))
    }
}

#[async_trait]
impl KeyStore for DynamoStore {
    async fn put_api_key(&self, k: &ApiKeyRecord) -> Result<(), PortError> {
        let mut item = key(format!("APIKEY#{}", k.sha256), "APIKEY");
        item.insert("data".into(), s(to_json(k)?));
        self.put_item(item).await
    }

    async fn get_api_key(&self, sha256_hex: &str) -> Result<Option<ApiKeyRecord>, PortError> {
        self.get_item(format!("APIKEY#{sha256_hex}"), "APIKEY")
            .await?
            .map(|item| api_key(&item))
            .transpose()
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, PortError> {
        let items: Vec<Item> = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :sk")
            .expression_attribute_values(":sk", s("APIKEY"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(unavailable)?;
        items.iter().map(api_key).collect()
    }
}

#[async_trait]
impl AnalysisStore for DynamoStore {
    async fn put_analysis(&self, a: &AnalysisRecord) -> Result<(), PortError> {
        self.put_if(analysis_item(a)?, "attribute_not_exists(pk)")
            .await?;
        Ok(())
    }

    async fn get_analysis(&self, analysis_id: &str) -> Result<Option<AnalysisRecord>, PortError> {
        self.get_item(format!("ANALYSIS#{analysis_id}"), "ANALYSIS")
            .await?
            .map(|item| from_json("analysis", &item))
            .transpose()
    }

    async fn decide_analysis(
        &self,
        analysis: &AnalysisRecord,
        decision: &Decision,
    ) -> Result<bool, PortError> {
        let mut item = analysis_item(&analysis.decided(decision.clone()))?;
        item.insert("decided".into(), n(1));
        // A put, not an update: the functions that decide hold no UpdateItem permission.
        self.put_if(
            item,
            "attribute_exists(pk) AND attribute_not_exists(decided)",
        )
        .await
    }
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn append_audit(&self, r: &AuditRecord) -> Result<(), PortError> {
        let mut item = key(format!("AUDIT#{}", r.tenant), &r.id);
        if let Some(c) = &r.connection_id {
            item.insert("connection_id".into(), s(c));
        }
        item.insert("data".into(), s(to_json(r)?));
        // The id is unique: a failed condition means this very record was written before (a
        // retried call), and records are never overwritten.
        self.put_if(item, "attribute_not_exists(pk)").await?;
        Ok(())
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, PortError> {
        // Sort keys begin with the record's time (RFC 3339, fixed precision), then `#`; a
        // key condition may not hold an empty string, so the open bounds are "0" and "~".
        let low = q.since.map_or_else(|| "0".to_string(), rfc3339);
        let high = q
            .until
            .map_or_else(|| "~".to_string(), |t| format!("{}#~", rfc3339(t)));
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
            .expression_attribute_values(":pk", s(format!("AUDIT#{}", q.tenant)))
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(high))
            .consistent_read(true);
        if let Some(c) = &q.connection_id {
            query = query
                .filter_expression("connection_id = :c")
                .expression_attribute_values(":c", s(c));
        }
        let mut pages = query.into_paginator().items().send();
        let mut records = Vec::new();
        while records.len() < q.limit {
            match pages.next().await {
                None => break,
                Some(item) => records.push(from_json("audit", &item.map_err(unavailable)?)?),
            }
        }
        Ok(records)
    }
}

#[async_trait]
impl RequestStore for DynamoStore {
    async fn begin_execution(&self, b: &BeginExecution<'_>) -> Result<BeginOutcome, PortError> {
        let request = b.request;
        let mut nonce = key(format!("NONCE#{}", b.nonce), "NONCE");
        nonce.insert("request_id".into(), s(request.request_id.as_str()));
        nonce.insert("ttl".into(), n(b.nonce_keep_until.timestamp()));
        let mut lock = key(format!("LOCK#{}", b.lock_key), "LOCK");
        lock.insert("request_id".into(), s(request.request_id.as_str()));
        lock.insert("lease_until".into(), n(b.lock_until.timestamp_millis()));
        // The order matters: cancellation reasons come back in this order.
        let items = vec![
            self.put(nonce, "attribute_not_exists(pk)", None),
            self.put(
                lock,
                "attribute_not_exists(pk) OR lease_until < :now",
                Some(HashMap::from([(
                    ":now".to_string(),
                    n(b.now.timestamp_millis()),
                )])),
            ),
            self.put(request_item(request), "attribute_not_exists(pk)", None),
        ];
        // Concurrent transactions on the same items are cancelled with `TransactionConflict`;
        // a short retry lets the winner's write become visible.
        for attempt in 0..8u32 {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(BeginOutcome::Created),
                Err(err) => err,
            };
            let reasons: Vec<String> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None").to_string())
                    .collect(),
                _ => return Err(unavailable(err)),
            };
            let failed = |i: usize| {
                reasons
                    .get(i)
                    .is_some_and(|c| c == "ConditionalCheckFailed")
            };
            if failed(0) {
                return match self.nonce_request(b.nonce).await? {
                    Some(id) => Ok(BeginOutcome::Replay(id)),
                    None => Err(corrupt("nonce", "consumed nonce without a request")),
                };
            }
            if failed(1) {
                return Ok(BeginOutcome::Busy);
            }
            if !reasons.iter().any(|c| c == "TransactionConflict") {
                return Err(unavailable(err));
            }
            tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1))).await;
        }
        Err(PortError::unavailable(
            "dynamodb",
            "transaction kept conflicting with concurrent writers",
        ))
    }

    async fn nonce_request(&self, nonce: &str) -> Result<Option<RequestId>, PortError> {
        Ok(self
            .get_item(format!("NONCE#{nonce}"), "NONCE")
            .await?
            .and_then(|i| get_s(&i, "request_id"))
            .and_then(|r| RequestId::parse(&r)))
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<MigrationRequest>, PortError> {
        self.load_request(id).await
    }

    async fn claim_request(
        &self,
        id: &RequestId,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
    ) -> Result<ClaimOutcome, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("REQ#{id}"), "REQ")))
            .update_expression(
                "SET #s = :executing, claim_until = :until, progress = :starting, \
                 started_at = if_not_exists(started_at, :now_s) ADD attempts :one",
            )
            .condition_expression(
                "attribute_exists(pk) AND (#s = :pending OR (#s = :executing AND claim_until < :now))",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":executing", s("executing"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":starting", s("Starting"))
            .expression_attribute_values(":until", n(claim_until.timestamp_millis()))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":now_s", s(rfc3339(now)))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| corrupt("request", "no attributes"))?;
                Ok(ClaimOutcome::Claimed(parse_request(&item)?))
            }
            Err(err) if is_conditional_failure(&err) => Ok(match self.load_request(id).await? {
                None => ClaimOutcome::Missing,
                Some(r) if r.status.is_terminal() => ClaimOutcome::Finished(r),
                Some(_) => ClaimOutcome::Busy,
            }),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn release_claim(&self, id: &RequestId) -> Result<(), PortError> {
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("REQ#{id}"), "REQ")))
            .update_expression("SET claim_until = :zero")
            .condition_expression("#s = :executing")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":executing", s("executing"))
            .send()
            .await;
        unless_condition_failed(outcome)
    }

    async fn set_progress(&self, id: &RequestId, progress: &str) -> Result<(), PortError> {
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("REQ#{id}"), "REQ")))
            .update_expression("SET progress = :p")
            // A progress write still in flight when the request finished must not replace
            // the final one ("Failed at statement 3" with "Applying statement 3 of 3").
            .condition_expression("attribute_exists(pk) AND NOT (#s IN (:completed, :failed))")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":p", s(progress))
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(":failed", s("failed"))
            .send()
            .await;
        unless_condition_failed(outcome)
    }

    async fn finish_request(
        &self,
        id: &RequestId,
        finish: &Finish,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let (status, progress, result, error) = finish.columns();
        let (field, value) = match (result, error) {
            (Some(r), _) => ("result", r),
            (None, Some(e)) => ("error", e),
            (None, None) => return Err(corrupt("request", "finish without result or error")),
        };
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("REQ#{id}"), "REQ")))
            .update_expression(
                "SET #s = :status, progress = :p, #f = :v, completed_at = :now REMOVE claim_until",
            )
            .condition_expression("attribute_exists(pk) AND NOT (#s IN (:completed, :failed))")
            .expression_attribute_names("#s", "status")
            // `result` and `error` are DynamoDB reserved words.
            .expression_attribute_names("#f", field)
            .expression_attribute_values(":status", s(status))
            .expression_attribute_values(":p", s(progress))
            .expression_attribute_values(":v", json_value(value))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(":failed", s("failed"))
            .send()
            .await;
        // A finished request stays as the first answer left it.
        unless_condition_failed(outcome)
    }
}

#[async_trait]
impl LockStore for DynamoStore {
    async fn renew_lock(
        &self,
        lock_key: &str,
        request: &RequestId,
        until: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("LOCK#{lock_key}"), "LOCK")))
            .update_expression("SET lease_until = :until")
            .condition_expression("request_id = :req")
            .expression_attribute_values(":until", n(until.timestamp_millis()))
            .expression_attribute_values(":req", s(request.as_str()))
            .send()
            .await;
        condition_held(outcome)
    }

    async fn release_lock(&self, lock_key: &str, request: &RequestId) -> Result<(), PortError> {
        let outcome = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("LOCK#{lock_key}"), "LOCK")))
            .condition_expression("request_id = :req")
            .expression_attribute_values(":req", s(request.as_str()))
            .send()
            .await;
        unless_condition_failed(outcome)
    }
}

/// Creates the table as `template.yaml` declares it (for tests and `autodb deploy`-less
/// trials against moto or DynamoDB Local).
pub async fn create_table(client: &Client, table: &str) -> Result<(), PortError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("complete attribute")
    };
    let key_el = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("complete key")
    };
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key_el("pk", KeyType::Hash))
        .key_schema(key_el("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}
