//! Execute and status: turn a valid approval token into exactly one queued request.
//!
//! The token is checked in the order of docs/architecture.md §3. An expired token is not the end of the
//! story: if its nonce was already consumed and the SQL and connection still match, the
//! caller is retrying a call that succeeded, and gets the same request back.

use chrono::Duration;
use serde::Serialize;

use super::approval::{self, Missing};
use super::audit::{self, Action, Entry};
use super::{connections, App, AppError};
use crate::domain::access::{Principal, Role};
use crate::domain::{sha256_hex, ConnectionId, MigrationRequest, RequestId, RequestStatus, Sql};
use crate::ports::{BeginExecution, BeginOutcome};
use crate::token::{self, TokenError};

pub struct ExecuteCommand {
    pub approval_token: String,
    pub sql: Sql,
    pub connection_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    pub request_id: RequestId,
    pub status: RequestStatus,
}

/// Executes for `by` (the `execute` role) a token whose analysis the connection's policy
/// lets run (`approval::gate`).
pub async fn execute(app: &App, by: &Principal, cmd: ExecuteCommand) -> Result<Accepted, AppError> {
    by.require(Role::Execute)?;
    let claims = match token::verify_signature(&*app.key_ring().await, &cmd.approval_token) {
        Ok(claims) => claims,
        // Signed with a key another function loaded first (a rotation in progress)?
        Err(_) => token::verify_signature(&*app.key_ring_after_miss().await, &cmd.approval_token)?,
    };
    let now = app.clock.now();
    let bound = claims.check_binding(&cmd.sql, &cmd.connection_id);
    if let Err(expired) = claims.check_expiry(now.timestamp()) {
        if bound.is_ok() {
            connections::visible(app, by, &cmd.connection_id).await?;
            if let Some(existing) = app.store.nonce_request(&claims.nonce).await? {
                return replay(app, existing).await;
            }
        }
        return Err(expired.into());
    }
    bound?;
    // A signed connection id was valid when signed; it may since have been removed.
    let connection_id =
        ConnectionId::parse(&cmd.connection_id).ok_or(AppError::Token(TokenError::Invalid))?;
    let connection = connections::visible(app, by, connection_id.as_str()).await?;
    // A token already used names its request, whatever was decided about it since: the
    // replay runs nothing, so the approval policy has nothing to say about it.
    if let Some(existing) = app.store.nonce_request(&claims.nonce).await? {
        return replay(app, existing).await;
    }
    if let Err(missing) = approved(app, &connection, &cmd.approval_token).await? {
        audit::record(
            app,
            by,
            Action::ExecuteRefused,
            Entry {
                connection_id: Some(connection.id.to_string()),
                subject: Some(approval::analysis_id_for(&cmd.approval_token)),
                sql_sha256: Some(claims.sql_sha256.clone()),
                verdict: Some(missing.code().as_str().into()),
                detail: None,
            },
        )
        .await?;
        return Err(AppError::NotApproved(missing));
    }
    let lock_key = connection.lock_key();
    let mut request = MigrationRequest::new(RequestId::generate(), connection_id, &cmd.sql, now);
    request.schema_fp = Some(claims.schema_fp.clone());
    request.schema_scope = claims.scope.clone();
    request.binding = Some(crate::domain::Binding {
        sandboxed: claims.sandboxed,
        ..claims.binding.clone()
    });
    let begin = BeginExecution {
        request: &request,
        lock_key: &lock_key,
        nonce: &claims.nonce,
        nonce_keep_until: now + Duration::seconds(app.settings.nonce_retention_seconds),
        lock_until: now + Duration::seconds(app.settings.lock_lease_seconds),
        now,
    };
    match app.store.begin_execution(&begin).await? {
        BeginOutcome::Created => {
            // The token is consumed and the request exists: the caller must get its id even if
            // the queue is down. A replay of the token re-sends it (and a request that waits
            // past `request_expiry_seconds` expires instead of running late).
            if let Err(err) = app.queue.enqueue(&request.request_id).await {
                tracing::error!(
                    request_id = %request.request_id,
                    error = %crate::domain::error_chain(&err),
                    "could not queue the request; a replay of its token will"
                );
            }
            // The request exists and is queued: a trail that cannot be written is logged, not
            // turned into an error the caller would take for a refusal.
            let recorded = audit::record(
                app,
                by,
                Action::Execute,
                Entry {
                    connection_id: Some(connection.id.to_string()),
                    subject: Some(request.request_id.to_string()),
                    sql_sha256: Some(claims.sql_sha256.clone()),
                    verdict: Some("accepted".into()),
                    detail: Some(approval::analysis_id_for(&cmd.approval_token)),
                },
            )
            .await;
            if let Err(err) = recorded {
                tracing::error!(request_id = %request.request_id, error = %crate::domain::error_chain(&err), "could not write the audit record of an accepted execution");
            }
            Ok(Accepted {
                request_id: request.request_id,
                status: RequestStatus::Pending,
            })
        }
        BeginOutcome::Replay(existing) => replay(app, existing).await,
        BeginOutcome::Busy => Err(AppError::MigrationInProgress(request.connection_id)),
    }
}

/// The answer to a token that was already used: its request, re-queued if still pending (the
/// executor is idempotent, so a duplicate job is harmless).
async fn replay(app: &App, id: RequestId) -> Result<Accepted, AppError> {
    let request = app
        .store
        .get_request(&id)
        .await?
        .ok_or(AppError::NotFound("request"))?;
    if request.status == RequestStatus::Pending {
        if let Err(err) = app.queue.enqueue(&id).await {
            tracing::error!(request_id = %id, error = %crate::domain::error_chain(&err), "could not re-queue the request");
        }
    }
    Ok(Accepted {
        request_id: id,
        status: request.status,
    })
}

/// Whether the analysis behind `token` lets it run on `connection` (`approval::gate`).
async fn approved(
    app: &App,
    connection: &crate::domain::Connection,
    token: &str,
) -> Result<Result<(), Missing>, AppError> {
    let record = app
        .store
        .get_analysis(&approval::analysis_id_for(token))
        .await?;
    Ok(match record {
        Some(r)
            if r.token_sha256 == sha256_hex(token.as_bytes())
                && r.tenant == connection.tenant
                && r.connection_id == connection.id.as_str() =>
        {
            approval::gate(&r, connection)
        }
        _ => Err(Missing::UnknownAnalysis),
    })
}

/// The request `id`, if `by` may see its connection.
pub async fn status(app: &App, by: &Principal, id: &str) -> Result<MigrationRequest, AppError> {
    let id = RequestId::parse(id).ok_or(AppError::NotFound("request"))?;
    let request = app
        .store
        .get_request(&id)
        .await?
        .ok_or(AppError::NotFound("request"))?;
    connections::visible(app, by, request.connection_id.as_str())
        .await
        .map_err(|_| AppError::NotFound("request"))?;
    Ok(request)
}
