//! Replays parsed DDL onto an in-memory [`SchemaSnapshot`], so the next migration file of a
//! history is judged against the schema the earlier files built (Atlas's directory replay,
//! without a database).
//!
//! Only structure is replayed: tables and their columns (type as written, nullability,
//! whether a default exists), constraints, indexes, partitions, views, enums, sequences and
//! schemas — what the catalog and the rules read from a snapshot. What a statement does to
//! data (`UPDATE`, `INSERT`) changes no structure and is skipped, and so is every statement
//! the replay does not model (functions, triggers, grants): they cannot make a later verdict
//! wrong, only less informed. A default's expression is not kept (`Some("")`): the analysis
//! only asks whether there is one.

use autodb_core::schema::model::{
    Column, Constraint, ConstraintKind, EnumType, Index, Sequence, Table, TableKind, View,
};
use autodb_core::schema::{qualified, SchemaSnapshot};
use pg_query::protobuf::{
    AlterTableCmd, AlterTableType, ColumnDef, ConstrType, Constraint as PgConstraint, ObjectType,
    RangeVar,
};
use pg_query::NodeEnum;

use crate::ast::{self, TypeSpec};

/// Folds one statement into `schema`. `domains` collects domains declared with a `CHECK`
/// (adding a column of such a type validates every row).
pub fn apply_statement(schema: &mut SchemaSnapshot, domains: &mut Vec<String>, ast: &NodeEnum) {
    match ast {
        NodeEnum::CreateStmt(c) => {
            let Some(rel) = &c.relation else { return };
            let (schema_name, name) = split(rel);
            let mut table = Table {
                schema: schema_name,
                name,
                kind: if c.partspec.is_some() {
                    TableKind::Partitioned
                } else {
                    TableKind::Regular
                },
                columns: Vec::new(),
                indexes: Vec::new(),
                constraints: Vec::new(),
                estimated_rows: 0,
                total_bytes: 0,
                partition_of: c
                    .inh_relations
                    .first()
                    .filter(|_| c.partbound.is_some())
                    .and_then(|n| match &n.node {
                        Some(NodeEnum::RangeVar(p)) => Some(ast::relation(p)),
                        _ => None,
                    }),
                inherits: if c.partbound.is_some() {
                    Vec::new()
                } else {
                    c.inh_relations
                        .iter()
                        .filter_map(|n| match &n.node {
                            Some(NodeEnum::RangeVar(p)) => Some(ast::relation(p)),
                            _ => None,
                        })
                        .collect()
                },
            };
            for elt in &c.table_elts {
                match &elt.node {
                    Some(NodeEnum::ColumnDef(cd)) => add_column(&mut table, cd),
                    Some(NodeEnum::Constraint(k)) => add_constraint(&mut table, k, &[]),
                    _ => {}
                }
            }
            remove_table(schema, &table.qualified_name());
            schema.tables.push(table);
        }
        NodeEnum::CreateTableAsStmt(c) => {
            if let Some(rel) = c.into.as_ref().and_then(|i| i.rel.as_ref()) {
                let (s, name) = split(rel);
                schema.views.push(View {
                    schema: s,
                    name,
                    materialized: c.objtype() == ObjectType::ObjectMatview,
                    depends_on: Vec::new(),
                });
            }
        }
        NodeEnum::ViewStmt(v) => {
            if let Some(rel) = &v.view {
                let (s, name) = split(rel);
                schema.views.retain(|x| !(x.schema == s && x.name == name));
                schema.views.push(View {
                    schema: s,
                    name,
                    materialized: false,
                    depends_on: Vec::new(),
                });
            }
        }
        NodeEnum::AlterTableStmt(a) => {
            let Some(rel) = &a.relation else { return };
            let name = ast::relation(rel);
            for cmd in &a.cmds {
                if let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node {
                    alter(schema, &name, cmd);
                }
            }
        }
        NodeEnum::IndexStmt(i) => {
            let (Some(rel), false) = (&i.relation, i.idxname.is_empty()) else {
                return;
            };
            if let Some(t) = table_mut(schema, &ast::relation(rel)) {
                t.indexes.retain(|x| x.name != i.idxname);
                t.indexes.push(Index {
                    name: i.idxname.clone(),
                    definition: String::new(),
                    unique: i.unique,
                    primary: i.primary,
                    valid: true,
                });
            }
        }
        NodeEnum::RenameStmt(r) => rename(schema, r),
        NodeEnum::DropStmt(d) => {
            for object in &d.objects {
                // `DROP TYPE` names its types as type names, not as lists.
                let name = match &object.node {
                    Some(NodeEnum::TypeName(t)) => Some(ast::dotted(&t.names)),
                    _ => ast::object_name(object),
                };
                let Some(name) = name else {
                    continue;
                };
                drop_object(schema, d.remove_type(), &name);
            }
        }
        NodeEnum::CreateEnumStmt(e) => {
            let (s, name) = split_dotted(&ast::dotted(&e.type_name));
            schema.enums.retain(|x| !(x.schema == s && x.name == name));
            schema.enums.push(EnumType {
                schema: s,
                name,
                labels: ast::strings(&e.vals),
            });
        }
        NodeEnum::AlterEnumStmt(e) if !e.new_val.is_empty() && e.old_val.is_empty() => {
            let (s, name) = split_dotted(&ast::dotted(&e.type_name));
            if let Some(t) = schema
                .enums
                .iter_mut()
                .find(|x| x.schema == s && x.name == name)
            {
                t.labels.push(e.new_val.clone());
            }
        }
        NodeEnum::CreateSeqStmt(c) => {
            if let Some(rel) = &c.sequence {
                let (s, name) = split(rel);
                // The replay knows the sequence exists, not its options: PostgreSQL's defaults.
                schema.sequences.push(Sequence {
                    schema: s,
                    name,
                    owned_by: None,
                    owner: None,
                    identity: false,
                    data_type: "bigint".into(),
                    start: 1,
                    increment: 1,
                    min: 1,
                    max: i64::MAX,
                    cache: 1,
                    cycle: false,
                });
            }
        }
        NodeEnum::CreateSchemaStmt(c) if !schema.schemas.contains(&c.schemaname) => {
            schema.schemas.push(c.schemaname.clone());
        }
        NodeEnum::CreateDomainStmt(d) => {
            let checked = d.constraints.iter().any(|c| {
                matches!(&c.node, Some(NodeEnum::Constraint(k)) if k.contype() == ConstrType::ConstrCheck)
            });
            let name = ast::dotted(&d.domainname);
            if checked && !domains.contains(&name) {
                domains.push(name);
            }
        }
        _ => {}
    }
}

