//! What `UPDATE`, `DELETE` and `MERGE` do to rows, wherever they are written: the statement
//! itself or a data-modifying `WITH` of any statement; and the target of every `INSERT`,
//! nested ones included.
//!
//! The question the score needs answered is "does this lose data": a `DELETE` or `UPDATE`
//! whose `WHERE` does not narrow (none, or one PostgreSQL folds to true: `true`, `1 = 1`,
//! `'a' = 'a'`, `NOT false`, `x OR true`) reaches every row, and a `DELETE` or `TRUNCATE` of a
//! parent reaches its partitions and inheritance children (unless `ONLY`), and a `DELETE`
//! reaches the rows of every table that references it `ON DELETE CASCADE`.

use pg_query::protobuf::{a_const::Val, AConst, BoolExprType, CmdType, Node, RangeVar};
use pg_query::{NodeEnum, NodeRef};

use super::{Effect, LockMode};
use crate::ast;
use crate::state::MigrationState;

/// Records what every `UPDATE`/`DELETE`/`MERGE` in the statement does, and the target every
/// `INSERT` in it writes.
pub(super) fn classify(node: &NodeEnum, state: &MigrationState, e: &mut Effect) {
    for (child, _, _, _) in node.nodes() {
        match child {
            // An `INSERT` in a data-modifying `WITH` writes its table ROW EXCLUSIVE like the
            // statement's own `INSERT` (which `other.rs` has recorded already, with what it
            // reads): the walk reaches both.
            NodeRef::InsertStmt(i) => {
                if let Some(rel) = &i.relation {
                    super::other::write_target(&ast::relation(rel), state, e);
                }
            }
            NodeRef::UpdateStmt(u) => {
                let table = u.relation.as_ref().map(ast::relation).unwrap_or_default();
                let mut overwrites = false;
                for t in &u.target_list {
                    if let Some(NodeEnum::ResTarget(r)) = &t.node {
                        e.column(&r.name);
                        overwrites |= !state.is_new_column(&table, &r.name);
                    }
                }
                let all = !narrows(u.where_clause.as_deref());
                // A backfill of columns the migration added overwrites only their defaults.
                let lost = write(u.relation.as_ref(), all, false, state, e);
                e.destructive |= lost && overwrites;
            }
            NodeRef::DeleteStmt(d) => {
                let all = !narrows(d.where_clause.as_deref());
                e.destructive |= write(d.relation.as_ref(), all, true, state, e);
            }
            NodeRef::MergeStmt(m) => {
                let all = !narrows(m.join_condition.as_deref());
                let deletes = m.merge_when_clauses.iter().any(|w| {
                    matches!(&w.node, Some(NodeEnum::MergeWhenClause(c))
                        if c.command_type() == CmdType::CmdDelete)
                });
                let every = write(m.relation.as_ref(), all, deletes, state, e);
                // A MERGE … DELETE removes the rows its source matches, however many.
                e.destructive |= deletes || every;
            }
            _ => {}
        }
    }
    // What the statement reads besides its targets (`FROM`, `USING`, its WITH queries),
    // after the targets so that a statement lists what it writes first.
    if matches!(
        node,
        NodeEnum::UpdateStmt(_) | NodeEnum::DeleteStmt(_) | NodeEnum::MergeStmt(_)
    ) {
        super::other::read_sources(Some(node), e);
    }
}

/// One DML target: `all` rows or some, deleting them or not. Whether it reaches every row.
fn write(
    rel: Option<&RangeVar>,
    all: bool,
    deletes: bool,
    state: &MigrationState,
    e: &mut Effect,
) -> bool {
    let Some(rel) = rel else { return false };
    let table = ast::relation(rel);
    e.target(&table, LockMode::RowExclusive);
    e.scans = true;
    let mut reached = vec![table.clone()];
    // A write to a view (one the migration defined, temporary ones too) writes the tables
    // behind it.
    for base in state.written_through(&table) {
        e.target(&base, LockMode::RowExclusive);
        reached.push(base);
    }
    if rel.inh {
        for parent in reached.clone() {
            for child in descendants(state, &parent) {
                if !reached.contains(&child) {
                    e.target(&child, LockMode::RowExclusive);
                    reached.push(child);
                }
            }
        }
    }
    if deletes {
        for t in reached.clone() {
            for neighbour in cascading_neighbours(state, &t) {
                if !reached.contains(&neighbour) {
                    e.target(&neighbour, LockMode::RowExclusive);
                    e.cascade_deletes.push(neighbour.clone());
                    reached.push(neighbour);
                }
            }
        }
    }
    if all {
        e.locks_all_rows = true;
        e.cascades |= deletes && !e.cascade_deletes.is_empty();
        for t in reached {
            if !e.every_row.contains(&t) {
                e.every_row.push(t);
            }
        }
    }
    all
}

