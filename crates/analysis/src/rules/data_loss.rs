//! DML that reaches every row of a table that holds data loses that data: a `DELETE` or
//! `UPDATE` with no `WHERE`, or one that does not narrow (`WHERE true`, `WHERE 1 = 1`), a
//! data-modifying `WITH`, a `MERGE … WHEN MATCHED THEN DELETE`, and the partitions,
//! inheritance children and `ON DELETE CASCADE` neighbours such a statement reaches. No
//! rollback script brings the rows back once the migration commits.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if matches!(ctx.stmt.ast, NodeEnum::TruncateStmt(_)) {
        // ban-truncate names every table TRUNCATE empties.
        return;
    }
    let every: Vec<String> = ctx
        .effect
        .every_row
        .iter()
        .filter(|t| ctx.existing(t))
        .map(|t| ctx.describe(t))
        .collect();
    let cascaded: Vec<String> = ctx
        .effect
        .cascade_deletes
        .iter()
        .filter(|t| ctx.existing(t))
        .map(|t| ctx.describe(t))
        .collect();
    let merge_deletes = merge_deletes(&ctx.stmt.ast);
    if every.is_empty() && cascaded.is_empty() && merge_deletes.is_none() {
        return;
    }
    let mut parts = Vec::new();
    if !every.is_empty() {
        parts.push(format!(
            "reaches every row of {} (no WHERE, or one that does not narrow)",
            every.join(", ")
        ));
    }
    if let Some(table) = merge_deletes.filter(|_| every.is_empty()) {
        parts.push(format!(
            "deletes every row of {} its source matches (MERGE … WHEN MATCHED THEN DELETE)",
            ctx.describe(&table)
        ));
    }
    if !cascaded.is_empty() {
        parts.push(format!(
            "deletes the referencing rows of {} through ON DELETE CASCADE",
            cascaded.join(", ")
        ));
    }
    out.push(
        Rule::DataLoss,
        format!(
            "{} {}: the rows are gone when the migration commits, and no rollback brings them back.",
            ctx.stmt.operation,
            parts.join("; ")
        ),
        "Write the WHERE that selects exactly the rows meant, keep a copy first (CREATE TABLE … AS SELECT), and run large deletes in batches outside the schema migration.",
    );
}

/// The target of a `MERGE` that has a `WHEN MATCHED THEN DELETE` clause, anywhere in the
/// statement.
fn merge_deletes(node: &NodeEnum) -> Option<String> {
    node.nodes()
        .into_iter()
        .find_map(|(child, _, _, _)| match child {
            pg_query::NodeRef::MergeStmt(m) => m
                .merge_when_clauses
                .iter()
                .any(|w| {
                    matches!(&w.node, Some(NodeEnum::MergeWhenClause(c))
                    if c.command_type() == pg_query::protobuf::CmdType::CmdDelete)
                })
                .then(|| m.relation.as_ref().map(ast::relation))
                .flatten(),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_with, render, snapshot, table};
    use crate::rules::Rule;
    use autodb_core::schema::model::Constraint;
    use autodb_core::schema::model::ConstraintKind;

    #[test]
    fn err_where_that_does_not_narrow() {
        let snap = snapshot(vec![table("orders", 300_000, &[("id", "bigint")])]);
        let f = findings_with("DELETE FROM orders WHERE true", Some(&snap), Rule::DataLoss);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        for sql in [
            "DELETE FROM orders",
            "UPDATE orders SET id = 1 WHERE 1 = 1",
            "WITH d AS (DELETE FROM orders RETURNING *) SELECT 1",
            "INSERT INTO log SELECT * FROM (WITH u AS (UPDATE orders SET id = 2 RETURNING id) SELECT id FROM u) s",
        ] {
            assert_eq!(findings_with(sql, Some(&snap), Rule::DataLoss).len(), 1, "{sql}");
        }
    }

    #[test]
    fn err_merge_delete() {
        let f = findings(
            "MERGE INTO orders o USING gone g ON o.id = g.id WHEN MATCHED THEN DELETE",
            Rule::DataLoss,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn err_children_and_cascade_neighbours() {
        let mut child = table("events_2024", 200_000, &[("id", "bigint")]);
        child.inherits = vec!["events".into()];
        let mut items = table("order_items", 50_000, &[("order_id", "bigint")]);
        items.constraints.push(Constraint {
            name: "items_order_fkey".into(),
            kind: ConstraintKind::ForeignKey,
            definition: String::new(),
            columns: vec!["order_id".into()],
            validated: true,
            references: Some("orders".into()),
            on_delete: Some("c".into()),
        });
        let snap = snapshot(vec![
            table("events", 0, &[("id", "bigint")]),
            child,
            table("orders", 1_000, &[("id", "bigint")]),
            items,
        ]);
        let f = findings_with("DELETE FROM events", Some(&snap), Rule::DataLoss);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("`events_2024` (~200.0k rows)"),
            "{}",
            f[0].message
        );
        let f = findings_with(
            "DELETE FROM orders WHERE id = 7",
            Some(&snap),
            Rule::DataLoss,
        );
        insta::assert_snapshot!(render(&f));
        // ONLY leaves the children alone; a narrowing WHERE without cascade is fine.
        assert!(
            findings_with("DELETE FROM ONLY events", Some(&snap), Rule::DataLoss)
                .iter()
                .all(|f| !f.message.contains("events_2024"))
        );
        assert!(findings_with(
            "DELETE FROM events WHERE id = 1",
            Some(&snap),
            Rule::DataLoss
        )
        .is_empty());
    }

    #[test]
    fn ok_narrowing_backfills_and_new_tables() {
        for sql in [
            "DELETE FROM orders WHERE id < 1000",
            "UPDATE orders SET note = 'x' WHERE created_at < now() - interval '1 year'",
            "CREATE TABLE t (id int); DELETE FROM t",
            "TRUNCATE orders",
            "MERGE INTO orders o USING src s ON o.id = s.id WHEN MATCHED THEN UPDATE SET id = s.id",
        ] {
            assert!(findings(sql, Rule::DataLoss).is_empty(), "{sql}");
        }
    }
}
