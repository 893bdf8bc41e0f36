//! What an execution changed: the difference between two snapshots, in the shape of the
//! status endpoint's `result`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{short_type, Column, SchemaSnapshot, Table};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDiff {
    /// Renamed (or moved to another schema) by the migration: shown as renames, not as one
    /// table lost and another gained — "orders removed" reads as data lost.
    #[serde(default)]
    pub tables_renamed: Vec<Renamed>,
    /// Columns renamed by the migration, on the table's final name.
    #[serde(default)]
    pub columns_renamed: Vec<ColumnRenamed>,
    pub tables_added: Vec<String>,
    pub tables_removed: Vec<String>,
    pub columns_added: Vec<ColumnRef>,
    pub columns_removed: Vec<ColumnRef>,
    pub columns_altered: Vec<ColumnAltered>,
    pub indexes_added: Vec<ObjectRef>,
    pub indexes_removed: Vec<ObjectRef>,
    pub constraints_added: Vec<ObjectRef>,
    pub constraints_removed: Vec<ObjectRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRef {
    pub table: String,
    pub column: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnState {
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnAltered {
    pub table: String,
    pub column: String,
    pub before: ColumnState,
    pub after: ColumnState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renamed {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRenamed {
    pub table: String,
    pub from: String,
    pub to: String,
}

/// A rename the migration's statements perform, in statement order (`super::renames`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rename {
    Table {
        from: String,
        to: String,
    },
    Column {
        table: String,
        from: String,
        to: String,
    },
}

/// An index or constraint, named with the table it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub table: String,
    pub name: String,
}

impl SchemaDiff {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn by_name(snapshot: &SchemaSnapshot) -> BTreeMap<String, &Table> {
    snapshot
        .tables
        .iter()
        .map(|t| (t.qualified_name(), t))
        .collect()
}

fn state(c: &Column) -> ColumnState {
    ColumnState {
        data_type: short_type(&c.data_type),
        nullable: c.nullable,
        default: c.default.clone(),
    }
}

/// Compares two snapshots. A table that appears or disappears is reported once, as a table;
/// its columns, indexes and constraints are not listed again.
pub fn diff(before: &SchemaSnapshot, after: &SchemaSnapshot) -> SchemaDiff {
    diff_with_renames(before, after, &[])
}

/// [`diff`], knowing the renames the migration performed: a renamed table is compared with
/// its old self under its new name, and a renamed column is reported as renamed (and as
/// altered if it also changed) instead of removed and added.
pub fn diff_with_renames(
    before: &SchemaSnapshot,
    after: &SchemaSnapshot,
    renames: &[Rename],
) -> SchemaDiff {
    let (mut old, new) = (by_name(before), by_name(after));
    // Follow table renames in order, so `a → b → c` is one rename from `a` to `c`.
    let mut chains: Vec<Vec<&String>> = Vec::new();
    for rename in renames {
        if let Rename::Table { from, to } = rename {
            match chains.iter_mut().find(|c| c.last() == Some(&from)) {
                Some(chain) => chain.push(to),
                None => chains.push(vec![from, to]),
            }
        }
    }
    let final_name: BTreeMap<String, String> = chains
        .iter()
        .filter_map(|c| Some((c.first()?.to_string(), c.last()?.to_string())))
        .collect();
    let mut tables_renamed = Vec::new();
    for (from, to) in &final_name {
        if old.contains_key(from) && new.contains_key(to) && !old.contains_key(to) {
            if let Some(table) = old.remove(from) {
                old.insert(to.clone(), table);
            }
            tables_renamed.push(Renamed {
                from: from.clone(),
                to: to.clone(),
            });
        }
    }
    let mut d = compare(&old, &new);
    d.tables_renamed = tables_renamed;
    // A column renamed under any name its table had ends up on the table's final name.
    let renamed_to = |table: &str| -> String {
        chains
            .iter()
            .find(|c| c.iter().any(|n| *n == table))
            .and_then(|c| c.last())
            .map_or_else(|| table.to_string(), |n| n.to_string())
    };
    for rename in renames {
        let Rename::Column { table, from, to } = rename else {
            continue;
        };
        let table = renamed_to(table);
        let (Some(r), Some(a)) = (
            d.columns_removed
                .iter()
                .position(|c| c.table == table && c.column == *from),
            d.columns_added
                .iter()
                .position(|c| c.table == table && c.column == *to),
        ) else {
            continue;
        };
        let (removed, added) = (d.columns_removed.remove(r), d.columns_added.remove(a));
        let (Some(was), Some(is)) = (
            old.get(&table).and_then(|t| t.column(from)),
            new.get(&table).and_then(|t| t.column(to)),
        ) else {
            continue;
        };
        if state(was) != state(is) {
            d.columns_altered.push(ColumnAltered {
                table: table.clone(),
                column: added.column.clone(),
                before: state(was),
                after: state(is),
            });
        }
        d.columns_renamed.push(ColumnRenamed {
            table,
            from: removed.column,
            to: added.column,
        });
    }
    d
}

fn compare(old: &BTreeMap<String, &Table>, new: &BTreeMap<String, &Table>) -> SchemaDiff {
    let mut d = SchemaDiff {
        tables_added: new
            .keys()
            .filter(|k| !old.contains_key(*k))
            .cloned()
            .collect(),
        tables_removed: old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .cloned()
            .collect(),
        ..SchemaDiff::default()
    };
    for (name, a) in old {
        let Some(b) = new.get(name) else { continue };
        for col in &b.columns {
            match a.column(&col.name) {
                None => d.columns_added.push(column_ref(name, col)),
                Some(prev) if state(prev) != state(col) => d.columns_altered.push(ColumnAltered {
                    table: name.clone(),
                    column: col.name.clone(),
                    before: state(prev),
                    after: state(col),
                }),
                Some(_) => {}
            }
        }
        for col in &a.columns {
            if b.column(&col.name).is_none() {
                d.columns_removed.push(column_ref(name, col));
            }
        }
        let (ai, bi) = (
            names(a.indexes.iter().map(|i| &i.name)),
            names(b.indexes.iter().map(|i| &i.name)),
        );
        d.indexes_added.extend(missing(name, &bi, &ai));
        d.indexes_removed.extend(missing(name, &ai, &bi));
        let (ac, bc) = (
            names(a.constraints.iter().map(|c| &c.name)),
            names(b.constraints.iter().map(|c| &c.name)),
        );
        d.constraints_added.extend(missing(name, &bc, &ac));
        d.constraints_removed.extend(missing(name, &ac, &bc));
    }
    d
}

fn column_ref(table: &str, col: &Column) -> ColumnRef {
    ColumnRef {
        table: table.to_string(),
        column: col.name.clone(),
        data_type: short_type(&col.data_type),
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut v: Vec<_> = it.collect();
    v.sort();
    v
}

/// The names in `from` that are not in `other`.
fn missing<'a>(
    table: &'a str,
    from: &'a [&'a String],
    other: &'a [&'a String],
) -> impl Iterator<Item = ObjectRef> + 'a {
    from.iter()
        .filter(|n| other.binary_search(n).is_err())
        .map(move |n| ObjectRef {
            table: table.to_string(),
            name: (*n).clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::super::model::{Index, TableKind};
    use super::*;

    fn col(name: &str, ty: &str) -> Column {
        Column {
            name: name.into(),
            data_type: ty.into(),
            nullable: true,
            default: None,
            identity: None,
            generated: None,
        }
    }

    fn table(name: &str, columns: Vec<Column>, indexes: &[&str]) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            kind: TableKind::Regular,
            columns,
            indexes: indexes
                .iter()
                .map(|n| Index {
                    name: (*n).into(),
                    definition: String::new(),
                    unique: false,
                    primary: false,
                    valid: true,
                })
                .collect(),
            constraints: vec![],
            estimated_rows: 0,
            total_bytes: 0,
            partition_of: None,
            inherits: vec![],
        }
    }

    fn snap(tables: Vec<Table>) -> SchemaSnapshot {
        SchemaSnapshot {
            schemas: vec!["public".into()],
            tables,
            ..Default::default()
        }
    }

    #[test]
    fn reports_tables_columns_and_indexes() {
        let before = snap(vec![
            table(
                "users",
                vec![col("id", "integer"), col("nick", "text")],
                &["users_pkey"],
            ),
            table("old", vec![col("id", "integer")], &[]),
        ]);
        let after = snap(vec![
            table(
                "users",
                vec![col("id", "bigint"), col("email", "character varying(20)")],
                &["users_pkey", "users_email_idx"],
            ),
            table("audit", vec![col("id", "integer")], &[]),
        ]);
        let d = diff(&before, &after);
        assert_eq!(d.tables_added, vec!["audit"]);
        assert_eq!(d.tables_removed, vec!["old"]);
        assert_eq!(
            d.columns_added,
            vec![ColumnRef {
                table: "users".into(),
                column: "email".into(),
                data_type: "varchar(20)".into()
            }]
        );
        assert_eq!(d.columns_removed[0].column, "nick");
        assert_eq!(d.columns_altered[0].before.data_type, "integer");
        assert_eq!(d.columns_altered[0].after.data_type, "bigint");
        assert_eq!(d.indexes_added[0].name, "users_email_idx");
        assert!(d.indexes_removed.is_empty());
    }

    #[test]
    fn identical_snapshots_have_an_empty_diff() {
        let s = snap(vec![table("t", vec![col("id", "integer")], &["t_pkey"])]);
        assert!(diff(&s, &s).is_empty());
    }

    #[test]
    fn renames_read_as_renames() {
        let snap = |tables: Vec<Table>| SchemaSnapshot {
            tables,
            ..Default::default()
        };
        let before = snap(vec![table("a", vec![col("price", "integer")], &[])]);
        let after = snap(vec![table("c", vec![col("amount", "bigint")], &[])]);
        let renames = [
            Rename::Table {
                from: "a".into(),
                to: "b".into(),
            },
            Rename::Column {
                table: "b".into(),
                from: "price".into(),
                to: "amount".into(),
            },
            Rename::Table {
                from: "b".into(),
                to: "c".into(),
            },
        ];
        let d = diff_with_renames(&before, &after, &renames);
        assert_eq!(
            d.tables_renamed,
            vec![Renamed {
                from: "a".into(),
                to: "c".into()
            }]
        );
        assert!(d.tables_added.is_empty() && d.tables_removed.is_empty());
        assert_eq!(
            d.columns_renamed,
            vec![ColumnRenamed {
                table: "c".into(),
                from: "price".into(),
                to: "amount".into()
            }]
        );
        assert!(d.columns_added.is_empty() && d.columns_removed.is_empty());
        assert_eq!(d.columns_altered.len(), 1, "renamed and retyped");
        assert_eq!(d.columns_altered[0].column, "amount");
        // Without the statements' renames, the same snapshots read as a loss and a gain.
        let blind = diff(&before, &after);
        assert_eq!(blind.tables_removed, vec!["a"]);
        assert_eq!(blind.tables_added, vec!["c"]);
    }
}
