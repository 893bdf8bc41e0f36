//! The schema as DDL: the statements that recreate a snapshot in an empty database, for the
//! sandbox's clone.
//!
//! Order: schemas, enums, sequences, tables with their columns and defaults, then primary
//! keys and unique constraints, the other constraints (foreign keys last, so that cycles
//! between tables need no ordering), then the remaining indexes. What the snapshot does not
//! describe (views' definitions, functions, triggers) is not rendered.

use super::model::{ConstraintKind, SchemaSnapshot};

/// An identifier quoted the way `quote_ident` would when it must be.
pub fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn qname(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The statements, in dependency order, that recreate `snapshot` in an empty database.
pub fn clone_script(snapshot: &SchemaSnapshot) -> Vec<String> {
    let mut out = vec!["SET check_function_bodies = off".to_string()];
    for schema in snapshot.schemas.iter().filter(|s| *s != "public") {
        out.push(format!("CREATE SCHEMA IF NOT EXISTS {}", ident(schema)));
    }
    for e in &snapshot.enums {
        let labels: Vec<String> = e.labels.iter().map(|l| literal(l)).collect();
        out.push(format!(
            "CREATE TYPE {} AS ENUM ({})",
            qname(&e.schema, &e.name),
            labels.join(", ")
        ));
    }
    for s in &snapshot.sequences {
        out.push(format!("CREATE SEQUENCE {}", qname(&s.schema, &s.name)));
    }
    for t in &snapshot.tables {
        let columns: Vec<String> = t
            .columns
            .iter()
            .map(|c| {
                let mut col = format!("{} {}", ident(&c.name), c.data_type);
                if let Some(d) = &c.default {
                    col.push_str(&format!(" DEFAULT {d}"));
                }
                if !c.nullable {
                    col.push_str(" NOT NULL");
                }
                col
            })
            .collect();
        out.push(format!(
            "CREATE TABLE {} ({})",
            qname(&t.schema, &t.name),
            columns.join(", ")
        ));
    }
    let order = |k: ConstraintKind| match k {
        ConstraintKind::PrimaryKey | ConstraintKind::Unique => 0,
        ConstraintKind::ForeignKey => 2,
        _ => 1,
    };
    let mut constraints: Vec<(u8, String)> = Vec::new();
    for t in &snapshot.tables {
        for c in &t.constraints {
            if matches!(c.kind, ConstraintKind::NotNull | ConstraintKind::Trigger) {
                continue;
            }
            constraints.push((
                order(c.kind),
                format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} {}",
                    qname(&t.schema, &t.name),
                    ident(&c.name),
                    c.definition
                ),
            ));
        }
    }
    constraints.sort_by_key(|(k, _)| *k);
    out.extend(constraints.into_iter().map(|(_, s)| s));
    for t in &snapshot.tables {
        let owned: Vec<&String> = t.constraints.iter().map(|c| &c.name).collect();
        for i in t.indexes.iter().filter(|i| !owned.contains(&&i.name)) {
            out.push(i.definition.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_only_when_they_must_be() {
        assert_eq!(ident("orders"), "orders");
        assert_eq!(ident("Orders"), "\"Orders\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("1st"), "\"1st\"");
    }
}