/// What [`apply`]ing `ast` to `schema` may change of its foreign keys and views (the edges of
/// the blast-radius graph, `crate::blast`). Asked before applying it. A history keeps the
/// graph across files: most statements create tables without foreign keys, add columns or
/// indexes, and rebuilding the graph after each of them walked the whole schema for every
/// file. Errs on the side of a change.
#[derive(Debug, PartialEq, Eq)]
pub enum GraphChange {
    None,
    /// Only these tables' own foreign keys (their outgoing edges): each is created, replaced,
    /// altered or dropped, and no other table changes.
    Tables(Vec<String>),
    /// Anything: tables renamed, views created or dropped.
    All,
}

pub fn graph_change(schema: &SchemaSnapshot, ast: &NodeEnum) -> GraphChange {
    let has_fk = |rel: &RangeVar| {
        table(schema, &ast::relation(rel))
            .is_some_and(|t| t.constraints.iter().any(|c| c.references.is_some()))
    };
    let one = |rel: &Option<RangeVar>, changes: bool| match rel {
        Some(rel) if changes => GraphChange::Tables(vec![ast::relation(rel)]),
        _ => GraphChange::None,
    };
    match ast {
        // A table replaced by one with no foreign key either changes no edge.
        NodeEnum::CreateStmt(c) => one(
            &c.relation,
            c.table_elts.iter().any(|e| match &e.node {
                Some(NodeEnum::Constraint(k)) => k.pktable.is_some(),
                Some(NodeEnum::ColumnDef(cd)) => declares_fk(cd),
                _ => false,
            }) || c.relation.as_ref().is_some_and(has_fk),
        ),
        NodeEnum::AlterTableStmt(a) => one(
            &a.relation,
            a.cmds.iter().any(|cmd| {
                let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
                    return false;
                };
                match (
                    cmd.subtype(),
                    cmd.def.as_ref().and_then(|d| d.node.as_ref()),
                ) {
                    (AlterTableType::AtAddColumn, Some(NodeEnum::ColumnDef(cd))) => declares_fk(cd),
                    (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(k))) => {
                        k.pktable.is_some()
                    }
                    (AlterTableType::AtDropColumn | AlterTableType::AtDropConstraint, _) => {
                        a.relation.as_ref().is_some_and(has_fk)
                    }
                    _ => false,
                }
            }),
        ),
        NodeEnum::RenameStmt(r)
            if r.rename_type() == ObjectType::ObjectTable
                && r.relation.as_ref().is_some_and(has_fk) =>
        {
            GraphChange::All
        }
        // Keys that reference a dropped table stay on their tables, as in the replay.
        NodeEnum::DropStmt(d) if d.remove_type() == ObjectType::ObjectTable => GraphChange::Tables(
            d.objects
                .iter()
                .filter_map(ast::object_name)
                .map(|name| {
                    let (s, bare) = split_dotted(&name);
                    qualified(&s, &bare)
                })
                .collect(),
        ),
        // A view created as a query result has no known dependencies: no edge.
        NodeEnum::DropStmt(d)
            if matches!(
                d.remove_type(),
                ObjectType::ObjectView | ObjectType::ObjectMatview
            ) =>
        {
            GraphChange::All
        }
        NodeEnum::ViewStmt(_) => GraphChange::All,
        _ => GraphChange::None,
    }
}

