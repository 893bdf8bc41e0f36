use std::collections::BTreeMap;

use super::*;
use crate::schema::model::{
    Column, ColumnRef, Constraint, Function, FunctionKind, Index, IndexAttachment, Sequence, Table,
    View,
};

fn column(name: &str, data_type: &str, nullable: bool) -> Column {
    Column {
        name: name.into(),
        data_type: data_type.into(),
        nullable,
        default: None,
        identity: None,
        generated: None,
    }
}

fn constraint(name: &str, kind: ConstraintKind, definition: &str) -> Constraint {
    Constraint {
        name: name.into(),
        kind,
        definition: definition.into(),
        columns: vec![],
        validated: true,
        references: None,
        on_delete: None,
    }
}

fn table(schema: &str, name: &str, columns: Vec<Column>, constraints: Vec<Constraint>) -> Table {
    Table {
        schema: schema.into(),
        name: name.into(),
        kind: TableKind::Regular,
        columns,
        indexes: vec![],
        constraints,
        estimated_rows: 0,
        total_bytes: 0,
        partition_of: None,
        inherits: vec![],
    }
}

fn details(schema: &str, name: &str) -> RelationDetails {
    RelationDetails {
        schema: schema.into(),
        name: name.into(),
        ..Default::default()
    }
}

/// Two tables whose foreign keys point at each other, a mixed-case schema and table, an
/// identity column, a partitioned table with one partition and an attached index, a view on
/// a view, and a function returning `SETOF` a table.
fn sample() -> SchemaSnapshot {
    let pk = |n: &str| constraint(n, ConstraintKind::PrimaryKey, "PRIMARY KEY (id)");
    let mut a = table(
        "public",
        "a",
        vec![
            column("id", "integer", false),
            column("b_id", "integer", true),
        ],
        vec![
            pk("a_pkey"),
            constraint(
                "a_b_fk",
                ConstraintKind::ForeignKey,
                "FOREIGN KEY (b_id) REFERENCES \"Sales\".\"B\"(id)",
            ),
            constraint("a_id_check", ConstraintKind::Check, "CHECK ((id > 0))"),
        ],
    );
    a.columns[0].identity = Some("a".into());
    let b = table(
        "Sales",
        "B",
        vec![
            column("id", "integer", false),
            column("a_id", "integer", true),
        ],
        vec![
            pk("B_pkey"),
            constraint(
                "b_a_fk",
                ConstraintKind::ForeignKey,
                "FOREIGN KEY (a_id) REFERENCES public.a(id)",
            ),
        ],
    );
    let mut events = table(
        "public",
        "events",
        vec![column("at", "date", false)],
        vec![],
    );
    events.kind = TableKind::Partitioned;
    events.indexes.push(Index {
        name: "events_at_idx".into(),
        definition: "CREATE INDEX events_at_idx ON ONLY public.events USING btree (at)".into(),
        unique: false,
        primary: false,
        valid: true,
    });
    let mut events_2024 = table("public", "events_2024", events.columns.clone(), vec![]);
    events_2024.partition_of = Some("events".into());
    events_2024.indexes.push(Index {
        name: "events_2024_at_idx".into(),
        definition: "CREATE INDEX events_2024_at_idx ON public.events_2024 USING btree (at)".into(),
        unique: false,
        primary: false,
        valid: true,
    });
    let view = |name: &str| View {
        schema: "public".into(),
        name: name.into(),
        materialized: false,
        depends_on: vec![],
    };
    let mut relation_details = vec![
        RelationDetails {
            partition_key: Some("RANGE (at)".into()),
            ..details("public", "events")
        },
        RelationDetails {
            partition_bound: Some("FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')".into()),
            partition_parent: Some(("public".into(), "events".into())),
            attached_indexes: vec![IndexAttachment {
                index: "events_2024_at_idx".into(),
                parent_schema: "public".into(),
                parent_index: "events_at_idx".into(),
            }],
            ..details("public", "events_2024")
        },
        RelationDetails {
            view_definition: Some(" SELECT id FROM v_base;".into()),
            ..details("public", "v_top")
        },
        RelationDetails {
            view_definition: Some(" SELECT id FROM a;".into()),
            ..details("public", "v_base")
        },
    ];
    relation_details.reverse();
    SchemaSnapshot {
        schemas: vec!["Sales".into(), "public".into()],
        tables: vec![a, b, events, events_2024],
        views: vec![view("v_top"), view("v_base")],
        sequences: vec![Sequence {
            schema: "public".into(),
            name: "a_id_seq".into(),
            owned_by: Some("public.a.id".into()),
            owner: Some(ColumnRef {
                schema: "public".into(),
                table: "a".into(),
                column: "id".into(),
            }),
            identity: true,
            data_type: "integer".into(),
            start: 1,
            increment: 1,
            min: 1,
            max: 2147483647,
            cache: 1,
            cycle: false,
        }],
        functions: vec![Function {
            schema: "public".into(),
            name: "all_a".into(),
            arguments: String::new(),
            kind: FunctionKind::Function,
            definition: "CREATE OR REPLACE FUNCTION public.all_a()\n RETURNS SETOF a\n LANGUAGE sql\nAS $function$ SELECT * FROM a $function$\n".into(),
        }],
        search_path: vec!["public".into()],
        relation_details,
        dependencies: BTreeMap::from([
            ("public.all_a()".into(), vec!["public.a".into()]),
            ("public.v_top".into(), vec!["public.v_base".into()]),
            ("public.v_base".into(), vec!["public.a".into()]),
        ]),
        ..Default::default()
    }
}

