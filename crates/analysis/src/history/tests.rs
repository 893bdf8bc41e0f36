//! History-aware lint: what an earlier file created is known to a later one.

use super::*;
use crate::StatementReport;

fn parse(sql: &str) -> Vec<ParsedStatement> {
    autodb_core::sql::parse(sql).unwrap()
}

fn last(history: &mut History, sql: &str) -> StatementReport {
    history.next(&parse(sql)).statements.pop().unwrap()
}

const CREATE: &str = "CREATE TABLE accounts (id bigint PRIMARY KEY, bio varchar(1024), n int);";

#[test]
fn varchar_to_text_is_no_rewrite_when_an_earlier_file_created_the_varchar() {
    let change = "ALTER TABLE accounts ALTER COLUMN bio TYPE text;";
    let alone = crate::analyze(&parse(change), None);
    assert!(
        alone.statements[0].rewrites_table,
        "offline, the old type is unknown"
    );
    let mut history = History::new(Runner::default());
    history.next(&parse(CREATE));
    let s = last(&mut history, change);
    assert!(!s.rewrites_table, "{s:?}");
    assert!(s.risk_score < alone.risk_score);
}

#[test]
fn int_to_bigint_stays_a_rewrite_and_the_table_counts_as_unknown_size() {
    let change = "ALTER TABLE accounts ALTER COLUMN n TYPE bigint;";
    let alone = crate::analyze(&parse(change), None);
    let mut history = History::new(Runner::default());
    history.next(&parse(CREATE));
    let s = last(&mut history, change);
    assert!(s.rewrites_table);
    assert!(!history.sizes_known());
    assert_eq!(s.risk_score, alone.statements[0].risk_score);
}

#[test]
fn a_checked_domain_created_earlier_is_known_to_a_later_file() {
    let mut history = History::new(Runner::default());
    history.next(&parse(
        "CREATE DOMAIN positive AS int CHECK (VALUE > 0); CREATE TABLE t (id int);",
    ));
    let with = last(&mut history, "ALTER TABLE t ADD COLUMN p positive;");
    let alone = crate::analyze(&parse("ALTER TABLE t ADD COLUMN p positive;"), None);
    assert!(with.scans_table || with.rewrites_table, "{with:?}");
    assert!(!(alone.statements[0].scans_table || alone.statements[0].rewrites_table));
}

#[test]
fn renames_and_drops_carry_over() {
    let mut history = History::new(Runner::default());
    history.next(&parse(CREATE));
    history.next(&parse(
        "ALTER TABLE accounts RENAME COLUMN bio TO about; ALTER TABLE accounts RENAME TO users;",
    ));
    let s = last(
        &mut history,
        "ALTER TABLE users ALTER COLUMN about TYPE text;",
    );
    assert!(!s.rewrites_table);
    history.next(&parse("DROP TABLE users;"));
    assert!(history.schema().table("users").is_none());
}

#[test]
fn constraints_and_indexes_are_replayed_with_postgres_names() {
    let mut history = History::new(Runner::default());
    history.next(&parse(
        "CREATE TABLE a (id int PRIMARY KEY, email text UNIQUE);
         CREATE TABLE b (id int, a_id int REFERENCES a);
         CREATE INDEX b_a_id_idx ON b (a_id);
         ALTER TABLE b ADD CONSTRAINT b_id_check CHECK (id > 0) NOT VALID;",
    ));
    let b = history.schema().table("b").unwrap();
    let names: Vec<&str> = b.constraints.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["b_a_id_fkey", "b_id_check"]);
    assert!(!b.constraints[1].validated);
    assert_eq!(b.constraints[0].references.as_deref(), Some("a"));
    assert_eq!(b.indexes[0].name, "b_a_id_idx");
    let a = history.schema().table("a").unwrap();
    assert!(!a.column("id").unwrap().nullable);
    let idx: Vec<&str> = a.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(idx, ["a_pkey", "a_email_key"]);
}

#[test]
fn a_snapshot_with_sizes_scores_as_analyze_does() {
    let mut schema = SchemaSnapshot::default();
    let mut history = History::new(Runner::default());
    history.next(&parse(CREATE));
    schema.tables = history.schema().tables.clone();
    schema.tables[0].estimated_rows = 10;
    schema.tables[0].total_bytes = 8192;
    let change = "ALTER TABLE accounts ALTER COLUMN n TYPE bigint;";
    let mut sized = History::from_snapshot(schema.clone(), Runner::default());
    assert!(sized.sizes_known());
    let small = last(&mut sized, change);
    let analyzed = crate::analyze(&parse(change), Some(&schema));
    assert_eq!(small.risk_score, analyzed.statements[0].risk_score);
    let unknown = last(&mut history, change);
    assert!(small.risk_score < unknown.risk_score);
}

