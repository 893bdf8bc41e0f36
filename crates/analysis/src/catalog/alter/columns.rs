//! Column subcommands of `ALTER TABLE`: add, drop, retype, `SET NOT NULL`, `SET EXPRESSION`.
//! Each says whether the table is rewritten or scanned, and returns the lock it takes.

use pg_query::protobuf::{ColumnDef, ConstrType};
use pg_query::NodeEnum;

use crate::ast::{self, TypeSpec};
use crate::catalog::{binary_coercible, Coercion, Effect, Hazard, LockMode};
use crate::state::MigrationState;

use LockMode::{AccessExclusive, ShareRowExclusive};

pub(super) fn add(def: Option<&NodeEnum>, state: &MigrationState, e: &mut Effect) -> LockMode {
    if let Some(NodeEnum::ColumnDef(cd)) = def {
        add_column(cd, state, e);
    }
    AccessExclusive
}

/// A validated `CHECK (col IS NOT NULL)` proves the column has no nulls, and PostgreSQL 12
/// and later then skip the scan.
pub(super) fn set_not_null(
    table: &str,
    column: &str,
    state: &MigrationState,
    e: &mut Effect,
) -> LockMode {
    e.scans = !(state.postgres_version.has(12) && proven_not_null(state, table, column));
    AccessExclusive
}

/// A virtual generated column (PostgreSQL 18) stores nothing: only a stored one is
/// recomputed into a new copy of the table.
pub(super) fn set_expression(
    table: &str,
    column: &str,
    state: &MigrationState,
    e: &mut Effect,
) -> LockMode {
    let is_virtual = state
        .table(table)
        .and_then(|t| t.columns.iter().find(|c| c.name == column))
        .is_some_and(|c| c.generated.as_deref() == Some("v"));
    if !is_virtual {
        e.rewrites = true;
        e.hazards.push(Hazard::SetExpression {
            column: column.to_string(),
        });
    }
    AccessExclusive
}

pub(super) fn drop(e: &mut Effect) -> LockMode {
    e.destructive = true;
    e.breaks_clients = true;
    AccessExclusive
}

pub(super) fn alter_type(
    table: &str,
    column: &str,
    def: Option<&NodeEnum>,
    state: &MigrationState,
    e: &mut Effect,
) -> LockMode {
    if let Some(NodeEnum::ColumnDef(cd)) = def {
        type_change(table, column, cd, state, e);
    }
    AccessExclusive
}

fn add_column(cd: &ColumnDef, state: &MigrationState, e: &mut Effect) {
    let column = cd.colname.clone();
    e.column(&column);
    let ty = cd.type_name.as_ref().map(TypeSpec::from_ast);
    if let Some(ty) = &ty {
        if matches!(ty.base.as_str(), "serial" | "bigserial" | "smallserial") {
            e.rewrites = true;
            e.hazards.push(Hazard::SerialColumn {
                column: column.clone(),
            });
        } else if state.is_constrained_domain(&ty.base) {
            e.rewrites = true;
            e.hazards.push(Hazard::ConstrainedDomain {
                column: column.clone(),
                domain: ty.base.clone(),
            });
        }
    }
    let default = ast::column_default(cd);
    if let Some(function) = default.and_then(ast::volatile_call) {
        e.rewrites = true;
        e.hazards.push(Hazard::VolatileDefault {
            column: column.clone(),
            function,
        });
    } else if default.is_some_and(|d| !ast::is_null(d)) && !state.postgres_version.has(11) {
        // Before 11 (no "fast default" in the catalog) every row gets the value written.
        e.rewrites = true;
        e.hazards.push(Hazard::DefaultBeforeFastDefault {
            column: column.clone(),
        });
    }
    for c in ast::column_constraints(cd) {
        match c.contype() {
            ConstrType::ConstrIdentity => {
                e.rewrites = true;
                e.hazards.push(Hazard::IdentityColumn {
                    column: column.clone(),
                });
            }
            // PostgreSQL 18 makes generated columns virtual unless STORED is written.
            ConstrType::ConstrGenerated if c.generated_kind != "v" => {
                e.rewrites = true;
                e.hazards.push(Hazard::StoredGenerated {
                    column: column.clone(),
                });
            }
            // A new column without a default is all nulls, which a foreign key never
            // rejects: PostgreSQL validates it without reading the table.
            ConstrType::ConstrForeign => {
                e.scans |= ast::column_default(cd).is_some();
                if let Some(pk) = &c.pktable {
                    e.lock(&ast::relation(pk), ShareRowExclusive);
                }
            }
            ConstrType::ConstrCheck | ConstrType::ConstrPrimary | ConstrType::ConstrUnique => {
                e.scans = true;
            }
            // Without a default every existing row would be null: PostgreSQL reads the table
            // to check it has none (and fails on the first row).
            ConstrType::ConstrNotnull if ast::column_default(cd).is_none() => {
                e.scans = true;
            }
            _ => {}
        }
    }
}