fn declares_fk(cd: &ColumnDef) -> bool {
    ast::column_constraints(cd).any(|k| k.pktable.is_some())
}

fn alter(schema: &mut SchemaSnapshot, table: &str, cmd: &AlterTableCmd) {
    let def = cmd.def.as_ref().and_then(|d| d.node.as_ref());
    if cmd.subtype() == AlterTableType::AtAttachPartition {
        if let Some(NodeEnum::PartitionCmd(p)) = def {
            if let Some(part) = p.name.as_ref().map(ast::relation) {
                if let Some(t) = table_mut(schema, &part) {
                    t.partition_of = Some(table.to_string());
                }
            }
        }
        return;
    }
    let Some(t) = table_mut(schema, table) else {
        return;
    };
    let column = |t: &mut Table| {
        let name = cmd.name.clone();
        t.columns.iter_mut().position(|c| c.name == name)
    };
    match (cmd.subtype(), def) {
        (AlterTableType::AtAddColumn, Some(NodeEnum::ColumnDef(cd)))
            if t.column(&cd.colname).is_none() =>
        {
            add_column(t, cd);
        }
        (AlterTableType::AtDropColumn, _) => {
            t.columns.retain(|c| c.name != cmd.name);
            t.constraints.retain(|c| !c.columns.contains(&cmd.name));
        }
        (AlterTableType::AtAlterColumnType, Some(NodeEnum::ColumnDef(cd))) => {
            if let (Some(i), Some(tn)) = (column(t), &cd.type_name) {
                t.columns[i].data_type = TypeSpec::from_ast(tn).to_string();
            }
        }
        (AlterTableType::AtColumnDefault, _) => {
            if let Some(i) = column(t) {
                t.columns[i].default = def.map(|_| String::new());
            }
        }
        (AlterTableType::AtSetNotNull | AlterTableType::AtDropNotNull, _) => {
            if let Some(i) = column(t) {
                t.columns[i].nullable = cmd.subtype() == AlterTableType::AtDropNotNull;
            }
        }
        (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(k))) => {
            add_constraint(t, k, &[]);
        }
        (AlterTableType::AtValidateConstraint, _) => {
            if let Some(c) = t.constraints.iter_mut().find(|c| c.name == cmd.name) {
                c.validated = true;
            }
        }
        (AlterTableType::AtDropConstraint, _) => {
            t.constraints.retain(|c| c.name != cmd.name);
            t.indexes.retain(|i| i.name != cmd.name);
        }
        _ => {}
    }
}

