//! Statements that build or reorganize a table's storage without changing its shape: index
//! builds, `REINDEX`, `VACUUM`, `CLUSTER`, `REFRESH MATERIALIZED VIEW`, extended statistics,
//! and the explicit `LOCK TABLE`.

use pg_query::protobuf::{
    ClusterStmt, CreateStatsStmt, IndexStmt, LockStmt, RefreshMatViewStmt, ReindexObjectType,
    ReindexStmt, VacuumStmt,
};
use pg_query::NodeEnum;

use super::{Effect, LockMode};
use crate::ast;
use crate::state::MigrationState;

use LockMode::{AccessExclusive, Exclusive, Share, ShareUpdateExclusive};

/// `CREATE INDEX`: SHARE on the table, or SHARE UPDATE EXCLUSIVE when `CONCURRENTLY`.
pub(super) fn index(i: &IndexStmt, state: &MigrationState, e: &mut Effect) {
    // `ON ONLY` a partitioned table adds an invalid index to the parent's catalog and
    // builds nothing: the parent holds no rows, and its partitions are not recursed
    // into.
    let mut builds = true;
    if let Some(rel) = &i.relation {
        let mode = if i.concurrent {
            ShareUpdateExclusive
        } else {
            Share
        };
        let table = ast::relation(rel);
        builds = rel.inh || !state.is_partitioned(&table);
        e.target(&table, mode);
    }
    for p in &i.index_params {
        if let Some(NodeEnum::IndexElem(el)) = &p.node {
            e.column(&el.name);
        }
    }
    e.scans = builds;
}

pub(super) fn reindex(r: &ReindexStmt, state: &MigrationState, e: &mut Effect) {
    let concurrent = ast::has_option(&r.params, "concurrently");
    let table = match r.kind() {
        ReindexObjectType::ReindexObjectIndex => r.relation.as_ref().map(|rel| {
            let index = ast::relation(rel);
            state.index_table(&index).unwrap_or(index)
        }),
        ReindexObjectType::ReindexObjectTable => ast::opt_relation(r.relation.as_ref()),
        _ => None,
    };
    let mode = if concurrent {
        ShareUpdateExclusive
    } else {
        Share
    };
    match table {
        Some(table) => e.target(&table, mode),
        None => e.unnamed_tables_lock = Some(mode),
    }
    e.blocks_reads_via_index = !concurrent;
    e.scans = true;
}

pub(super) fn vacuum(v: &VacuumStmt, e: &mut Effect) {
    let full = v.is_vacuumcmd && ast::has_option(&v.options, "full");
    let mode = if full {
        AccessExclusive
    } else {
        ShareUpdateExclusive
    };
    for rel in &v.rels {
        if let Some(NodeEnum::VacuumRelation(vr)) = &rel.node {
            if let Some(r) = &vr.relation {
                e.target(&ast::relation(r), mode);
            }
        }
    }
    if v.rels.is_empty() {
        e.unnamed_tables_lock = Some(mode);
    }
    e.rewrites = full;
    e.scans = true;
}

pub(super) fn cluster(c: &ClusterStmt, e: &mut Effect) {
    match &c.relation {
        Some(rel) => e.target(&ast::relation(rel), AccessExclusive),
        // Re-clusters every previously clustered table, one transaction each.
        None => {
            e.transactional = false;
            e.unnamed_tables_lock = Some(AccessExclusive);
        }
    }
    e.rewrites = true;
}

pub(super) fn refresh(r: &RefreshMatViewStmt, e: &mut Effect) {
    if let Some(rel) = &r.relation {
        e.target(
            &ast::relation(rel),
            if r.concurrent {
                Exclusive
            } else {
                AccessExclusive
            },
        );
    }
    e.scans = !r.skip_data;
    // A plain refresh fills a new heap and swaps it in; CONCURRENTLY updates in place.
    e.rewrites = !r.concurrent;
    e.read_only_target = true;
}

pub(super) fn statistics(s: &CreateStatsStmt, e: &mut Effect) {
    for rel in &s.relations {
        if let Some(NodeEnum::RangeVar(r)) = &rel.node {
            e.target(&ast::relation(r), ShareUpdateExclusive);
        }
    }
}

/// `LOCK TABLE`: the mode it names, ACCESS EXCLUSIVE when it names none.
pub(super) fn lock(l: &LockStmt, e: &mut Effect) {
    let mode = LockMode::from_pg(l.mode).unwrap_or(AccessExclusive);
    for rel in &l.relations {
        if let Some(NodeEnum::RangeVar(r)) = &rel.node {
            e.target(&ast::relation(r), mode);
        }
    }
}
