//! Statement forms that do not exist on every PostgreSQL release autodb models.
//!
//! The parser knows the newest grammar, so `REINDEX CONCURRENTLY` parses whatever server
//! the migration targets; a PostgreSQL 11 server rejects it with a syntax error. Each form
//! here is listed with the release that introduced it (from the release notes), so a
//! migration for an older server is told that the statement will fail instead of being
//! scored as the gentle form it would be on a newer one.

use pg_query::protobuf::{AlterTableCmd, AlterTableType, ColumnDef, ConstrType, Constraint};
use pg_query::NodeEnum;

use crate::ast;

/// A statement form and the first release that accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// How the form is written, e.g. `REINDEX … CONCURRENTLY`.
    pub syntax: &'static str,
    /// The major version that introduced it.
    pub since: u32,
    /// What does the same job on a server without it.
    pub instead: &'static str,
}

const REINDEX_CONCURRENTLY: Feature = Feature {
    syntax: "REINDEX … CONCURRENTLY",
    since: 12,
    instead: "Build a copy with `CREATE INDEX CONCURRENTLY`, then `DROP INDEX CONCURRENTLY` the old index and rename the new one.",
};
const DETACH_CONCURRENTLY: Feature = Feature {
    syntax: "DETACH PARTITION … CONCURRENTLY",
    since: 14,
    instead: "A plain `DETACH PARTITION` (ACCESS EXCLUSIVE on the partitioned table) under a short `lock_timeout`, retried.",
};
const DETACH_FINALIZE: Feature = Feature {
    syntax: "DETACH PARTITION … FINALIZE",
    since: 14,
    instead: "A plain `DETACH PARTITION` under a short `lock_timeout`.",
};
const SET_EXPRESSION: Feature = Feature {
    syntax: "ALTER COLUMN … SET EXPRESSION",
    since: 17,
    instead: "Drop the generated column and add it again with the new expression.",
};
const GENERATED_STORED: Feature = Feature {
    syntax: "GENERATED ALWAYS AS (…) STORED",
    since: 12,
    instead: "A plain column kept up to date by a trigger, or the expression in a view.",
};
const GENERATED_VIRTUAL: Feature = Feature {
    syntax: "GENERATED ALWAYS AS (…) VIRTUAL (the default without STORED)",
    since: 18,
    instead: "Write STORED (PostgreSQL 12+; it rewrites an existing table when the column is added), or compute the expression in a view.",
};
const NOT_NULL_CONSTRAINT: Feature = Feature {
    syntax: "ADD CONSTRAINT … NOT NULL",
    since: 18,
    instead: "`ALTER COLUMN … SET NOT NULL`.",
};
const MERGE: Feature = Feature {
    syntax: "MERGE",
    since: 15,
    instead: "`INSERT … ON CONFLICT`, or separate UPDATE and INSERT statements.",
};

const SET_COMPRESSION: Feature = Feature {
    syntax: "ALTER COLUMN … SET COMPRESSION",
    since: 14,
    instead: "Leave the column's compression as it is (pglz on these releases).",
};
const SET_ACCESS_METHOD: Feature = Feature {
    syntax: "ALTER TABLE … SET ACCESS METHOD",
    since: 15,
    instead:
        "Create a new table with `USING` the access method, copy the rows, and swap the names.",
};
const NULLS_NOT_DISTINCT: Feature = Feature {
    syntax: "UNIQUE NULLS NOT DISTINCT",
    since: 15,
    instead: "A unique index on `COALESCE` of the nullable columns, or a partial unique index per null combination.",
};
const CREATE_OR_REPLACE_TRIGGER: Feature = Feature {
    syntax: "CREATE OR REPLACE TRIGGER",
    since: 14,
    instead: "`DROP TRIGGER IF EXISTS`, then `CREATE TRIGGER`, in one transaction.",
};
const NOT_ENFORCED: Feature = Feature {
    syntax: "CHECK or FOREIGN KEY … NOT ENFORCED",
    since: 18,
    instead: "Add the constraint `NOT VALID` (it is enforced for new rows) or document it outside the schema.",
};
const WITHOUT_OVERLAPS: Feature = Feature {
    syntax: "PRIMARY KEY or UNIQUE (… WITHOUT OVERLAPS)",
    since: 18,
    instead: "An exclusion constraint: `EXCLUDE USING gist (key WITH =, period WITH &&)` (needs btree_gist).",
};

