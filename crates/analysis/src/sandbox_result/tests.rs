use super::*;
use crate::report::RiskCategory;

fn analysis(sql: &str) -> Analysis {
    crate::analyze(&autodb_core::sql::parse(sql).unwrap(), None)
}

fn passed(statements: Vec<ObservedStatement>) -> SandboxResult {
    SandboxResult {
        status: SandboxStatus::Passed,
        reason: None,
        passed: true,
        migration_applied: true,
        statements,
        ..SandboxResult::skipped("")
    }
}

fn observed(index: usize, locks: &[(&str, LockMode)], rewritten: &[&str]) -> ObservedStatement {
    ObservedStatement {
        index,
        duration_ms: 1.0,
        observed_locks: locks
            .iter()
            .map(|(t, m)| ObservedLock {
                table: t.to_string(),
                mode: *m,
            })
            .collect(),
        rewritten_tables: rewritten.iter().map(|t| t.to_string()).collect(),
        estimated_duration_ms: None,
        estimated_lock_ms: None,
        not_run: None,
    }
}

#[test]
fn pg_locks_modes_map_to_lock_modes() {
    assert_eq!(
        lock_mode_from_pg_locks("AccessExclusiveLock"),
        Some(LockMode::AccessExclusive)
    );
    assert_eq!(lock_mode_from_pg_locks("ShareLock"), Some(LockMode::Share));
    assert_eq!(
        lock_mode_from_pg_locks("ShareUpdateExclusiveLock"),
        Some(LockMode::ShareUpdateExclusive)
    );
    assert_eq!(
        lock_mode_from_pg_locks("RowShareLock"),
        Some(LockMode::RowShare)
    );
    assert_eq!(lock_mode_from_pg_locks("SIReadLock"), None);
    for (name, mode) in [
        ("AccessShareLock", LockMode::AccessShare),
        ("RowExclusiveLock", LockMode::RowExclusive),
        ("ShareRowExclusiveLock", LockMode::ShareRowExclusive),
        ("ExclusiveLock", LockMode::Exclusive),
    ] {
        assert_eq!(lock_mode_from_pg_locks(name), Some(mode));
    }
}

#[test]
fn extrapolation_is_a_line_through_both_sizes() {
    let t = Timing {
        small: (100.0, 2.0),
        large: (1_100.0, 12.0),
    };
    // 10 ms per 1,000 rows: 1,000,100 rows → 2 + 10,000.
    assert!((extrapolate(t, 1_000_100.0) - 10_002.0).abs() < 1e-6);
    // Below the small size, the small run's duration.
    assert_eq!(extrapolate(t, 10.0), 2.0);
    // Noise that makes the larger run faster is a flat line, never a negative estimate.
    let noisy = Timing {
        small: (100.0, 5.0),
        large: (1_100.0, 3.0),
    };
    assert_eq!(extrapolate(noisy, 1e6), 5.0);
    // Two runs at one size say nothing about the slope.
    let same = Timing {
        small: (100.0, 5.0),
        large: (100.0, 9.0),
    };
    assert_eq!(extrapolate(same, 1e6), 5.0);
}

#[test]
fn a_lock_is_held_from_its_statement_to_commit() {
    assert_eq!(lock_times(&[1.0, 2.0, 4.0]), vec![7.0, 6.0, 4.0]);
    assert!(lock_times(&[]).is_empty());
}

#[test]
fn lock_time_scores_grow_with_time_and_strength() {
    assert_eq!(lock_time_score(LockMode::AccessExclusive, 100), 25);
    assert_eq!(lock_time_score(LockMode::AccessExclusive, 1_000), 50);
    assert_eq!(lock_time_score(LockMode::AccessExclusive, 10_000), 75);
    assert_eq!(lock_time_score(LockMode::AccessExclusive, 10_000_000), 90);
    assert_eq!(lock_time_score(LockMode::AccessExclusive, 5), 0);
    assert_eq!(lock_time_score(LockMode::Share, 10_000), 53);
    assert_eq!(
        lock_time_score(LockMode::ShareUpdateExclusive, 10_000_000),
        0
    );
}

#[test]
fn a_skipped_run_changes_nothing() {
    let mut a = analysis("ALTER TABLE t ADD COLUMN c int;");
    let before = a.clone();
    apply_observations(&mut a, &SandboxResult::skipped("no sandbox server"), &[]);
    assert_eq!(a, before);
}

#[test]
fn a_failure_makes_the_migration_at_least_high() {
    let mut a = analysis("CREATE TABLE u (id int);\nCREATE TABLE v (id int);");
    assert!(a.risk_score < FAILED_FLOOR);
    let result = SandboxResult {
        status: SandboxStatus::Failed,
        passed: false,
        migration_error: Some(MigrationError {
            statement_index: 1,
            sqlstate: Some("42P01".into()),
            message: "relation \"w\" does not exist".into(),
            position: None,
            line: None,
            column: None,
        }),
        ..passed(vec![])
    };
    apply_observations(&mut a, &result, &[]);
    assert_eq!(a.statements[1].risk_score, FAILED_FLOOR);
    assert!(a.statements[0].risk_score < FAILED_FLOOR);
    assert_eq!(a.risk_category, RiskCategory::High);
    let finding = a.statements[1].findings.last().unwrap();
    assert_eq!(finding.rule, Rule::SandboxObserved);
    assert!(finding.message.contains("42P01"), "{}", finding.message);
}