fn add_column(table: &mut Table, cd: &ColumnDef) {
    let has = |kind| ast::has_constraint(cd, kind);
    table.columns.push(Column {
        name: cd.colname.clone(),
        data_type: cd
            .type_name
            .as_ref()
            .map(|tn| TypeSpec::from_ast(tn).to_string())
            .unwrap_or_default(),
        nullable: !(has(ConstrType::ConstrNotnull) || has(ConstrType::ConstrPrimary)),
        default: ast::column_default(cd).map(|_| String::new()),
        identity: has(ConstrType::ConstrIdentity).then(|| "a".to_string()),
        generated: has(ConstrType::ConstrGenerated).then(|| "s".to_string()),
    });
    let own = [cd.colname.clone()];
    for k in ast::column_constraints(cd) {
        add_constraint(table, k, &own);
    }
}

/// Adds a table or column constraint; `column` names the column of a column constraint.
fn add_constraint(table: &mut Table, k: &PgConstraint, column: &[String]) {
    let kind = match k.contype() {
        ConstrType::ConstrPrimary => ConstraintKind::PrimaryKey,
        ConstrType::ConstrUnique => ConstraintKind::Unique,
        ConstrType::ConstrCheck => ConstraintKind::Check,
        ConstrType::ConstrForeign => ConstraintKind::ForeignKey,
        ConstrType::ConstrExclusion => ConstraintKind::Exclusion,
        _ => return,
    };
    let mut columns = ast::strings(&k.keys);
    columns.extend(ast::strings(&k.fk_attrs));
    let elements = exclusion_elements(k);
    columns.extend(elements.iter().filter_map(|(column, _)| column.clone()));
    if columns.is_empty() {
        columns = column.to_vec();
    }
    if kind == ConstraintKind::PrimaryKey {
        for c in table
            .columns
            .iter_mut()
            .filter(|c| columns.contains(&c.name))
        {
            c.nullable = false;
        }
    }
    let name = if k.conname.is_empty() {
        let words = if kind == ConstraintKind::Exclusion {
            numbered(elements.into_iter().map(|(_, word)| word))
        } else {
            columns.clone()
        };
        default_name(&table.name, &words, kind)
    } else {
        k.conname.clone()
    };
    if matches!(
        kind,
        ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclusion
    ) {
        table.indexes.push(Index {
            name: if k.indexname.is_empty() {
                name.clone()
            } else {
                k.indexname.clone()
            },
            definition: String::new(),
            unique: kind != ConstraintKind::Exclusion,
            primary: kind == ConstraintKind::PrimaryKey,
            valid: true,
        });
    }
    table.constraints.retain(|c| c.name != name);
    table.constraints.push(Constraint {
        name,
        kind,
        definition: String::new(),
        columns,
        validated: !k.skip_validation,
        references: k.pktable.as_ref().map(ast::relation),
        on_delete: (kind == ConstraintKind::ForeignKey).then(|| k.fk_del_action.clone()),
    });
}

