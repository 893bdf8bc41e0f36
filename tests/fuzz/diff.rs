//! The schema diff (issue 22, "Hostile input at the edge"): whatever two snapshots and
//! whatever renames a migration's statements claim — renames of tables that do not exist,
//! chains, cycles, a rename onto a name that exists — the diff never panics or hangs, a
//! snapshot compared with itself shows no change, and without renames the tables it reports
//! added and removed are exactly the set differences of the two snapshots' names.

use std::collections::BTreeSet;

use autodb_core::schema::diff::{diff, diff_with_renames, Rename};
use autodb_core::schema::model::{
    Column, Constraint, ConstraintKind, Index, SchemaSnapshot, Table, TableKind,
};
use proptest::prelude::*;

/// Names from a small alphabet, so that two snapshots share many of them.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("orders".to_string()),
        Just("Mixed Case".to_string()),
        "[a-c]{1,2}",
    ]
}

fn column() -> impl Strategy<Value = Column> {
    (
        name(),
        prop_oneof![Just("integer"), Just("text"), Just("character varying(20)")],
        any::<bool>(),
        proptest::option::of(Just("0".to_string())),
    )
        .prop_map(|(name, data_type, nullable, default)| Column {
            name,
            data_type: data_type.to_string(),
            nullable,
            default,
            identity: None,
            generated: None,
        })
}

fn table(schemas: &'static [&'static str]) -> impl Strategy<Value = Table> {
    (
        prop::sample::select(schemas),
        name(),
        prop::collection::vec(column(), 0..4),
        prop::collection::vec(name(), 0..3),
        prop::collection::vec((name(), name()), 0..3),
    )
        .prop_map(|(schema, name, mut columns, indexes, constraints)| Table {
            schema: schema.to_string(),
            name: name.clone(),
            kind: TableKind::Regular,
            // A table's column names are unique (PostgreSQL's rule); index and constraint
            // names may repeat here, which a server would refuse, and the diff must bear.
            columns: {
                let mut seen = BTreeSet::new();
                columns.retain(|c| seen.insert(c.name.clone()));
                columns
            },
            indexes: indexes
                .into_iter()
                .map(|i| Index {
                    name: i.clone(),
                    definition: format!("CREATE INDEX {i} ON {name} (id)"),
                    unique: false,
                    primary: false,
                    valid: true,
                })
                .collect(),
            constraints: constraints
                .into_iter()
                .map(|(c, references)| Constraint {
                    name: c,
                    kind: ConstraintKind::ForeignKey,
                    definition: format!("FOREIGN KEY (id) REFERENCES {references}(id)"),
                    columns: vec!["id".into()],
                    validated: true,
                    references: Some(references),
                    on_delete: Some("a".into()),
                })
                .collect(),
            estimated_rows: 0,
            total_bytes: 0,
            partition_of: None,
            inherits: vec![],
        })
}

fn snapshot(schemas: &'static [&'static str]) -> impl Strategy<Value = SchemaSnapshot> {
    prop::collection::vec(table(schemas), 0..6).prop_map(|tables| SchemaSnapshot {
        schemas: vec!["public".into()],
        tables,
        ..SchemaSnapshot::default()
    })
}

fn rename() -> impl Strategy<Value = Rename> {
    prop_oneof![
        (name(), name()).prop_map(|(from, to)| Rename::Table { from, to }),
        (name(), name(), name()).prop_map(|(table, from, to)| Rename::Column { table, from, to }),
    ]
}

/// The names a snapshot's diff shows its tables by (bare in `public`).
fn names(s: &SchemaSnapshot) -> BTreeSet<String> {
    s.tables.iter().map(Table::qualified_name).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(super::cases()))]

    #[test]
    fn any_two_snapshots_and_renames_diff_without_panicking(
        before in snapshot(&["public", "app"]),
        after in snapshot(&["public", "app"]),
        renames in prop::collection::vec(rename(), 0..6),
    ) {
        let d = diff_with_renames(&before, &after, &renames);
        // Everything reported names a table of one of the two snapshots.
        let known: BTreeSet<String> = names(&before).union(&names(&after)).cloned().collect();
        for t in d.tables_added.iter().chain(&d.tables_removed) {
            prop_assert!(known.contains(t), "{t} is in neither snapshot");
        }
    }

    #[test]
    fn a_snapshot_compared_with_itself_shows_no_change(s in snapshot(&["public", "app"])) {
        let mut unique = s.clone();
        let mut seen = BTreeSet::new();
        unique.tables.retain(|t| seen.insert(t.qualified_name()));
        let d = diff(&unique, &unique);
        prop_assert_eq!(serde_json::to_value(&d).unwrap(), serde_json::to_value(diff(
            &SchemaSnapshot::default(), &SchemaSnapshot::default())).unwrap());
    }

    #[test]
    fn tables_added_and_removed_are_the_name_differences(
        before in snapshot(&["public"]),
        after in snapshot(&["public"]),
    ) {
        let d = diff(&before, &after);
        let (b, a) = (names(&before), names(&after));
        let added: BTreeSet<String> = d.tables_added.iter().cloned().collect();
        let removed: BTreeSet<String> = d.tables_removed.iter().cloned().collect();
        prop_assert_eq!(added, a.difference(&b).cloned().collect::<BTreeSet<_>>());
        prop_assert_eq!(removed, b.difference(&a).cloned().collect::<BTreeSet<_>>());
    }
}