#[test]
fn a_schema_dump_is_replayed() {
    let dump = include_str!("../../../../tests/fixtures/pagila.sql");
    let history = History::from_dump(dump, Runner::default()).unwrap();
    let film = history.schema().table("film").unwrap();
    assert!(film.column("title").is_some());
    assert!(history
        .schema()
        .enums
        .iter()
        .any(|e| e.name == "mpaa_rating"));
    assert!(!history.sizes_known());
}

#[test]
fn an_observed_schema_replaces_the_replayed_one_but_keeps_the_known_sizes() {
    let mut known = History::new(Runner::default()).schema().clone();
    let mut accounts = crate::rules::testing::table("accounts", 2_000_000, &[("id", "bigint")]);
    accounts.total_bytes = 900_000_000;
    known.tables.push(accounts);
    let mut history = History::from_snapshot(known, Runner::default());

    // The sandbox's database: `accounts` with its synthetic rows and a column the replay
    // would not know (added by a function), and a table the files created.
    let mut observed = history.schema().clone();
    observed.tables[0].estimated_rows = 15;
    observed.tables[0].total_bytes = 16_384;
    observed.tables[0]
        .columns
        .push(autodb_core::schema::model::Column {
            name: "bio".into(),
            data_type: "character varying(1024)".into(),
            nullable: true,
            default: None,
            identity: None,
            generated: None,
        });
    observed.tables.push(crate::rules::testing::table(
        "audit",
        15,
        &[("id", "bigint")],
    ));
    history.observed(observed);

    let accounts = history.schema().table("accounts").unwrap();
    assert_eq!(
        (accounts.estimated_rows, accounts.total_bytes),
        (2_000_000, 900_000_000)
    );
    let audit = history.schema().table("audit").unwrap();
    assert_eq!((audit.estimated_rows, audit.total_bytes), (0, 0));
    assert!(history.sizes_known());
    // The observed column's type is what the next file is judged against.
    let s = last(
        &mut history,
        "ALTER TABLE accounts ALTER COLUMN bio TYPE text;",
    );
    assert!(!s.rewrites_table, "{s:?}");
}

/// The blast-radius graph is kept across files: each file that adds, re-creates or drops a
/// foreign key must be seen by the next one, in the cascade and in the drift scope.
#[test]
fn the_kept_graph_follows_foreign_keys_added_and_dropped_by_later_files() {
    let lock = "ALTER TABLE parents ALTER COLUMN id SET NOT NULL;";
    let cascade = |a: &Analysis| -> Vec<String> {
        a.affected_tables
            .iter()
            .filter(|t| t.impact == crate::Impact::Cascade)
            .map(|t| t.table.clone())
            .collect()
    };
    let mut history = History::new(Runner::default());
    history.next(&parse(
        "CREATE TABLE parents (id bigint PRIMARY KEY); CREATE TABLE kids (id bigint, p bigint);",
    ));
    // Builds the graph (no edges yet) and keeps it.
    let before = history.next(&parse(lock));
    assert!(cascade(&before).is_empty(), "{before:?}");
    history.next(&parse(
        "ALTER TABLE kids ADD CONSTRAINT kids_p_fkey FOREIGN KEY (p) REFERENCES parents;",
    ));
    let added = history.next(&parse(lock));
    assert_eq!(cascade(&added), ["kids"]);
    assert_eq!(added.drift_scope, ["kids", "parents"]);
    // Re-created without the key, then with it inline, then dropped.
    history.next(&parse("CREATE TABLE kids (id bigint, p bigint);"));
    assert!(cascade(&history.next(&parse(lock))).is_empty());
    history.next(&parse(
        "CREATE TABLE kids (id bigint, p bigint REFERENCES parents);",
    ));
    assert_eq!(cascade(&history.next(&parse(lock))), ["kids"]);
    history.next(&parse("DROP TABLE kids;"));
    let dropped = history.next(&parse(lock));
    assert!(cascade(&dropped).is_empty(), "{dropped:?}");
    assert_eq!(dropped.drift_scope, ["parents"]);
}

/// The blast-radius edges a history keeps across files, updated table by table, are after
/// every statement of every vendored real history the edges a rebuild from the replayed
/// schema gives.
#[test]
fn the_kept_graph_is_the_rebuilt_one_after_every_statement_of_the_real_histories() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let mut refreshed = 0;
    let histories = std::fs::read_to_string(corpus.join("histories.txt")).unwrap();
    for name in histories.lines() {
        let mut files = Vec::new();
        let mut dirs = vec![corpus.join(name)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "sql") {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut history = History::new(Runner::default());
        for file in files {
            let sql = std::fs::read_to_string(&file).unwrap();
            for stmt in autodb_core::sql::parse(&sql).unwrap() {
                history.graph.build(&history.schema);
                if matches!(
                    replay::graph_change(&history.schema, &stmt.ast),
                    replay::GraphChange::Tables(_)
                ) {
                    refreshed += 1;
                }
                history.replay(std::slice::from_ref(&stmt));
                assert!(
                    history.graph.matches(&history.schema),
                    "{}: after {}",
                    file.display(),
                    stmt.sql
                );
            }
        }
    }
    assert!(refreshed > 100, "only {refreshed} updates were checked");
}

