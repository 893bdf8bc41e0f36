//! A statement that runs outside a transaction cannot be rolled back: if the migration is
//! retried after a failure, it must tolerate having run before. `CREATE INDEX CONCURRENTLY`
//! that fails also leaves an INVALID index behind under its name.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let (robust, form) = match &ctx.stmt.ast {
        NodeEnum::IndexStmt(i) if i.concurrent => {
            (i.if_not_exists, "CREATE INDEX CONCURRENTLY IF NOT EXISTS")
        }
        NodeEnum::DropStmt(d) if d.concurrent && d.remove_type() == ObjectType::ObjectIndex => {
            (d.missing_ok, "DROP INDEX CONCURRENTLY IF EXISTS")
        }
        _ => return,
    };
    if !robust {
        out.push(
            Rule::PreferRobustStmts,
            format!(
                "{} runs outside a transaction; a retry after a partial failure fails on the object it already created or dropped.",
                ctx.stmt.operation
            ),
            &format!("Use `{form}`; for an index, drop a leftover INVALID index (pg_index.indisvalid = false) before retrying."),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_not_idempotent() {
        let f = findings(
            "CREATE INDEX CONCURRENTLY i ON orders (a)",
            Rule::PreferRobustStmts,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_if_not_exists() {
        assert!(findings(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (a)",
            Rule::PreferRobustStmts
        )
        .is_empty());
        assert!(findings(
            "DROP INDEX CONCURRENTLY IF EXISTS i",
            Rule::PreferRobustStmts
        )
        .is_empty());
    }

    #[test]
    fn err_drop_index_concurrently_without_if_exists() {
        let f = findings("DROP INDEX CONCURRENTLY i", Rule::PreferRobustStmts);
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .safe_alternative
            .as_deref()
            .unwrap_or_default()
            .starts_with("Use `DROP INDEX CONCURRENTLY IF EXISTS`"));
    }

    #[test]
    fn ok_statements_in_a_transaction() {
        for sql in [
            "CREATE INDEX i ON orders (a)",
            "DROP INDEX i",
            "DROP TABLE t",
        ] {
            assert!(findings(sql, Rule::PreferRobustStmts).is_empty(), "{sql}");
        }
    }
}
