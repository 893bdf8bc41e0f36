//! The risk score of a statement: 0–100, from the catalog's facts and the table sizes.
//!
//! ```text
//! size         = max over the tables it works on of
//!                clamp((log10(rows) − 3) / 4) and clamp((log10(bytes) − 7) / 4)
//!                (≤1k rows / ≤10 MB → 0, 10M rows / 100 GB → 1; a table created in the
//!                migration → 0; a table the snapshot does not know, or no snapshot → 0.5)
//! availability = 1.0 blocks reads (ACCESS EXCLUSIVE, or REINDEX's index lock)
//!                0.7 blocks writes (SHARE and stronger, or row locks on every row)
//!                0.15 SHARE UPDATE EXCLUSIVE · 0.1 ROW EXCLUSIVE · 0.05 weaker · 0 none
//!                (locks on tables created in the migration do not count; a write-blocking
//!                lock on a materialized view, which takes no writes, counts as 0.15)
//! held window  = a slow statement (scan, rewrite, every row written) in a transaction that
//!                already holds a write-blocking lock on an existing table keeps that lock
//!                for its whole run: availability is at least that lock's (1.0 / 0.7), size
//!                at least that table's, and hold 1.0 — as long an outage as a rewrite
//! hold         = 1.0 rewrite or every row written · 0.7 scan · 0 catalog-only
//! lock         = 100 × availability × (0.10 + 0.10 × size + 0.80 × hold × size)
//! destruction  = destructive ? (holds data ? 50 + 40 × size : 20) : 0
//!                (at least 75 when it cascades along foreign keys and holds data)
//!                (holds data: rows estimated > 0, or more than 64 KB on disk, or unknown;
//!                no table named, e.g. DROP DATABASE: size 1 and data)
//! breakage     = renames/drops that break running clients of an existing object ? 35 : 0
//! blast        = availability × min(20, 4 × dependents)   (FK-referencing tables and views)
//! score        = min(100, max(lock, destruction, breakage) + blast)
//!                and at least 50 when the catalog does not know the statement
//!                and at least the floor of each disruption (below)
//!                and at least 25 (medium) when it takes SHARE or stronger on an existing
//!                table, unless only for a catalog update of an empty table
//! disruption   = 60 (high): REVOKE (objects or membership); DROP ROLE, DROP OWNED, ALTER ROLE
//!                     taking login/password/validity/connections/attributes away, ALTER ROLE
//!                     … SET, renaming a role; REASSIGN OWNED; ALTER SYSTEM, pg_reload_conf();
//!                     ALTER DATABASE (options, SET, RENAME), DROP DATABASE;
//!                     pg_terminate_backend(); writes to system catalogs; COPY … PROGRAM;
//!                     COPY … TO a server file, lo_export()
//!                30 (medium): GRANT (objects or membership), ALTER DEFAULT PRIVILEGES,
//!                     CREATE ROLE, ALTER ROLE granting attributes, OWNER TO,
//!                     pg_rotate_logfile(), pg_switch_wal(), CREATE DATABASE, REFRESH
//!                     COLLATION VERSION, pg_cancel_backend(), COPY … FROM a server file,
//!                     pg_read_file() and the like, dblink*, foreign servers and user mappings
//! ```
//!
//! The shape: holding a blocking lock briefly on any table is low; holding it for a scan or a
//! rewrite grows with the table; losing data that exists is at least high; the
//! same statement on an empty table and on one with millions of rows never scores the same.
//! A statement that disrupts production without touching a table (a revoked privilege, a role
//! that can no longer log in, a killed session) is never low: how long it runs says nothing
//! about what it breaks, so its floor depends on the kind alone, and `-- autodb:ignore`
//! silencing its rule leaves the floor in place.

use crate::catalog::{Disruption, Effect, LockMode};
use crate::state::MigrationState;

/// The size factor when the table's size is unknown: as if it held ~100k rows / 1 GB.
pub const UNKNOWN_SIZE: f64 = 0.5;
/// The floor for statements the catalog does not know.
pub const UNKNOWN_FLOOR: u8 = 50;

