//! One statement builder per object kind. Each writes what pg_dump would write for the
//! object, from the snapshot's fields, quoting every name it writes itself; definitions the
//! server printed (types, expressions, view and function bodies) go in as printed.

use super::quote::{ident, literal, qualified};
use crate::schema::model::{
    Column, CompositeType, Constraint, ConstraintKind, Domain, EnumType, RelationDetails,
    SchemaSnapshot, Sequence, Table, TableKind, View,
};

/// pg_dump's session settings, and the search path the snapshot's definitions were printed
/// relative to (`public` for snapshots stored before it was recorded).
pub fn session(snapshot: &SchemaSnapshot) -> Vec<String> {
    let path = if snapshot.search_path.is_empty() {
        "public".to_string()
    } else {
        snapshot
            .search_path
            .iter()
            .map(|s| ident(s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        "SET check_function_bodies = false".into(),
        "SET client_min_messages = warning".into(),
        format!(
            "SELECT pg_catalog.set_config('search_path', {}, false)",
            literal(&path)
        ),
    ]
}

/// Every schema but `public`, which an empty database already has.
pub fn schemas(snapshot: &SchemaSnapshot) -> Vec<String> {
    snapshot
        .schemas
        .iter()
        .filter(|s| *s != "public")
        .map(|s| format!("CREATE SCHEMA {}", ident(s)))
        .collect()
}

/// `IF NOT EXISTS`: `plpgsql` is in every database already.
pub fn extensions(snapshot: &SchemaSnapshot) -> Vec<String> {
    snapshot
        .extensions
        .iter()
        .map(|e| {
            format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
                ident(&e.name),
                ident(&e.schema)
            )
        })
        .collect()
}

pub fn enum_type(e: &EnumType) -> String {
    let labels: Vec<String> = e.labels.iter().map(|l| literal(l)).collect();
    format!(
        "CREATE TYPE {} AS ENUM ({})",
        qualified(&e.schema, &e.name),
        labels.join(", ")
    )
}

pub fn domain(d: &Domain) -> String {
    let mut sql = format!(
        "CREATE DOMAIN {} AS {}",
        qualified(&d.schema, &d.name),
        d.base_type
    );
    if let Some(collation) = &d.collation {
        sql.push_str(&format!(" COLLATE {collation}"));
    }
    if let Some(default) = &d.default {
        sql.push_str(&format!(" DEFAULT {default}"));
    }
    if d.not_null {
        sql.push_str(" NOT NULL");
    }
    for (name, check) in &d.checks {
        sql.push_str(&format!(" CONSTRAINT {} {check}", ident(name)));
    }
    sql
}

pub fn composite(c: &CompositeType) -> String {
    let attributes: Vec<String> = c
        .attributes
        .iter()
        .map(|a| {
            let collate = a
                .collation
                .as_ref()
                .map(|c| format!(" COLLATE {c}"))
                .unwrap_or_default();
            format!("    {} {}{collate}", ident(&a.name), a.data_type)
        })
        .collect();
    format!(
        "CREATE TYPE {} AS (\n{}\n)",
        qualified(&c.schema, &c.name),
        attributes.join(",\n")
    )
}

fn sequence_options(s: &Sequence) -> String {
    let cycle = if s.cycle { "CYCLE" } else { "NO CYCLE" };
    format!(
        "START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} CACHE {} {cycle}",
        s.start, s.increment, s.min, s.max, s.cache
    )
}

pub fn sequence(s: &Sequence) -> String {
    let data_type = if s.data_type.is_empty() {
        String::new()
    } else {
        format!(" AS {}", s.data_type)
    };
    // Snapshots stored before the options were read know none: the defaults are all a
    // clone can do for them.
    if s.increment == 0 {
        return format!(
            "CREATE SEQUENCE {}{data_type}",
            qualified(&s.schema, &s.name)
        );
    }
    format!(
        "CREATE SEQUENCE {}{data_type} {}",
        qualified(&s.schema, &s.name),
        sequence_options(s)
    )
}

fn column(c: &Column, details: Option<&RelationDetails>, identity: Option<&Sequence>) -> String {
    let mut sql = format!("    {} {}", ident(&c.name), c.data_type);
    if let Some(collation) = details
        .and_then(|d| d.collations.iter().find(|x| x.column == c.name))
        .map(|x| &x.collation)
    {
        sql.push_str(&format!(" COLLATE {collation}"));
    }
    match (&c.default, c.generated.as_deref()) {
        (Some(expr), Some(_)) => sql.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED")),
        (Some(expr), None) => sql.push_str(&format!(" DEFAULT {expr}")),
        _ => {}
    }
    if let Some(kind) = c.identity.as_deref() {
        let when = if kind == "a" { "ALWAYS" } else { "BY DEFAULT" };
        sql.push_str(&format!(" GENERATED {when} AS IDENTITY"));
        if let Some(s) = identity.filter(|s| s.increment != 0) {
            sql.push_str(&format!(
                " (SEQUENCE NAME {} {})",
                qualified(&s.schema, &s.name),
                sequence_options(s)
            ));
        }
    }
    if !c.nullable {
        sql.push_str(" NOT NULL");
    }
    sql
}

/// `CREATE TABLE` with columns and valid CHECK constraints (inherited ones too: attaching a
/// partition requires them), partition key and storage options.
pub fn table<'s>(
    t: &Table,
    details: Option<&RelationDetails>,
    identity: impl Fn(&str) -> Option<&'s Sequence>,
) -> String {
    let mut lines: Vec<String> = t
        .columns
        .iter()
        .map(|c| column(c, details, identity(&c.name)))
        .collect();
    lines.extend(
        t.constraints
            .iter()
            .filter(|c| c.kind == ConstraintKind::Check && c.validated)
            .map(|c| format!("    CONSTRAINT {} {}", ident(&c.name), c.definition)),
    );
    let unlogged = if details.is_some_and(|d| d.unlogged) {
        "UNLOGGED "
    } else {
        ""
    };
    let mut sql = format!(
        "CREATE {unlogged}TABLE {} (\n{}\n)",
        qualified(&t.schema, &t.name),
        lines.join(",\n")
    );
    if let Some(key) = details.and_then(|d| d.partition_key.as_ref()) {
        sql.push_str(&format!("\nPARTITION BY {key}"));
    }
    sql.push_str(&with_options(details));
    sql
}