/// The same, on the forms the corpus may not have: a table replaced, a key on itself, two
/// keys to one table, keys dropped with their column or by name.
#[test]
fn the_kept_graph_follows_replaced_tables_and_dropped_keys() {
    let mut history = History::new(Runner::default());
    for sql in [
        "CREATE TABLE a (id int PRIMARY KEY)",
        "CREATE TABLE b (id int PRIMARY KEY, a1 int REFERENCES a, a2 int REFERENCES a, \
         parent int REFERENCES b)",
        "CREATE TABLE c (id int, b_id int CONSTRAINT c_b REFERENCES b)",
        "ALTER TABLE c ADD COLUMN a_id int REFERENCES a",
        "CREATE TABLE b (id int PRIMARY KEY)",
        "ALTER TABLE c DROP CONSTRAINT c_b",
        "ALTER TABLE c DROP COLUMN a_id",
        "CREATE TABLE s.d (id int REFERENCES a, c_id int REFERENCES s.d)",
        "ALTER TABLE c ADD CONSTRAINT c_d FOREIGN KEY (id) REFERENCES s.d",
        "CREATE TABLE e (id int REFERENCES c, x int REFERENCES a); DROP TABLE IF EXISTS e, nope",
        "DROP INDEX some_index; DROP TYPE some_type",
    ] {
        history.graph.build(&history.schema);
        history.replay(&parse(sql));
        assert!(history.graph.matches(&history.schema), "after {sql}");
    }
    let graph = crate::blast::Graph::new(Some(&history.schema), &history.graph);
    // b was replaced without keys, c's key to a went with its column: only s.d is left.
    assert_eq!(graph.neighbours("a"), ["s.d"]);
    assert_eq!(graph.neighbours("c"), ["s.d"]);
}

/// What each statement may change of the graph: nothing, the edges of the tables it names,
/// or anything.
#[test]
fn graph_changes_by_statement() {
    use replay::GraphChange::{All, None as Nothing, Tables};
    let mut history = History::new(Runner::default());
    history.replay(&parse(
        "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int, a_id int REFERENCES a)",
    ));
    let change = |sql: &str| replay::graph_change(&history.schema, &parse(sql)[0].ast);
    let tables = |names: &[&str]| Tables(names.iter().map(|n| n.to_string()).collect());
    for (sql, expected) in [
        ("CREATE TABLE c (id int)", Nothing),
        ("CREATE TABLE c (id int REFERENCES a)", tables(&["c"])),
        (
            "CREATE TABLE s.b (id int, FOREIGN KEY (id) REFERENCES a)",
            tables(&["s.b"]),
        ),
        // Replaced: its keys go.
        ("CREATE TABLE b (id int)", tables(&["b"])),
        ("ALTER TABLE a ADD COLUMN x int", Nothing),
        (
            "ALTER TABLE a ADD COLUMN x int REFERENCES b",
            tables(&["a"]),
        ),
        (
            "ALTER TABLE a ADD CONSTRAINT f FOREIGN KEY (id) REFERENCES b",
            tables(&["a"]),
        ),
        ("ALTER TABLE a DROP COLUMN id", Nothing),
        ("ALTER TABLE b DROP COLUMN a_id", tables(&["b"])),
        ("ALTER TABLE b DROP CONSTRAINT b_a_id_fkey", tables(&["b"])),
        ("DROP TABLE b, s.c", tables(&["b", "s.c"])),
        ("DROP INDEX b_idx", Nothing),
        ("DROP TYPE mood", Nothing),
        ("DROP VIEW v", All),
        ("DROP MATERIALIZED VIEW m", All),
        ("CREATE VIEW v AS SELECT 1", All),
        ("ALTER TABLE b RENAME TO c", All),
        ("ALTER TABLE a RENAME TO z", Nothing),
        ("ALTER TABLE b RENAME COLUMN a_id TO x", Nothing),
    ] {
        assert_eq!(change(sql), expected, "{sql}");
    }
}

/// A history that starts from a saved snapshot knows views' dependencies: replacing or
/// dropping such a view changes the graph, and the kept edges follow.
#[test]
fn the_kept_graph_follows_views_of_a_saved_snapshot() {
    use autodb_core::schema::model::View;
    let view = |name: &str| View {
        schema: "public".into(),
        name: name.into(),
        materialized: false,
        depends_on: vec!["a".into()],
    };
    for sql in ["CREATE OR REPLACE VIEW v AS SELECT 1", "DROP VIEW v"] {
        let mut start = History::new(Runner::default());
        start.replay(&parse("CREATE TABLE a (id int)"));
        let mut schema = start.schema.clone();
        schema.views = vec![view("v"), view("w")];
        let mut history = History::from_snapshot(schema, Runner::default());
        history.graph.build(&history.schema);
        history.replay(&parse(sql));
        assert!(history.graph.matches(&history.schema), "after {sql}");
    }
}
