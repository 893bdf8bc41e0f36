//! Separation of duties: who must agree before a token can be executed.
//!
//! Every analysis that issues a token is recorded ([`AnalysisRecord`]): its tenant and
//! connection, the key that asked for it, the SQL's SHA-256, the verdict, and the SHA-256 of
//! the token itself. Its id is derived from the token's hash ([`analysis_id_for`]), so execute
//! finds the record from the token alone, and an approval is bound to that exact token (a
//! changed SQL is a new analysis, with a new token and a new id).
//!
//! Per connection, a policy ([`Connection::self_approve_max`]) names the highest risk the
//! analyzing key may execute on its own say-so: `medium` by default, `low` for a connection
//! labelled production. Above it, a *different* key with the `approve` role must approve the
//! analysis first. A rejection stops the token whatever its risk. Execute refuses with a code
//! that says what is missing ([`Missing`]).

use super::audit::{self, Action, Entry};
use super::{connections, App, AppError};
use crate::domain::access::{Principal, Role};
use crate::domain::Connection;

pub use crate::domain::approval::*;

/// Whether `record`'s token may run on `connection` now.
pub fn gate(record: &AnalysisRecord, connection: &Connection) -> Result<(), Missing> {
    let max = connection.self_approve_max();
    match &record.decision {
        Some(d) if d.verdict == Verdict::Rejected => Err(Missing::Rejected {
            analysis_id: record.analysis_id.clone(),
            by: d.by.clone(),
            reason: d.reason.clone().unwrap_or_default(),
        }),
        _ if record.risk_category <= max => Ok(()),
        Some(d) if d.verdict == Verdict::Approved && d.by != record.analyzed_by => Ok(()),
        _ => Err(Missing::Approval {
            analysis_id: record.analysis_id.clone(),
            risk: record.risk_category,
            self_approve_max: max,
        }),
    }
}

/// The longest rejection reason kept.
const MAX_REASON_LEN: usize = 2000;

/// The analysis `id`, if `by` may see it.
pub async fn get(app: &App, by: &Principal, id: &str) -> Result<AnalysisRecord, AppError> {
    let not_found = || AppError::NotFound("analysis");
    if id.len() != 36 || !id.starts_with("ana_") {
        return Err(not_found());
    }
    let record = app.store.get_analysis(id).await?.ok_or_else(not_found)?;
    // Through the connection: a key limited to other connections does not see it either.
    let connection = connections::get(app, &record.connection_id)
        .await
        .map_err(|_| not_found())?;
    if record.tenant != by.tenant || !by.sees(&connection) {
        return Err(not_found());
    }
    Ok(record)
}

/// Approves (`reason` optional) or rejects (`reason` required) analysis `id`, by `by`.
pub async fn decide(
    app: &App,
    by: &Principal,
    id: &str,
    verdict: Verdict,
    reason: Option<String>,
) -> Result<AnalysisRecord, AppError> {
    by.require(Role::Approve)?;
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if verdict == Verdict::Rejected && reason.is_none() {
        return Err(AppError::Validation(
            "a rejection needs a reason (\"reason\": \"…\")".into(),
        ));
    }
    if reason.as_ref().is_some_and(|r| r.len() > MAX_REASON_LEN) {
        return Err(AppError::Validation(format!(
            "reason must be at most {MAX_REASON_LEN} bytes"
        )));
    }
    let record = get(app, by, id).await?;
    if verdict == Verdict::Approved && record.analyzed_by == by.key_id {
        return Err(AppError::SelfApproval);
    }
    if let Some(d) = &record.decision {
        return Err(AppError::AlreadyDecided(d.verdict.as_str()));
    }
    let decision = Decision {
        verdict,
        by: by.key_id.clone(),
        at: app.clock.now(),
        reason,
    };
    if !app.store.decide_analysis(&record, &decision).await? {
        // Another approver was faster.
        let now = app.store.get_analysis(id).await?;
        let verdict = now
            .and_then(|r| r.decision)
            .map_or("decided", |d| d.verdict.as_str());
        return Err(AppError::AlreadyDecided(verdict));
    }
    audit::record(
        app,
        by,
        match verdict {
            Verdict::Approved => Action::Approve,
            Verdict::Rejected => Action::Reject,
        },
        Entry {
            connection_id: Some(record.connection_id.clone()),
            subject: Some(record.analysis_id.clone()),
            sql_sha256: Some(record.sql_sha256.clone()),
            verdict: Some(verdict.as_str().into()),
            detail: decision.reason.clone(),
        },
    )
    .await?;
    Ok(record.decided(decision))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectionId, DbType};
    use autodb_analysis::RiskCategory;
    use chrono::Utc;

    fn connection(production: bool, max: Option<RiskCategory>) -> Connection {
        Connection {
            id: ConnectionId::generate(),
            name: "c".into(),
            db_type: DbType::Postgresql,
            secret_ref: "s".into(),
            created_at: Utc::now(),
            database_key: None,
            lock_timeout_ms: None,
            max_connections: None,
            executed_at: None,
            auto_approve_max_risk: None,
            allow_unsandboxed_approval: false,
            tenant: "t".into(),
            production,
            self_approve_max_risk: max,
        }
    }

    fn record(risk: RiskCategory, decision: Option<(Verdict, &str)>) -> AnalysisRecord {
        AnalysisRecord {
            analysis_id: "ana_x".into(),
            tenant: "t".into(),
            connection_id: "c".into(),
            analyzed_by: "key_a".into(),
            analyzed_at: Utc::now(),
            sql_sha256: String::new(),
            token_sha256: String::new(),
            risk_category: risk,
            risk_score: 0,
            expires_at: 0,
            decision: decision.map(|(verdict, by)| Decision {
                verdict,
                by: by.into(),
                at: Utc::now(),
                reason: Some("r".into()),
            }),
        }
    }

    #[test]
    fn medium_runs_alone_high_needs_another_key() {
        let c = connection(false, None);
        assert_eq!(gate(&record(RiskCategory::Medium, None), &c), Ok(()));
        assert!(matches!(
            gate(&record(RiskCategory::High, None), &c),
            Err(Missing::Approval { .. })
        ));
        let approved = record(RiskCategory::High, Some((Verdict::Approved, "key_b")));
        assert_eq!(gate(&approved, &c), Ok(()));
        let by_self = record(RiskCategory::High, Some((Verdict::Approved, "key_a")));
        assert!(gate(&by_self, &c).is_err());
    }

    #[test]
    fn production_lowers_the_bar_and_an_explicit_policy_wins() {
        let prod = connection(true, None);
        assert!(gate(&record(RiskCategory::Medium, None), &prod).is_err());
        assert_eq!(gate(&record(RiskCategory::Low, None), &prod), Ok(()));
        let lax = connection(true, Some(RiskCategory::Critical));
        assert_eq!(gate(&record(RiskCategory::Critical, None), &lax), Ok(()));
    }

    #[test]
    fn a_rejection_stops_even_a_low_risk() {
        let c = connection(false, None);
        let rejected = record(RiskCategory::Low, Some((Verdict::Rejected, "key_b")));
        assert!(matches!(gate(&rejected, &c), Err(Missing::Rejected { .. })));
    }
}