#[test]
fn an_unpredicted_stronger_lock_raises_the_score() {
    // The catalog predicts ACCESS EXCLUSIVE for ALTER TABLE … ADD COLUMN: no raise for it.
    let mut a = analysis("ALTER TABLE t ADD COLUMN c int;");
    let score = a.risk_score;
    apply_observations(
        &mut a,
        &passed(vec![observed(0, &[("t", LockMode::AccessExclusive)], &[])]),
        &[],
    );
    assert_eq!(a.risk_score, score);
    // A SELECT predicts ACCESS SHARE; seeing ACCESS EXCLUSIVE on another table is news.
    let mut a = analysis("SELECT 1 FROM t;");
    apply_observations(
        &mut a,
        &passed(vec![observed(0, &[("u", LockMode::AccessExclusive)], &[])]),
        &[],
    );
    assert_eq!(a.risk_score, 50);
    assert!(a.statements[0].findings[0]
        .message
        .contains("ACCESS EXCLUSIVE on `u`"));
    // A write-blocking surprise is medium; a lock on a table the migration created is none.
    let mut a = analysis("SELECT 1 FROM t;");
    apply_observations(
        &mut a,
        &passed(vec![observed(
            0,
            &[("u", LockMode::Share), ("fresh", LockMode::AccessExclusive)],
            &[],
        )]),
        &["fresh".to_string()],
    );
    assert_eq!(a.risk_score, 25);
    assert_eq!(a.statements[0].findings.len(), 1);
}

#[test]
fn an_unpredicted_rewrite_raises_the_score() {
    let mut a = analysis("ALTER TABLE t ALTER COLUMN c SET DEFAULT 1;");
    assert!(!a.statements[0].rewrites_table);
    apply_observations(
        &mut a,
        &passed(vec![observed(
            0,
            &[("t", LockMode::AccessExclusive)],
            &["t"],
        )]),
        &[],
    );
    assert_eq!(a.risk_score, 50);
    assert!(a.statements[0]
        .findings
        .iter()
        .any(|f| f.message.contains("`t` rewritten")));
    // A predicted rewrite is not reported twice.
    let mut a = analysis("ALTER TABLE t ALTER COLUMN c TYPE bigint;");
    let findings = a.statements[0].findings.len();
    apply_observations(
        &mut a,
        &passed(vec![observed(
            0,
            &[("t", LockMode::AccessExclusive)],
            &["t"],
        )]),
        &[],
    );
    assert_eq!(a.statements[0].findings.len(), findings);
}

#[test]
fn a_long_estimated_lock_raises_the_score() {
    let mut a = analysis("ALTER TABLE t ADD COLUMN c int;");
    let mut seen = observed(0, &[("t", LockMode::AccessExclusive)], &[]);
    seen.estimated_lock_ms = Some(20_000);
    apply_observations(&mut a, &passed(vec![seen.clone()]), &[]);
    assert_eq!(
        a.risk_score,
        lock_time_score(LockMode::AccessExclusive, 20_000)
    );
    assert_eq!(a.risk_category, RiskCategory::Critical);
    assert!(a.statements[0]
        .findings
        .last()
        .unwrap()
        .message
        .contains("20.0 s"));
    // A short one leaves the static score alone.
    let mut b = analysis("ALTER TABLE t ADD COLUMN c int;");
    let score = b.risk_score;
    seen.estimated_lock_ms = Some(3);
    apply_observations(&mut b, &passed(vec![seen]), &[]);
    assert_eq!(b.risk_score, score);
}

/// A failing statement the sandbox recorded no observation for was raised to 50 and kept
/// its old category (`score 50, low`): every raise recomputes the category, in the
/// statement and in the total.
#[test]
fn a_raised_statement_never_keeps_its_old_category() {
    let mut a = analysis("CREATE TABLE u (id int);\nCREATE TABLE v (id int);");
    assert_eq!(a.statements[1].risk_category, RiskCategory::Low);
    let result = SandboxResult {
        status: SandboxStatus::Failed,
        passed: false,
        migration_error: Some(MigrationError {
            statement_index: 1,
            sqlstate: None,
            message: "boom".into(),
            position: None,
            line: None,
            column: None,
        }),
        ..passed(vec![observed(0, &[], &[])])
    };
    apply_observations(&mut a, &result, &[]);
    assert_eq!(a.statements[1].risk_score, FAILED_FLOOR);
    assert_eq!(a.statements[1].risk_category, RiskCategory::High);
    assert_eq!(a.statements[0].risk_category, RiskCategory::Low);
    for s in &a.statements {
        assert_eq!(s.risk_category, RiskCategory::of(s.risk_score));
    }
    assert_eq!(
        (a.risk_score, a.risk_category),
        (FAILED_FLOOR, RiskCategory::High)
    );
}

/// A pass lowers nothing: a floor (here opaque code) stays whatever the sandbox saw.
#[test]
fn a_pass_never_lowers_a_score() {
    let mut a = analysis("DO $$ BEGIN PERFORM 1; END $$;");
    let before = a.statements[0].risk_score;
    assert!(before >= 50);
    apply_observations(&mut a, &passed(vec![observed(0, &[], &[])]), &[]);
    assert_eq!(a.statements[0].risk_score, before);
    assert_eq!(a.risk_score, before);
}