/// An exclusion constraint's elements (`EXCLUDE USING gist (room WITH =, tsrange(a, b) WITH
/// &&)`): the column an element is, if it is one, and the word PostgreSQL names its index
/// column by (`FigureIndexColname`): the column, the function an expression calls, or `expr`.
fn exclusion_elements(k: &PgConstraint) -> Vec<(Option<String>, String)> {
    k.exclusions
        .iter()
        .filter_map(|pair| match &pair.node {
            Some(NodeEnum::List(l)) => match l.items.first()?.node.as_ref()? {
                NodeEnum::IndexElem(e) if !e.name.is_empty() => {
                    Some((Some(e.name.clone()), e.name.clone()))
                }
                NodeEnum::IndexElem(e) => Some((None, expression_word(e.expr.as_deref()))),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The word PostgreSQL names an expression's index column by: the last name of a column
/// reference or of a called function, through casts; `expr` for anything else.
fn expression_word(expr: Option<&pg_query::protobuf::Node>) -> String {
    match expr.and_then(|e| e.node.as_ref()) {
        Some(NodeEnum::ColumnRef(c)) => ast::strings(&c.fields).pop(),
        Some(NodeEnum::FuncCall(f)) => ast::strings(&f.funcname).pop(),
        Some(NodeEnum::TypeCast(t)) => return expression_word(t.arg.as_deref()),
        _ => None,
    }
    .unwrap_or_else(|| "expr".to_string())
}

/// Index column names made unique the way PostgreSQL does (`ChooseIndexColumnNames`): a
/// repeated name gets the first free number (`c`, `c1`, `c2`).
fn numbered(words: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in words {
        let mut name = word.clone();
        let mut n = 0;
        while out.contains(&name) {
            n += 1;
            name = format!("{word}{n}");
        }
        out.push(name);
    }
    out
}

/// The name PostgreSQL gives an unnamed constraint: `orders_pkey`, `orders_email_key`,
/// `orders_customer_id_fkey`, `orders_total_check`, `bookings_room_during_excl`; `columns`
/// are the words between the table and the suffix.
fn default_name(table: &str, columns: &[String], kind: ConstraintKind) -> String {
    let suffix = match kind {
        ConstraintKind::PrimaryKey => return format!("{table}_pkey"),
        ConstraintKind::Unique => "key",
        ConstraintKind::ForeignKey => "fkey",
        ConstraintKind::Exclusion => "excl",
        _ => "check",
    };
    match columns {
        [] => format!("{table}_{suffix}"),
        cols => format!("{table}_{}_{suffix}", cols.join("_")),
    }
}

fn rename(schema: &mut SchemaSnapshot, r: &pg_query::protobuf::RenameStmt) {
    let Some(rel) = &r.relation else { return };
    let name = ast::relation(rel);
    match r.rename_type() {
        ObjectType::ObjectTable => {
            if let Some(t) = table_mut(schema, &name) {
                t.name = r.newname.clone();
            }
        }
        ObjectType::ObjectColumn => {
            if let Some(t) = table_mut(schema, &name) {
                for c in t.columns.iter_mut().filter(|c| c.name == r.subname) {
                    c.name = r.newname.clone();
                }
                for k in &mut t.constraints {
                    for c in k.columns.iter_mut().filter(|c| **c == r.subname) {
                        c.clone_from(&r.newname);
                    }
                }
            }
        }
        ObjectType::ObjectTabconstraint => {
            if let Some(t) = table_mut(schema, &name) {
                for k in t.constraints.iter_mut().filter(|k| k.name == r.subname) {
                    k.name = r.newname.clone();
                }
            }
        }
        ObjectType::ObjectIndex => {
            let (s, bare) = split(rel);
            for t in schema.tables.iter_mut().filter(|t| t.schema == s) {
                for i in t.indexes.iter_mut().filter(|i| i.name == bare) {
                    i.name = r.newname.clone();
                }
            }
        }
        _ => {}
    }
}

fn drop_object(schema: &mut SchemaSnapshot, kind: ObjectType, name: &str) {
    let (s, bare) = split_dotted(name);
    match kind {
        ObjectType::ObjectTable => remove_table(schema, &qualified(&s, &bare)),
        ObjectType::ObjectIndex => {
            for t in schema.tables.iter_mut().filter(|t| t.schema == s) {
                t.indexes.retain(|i| i.name != bare);
            }
        }
        ObjectType::ObjectView | ObjectType::ObjectMatview => {
            schema.views.retain(|v| !(v.schema == s && v.name == bare));
        }
        ObjectType::ObjectType => schema.enums.retain(|e| !(e.schema == s && e.name == bare)),
        ObjectType::ObjectSequence => {
            schema
                .sequences
                .retain(|q| !(q.schema == s && q.name == bare));
        }
        _ => {}
    }
}

fn remove_table(schema: &mut SchemaSnapshot, name: &str) {
    let (s, bare) = split_dotted(name);
    schema.tables.retain(|t| !is_named(t, &s, &bare));
}

fn table<'s>(schema: &'s SchemaSnapshot, name: &str) -> Option<&'s Table> {
    let (s, bare) = split_dotted(name);
    schema.tables.iter().find(|t| is_named(t, &s, &bare))
}

fn table_mut<'s>(schema: &'s mut SchemaSnapshot, name: &str) -> Option<&'s mut Table> {
    let (s, bare) = split_dotted(name);
    schema.tables.iter_mut().find(|t| is_named(t, &s, &bare))
}

/// Names first: almost every table is in the same schema, so comparing schemas first
/// compared equal strings for every table of the replayed schema on every lookup.
fn is_named(table: &Table, schema: &str, name: &str) -> bool {
    table.name == name && table.schema == schema
}

fn split(rel: &RangeVar) -> (String, String) {
    let schema = if rel.schemaname.is_empty() {
        "public".to_string()
    } else {
        rel.schemaname.clone()
    };
    (schema, rel.relname.clone())
}