/// The least score of data loss that follows foreign keys (`TRUNCATE … CASCADE`): critical.
pub const CASCADE_FLOOR: u8 = 75;

/// The floor for disruptions that can break some clients or widen access: medium.
pub const DISRUPTION_MEDIUM: u8 = 30;
/// The floor for disruptions that take away what running clients rely on: high.
pub const DISRUPTION_HIGH: u8 = 60;

/// The least a statement with this disruption scores, whatever the tables it names.
pub fn disruption_floor(d: Disruption) -> u8 {
    use Disruption as D;
    match d {
        D::Privileges { revokes: true }
        | D::Roles { restricts: true }
        | D::Ownership { all_of_role: true }
        | D::Server { settings: true }
        | D::Database { connections: true }
        | D::Backends { terminates: true }
        | D::SystemCatalog
        | D::ServerProgram
        | D::ServerFiles { writes: true }
        | D::PrivilegeEscalation
        | D::ReplicationSlot
        | D::DropSequenceCascade
        | D::EnumValueRename
        | D::Behaviour { breaks: true } => DISRUPTION_HIGH,
        D::OpaqueCall | D::Extension => UNKNOWN_FLOOR,
        D::Privileges { revokes: false }
        | D::DefaultPrivileges
        | D::Roles { restricts: false }
        | D::Ownership { all_of_role: false }
        | D::Server { settings: false }
        | D::Database { connections: false }
        | D::Backends { terminates: false }
        | D::ServerFiles { writes: false }
        | D::CrossDatabase
        | D::DisruptiveBody
        | D::SequenceSetval
        | D::SequenceRestart
        | D::StatsReset
        | D::Behaviour { breaks: false } => DISRUPTION_MEDIUM,
    }
}

pub fn size_factor(rows: i64, bytes: i64) -> f64 {
    let scale = |v: i64, low: f64| ((((v.max(1)) as f64).log10() - low) / 4.0).clamp(0.0, 1.0);
    scale(rows, 3.0).max(scale(bytes, 7.0))
}

/// Tables with less on disk than this and no rows estimated are taken to be empty.
const EMPTY_TABLE_BYTES: i64 = 64 * 1024;

/// Whether dropping or truncating `table` loses data: unknown tables are assumed to hold some.
fn holds_data(table: &str, state: &MigrationState) -> bool {
    if state.is_new(table) {
        return false;
    }
    state
        .sized_table(table)
        .is_none_or(|t| t.estimated_rows > 0 || t.total_bytes > EMPTY_TABLE_BYTES)
}

fn table_size(table: &str, state: &MigrationState) -> f64 {
    if state.is_new(table) {
        return 0.0;
    }
    state.sized_table(table).map_or(UNKNOWN_SIZE, |t| {
        size_factor(t.estimated_rows, t.total_bytes)
    })
}

/// How much of the traffic on a table a lock stops.
pub fn availability(effect: &Effect, state: &MigrationState) -> f64 {
    let existing = |t: &String| !state.is_new(t);
    let strongest = effect
        .locks
        .iter()
        .filter(|(t, _)| existing(t))
        .map(|(_, m)| *m)
        .max();
    let targets_existing = effect.tables.iter().any(existing) || effect.tables.is_empty();
    let strongest = strongest.max(effect.unnamed_tables_lock);
    if effect.read_only_target && strongest != Some(LockMode::AccessExclusive) {
        return if strongest.is_some() { 0.15 } else { 0.0 };
    }
    match strongest {
        Some(LockMode::AccessExclusive) => 1.0,
        _ if effect.blocks_reads_via_index && targets_existing => 1.0,
        Some(m) if m.blocks_writes() => 0.7,
        _ if effect.locks_all_rows && targets_existing => 0.7,
        Some(LockMode::ShareUpdateExclusive) => 0.15,
        Some(LockMode::RowExclusive) => 0.1,
        Some(_) => 0.05,
        None => 0.0,
    }
}

/// The least score of a statement that takes a write-blocking lock (SHARE or stronger) on
/// an existing table: medium, unless it provably holds the lock only for a catalog update of
/// an empty table. Even a catalog update queues every reader or writer behind a long-running
/// query for as long as it waits for its lock.
pub const BLOCKING_LOCK_FLOOR: u8 = 25;

