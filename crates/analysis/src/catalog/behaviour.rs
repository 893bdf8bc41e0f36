//! Statements that change what the application's queries do without touching a row:
//! replacing or dropping a function that triggers, defaults, checks, indexes, policies or
//! views use; renaming a schema, or a table or column that views or functions use; dropping
//! or replacing triggers and policies.
//!
//! The dependents come from the snapshot: views through `pg_depend`
//! ([`SchemaSnapshot::dependencies`]), the rest from the definitions PostgreSQL itself
//! printed (`pg_get_triggerdef`, `pg_get_expr`, `pg_get_indexdef`, policy expressions,
//! `pg_get_functiondef`), where a function call is written `name(`.

use autodb_core::schema::{qualified, SchemaSnapshot};
use pg_query::protobuf::{ObjectType, RenameStmt};
use pg_query::NodeEnum;

use super::Disruption;
use crate::ast;
use crate::state::MigrationState;

/// Whether `text` calls `name` (`name(`, not `other_name(`).
fn calls(text: &str, name: &str) -> bool {
    let pattern = format!("{name}(");
    text.match_indices(&pattern).any(|(i, _)| {
        text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

/// Whether `text` names `name` as a word.
fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

/// What uses the function `name` (bare), as `kind name` descriptions.
pub fn function_dependents(snapshot: &SchemaSnapshot, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in &snapshot.triggers {
        if calls(&t.definition, name) {
            out.push(format!(
                "trigger `{}` on `{}`",
                t.name,
                qualified(&t.schema, &t.table)
            ));
        }
    }
    for table in &snapshot.tables {
        let tname = table.qualified_name();
        for c in &table.columns {
            if c.default.as_deref().is_some_and(|d| calls(d, name)) {
                out.push(format!("default of `{tname}.{}`", c.name));
            }
        }
        for c in &table.constraints {
            if calls(&c.definition, name) {
                out.push(format!("constraint `{}` on `{tname}`", c.name));
            }
        }
        for i in &table.indexes {
            if calls(&i.definition, name) {
                out.push(format!("index `{}` on `{tname}`", i.name));
            }
        }
    }
    for p in &snapshot.policies {
        let uses = p.using.iter().chain(&p.with_check).any(|e| calls(e, name));
        if uses {
            out.push(format!(
                "policy `{}` on `{}`",
                p.name,
                qualified(&p.schema, &p.table)
            ));
        }
    }
    let keys: Vec<String> = snapshot
        .functions
        .iter()
        .filter(|f| f.name == name)
        .map(|f| f.key())
        .collect();
    for (dependent, required) in &snapshot.dependencies {
        if required.iter().any(|r| keys.contains(r)) {
            let view = snapshot
                .views
                .iter()
                .find(|v| autodb_core::schema::model::object_key(&v.schema, &v.name) == *dependent);
            if let Some(v) = view {
                out.push(format!("view `{}`", v.qualified_name()));
            }
        }
    }
    out
}

/// Views and functions that use the relation `table` (as the statement names it).
pub fn relation_dependents(snapshot: &SchemaSnapshot, table: &str) -> Vec<String> {
    let bare = table.rsplit('.').next().unwrap_or(table);
    let mut out: Vec<String> = snapshot
        .views
        .iter()
        .filter(|v| v.depends_on.iter().any(|d| d == table))
        .map(|v| format!("view `{}`", v.qualified_name()))
        .collect();
    for f in &snapshot.functions {
        if mentions(&f.definition, bare) {
            out.push(format!("function `{}`", qualified(&f.schema, &f.name)));
        }
    }
    out
}

/// Views and functions that name the column `column` of `table`.
fn column_dependents(snapshot: &SchemaSnapshot, table: &str, column: &str) -> Vec<String> {
    relation_dependents(snapshot, table)
        .into_iter()
        .filter(|d| {
            // A view's column use is not recorded by name; a function's body is text.
            d.starts_with("view") || {
                let name = d.trim_start_matches("function `").trim_end_matches('`');
                snapshot.functions.iter().any(|f| {
                    qualified(&f.schema, &f.name) == name && mentions(&f.definition, column)
                })
            }
        })
        .collect()
}

/// What the statement changes in the application's behaviour, with what depends on it.
pub fn change(node: &NodeEnum, state: &MigrationState) -> Option<(Disruption, Vec<String>)> {
    let snapshot = state.snapshot;
    let dependents_of_function = |names: &[String]| {
        let name = names.last().cloned().unwrap_or_default();
        snapshot.map_or_else(Vec::new, |s| function_dependents(s, &name))
    };
    match node {
        NodeEnum::CreateFunctionStmt(f) if f.replace => {
            let names = ast::strings(&f.funcname);
            let deps = dependents_of_function(&names);
            (!deps.is_empty()).then_some((Disruption::Behaviour { breaks: false }, deps))
        }
        NodeEnum::DropStmt(d)
            if matches!(
                d.remove_type(),
                ObjectType::ObjectFunction
                    | ObjectType::ObjectProcedure
                    | ObjectType::ObjectRoutine
            ) =>
        {
            let deps: Vec<String> = d
                .objects
                .iter()
                .flat_map(|o| match &o.node {
                    Some(NodeEnum::ObjectWithArgs(w)) => {
                        dependents_of_function(&ast::strings(&w.objname))
                    }
                    _ => vec![],
                })
                .collect();
            (!deps.is_empty()).then_some((Disruption::Behaviour { breaks: false }, deps))
        }
        NodeEnum::DropStmt(d)
            if matches!(
                d.remove_type(),
                ObjectType::ObjectTrigger | ObjectType::ObjectPolicy | ObjectType::ObjectRule
            ) =>
        {
            Some((Disruption::Behaviour { breaks: true }, vec![]))
        }
        NodeEnum::CreateTrigStmt(t) if t.replace => {
            Some((Disruption::Behaviour { breaks: true }, vec![]))
        }
        NodeEnum::AlterPolicyStmt(_) => Some((Disruption::Behaviour { breaks: true }, vec![])),
        NodeEnum::RenameStmt(r) => rename(r, state),
        _ => None,
    }
}

fn rename(r: &RenameStmt, state: &MigrationState) -> Option<(Disruption, Vec<String>)> {
    let breaks = |deps: Vec<String>| Some((Disruption::Behaviour { breaks: true }, deps));
    match r.rename_type() {
        ObjectType::ObjectSchema => breaks(vec![]),
        ObjectType::ObjectTable | ObjectType::ObjectView | ObjectType::ObjectMatview => {
            let table = ast::opt_relation(r.relation.as_ref())?;
            if state.is_new(&table) {
                return None;
            }
            let deps = relation_dependents(state.snapshot?, &table);
            if deps.is_empty() {
                None
            } else {
                breaks(deps)
            }
        }
        ObjectType::ObjectColumn => {
            let table = ast::opt_relation(r.relation.as_ref())?;
            if state.is_new(&table) {
                return None;
            }
            let deps = column_dependents(state.snapshot?, &table, &r.subname);
            if deps.is_empty() {
                None
            } else {
                breaks(deps)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{snapshot, table};
    use autodb_core::schema::model::{Function, FunctionKind, View};

    fn function(name: &str, definition: &str) -> Function {
        Function {
            schema: "public".into(),
            name: name.into(),
            arguments: String::new(),
            kind: FunctionKind::Function,
            definition: definition.into(),
        }
    }

    /// `orders (id, total)`, a view on it and on `price()`, a function reading `total`, and
    /// another reading only `id`.
    fn shop() -> SchemaSnapshot {
        let mut snap = snapshot(vec![table(
            "orders",
            10,
            &[("id", "bigint"), ("total", "numeric")],
        )]);
        snap.views.push(View {
            schema: "public".into(),
            name: "order_totals".into(),
            materialized: false,
            depends_on: vec!["orders".into()],
        });
        snap.views.push(View {
            schema: "public".into(),
            name: "other_view".into(),
            materialized: false,
            depends_on: vec![],
        });
        snap.functions = vec![
            function("price", "CREATE FUNCTION public.price() RETURNS numeric LANGUAGE sql AS 'SELECT 1'"),
            function("unrelated", "CREATE FUNCTION public.unrelated() RETURNS int LANGUAGE sql AS 'SELECT 1'"),
            function("sum_totals", "CREATE FUNCTION public.sum_totals() RETURNS numeric LANGUAGE sql AS 'SELECT sum(total) FROM orders'"),
            function("count_ids", "CREATE FUNCTION public.count_ids() RETURNS bigint LANGUAGE sql AS 'SELECT count(id) FROM orders'"),
        ];
        snap.dependencies
            .insert("public.order_totals".into(), vec!["public.price()".into()]);
        snap.dependencies.insert(
            "public.other_view".into(),
            vec!["public.unrelated()".into()],
        );
        snap
    }

    fn change_of(sql: &str) -> Option<(Disruption, Vec<String>)> {
        let snap = shop();
        let stmts = autodb_core::sql::parse(sql).unwrap();
        let state = MigrationState::new(&stmts, Some(&snap));
        change(&stmts[0].ast, &state)
    }

    #[test]
    fn a_view_depending_on_a_function_is_named_and_no_other() {
        assert_eq!(
            function_dependents(&shop(), "price"),
            ["view `order_totals`"]
        );
        assert!(function_dependents(&shop(), "nothing").is_empty());
    }

    #[test]
    fn column_renames_name_the_views_and_the_functions_that_read_the_column() {
        let (d, deps) = change_of("ALTER TABLE orders RENAME COLUMN total TO amount").unwrap();
        assert_eq!(d, Disruption::Behaviour { breaks: true });
        assert_eq!(deps, ["view `order_totals`", "function `sum_totals`"]);
        let (_, deps) = change_of("ALTER TABLE orders RENAME COLUMN id TO key").unwrap();
        assert_eq!(deps, ["view `order_totals`", "function `count_ids`"]);
        assert_eq!(
            change_of("ALTER TABLE other RENAME COLUMN total TO amount"),
            None
        );
    }

    #[test]
    fn only_a_replacement_of_an_existing_function_changes_behaviour() {
        assert!(change_of(
            "CREATE OR REPLACE FUNCTION price() RETURNS numeric LANGUAGE sql AS 'SELECT 2'"
        )
        .is_some());
        // A new overload leaves the existing function, and its users, as they are.
        assert_eq!(
            change_of("CREATE FUNCTION price(int) RETURNS numeric LANGUAGE sql AS 'SELECT 2'"),
            None
        );
    }

    #[test]
    fn calls_and_mentions_respect_word_boundaries() {
        assert!(calls("EXECUTE FUNCTION audit_fn()", "audit_fn"));
        assert!(calls("nextval(x)", "nextval"));
        assert!(!calls("EXECUTE FUNCTION my_audit_fn()", "audit_fn"));
        assert!(!calls("audit_fn", "audit_fn"));
        assert!(mentions("SELECT * FROM orders o", "orders"));
        assert!(mentions("orders", "orders"));
        assert!(!mentions("SELECT * FROM orders_archive", "orders"));
        assert!(!mentions("SELECT * FROM old_orders", "orders"));
    }
}