/// The forms in a statement that some modelled release does not have, each once.
pub fn features(ast: &NodeEnum) -> Vec<Feature> {
    let mut found = Vec::new();
    let mut add = |f: Feature| {
        if !found.contains(&f) {
            found.push(f);
        }
    };
    match ast {
        NodeEnum::ReindexStmt(r) if ast::has_option(&r.params, "concurrently") => {
            add(REINDEX_CONCURRENTLY)
        }
        NodeEnum::MergeStmt(_) => add(MERGE),
        NodeEnum::CreateStmt(c) => {
            for elt in &c.table_elts {
                match &elt.node {
                    Some(NodeEnum::ColumnDef(cd)) => {
                        if let Some(f) = generated(cd) {
                            add(f);
                        }
                        ast::column_constraints(cd).for_each(|k| constraint(k, &mut add));
                    }
                    Some(NodeEnum::Constraint(k)) => constraint(k, &mut add),
                    _ => {}
                }
            }
        }
        NodeEnum::AlterTableStmt(s) => {
            for cmd in &s.cmds {
                if let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node {
                    if let Some(f) = subcommand(cmd) {
                        add(f);
                    }
                    match cmd.def.as_ref().and_then(|d| d.node.as_ref()) {
                        Some(NodeEnum::ColumnDef(cd)) => {
                            ast::column_constraints(cd).for_each(|k| constraint(k, &mut add));
                        }
                        Some(NodeEnum::Constraint(k)) => constraint(k, &mut add),
                        _ => {}
                    }
                }
            }
        }
        NodeEnum::IndexStmt(i) if i.nulls_not_distinct => add(NULLS_NOT_DISTINCT),
        NodeEnum::CreateTrigStmt(t) if t.replace => add(CREATE_OR_REPLACE_TRIGGER),
        _ => {}
    }
    found
}

fn subcommand(cmd: &AlterTableCmd) -> Option<Feature> {
    let def = cmd.def.as_ref().and_then(|d| d.node.as_ref());
    match (cmd.subtype(), def) {
        (AlterTableType::AtDetachPartition, Some(NodeEnum::PartitionCmd(p))) if p.concurrent => {
            Some(DETACH_CONCURRENTLY)
        }
        (AlterTableType::AtDetachPartitionFinalize, _) => Some(DETACH_FINALIZE),
        (AlterTableType::AtSetExpression, _) => Some(SET_EXPRESSION),
        (AlterTableType::AtSetCompression, _) => Some(SET_COMPRESSION),
        (AlterTableType::AtSetAccessMethod, _) => Some(SET_ACCESS_METHOD),
        (AlterTableType::AtAddColumn, Some(NodeEnum::ColumnDef(cd))) => generated(cd),
        (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(c)))
            if c.contype() == ConstrType::ConstrNotnull =>
        {
            Some(NOT_NULL_CONSTRAINT)
        }
        _ => None,
    }
}

/// The forms a constraint can take that not every release has. Only CHECK and FOREIGN KEY
/// accept `NOT ENFORCED`; the parser leaves the flag unset on the other kinds. On a column,
/// `NOT ENFORCED` is a constraint of its own that follows the one it qualifies.
fn constraint(k: &Constraint, add: &mut impl FnMut(Feature)) {
    if k.contype() == ConstrType::ConstrAttrNotEnforced {
        add(NOT_ENFORCED);
    }
    if k.nulls_not_distinct {
        add(NULLS_NOT_DISTINCT);
    }
    if k.without_overlaps {
        add(WITHOUT_OVERLAPS);
    }
    if matches!(
        k.contype(),
        ConstrType::ConstrCheck | ConstrType::ConstrForeign
    ) && !k.is_enforced
    {
        add(NOT_ENFORCED);
    }
}

/// A generated column: stored since 12, virtual (what the grammar of 18 makes of a
/// column without `STORED`) since 18.
fn generated(cd: &ColumnDef) -> Option<Feature> {
    ast::column_constraints(cd)
        .find(|c| c.contype() == ConstrType::ConstrGenerated)
        .map(|c| {
            if c.generated_kind == "v" {
                GENERATED_VIRTUAL
            } else {
                GENERATED_STORED
            }
        })
}