fn lock_floor(effect: &Effect, state: &MigrationState) -> u8 {
    let catalog_only = !(effect.scans || effect.rewrites || effect.locks_all_rows);
    // A materialized view takes no writes: a lock short of ACCESS EXCLUSIVE on it blocks
    // only other refreshes.
    let blocks_traffic = |m: LockMode| {
        m.blocks_writes() && (!effect.read_only_target || m == LockMode::AccessExclusive)
    };
    let blocking_on_data = effect.locks.iter().any(|(t, m)| {
        blocks_traffic(*m) && !state.is_new(t) && (!catalog_only || holds_data(t, state))
    });
    if blocking_on_data {
        BLOCKING_LOCK_FLOOR
    } else {
        0
    }
}

/// For a slow transactional statement on an existing table while the transaction holds an
/// earlier write-blocking lock on an existing table: how much traffic those locks stop and
/// the largest of those tables.
fn held_window(effect: &Effect, state: &MigrationState) -> Option<(f64, f64)> {
    let slow = effect.scans || effect.rewrites || effect.locks_all_rows;
    let targets_existing =
        effect.tables.is_empty() || effect.tables.iter().any(|t| !state.is_new(t));
    if !(slow && effect.transactional && targets_existing) {
        return None;
    }
    state
        .held
        .iter()
        .filter(|(t, m)| m.blocks_writes() && !state.is_new(t))
        .map(|(t, m)| {
            (
                if m.blocks_reads() { 1.0_f64 } else { 0.7 },
                table_size(t, state),
            )
        })
        .reduce(|a, b| (a.0.max(b.0), a.1.max(b.1)))
}

/// A `pg_sleep` while the transaction holds locks on tables with data keeps them that much
/// longer: scored like a lock held that long (`25 × log10(ms / 10)`, 100 ms → 25, 1 s → 50,
/// 10 s → 75, at most 90), times 1.0 when a held lock blocks reads, 0.7 when it (or a row
/// lock on written or `FOR UPDATE` rows) blocks writes.
pub fn sleep_score(sleep_ms: u64, state: &MigrationState) -> u8 {
    let table_lock = state
        .held
        .iter()
        .filter(|(t, m)| m.blocks_writes() && holds_data(t, state))
        .map(|(_, m)| if m.blocks_reads() { 1.0 } else { 0.7 })
        .fold(0.0_f64, f64::max);
    let row_lock = if state.row_locks.iter().any(|t| holds_data(t, state)) {
        0.7
    } else {
        0.0
    };
    let factor = table_lock.max(row_lock);
    let time = (25.0 * ((sleep_ms.max(1) as f64) / 10.0).log10()).clamp(0.0, 90.0);
    (time * factor).round() as u8
}