fn split_dotted(name: &str) -> (String, String) {
    match name.split_once('.') {
        Some((s, n)) => (s.to_string(), n.to_string()),
        None => ("public".to_string(), name.to_string()),
    }
}

#[cfg(test)]
mod replay_tests {
    use super::*;

    /// `sql` replayed from an empty schema: the schema and the checked domains.
    fn replayed(sql: &str) -> (SchemaSnapshot, Vec<String>) {
        let mut schema = SchemaSnapshot::default();
        let mut domains = Vec::new();
        for stmt in autodb_core::sql::parse(sql).expect(sql) {
            apply_statement(&mut schema, &mut domains, &stmt.ast);
        }
        (schema, domains)
    }

    #[test]
    fn unnamed_exclusion_constraints_are_named_as_postgresql_names_them() {
        // The names PostgreSQL 15 gave these (pg_constraint.conname), with the columns its
        // conkey lists (an expression is attnum 0, so it names no column).
        let (schema, _) = replayed(
            "CREATE TABLE r (a timestamp, b timestamp, c tsrange, EXCLUDE USING gist (c WITH &&));
             CREATE TABLE r2 (a timestamp, b timestamp, EXCLUDE USING gist (tsrange(a, b) WITH &&));
             CREATE TABLE r3 (a timestamp, b timestamp, c tsrange,
                 EXCLUDE USING gist ((c * c) WITH &&),
                 EXCLUDE USING gist ((c::tsrange) WITH &&, c WITH &&));
             ALTER TABLE r ADD EXCLUDE USING gist (c WITH &&, c WITH &&, c WITH &&);",
        );
        let constraints = |table: &str| -> Vec<(String, Vec<String>)> {
            let t = schema.tables.iter().find(|t| t.name == table).unwrap();
            t.constraints
                .iter()
                .map(|k| (k.name.clone(), k.columns.clone()))
                .collect()
        };
        let owned = |name: &str, cols: &[&str]| {
            (
                name.to_string(),
                cols.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            constraints("r"),
            [
                owned("r_c_excl", &["c"]),
                owned("r_c_c1_c2_excl", &["c", "c", "c"])
            ]
        );
        assert_eq!(constraints("r2"), [owned("r2_tsrange_excl", &[])]);
        assert_eq!(
            constraints("r3"),
            [owned("r3_expr_excl", &[]), owned("r3_c_c1_excl", &["c"])]
        );
        let r = schema.tables.iter().find(|t| t.name == "r").unwrap();
        assert_eq!(
            r.indexes
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>(),
            ["r_c_excl", "r_c_c1_c2_excl"],
            "the constraint's index has its name"
        );
    }

    #[test]
    fn tables_keep_their_constraints_parents_and_partitions() {
        let (schema, _) = replayed(
            "CREATE SCHEMA app;
             CREATE SCHEMA app;
             CREATE TABLE app.parent (id int, CONSTRAINT parent_pk PRIMARY KEY (id));
             CREATE TABLE app.child (extra int) INHERITS (app.parent);
             CREATE TABLE app.part (id int) PARTITION BY RANGE (id);
             CREATE TABLE app.part_1 PARTITION OF app.part FOR VALUES FROM (1) TO (10);",
        );
        assert_eq!(schema.schemas, ["app"], "a schema is listed once");
        let table = |name: &str| {
            schema
                .tables
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(table("parent").constraints.len(), 1);
        assert_eq!(table("parent").constraints[0].name, "parent_pk");
        assert_eq!(table("child").inherits, ["app.parent"]);
        assert_eq!(table("child").partition_of, None);
        assert_eq!(table("part").kind, TableKind::Partitioned);
        assert_eq!(table("part_1").partition_of.as_deref(), Some("app.part"));
        assert!(table("part_1").inherits.is_empty());
    }

    #[test]
    fn views_indexes_enums_sequences_and_domains_are_replaced_not_doubled() {
        let (schema, domains) = replayed(
            "CREATE TABLE t (id int);
             CREATE MATERIALIZED VIEW mv AS SELECT 1;
             CREATE VIEW v AS SELECT 1;
             CREATE OR REPLACE VIEW v AS SELECT 2;
             CREATE VIEW w AS SELECT 1;
             CREATE INDEX i1 ON t (id);
             CREATE INDEX i2 ON t (id);
             CREATE UNIQUE INDEX i1 ON t (id);
             CREATE TYPE mood AS ENUM ('a');
             CREATE TYPE mood AS ENUM ('b', 'c');
             CREATE TYPE other AS ENUM ('x');
             ALTER TYPE mood ADD VALUE 'd';
             ALTER TYPE mood RENAME VALUE 'b' TO 'bb';
             ALTER TYPE other ADD VALUE 'y';
             CREATE SEQUENCE s;
             CREATE DOMAIN positive AS int CHECK (VALUE > 0);
             CREATE DOMAIN positive AS int CHECK (VALUE > 0);
             CREATE DOMAIN plain AS int;",
        );
        let views: Vec<(&str, bool)> = schema
            .views
            .iter()
            .map(|v| (v.name.as_str(), v.materialized))
            .collect();
        assert_eq!(views, [("mv", true), ("v", false), ("w", false)]);
        let t = schema.tables.iter().find(|t| t.name == "t").unwrap();
        let indexes: Vec<(&str, bool)> = t
            .indexes
            .iter()
            .map(|i| (i.name.as_str(), i.unique))
            .collect();
        assert_eq!(indexes, [("i2", false), ("i1", true)]);
        let labels = |name: &str| {
            schema
                .enums
                .iter()
                .find(|e| e.name == name)
                .unwrap()
                .labels
                .clone()
        };
        assert_eq!(schema.enums.len(), 2);
        // ADD VALUE appends; RENAME VALUE (an old value named) is not an addition.
        assert_eq!(labels("mood"), ["b", "c", "d"]);
        assert_eq!(labels("other"), ["x", "y"]);
        assert_eq!(schema.sequences.len(), 1);
        assert_eq!(schema.sequences[0].name, "s");
        assert_eq!(domains, ["positive"], "checked domains, once each");
    }

    #[test]
    fn alter_table_changes_columns_and_constraints_as_postgresql_would() {
        let (schema, _) = replayed(
            "CREATE TABLE t (a int, b int, c int, d int NOT NULL, e int, f int);
             ALTER TABLE t ADD COLUMN g int PRIMARY KEY;
             ALTER TABLE t ADD COLUMN h int NOT NULL;
             ALTER TABLE t ADD COLUMN IF NOT EXISTS a text;
             ALTER TABLE t ALTER COLUMN b TYPE bigint;
             ALTER TABLE t ALTER COLUMN c SET DEFAULT 1;
             ALTER TABLE t ALTER COLUMN d DROP NOT NULL;
             ALTER TABLE t ALTER COLUMN e SET NOT NULL;
             ALTER TABLE t ADD CONSTRAINT f_positive CHECK (f > 0) NOT VALID;
             ALTER TABLE t ADD CONSTRAINT e_fk FOREIGN KEY (e) REFERENCES t (g);
             ALTER TABLE t VALIDATE CONSTRAINT f_positive;
             ALTER TABLE t ADD CONSTRAINT a_unique UNIQUE (a);
             ALTER TABLE t ADD CONSTRAINT b_unique UNIQUE (b);
             ALTER TABLE t DROP CONSTRAINT a_unique;
             ALTER TABLE t DROP COLUMN e;",
        );
        let t = &schema.tables[0];
        let col = |name: &str| t.columns.iter().find(|c| c.name == name);
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["a", "b", "c", "d", "f", "g", "h"],
            "e dropped, a not added twice"
        );
        assert_eq!(col("a").unwrap().data_type, "integer");
        assert_eq!(col("b").unwrap().data_type, "bigint");
        assert_eq!(col("c").unwrap().default.as_deref(), Some(""));
        assert_eq!(col("a").unwrap().default, None);
        assert!(col("d").unwrap().nullable, "NOT NULL dropped");
        assert!(!col("g").unwrap().nullable, "a primary key is not null");
        assert!(!col("h").unwrap().nullable);
        assert!(col("f").unwrap().nullable);
        let constraints: Vec<(&str, bool)> = t
            .constraints
            .iter()
            .map(|c| (c.name.as_str(), c.validated))
            .collect();
        // e's foreign key went with its column; a_unique was dropped (and its index).
        assert_eq!(
            constraints,
            [("t_pkey", true), ("f_positive", true), ("b_unique", true)]
        );
        let indexes: Vec<&str> = t.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(indexes, ["t_pkey", "b_unique"]);
    }

    #[test]
    fn constraints_make_their_indexes_and_renames_follow_every_name() {
        let (schema, _) = replayed(
            "CREATE TABLE p (id int PRIMARY KEY);
             CREATE TABLE t (a int, b int, r tsrange, pid int);
             ALTER TABLE t ADD PRIMARY KEY (a);
             ALTER TABLE t ADD UNIQUE (b);
             ALTER TABLE t ADD CONSTRAINT t_r_excl EXCLUDE USING gist (r WITH &&);
             ALTER TABLE t ADD FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE;
             CREATE INDEX t_b_idx ON t (b);
             ALTER TABLE t RENAME COLUMN b TO bee;
             ALTER TABLE t RENAME CONSTRAINT t_b_key TO t_bee_key;
             ALTER INDEX t_b_idx RENAME TO t_bee_idx;",
        );
        let t = schema.tables.iter().find(|t| t.name == "t").unwrap();
        assert!(!t.columns.iter().find(|c| c.name == "a").unwrap().nullable);
        assert!(t.columns.iter().any(|c| c.name == "bee"));
        let constraints: Vec<(&str, ConstraintKind, Vec<&str>, Option<&str>)> = t
            .constraints
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.kind,
                    c.columns.iter().map(String::as_str).collect(),
                    c.on_delete.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            constraints,
            [
                ("t_pkey", ConstraintKind::PrimaryKey, vec!["a"], None),
                ("t_bee_key", ConstraintKind::Unique, vec!["bee"], None),
                ("t_r_excl", ConstraintKind::Exclusion, vec!["r"], None),
                (
                    "t_pid_fkey",
                    ConstraintKind::ForeignKey,
                    vec!["pid"],
                    Some("c")
                ),
            ]
        );
        let indexes: Vec<(&str, bool, bool)> = t
            .indexes
            .iter()
            .map(|i| (i.name.as_str(), i.unique, i.primary))
            .collect();
        assert_eq!(
            indexes,
            [
                ("t_pkey", true, true),
                ("t_b_key", true, false),
                ("t_r_excl", false, false),
                ("t_bee_idx", false, false),
            ]
        );
    }

