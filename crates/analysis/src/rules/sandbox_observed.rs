//! `sandbox-observed`: what the sandbox run saw that the static analysis did not predict — a
//! failure, a stronger lock, a rewrite, a long estimated lock time.
//!
//! Its findings come from the run, not from the parse tree: `crate::sandbox_result::apply_observations` adds
//! them after the service ran the migration on a clone. Reading the statement alone, there
//! is nothing for it to say, so its check is empty; it is a rule so that its findings carry a
//! rule identity like every other.

use super::{Ctx, Findings};

pub(super) fn check(_ctx: &Ctx, _out: &mut Findings) {}

#[cfg(test)]
mod tests {
    use crate::catalog::LockMode;
    use crate::rules::testing::findings;
    use crate::rules::Rule;
    use crate::sandbox_result::{ObservedLock, ObservedStatement, SandboxResult, SandboxStatus};

    const SQL: &str = "ALTER TABLE t ADD COLUMN c int;";

    fn sandbox_findings(result: &SandboxResult) -> Vec<String> {
        let mut analysis = crate::analyze(&autodb_core::sql::parse(SQL).unwrap(), None);
        crate::sandbox_result::apply_observations(&mut analysis, result, &[]);
        analysis.statements[0]
            .findings
            .iter()
            .filter(|f| f.rule == Rule::SandboxObserved)
            .map(|f| f.message.clone())
            .collect()
    }

    /// The rule's findings are the run's: none from the statement alone, and after a run one
    /// for each thing the run saw that the analysis did not predict — here a stronger lock on
    /// another table — carrying this rule's identity.
    #[test]
    fn its_findings_come_from_the_run_not_the_statement() {
        assert!(findings(SQL, Rule::SandboxObserved).is_empty());
        let run = |locks: Vec<ObservedLock>| SandboxResult {
            status: SandboxStatus::Passed,
            passed: true,
            migration_applied: true,
            statements: vec![ObservedStatement {
                index: 0,
                duration_ms: 1.0,
                observed_locks: locks,
                rewritten_tables: vec![],
                estimated_duration_ms: None,
                estimated_lock_ms: None,
                not_run: None,
            }],
            ..SandboxResult::skipped("")
        };
        assert!(sandbox_findings(&run(vec![])).is_empty());
        let seen = sandbox_findings(&run(vec![ObservedLock {
            table: "audit".into(),
            mode: LockMode::AccessExclusive,
        }]));
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].contains("`audit`"), "{seen:?}");
    }
}