/// The partitions and inheritance children of `table`, to any depth.
pub(super) fn descendants(state: &MigrationState, table: &str) -> Vec<String> {
    state.snapshot.map_or_else(Vec::new, |s| {
        s.descendants(table)
            .into_iter()
            .map(|t| t.qualified_name())
            .collect()
    })
}

/// Tables whose rows a `DELETE` from `table` deletes too: those referencing it
/// `ON DELETE CASCADE`, and theirs in turn.
fn cascading_neighbours(state: &MigrationState, table: &str) -> Vec<String> {
    let Some(snapshot) = state.snapshot else {
        return vec![];
    };
    let mut found: Vec<String> = Vec::new();
    let mut queue = vec![table.to_string()];
    while let Some(current) = queue.pop() {
        for t in &snapshot.tables {
            let cascades = t.constraints.iter().any(|c| {
                c.references.as_deref() == Some(current.as_str())
                    && c.on_delete.as_deref() == Some("c")
            });
            let name = t.qualified_name();
            if cascades && name != table && !found.contains(&name) {
                found.push(name.clone());
                queue.push(name);
            }
        }
    }
    found
}

/// Whether a `WHERE` (or `MERGE … ON`) can leave rows out: false for none and for
/// conditions that are true whatever the row.
pub fn narrows(condition: Option<&Node>) -> bool {
    condition
        .and_then(|c| c.node.as_ref())
        .is_some_and(|c| !always(c, true))
}

/// Whether `node` is the constant `value` whatever the row: boolean constants, `NOT`,
/// `AND`/`OR` of such, and comparisons of two constants.
fn always(node: &NodeEnum, value: bool) -> bool {
    match node {
        NodeEnum::AConst(c) => constant_bool(c) == Some(value),
        NodeEnum::TypeCast(t) => t
            .arg
            .as_ref()
            .and_then(|a| a.node.as_ref())
            .is_some_and(|a| always(a, value)),
        NodeEnum::BoolExpr(b) => {
            let args = b.args.iter().filter_map(|a| a.node.as_ref());
            match (b.boolop(), value) {
                (BoolExprType::NotExpr, _) => args.into_iter().any(|a| always(a, !value)),
                (BoolExprType::AndExpr, true) | (BoolExprType::OrExpr, false) => {
                    let mut args = args.peekable();
                    args.peek().is_some() && args.all(|a| always(a, value))
                }
                (BoolExprType::AndExpr, false) | (BoolExprType::OrExpr, true) => {
                    args.into_iter().any(|a| always(a, value))
                }
                _ => false,
            }
        }
        NodeEnum::AExpr(a) => {
            let side = |n: &Option<Box<Node>>| -> Option<Constant> {
                match n.as_ref().and_then(|n| n.node.as_ref()) {
                    Some(NodeEnum::AConst(c)) => constant(c),
                    _ => None,
                }
            };
            let (Some(l), Some(r)) = (side(&a.lexpr), side(&a.rexpr)) else {
                return false;
            };
            let op = ast::strings(&a.name);
            compare(op.last().map(String::as_str).unwrap_or(""), &l, &r) == Some(value)
        }
        _ => false,
    }
}

#[derive(PartialEq, PartialOrd)]
enum Constant {
    Int(i64),
    Text(String),
    Bool(bool),
}

fn constant(c: &AConst) -> Option<Constant> {
    match c.val.as_ref()? {
        Val::Ival(i) => Some(Constant::Int(i64::from(i.ival))),
        Val::Sval(s) => Some(Constant::Text(s.sval.clone())),
        Val::Boolval(b) => Some(Constant::Bool(b.boolval)),
        _ => None,
    }
}