fn with_options(details: Option<&RelationDetails>) -> String {
    match details.map(|d| d.options.as_slice()) {
        Some(options) if !options.is_empty() => format!("\nWITH ({})", options.join(", ")),
        _ => String::new(),
    }
}

/// `None` for a view whose definition the snapshot lacks (stored before it was read).
pub fn view(v: &View, details: Option<&RelationDetails>) -> Option<String> {
    let definition = details?.view_definition.as_deref()?;
    let definition = definition.trim_end().trim_end_matches(';');
    let name = qualified(&v.schema, &v.name);
    let options = with_options(details);
    Some(if v.materialized {
        format!("CREATE MATERIALIZED VIEW {name}{options} AS\n{definition}\n  WITH NO DATA")
    } else {
        format!("CREATE VIEW {name}{options} AS\n{definition}")
    })
}

pub fn attach_partition(t: &Table, details: Option<&RelationDetails>) -> Option<String> {
    let d = details?;
    let (schema, parent) = d.partition_parent.as_ref()?;
    Some(format!(
        "ALTER TABLE ONLY {} ATTACH PARTITION {} {}",
        qualified(schema, parent),
        qualified(&t.schema, &t.name),
        d.partition_bound.as_deref().unwrap_or("DEFAULT")
    ))
}

/// `OWNED BY` for serial-style sequences (identity sequences come with their column).
pub fn sequence_ownership(snapshot: &SchemaSnapshot) -> Vec<String> {
    snapshot
        .sequences
        .iter()
        .filter(|s| !s.identity)
        .filter_map(|s| {
            let o = s.owner.as_ref()?;
            Some(format!(
                "ALTER SEQUENCE {} OWNED BY {}.{}",
                qualified(&s.schema, &s.name),
                qualified(&o.schema, &o.table),
                ident(&o.column)
            ))
        })
        .collect()
}