fn position(script: &[String], starts_with: &str) -> usize {
    script
        .iter()
        .position(|s| s.starts_with(starts_with))
        .unwrap_or_else(|| panic!("no statement starts with {starts_with:?} in {script:#?}"))
}

#[test]
fn renders_the_sample_schema() {
    insta::assert_snapshot!(clone_script(&sample()).join(";\n\n"));
}

#[test]
fn foreign_keys_that_form_a_cycle_come_after_both_tables() {
    let script = clone_script(&sample());
    let last_table = position(&script, "CREATE TABLE \"Sales\".\"B\"")
        .max(position(&script, "CREATE TABLE public.a"));
    assert!(position(&script, "ALTER TABLE ONLY public.a ADD CONSTRAINT a_b_fk") > last_table);
    assert!(
        position(
            &script,
            "ALTER TABLE ONLY \"Sales\".\"B\" ADD CONSTRAINT b_a_fk"
        ) > last_table
    );
}

#[test]
fn dependencies_order_functions_and_views_after_what_they_use() {
    let script = clone_script(&sample());
    let table_a = position(&script, "CREATE TABLE public.a");
    assert!(position(&script, "CREATE OR REPLACE FUNCTION public.all_a") > table_a);
    assert!(position(&script, "CREATE VIEW public.v_base") > table_a);
    assert!(
        position(&script, "CREATE VIEW public.v_top")
            > position(&script, "CREATE VIEW public.v_base")
    );
}

#[test]
fn partitions_attach_before_their_indexes_are_attached() {
    let script = clone_script(&sample());
    let attach = position(&script, "ALTER TABLE ONLY public.events ATTACH PARTITION");
    let parent_index = position(&script, "CREATE INDEX events_at_idx ON ONLY");
    let child_index = position(&script, "CREATE INDEX events_2024_at_idx");
    let index_attach = position(&script, "ALTER INDEX public.events_at_idx ATTACH PARTITION");
    assert!(attach < parent_index && parent_index < index_attach && child_index < index_attach);
}

#[test]
fn identity_sequences_come_with_their_column_not_alone() {
    let script = clone_script(&sample());
    assert!(!script.iter().any(|s| s.starts_with("CREATE SEQUENCE")));
    assert!(!script.iter().any(|s| s.contains("OWNED BY")));
    assert!(script[position(&script, "CREATE TABLE public.a")]
        .contains("GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME public.a_id_seq START WITH 1"));
}

#[test]
fn session_settings_come_first_and_no_transaction_control_is_emitted() {
    let script = clone_script(&sample());
    assert_eq!(script[0], "SET check_function_bodies = false");
    assert!(script
        .iter()
        .any(|s| s == "SELECT pg_catalog.set_config('search_path', 'public', false)"));
    assert!(!script
        .iter()
        .any(|s| s.starts_with("BEGIN") || s.starts_with("COMMIT")));
    assert_eq!(position(&script, "CREATE SCHEMA"), 3);
    assert!(!script.iter().any(|s| s == "CREATE SCHEMA public"));
}

#[test]
fn serial_sequences_are_created_before_tables_and_owned_after() {
    let mut snap = sample();
    snap.sequences[0].identity = false;
    snap.tables[0].columns[0].identity = None;
    snap.tables[0].columns[0].default = Some("nextval('a_id_seq'::regclass)".into());
    let script = clone_script(&snap);
    let create = position(
        &script,
        "CREATE SEQUENCE public.a_id_seq AS integer START WITH 1",
    );
    let table = position(&script, "CREATE TABLE public.a");
    let owned = position(
        &script,
        "ALTER SEQUENCE public.a_id_seq OWNED BY public.a.id",
    );
    assert!(create < table && table < owned);
}

#[test]
fn comments_on_constraints_name_their_table() {
    let mut snap = SchemaSnapshot::default();
    snap.comments.push(crate::schema::model::Comment {
        object_type: "table constraint".into(),
        identity: "\"odd on name\" on public.t".into(),
        text: "it's checked".into(),
    });
    snap.comments.push(crate::schema::model::Comment {
        object_type: "table column".into(),
        identity: "public.t.c".into(),
        text: "a column".into(),
    });
    let script = clone_script(&snap);
    assert!(script.contains(
        &"COMMENT ON CONSTRAINT \"odd on name\" ON public.t IS 'it''s checked'".to_string()
    ));
    assert!(script.contains(&"COMMENT ON COLUMN public.t.c IS 'a column'".to_string()));
}