    #[test]
    fn drops_remove_exactly_the_object_named_in_its_schema() {
        let objects = "CREATE SCHEMA app;
             CREATE TABLE t (a int);
             CREATE TABLE app.t (a int);
             CREATE INDEX keep_idx ON t (a);
             CREATE INDEX gone_idx ON t (a);
             CREATE INDEX gone_idx ON app.t (a);
             CREATE VIEW v AS SELECT 1;
             CREATE VIEW app.v AS SELECT 1;
             CREATE MATERIALIZED VIEW mv AS SELECT 1;
             CREATE VIEW w AS SELECT 1;
             CREATE TYPE e AS ENUM ('x');
             CREATE TYPE app.e AS ENUM ('x');
             CREATE TYPE f AS ENUM ('x');
             CREATE SEQUENCE s;
             CREATE SEQUENCE app.s;
             CREATE SEQUENCE q;";
        let (schema, _) = replayed(&format!(
            "{objects}
             DROP INDEX gone_idx;
             DROP VIEW v;
             DROP MATERIALIZED VIEW mv;
             DROP TYPE e;
             DROP SEQUENCE s;"
        ));
        let indexes: Vec<String> = schema
            .tables
            .iter()
            .flat_map(|t| {
                t.indexes
                    .iter()
                    .map(move |i| format!("{}.{}", t.schema, i.name))
            })
            .collect();
        assert_eq!(indexes, ["public.keep_idx", "app.gone_idx"]);
        let named = |items: Vec<(&String, &String)>| -> Vec<String> {
            items.into_iter().map(|(s, n)| format!("{s}.{n}")).collect()
        };
        assert_eq!(
            named(schema.views.iter().map(|v| (&v.schema, &v.name)).collect()),
            ["app.v", "public.w"]
        );
        assert_eq!(
            named(schema.enums.iter().map(|e| (&e.schema, &e.name)).collect()),
            ["app.e", "public.f"]
        );
        assert_eq!(
            named(
                schema
                    .sequences
                    .iter()
                    .map(|q| (&q.schema, &q.name))
                    .collect()
            ),
            ["app.s", "public.q"]
        );
    }
}