/// A constant PostgreSQL reads as a boolean: `true`/`false`, and strings such as `'t'`.
fn constant_bool(c: &AConst) -> Option<bool> {
    match constant(c)? {
        Constant::Bool(b) => Some(b),
        Constant::Text(s) => match s.to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
            "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        Constant::Int(_) => None,
    }
}

fn compare(op: &str, l: &Constant, r: &Constant) -> Option<bool> {
    let same_kind = std::mem::discriminant(l) == std::mem::discriminant(r);
    if !same_kind {
        return None;
    }
    Some(match op {
        "=" => l == r,
        "<>" | "!=" => l != r,
        "<" => l < r,
        "<=" => l <= r,
        ">" => l > r,
        ">=" => l >= r,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::narrows;

    fn where_of(sql: &str) -> bool {
        let stmts = autodb_core::sql::parse(sql).unwrap();
        let pg_query::NodeEnum::DeleteStmt(d) = &stmts[0].ast else {
            panic!("{sql}")
        };
        narrows(d.where_clause.as_deref())
    }

    /// `orders` (2k rows) referenced ON DELETE CASCADE by `items` (2k rows); `lone` (2k rows)
    /// referenced by nothing.
    fn scores(sql: &str) -> (u8, bool) {
        use crate::rules::testing::{snapshot, table};
        let mut items = table("items", 2_000, &[("order_id", "bigint")]);
        items
            .constraints
            .push(autodb_core::schema::model::Constraint {
                name: "items_order_fkey".into(),
                kind: autodb_core::schema::model::ConstraintKind::ForeignKey,
                definition: String::new(),
                columns: vec!["order_id".into()],
                validated: true,
                references: Some("orders".into()),
                on_delete: Some("c".into()),
            });
        let snap = snapshot(vec![
            table("orders", 2_000, &[("id", "bigint")]),
            items,
            table("lone", 2_000, &[("id", "bigint")]),
        ]);
        let stmts = autodb_core::sql::parse(sql).unwrap();
        let state = crate::state::MigrationState::new(&stmts, Some(&snap));
        let e = crate::catalog::classify(&stmts[0].ast, &state);
        (crate::score::statement_score(&e, &state, 0), e.cascades)
    }

    #[test]
    fn deleting_every_row_that_cascades_is_critical_and_nothing_else_cascades() {
        assert_eq!(scores("DELETE FROM orders"), (75, true));
        let (score, cascades) = scores("DELETE FROM lone");
        assert!(!cascades && score < 75, "{score}");
        // Some rows: the neighbours' matching rows go too, but not every row.
        assert!(!scores("DELETE FROM orders WHERE id = 1").1);
        assert!(!scores("UPDATE orders SET id = 1").1);
    }

    #[test]
    fn conditions_that_do_not_narrow() {
        for w in [
            "true",
            "TRUE",
            "1 = 1",
            "'a' = 'a'",
            "NOT false",
            "true OR id = 1",
            "id = 1 OR 1 = 1",
            "true AND 2 > 1",
            "1 <> 2",
            "1 <= 1",
            "1 >= 1",
            "2 > 1",
            "1 < 2",
            "'t'::boolean",
            "NOT 'f'::boolean",
            "1 <= 2",
            "2 >= 1",
            "'b' > 'a'",
            "NOT 'off'",
            "NOT (1 = 2)",
            "NOT (1 = 2 AND id = 3)",
            "NOT (false OR false)",
        ] {
            assert!(!where_of(&format!("DELETE FROM t WHERE {w}")), "{w}");
        }
        assert!(!where_of("DELETE FROM t"));
    }

    #[test]
    fn conditions_that_narrow() {
        for w in [
            "id = 1",
            "false",
            "1 = 2",
            "'a' = 'b'",
            "true AND id = 1",
            "NOT true",
            "id = id",
            "1 > 2",
            "2 < 1",
            "1 <> 1",
            "1 < 1",
            "1 > 1",
            "2 <= 1",
            "1 >= 2",
            "true = false",
            "1 != 1",
            "NOT (1 = 1)",
            "x",
            "1 ~ 1",
            "'maybe'::boolean",
            "NOT (true OR false)",
        ] {
            assert!(where_of(&format!("DELETE FROM t WHERE {w}")), "{w}");
        }
    }
}