fn type_change(table: &str, column: &str, cd: &ColumnDef, state: &MigrationState, e: &mut Effect) {
    let Some(tn) = &cd.type_name else { return };
    let to = TypeSpec::from_ast(tn);
    let from = state.column_type(table, column);
    // A USING expression recomputes every value.
    let coercion = match (&from, cd.raw_default.is_some()) {
        (_, true) => Coercion::Rewrite,
        (Some(from), false) => binary_coercible(from, &to),
        (None, false) => Coercion::Unknown,
    };
    if coercion != Coercion::NoRewrite {
        e.rewrites = true;
    }
    e.hazards.push(Hazard::TypeChange {
        column: column.to_string(),
        from: from.map(|f| f.to_string()),
        to: to.to_string(),
        coercion,
    });
}

/// Whether the snapshot holds a validated `CHECK (column IS NOT NULL)` on the table.
fn proven_not_null(state: &MigrationState, table: &str, column: &str) -> bool {
    state.table(table).is_some_and(|t| {
        t.constraints.iter().any(|c| {
            c.kind == autodb_core::schema::model::ConstraintKind::Check
                && c.validated
                && checks_not_null(&c.definition, column)
        })
    })
}

/// Whether a constraint definition, as `pg_get_constraintdef` writes it, is exactly
/// `CHECK (column IS NOT NULL)`. Asked of the parser, not of the text's spelling.
fn checks_not_null(definition: &str, column: &str) -> bool {
    let Ok(parsed) = pg_query::parse(
        &format!("ALTER TABLE t ADD {definition}"),
        pg_query::ParserOptions::DEFAULT,
    ) else {
        return false;
    };
    let Some(NodeEnum::AlterTableStmt(stmt)) = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|s| s.stmt.as_ref())
        .and_then(|n| n.node.as_ref())
    else {
        return false;
    };
    let [cmd] = stmt.cmds.as_slice() else {
        return false;
    };
    let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
        return false;
    };
    let Some(NodeEnum::Constraint(c)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
        return false;
    };
    let Some(NodeEnum::NullTest(test)) = c.raw_expr.as_ref().and_then(|e| e.node.as_ref()) else {
        return false;
    };
    let Some(NodeEnum::ColumnRef(col)) = test.arg.as_ref().and_then(|a| a.node.as_ref()) else {
        return false;
    };
    c.contype() == ConstrType::ConstrCheck
        && test.nulltesttype() == pg_query::protobuf::NullTestType::IsNotNull
        && ast::strings(&col.fields) == [column]
}

#[cfg(test)]
mod tests {
    use super::checks_not_null;

    #[test]
    fn only_a_check_of_exactly_the_column_is_not_null_proves_it() {
        assert!(checks_not_null("CHECK ((email IS NOT NULL))", "email"));
        assert!(checks_not_null(
            "CHECK (email IS NOT NULL) NOT VALID",
            "email"
        ));
        for (definition, column) in [
            ("CHECK ((email IS NOT NULL))", "name"),
            ("CHECK ((email IS NULL))", "email"),
            (
                "CHECK (((email IS NOT NULL) AND (name IS NOT NULL)))",
                "email",
            ),
            ("CHECK ((t.email IS NOT NULL))", "email"),
            ("UNIQUE (email)", "email"),
            ("not sql at all (", "email"),
        ] {
            assert!(
                !checks_not_null(definition, column),
                "{definition} on {column}"
            );
        }
    }
}