pub fn statement_score(effect: &Effect, state: &MigrationState, dependents: usize) -> u8 {
    let size = if effect.tables.is_empty() {
        if effect.destructive {
            1.0
        } else if effect.scans || effect.rewrites {
            UNKNOWN_SIZE
        } else {
            0.0
        }
    } else {
        effect
            .tables
            .iter()
            .map(|t| table_size(t, state))
            .fold(0.0, f64::max)
    };
    let mut avail = availability(effect, state);
    let mut hold = if effect.rewrites || effect.locks_all_rows {
        1.0
    } else if effect.scans {
        0.7
    } else {
        0.0
    };
    let mut size = size;
    // A slow statement keeps every lock the transaction already holds for as long as it runs:
    // an UPDATE, index build or validation after an ALTER TABLE in the same transaction is
    // as long an outage of the altered table as a rewrite of it.
    if let Some((held_avail, held_size)) = held_window(effect, state) {
        avail = avail.max(held_avail);
        size = size.max(held_size);
        hold = 1.0;
    }
    let lock = 100.0 * avail * (0.10 + 0.10 * size + 0.80 * hold * size);
    let touches_existing =
        effect.tables.is_empty() || effect.tables.iter().any(|t| !state.is_new(t));
    let loses_data = effect.tables.is_empty() || effect.tables.iter().any(|t| holds_data(t, state));
    let destruction = match (effect.destructive && touches_existing, loses_data) {
        (false, _) => 0.0,
        // Emptying every table that references this one, to any depth, nobody listed.
        (true, true) if effect.cascades => f64::from(CASCADE_FLOOR).max(50.0 + 40.0 * size),
        (true, true) => 50.0 + 40.0 * size,
        (true, false) => 20.0,
    };
    let breakage = if effect.breaks_clients && touches_existing {
        35.0
    } else {
        0.0
    };
    let blast = avail * (4.0 * dependents as f64).min(20.0);
    let score = (lock.max(destruction).max(breakage) + blast)
        .round()
        .clamp(0.0, 100.0) as u8;
    let floor = effect
        .disruptions
        .iter()
        .map(|d| disruption_floor(*d))
        .max()
        .unwrap_or(0);
    let sleep = effect.sleep_ms.map_or(0, |ms| sleep_score(ms, state));
    let score = score.max(floor).max(lock_floor(effect, state)).max(sleep);
    if effect.known {
        score
    } else {
        score.max(UNKNOWN_FLOOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_factor_spans_empty_to_ten_million_rows() {
        assert_eq!(size_factor(0, 0), 0.0);
        assert_eq!(size_factor(1_000, 8_192), 0.0);
        assert!((size_factor(100_000, 0) - 0.5).abs() < 1e-9);
        assert_eq!(size_factor(10_000_000, 0), 1.0);
        assert_eq!(size_factor(0, 100_000_000_000), 1.0);
        assert!(size_factor(1_000_000, 0) > size_factor(10_000, 0));
    }

    /// What the catalog says `sql` (one statement) does, with nothing known of its tables.
    fn effect_of(sql: &str, state: &MigrationState) -> Effect {
        let stmts = autodb_core::sql::parse(sql).expect(sql);
        crate::catalog::classify(&stmts[0].ast, state)
    }

    #[test]
    fn availability_follows_the_lock_and_the_index_lock() {
        let state = MigrationState::new(&[], None);
        for (sql, expected) in [
            ("LOCK TABLE t", 1.0),
            ("REINDEX TABLE t", 1.0),
            ("CREATE INDEX i ON t (a)", 0.7),
            ("VACUUM t", 0.15),
            ("INSERT INTO t VALUES (1)", 0.1),
            ("SELECT * FROM t", 0.05),
            ("CREATE TYPE mood AS ENUM ('ok')", 0.0),
        ] {
            assert_eq!(
                availability(&effect_of(sql, &state), &state),
                expected,
                "{sql}"
            );
        }
    }

    #[test]
    fn a_table_holds_data_with_rows_or_more_than_64_kb_on_disk() {
        for (rows, bytes, holds) in [
            (0, 0, false),
            (0, 8_192, false),
            (0, 65_536, false),
            (0, 65_537, true),
            (0, 100_000, true),
            (10, 0, true),
        ] {
            let mut t = crate::catalog::cases::table("t", rows, &[]);
            t.total_bytes = bytes;
            let snap = autodb_core::schema::SchemaSnapshot {
                schemas: vec!["public".into()],
                tables: vec![t],
                ..Default::default()
            };
            let state = MigrationState::new(&[], Some(&snap));
            assert_eq!(holds_data("t", &state), holds, "{rows} rows, {bytes} bytes");
        }
    }

    #[test]
    fn a_slow_statement_on_an_empty_table_scores_the_blocking_lock_floor() {
        // A scan alone or a rewrite alone is not a catalog-only update: the floor applies
        // even when the table is empty.
        let snap = autodb_core::schema::SchemaSnapshot {
            schemas: vec!["public".into()],
            tables: vec![crate::catalog::cases::table("t", 0, &[("a", "integer")])],
            ..Default::default()
        };
        let state = MigrationState::new(&[], Some(&snap));
        for sql in [
            "CREATE INDEX i ON t (a)",
            "ALTER TABLE t SET TABLESPACE other",
        ] {
            let score = statement_score(&effect_of(sql, &state), &state, 0);
            assert_eq!(score, BLOCKING_LOCK_FLOOR, "{sql}");
        }
    }

    /// `sql`'s statements recorded one after another on a snapshot holding table `t` with
    /// `rows` rows; the state after them.
    fn after<'a>(
        stmts: &'a [autodb_core::sql::ParsedStatement],
        snap: &'a autodb_core::schema::SchemaSnapshot,
    ) -> MigrationState<'a> {
        let mut state = MigrationState::new(stmts, Some(snap));
        for stmt in stmts {
            let effect = crate::catalog::classify(&stmt.ast, &state);
            state.record(stmt, &effect);
        }
        state
    }

    fn snapshot_with_rows(rows: i64) -> autodb_core::schema::SchemaSnapshot {
        autodb_core::schema::SchemaSnapshot {
            schemas: vec!["public".into()],
            tables: vec![crate::catalog::cases::table("t", rows, &[("a", "integer")])],
            ..Default::default()
        }
    }

    #[test]
    fn a_sleep_scores_like_a_lock_held_that_long_on_a_table_with_data() {
        let with_rows = snapshot_with_rows(1_000_000);
        let empty = snapshot_with_rows(0);
        for (lock, rows_snap, expected) in [
            // 1 s: 25 × log10(1000 / 10) = 50, times 1.0 for a lock that blocks reads.
            ("LOCK TABLE t", &with_rows, 50),
            // 0.7 for one that blocks writes only.
            ("LOCK TABLE t IN EXCLUSIVE MODE", &with_rows, 35),
            // A held lock on a table without data keeps nobody waiting.
            ("LOCK TABLE t", &empty, 0),
        ] {
            let stmts = autodb_core::sql::parse(lock).unwrap();
            let state = after(&stmts, rows_snap);
            assert_eq!(sleep_score(1_000, &state), expected, "{lock}");
        }
    }

    #[test]
    fn a_scan_that_names_no_table_is_sized_as_unknown() {
        // Every table of the database, of sizes nobody listed: more than one empty table.
        let snap = snapshot_with_rows(0);
        let state = MigrationState::new(&[], Some(&snap));
        let unknown = statement_score(&effect_of("VACUUM", &state), &state, 0);
        let empty = statement_score(&effect_of("VACUUM t", &state), &state, 0);
        assert!(unknown > empty, "VACUUM {unknown}, VACUUM t {empty}");
    }

    #[test]
    fn truncating_a_large_table_with_cascade_scores_above_the_cascade_floor() {
        let snap = snapshot_with_rows(10_000_000);
        let state = MigrationState::new(&[], Some(&snap));
        let score = statement_score(&effect_of("TRUNCATE t CASCADE", &state), &state, 0);
        assert!(score > CASCADE_FLOOR, "{score}");
    }

    #[test]
    fn a_held_lock_counts_for_a_later_slow_transactional_statement_on_existing_tables() {
        let snap = autodb_core::schema::SchemaSnapshot {
            schemas: vec!["public".into()],
            tables: vec![
                crate::catalog::cases::table("t", 1_000_000, &[("a", "integer")]),
                crate::catalog::cases::table("u", 1_000_000, &[("a", "integer")]),
            ],
            ..Default::default()
        };
        let window = |held: &str, later: &str| {
            let stmts = autodb_core::sql::parse(held).unwrap();
            let state = after(&stmts, &snap);
            held_window(&effect_of(later, &state), &state).map(|(avail, _)| avail)
        };
        // A rewrite alone is slow: the lock on t is held through it.
        assert_eq!(
            window("LOCK TABLE t", "ALTER TABLE u SET TABLESPACE other"),
            Some(1.0)
        );
        // A statement that is not slow holds nothing longer.
        assert_eq!(window("LOCK TABLE t", "INSERT INTO u VALUES (1)"), None);
        // One that runs outside the transaction holds nothing of it.
        assert_eq!(
            window("LOCK TABLE t", "CREATE INDEX CONCURRENTLY i ON u (a)"),
            None
        );
        // A lock on a table the migration created blocks nobody.
        assert_eq!(
            window(
                "CREATE TABLE n (a int); LOCK TABLE n",
                "ALTER TABLE u SET TABLESPACE other"
            ),
            None
        );
    }
}