/// `ALTER TABLE ONLY … ADD CONSTRAINT`, except where PostgreSQL refuses `ONLY`: foreign keys
/// and checks of a partitioned table, which its partitions must share.
pub fn add_constraint(t: &Table, c: &Constraint) -> String {
    let only = match c.kind {
        ConstraintKind::ForeignKey | ConstraintKind::Check if t.kind == TableKind::Partitioned => {
            ""
        }
        _ => "ONLY ",
    };
    format!(
        "ALTER TABLE {only}{} ADD CONSTRAINT {} {}",
        qualified(&t.schema, &t.name),
        ident(&c.name),
        c.definition
    )
}

/// The table's indexes that no constraint creates.
pub fn indexes(t: &Table) -> Vec<String> {
    let backs_constraint = |name: &str| {
        t.constraints.iter().any(|c| {
            c.name == name
                && matches!(
                    c.kind,
                    ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclusion
                )
        })
    };
    t.indexes
        .iter()
        .filter(|i| !backs_constraint(&i.name))
        .map(|i| i.definition.clone())
        .collect()
}

pub fn attach_indexes(d: &RelationDetails) -> Vec<String> {
    d.attached_indexes
        .iter()
        .map(|a| {
            format!(
                "ALTER INDEX {} ATTACH PARTITION {}",
                qualified(&a.parent_schema, &a.parent_index),
                qualified(&d.schema, &a.index)
            )
        })
        .collect()
}

pub fn triggers(snapshot: &SchemaSnapshot) -> Vec<String> {
    let mut out = Vec::new();
    for t in &snapshot.triggers {
        out.push(t.definition.clone());
        let state = match t.enabled.as_str() {
            "D" => "DISABLE",
            "R" => "ENABLE REPLICA",
            "A" => "ENABLE ALWAYS",
            _ => continue,
        };
        out.push(format!(
            "ALTER TABLE {} {state} TRIGGER {}",
            qualified(&t.schema, &t.table),
            ident(&t.name)
        ));
    }
    out
}

/// `ENABLE`/`FORCE ROW LEVEL SECURITY`, then the policies.
pub fn row_security(snapshot: &SchemaSnapshot) -> Vec<String> {
    let mut out = Vec::new();
    for d in &snapshot.relation_details {
        let name = qualified(&d.schema, &d.name);
        if d.row_security {
            out.push(format!("ALTER TABLE {name} ENABLE ROW LEVEL SECURITY"));
        }
        if d.force_row_security {
            out.push(format!("ALTER TABLE {name} FORCE ROW LEVEL SECURITY"));
        }
    }
    for p in &snapshot.policies {
        let mut sql = format!(
            "CREATE POLICY {} ON {}",
            ident(&p.name),
            qualified(&p.schema, &p.table)
        );
        if !p.permissive {
            sql.push_str(" AS RESTRICTIVE");
        }
        let roles: Vec<String> = p
            .roles
            .iter()
            .map(|r| {
                if r == "public" {
                    "PUBLIC".to_string()
                } else {
                    ident(r)
                }
            })
            .collect();
        sql.push_str(&format!(" FOR {} TO {}", p.command, roles.join(", ")));
        if let Some(using) = &p.using {
            sql.push_str(&format!(" USING ({using})"));
        }
        if let Some(check) = &p.with_check {
            sql.push_str(&format!(" WITH CHECK ({check})"));
        }
        out.push(sql);
    }
    out
}
