//! The lock catalog's cases as data, so that two tests read one table: the catalog's unit
//! tests (`tests.rs`) check that the analysis of each statement over [`snapshot`] claims
//! exactly the case's lock, tables and flags, and the API test `catalog_cases_vs_server`
//! runs each statement on PostgreSQL over [`SCHEMA`] and checks that the server does what
//! the case claims. A case kept in one place cannot drift from the other.
//!
//! A case is `(sql, mode, locked tables, flags)`; the last statement of `sql` is checked.
//! Flags: `R` rewrites, `S` scans, `D` destructive, `N` cannot run in a transaction,
//! `W` blocks writes, `B` blocks reads, `?` unknown to the catalog.

use autodb_core::schema::model::{Column, Constraint, ConstraintKind, Index, Table, TableKind};
use autodb_core::schema::SchemaSnapshot;

/// `(sql, mode, locked tables, flags)`.
pub type Case = (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

/// Every case table, by the name of the unit test that checks it.
pub const GROUPS: &[(&str, &[Case])] = &[
    ("alter_table_columns", ALTER_TABLE_COLUMNS),
    ("alter_table_types", ALTER_TABLE_TYPES),
    ("alter_table_constraints", ALTER_TABLE_CONSTRAINTS),
    ("alter_table_table_level", ALTER_TABLE_TABLE_LEVEL),
    ("partitions", PARTITIONS),
    ("indexes", INDEXES),
    ("tables_views_and_types", TABLES_VIEWS_AND_TYPES),
    ("triggers_and_rules", TRIGGERS_AND_RULES),
    ("maintenance_and_locks", MAINTENANCE_AND_LOCKS),
    ("dml", DML),
    ("session_and_unknown", SESSION_AND_UNKNOWN),
    ("roles_databases_and_servers", ROLES_DATABASES_AND_SERVERS),
];

/// The tables of [`snapshot`] as DDL. PostgreSQL needs what the snapshot leaves out: the
/// columns its foreign keys are on and a unique index on each table they reference.
pub const SCHEMA: &str = "
CREATE TABLE customers (id bigint PRIMARY KEY);
CREATE TABLE orders (id integer, note character varying(20),
    customer_id bigint CONSTRAINT orders_customer_id_fkey REFERENCES customers (id));
CREATE UNIQUE INDEX orders_id_idx ON orders (id);
CREATE INDEX orders_note_idx ON orders (note);
CREATE TABLE order_items (id bigint,
    order_id integer CONSTRAINT order_items_order_id_fkey REFERENCES orders (id));
";

/// customers ← orders ← order_items, with the sizes of a busy shop: the schema the cases
/// are analyzed over.
pub fn snapshot() -> SchemaSnapshot {
    let mut orders = table(
        "orders",
        1_000_000,
        &[("id", "integer"), ("note", "character varying(20)")],
    );
    orders.constraints.push(foreign_key(
        "orders_customer_id_fkey",
        "customer_id",
        "customers",
    ));
    orders.indexes.push(Index {
        name: "orders_note_idx".into(),
        definition: "CREATE INDEX orders_note_idx ON orders (note)".into(),
        unique: false,
        primary: false,
        valid: true,
    });
    let mut items = table("order_items", 5_000_000, &[("id", "bigint")]);
    items.constraints.push(foreign_key(
        "order_items_order_id_fkey",
        "order_id",
        "orders",
    ));
    SchemaSnapshot {
        schemas: vec!["public".into()],
        tables: vec![
            table("customers", 50_000, &[("id", "bigint")]),
            orders,
            items,
        ],
        ..Default::default()
    }
}

/// A table of `public` with nullable `columns`, as `(name, format_type)` (the rule tests'
/// snapshots use it too).
pub(crate) fn table(name: &str, rows: i64, columns: &[(&str, &str)]) -> Table {
    Table {
        schema: "public".into(),
        name: name.into(),
        kind: TableKind::Regular,
        columns: columns
            .iter()
            .map(|(n, t)| Column {
                name: (*n).into(),
                data_type: (*t).into(),
                nullable: true,
                default: None,
                identity: None,
                generated: None,
            })
            .collect(),
        indexes: vec![],
        constraints: vec![],
        estimated_rows: rows,
        total_bytes: rows * 120,
        partition_of: None,
        inherits: vec![],
    }
}

/// A validated foreign key on `column` to `references (id)`.
fn foreign_key(name: &str, column: &str, references: &str) -> Constraint {
    Constraint {
        name: name.into(),
        kind: ConstraintKind::ForeignKey,
        definition: format!("FOREIGN KEY ({column}) REFERENCES {references}(id)"),
        columns: vec![column.into()],
        validated: true,
        references: Some(references.into()),
        on_delete: Some("a".into()),
    }
}

const AE: Option<&str> = Some("ACCESS EXCLUSIVE");
const SUE: Option<&str> = Some("SHARE UPDATE EXCLUSIVE");
const SRE: Option<&str> = Some("SHARE ROW EXCLUSIVE");
const SHARE: Option<&str> = Some("SHARE");
const RX: Option<&str> = Some("ROW EXCLUSIVE");

pub const ALTER_TABLE_COLUMNS: &[Case] = &[
    ("ALTER TABLE orders ADD COLUMN a text", AE, "orders", "WB"),
    (
        "ALTER TABLE orders ADD COLUMN a text DEFAULT 'x'",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ADD COLUMN a timestamptz DEFAULT now()",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ADD COLUMN a float8 DEFAULT random()",
        AE,
        "orders",
        "RWB",
    ),
    (
        "ALTER TABLE orders ADD COLUMN a bigserial",
        AE,
        "orders",
        "RWB",
    ),
    (
        "ALTER TABLE orders ADD COLUMN a bigint GENERATED BY DEFAULT AS IDENTITY",
        AE,
        "orders",
        "RWB",
    ),
    (
        "ALTER TABLE orders ADD COLUMN a int GENERATED ALWAYS AS (id * 2) STORED",
        AE,
        "orders",
        "RWB",
    ),
    (
        "ALTER TABLE orders ADD COLUMN a int GENERATED ALWAYS AS (id * 2) VIRTUAL",
        AE,
        "orders",
        "WB",
    ),
    (
        "CREATE DOMAIN pos AS int CHECK (VALUE > 0); ALTER TABLE orders ADD COLUMN a pos",
        AE,
        "orders",
        "RWB",
    ),
    (
        "CREATE DOMAIN lbl AS text; ALTER TABLE orders ADD COLUMN a lbl",
        AE,
        "orders",
        "WB",
    ),
    // A new column's CHECK is checked against every existing row.
    (
        "ALTER TABLE orders ADD COLUMN a integer CHECK (a > 0)",
        AE,
        "orders",
        "SWB",
    ),
    // Required without a default: the table is read to check it has no rows.
    (
        "ALTER TABLE orders ADD COLUMN r text NOT NULL",
        AE,
        "orders",
        "SWB",
    ),
    (
        "ALTER TABLE orders ADD COLUMN r text NOT NULL DEFAULT 'x'",
        AE,
        "orders",
        "WB",
    ),
    // All nulls, which the foreign key never rejects: validated without a scan.
    (
        "ALTER TABLE orders ADD COLUMN c bigint REFERENCES customers (id)",
        AE,
        "orders,customers",
        "WB",
    ),
    (
        "ALTER TABLE orders ADD COLUMN c bigint DEFAULT 1 REFERENCES customers (id)",
        AE,
        "orders,customers",
        "SWB",
    ),
    ("ALTER TABLE orders DROP COLUMN note", AE, "orders", "DWB"),
    (
        "ALTER TABLE orders ALTER COLUMN note SET DEFAULT 'x'",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note DROP DEFAULT",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note SET NOT NULL",
        AE,
        "orders",
        "SWB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note DROP NOT NULL",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN g SET EXPRESSION AS (id + 1)",
        AE,
        "orders",
        "RWB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN g DROP EXPRESSION",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note SET STATISTICS 500",
        SUE,
        "orders",
        "",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note SET (n_distinct = 100)",
        SUE,
        "orders",
        "",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note SET STORAGE EXTERNAL",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note SET COMPRESSION lz4",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN id DROP IDENTITY",
        AE,
        "orders",
        "WB",
    ),
];

pub const ALTER_TABLE_TYPES: &[Case] = &[
    (
        "ALTER TABLE orders ALTER COLUMN id TYPE bigint",
        AE,
        "orders",
        "RWB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note TYPE text",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note TYPE varchar(40)",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note TYPE varchar(10)",
        AE,
        "orders",
        "RWB",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN note TYPE text USING trim(note)",
        AE,
        "orders",
        "RWB",
    ),
    // Unknown column: assumed to rewrite.
    (
        "ALTER TABLE orders ALTER COLUMN nope TYPE text",
        AE,
        "orders",
        "RWB",
    ),
];

pub const ALTER_TABLE_CONSTRAINTS: &[Case] = &[
    (
        "ALTER TABLE orders ADD CONSTRAINT c CHECK (id > 0)",
        AE,
        "orders",
        "SWB",
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT c CHECK (id > 0) NOT VALID",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT n NOT NULL note NOT VALID",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES customers (id)",
        SRE,
        "orders,customers",
        "SW",
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES customers (id) NOT VALID",
        SRE,
        "orders,customers",
        "W",
    ),
    (
        "ALTER TABLE orders VALIDATE CONSTRAINT f",
        SUE,
        "orders",
        "S",
    ),
    (
        "ALTER TABLE orders ADD PRIMARY KEY (id)",
        AE,
        "orders",
        "SWB",
    ),
    // The primary key makes `id` NOT NULL: PostgreSQL reads every row to check it.
    (
        "ALTER TABLE orders ADD CONSTRAINT pk PRIMARY KEY USING INDEX orders_id_idx",
        AE,
        "orders",
        "SWB",
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT u UNIQUE USING INDEX orders_note_idx",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT u UNIQUE (note)",
        AE,
        "orders",
        "SWB",
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT x EXCLUDE USING gist (note WITH =)",
        AE,
        "orders",
        "SWB",
    ),
    // Dropping a foreign key also locks the referenced table (its triggers live there).
    (
        "ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey",
        AE,
        "orders,customers",
        "WB",
    ),
    ("ALTER TABLE orders DROP CONSTRAINT c", AE, "orders", "WB"),
    (
        "ALTER TABLE orders ALTER CONSTRAINT f DEFERRABLE",
        AE,
        "orders",
        "WB",
    ),
];

pub const ALTER_TABLE_TABLE_LEVEL: &[Case] = &[
    ("ALTER TABLE orders SET LOGGED", AE, "orders", "RWB"),
    ("ALTER TABLE orders SET UNLOGGED", AE, "orders", "RWB"),
    (
        "ALTER TABLE orders SET TABLESPACE fast",
        AE,
        "orders",
        "RWB",
    ),
    (
        "ALTER TABLE orders SET ACCESS METHOD heap2",
        AE,
        "orders",
        "RWB",
    ),
    (
        "ALTER TABLE orders SET (fillfactor = 70)",
        SUE,
        "orders",
        "",
    ),
    (
        "ALTER TABLE orders SET (autovacuum_enabled = false)",
        SUE,
        "orders",
        "",
    ),
    ("ALTER VIEW v SET (security_barrier = true)", AE, "v", "WB"),
    (
        "ALTER TABLE orders CLUSTER ON orders_note_idx",
        SUE,
        "orders",
        "",
    ),
    ("ALTER TABLE orders SET WITHOUT CLUSTER", SUE, "orders", ""),
    ("ALTER TABLE orders DISABLE TRIGGER ALL", SRE, "orders", "W"),
    ("ALTER TABLE orders ENABLE TRIGGER t", SRE, "orders", "W"),
    ("ALTER TABLE orders ENABLE RULE r", AE, "orders", "WB"),
    (
        "ALTER TABLE orders ENABLE ROW LEVEL SECURITY",
        AE,
        "orders",
        "WB",
    ),
    (
        "ALTER TABLE orders REPLICA IDENTITY FULL",
        AE,
        "orders",
        "WB",
    ),
    ("ALTER TABLE orders OWNER TO app", AE, "orders", "WB"),
    ("ALTER TABLE orders INHERIT base", AE, "orders,base", "WB"),
    (
        "ALTER TABLE orders NO INHERIT base",
        AE,
        "orders,base",
        "WB",
    ),
    ("ALTER TABLE orders OF order_type", AE, "orders", "WB"),
    ("ALTER TABLE orders NOT OF", AE, "orders", "WB"),
    ("ALTER TABLE orders RENAME TO purchases", AE, "orders", "WB"),
    (
        "ALTER TABLE orders RENAME COLUMN note TO memo",
        AE,
        "orders",
        "WB",
    ),
    ("ALTER TABLE orders SET SCHEMA archive", AE, "orders", "WB"),
    (
        "ALTER INDEX orders_note_idx RENAME TO n_idx",
        SUE,
        "orders",
        "",
    ),
    (
        "ALTER INDEX orders_note_idx SET TABLESPACE fast",
        AE,
        "orders",
        "RWB",
    ),
];

pub const PARTITIONS: &[Case] = &[
    ("ALTER TABLE m ATTACH PARTITION m_2024 FOR VALUES FROM (1) TO (2)", AE, "m,m_2024", "SWB"),
    // The bound is proven only by a validated CHECK (the key's IS NOT NULL included).
    ("ALTER TABLE m_2024 ADD CONSTRAINT b CHECK (k IS NOT NULL AND k >= 1 AND k < 2) NOT VALID; ALTER TABLE m ATTACH PARTITION m_2024 FOR VALUES FROM (1) TO (2)", AE, "m,m_2024", "SWB"),
    ("ALTER TABLE m_2024 ADD CONSTRAINT b CHECK (k IS NOT NULL AND k >= 1 AND k < 2) NOT VALID; ALTER TABLE m_2024 VALIDATE CONSTRAINT b; ALTER TABLE m ATTACH PARTITION m_2024 FOR VALUES FROM (1) TO (2)", AE, "m,m_2024", "WB"),
    ("ALTER TABLE m DETACH PARTITION m_2020", AE, "m,m_2020", "WB"),
    ("ALTER TABLE m DETACH PARTITION m_2020 CONCURRENTLY", SUE, "m,m_2020", "N"),
    ("ALTER TABLE m DETACH PARTITION m_2020 FINALIZE", SUE, "m", ""),
    ("CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM (2) TO (3)", AE, "m", "WB"),
    // ON ONLY a partitioned table: an invalid index in the parent's catalog, nothing built.
    ("CREATE TABLE p (k int) PARTITION BY RANGE (k); CREATE TABLE p_1 PARTITION OF p FOR VALUES FROM (0) TO (10); CREATE INDEX p_k ON ONLY p (k)", SHARE, "p", "W"),
];

pub const INDEXES: &[Case] = &[
    ("CREATE INDEX i ON orders (note)", SHARE, "orders", "SW"),
    (
        "CREATE UNIQUE INDEX i ON orders (note)",
        SHARE,
        "orders",
        "SW",
    ),
    (
        "CREATE INDEX CONCURRENTLY i ON orders (note)",
        SUE,
        "orders",
        "SN",
    ),
    ("DROP INDEX orders_note_idx", AE, "orders", "WB"),
    (
        "DROP INDEX CONCURRENTLY orders_note_idx",
        SUE,
        "orders",
        "N",
    ),
    ("REINDEX INDEX orders_note_idx", SHARE, "orders", "SWB"),
    ("REINDEX TABLE orders", SHARE, "orders", "SWB"),
    (
        "REINDEX INDEX CONCURRENTLY orders_note_idx",
        SUE,
        "orders",
        "SN",
    ),
    ("REINDEX (CONCURRENTLY) TABLE orders", SUE, "orders", "SN"),
    (
        "CREATE TABLE t (a int); CREATE INDEX ti ON t (a)",
        SHARE,
        "t",
        "SW",
    ),
];

pub const TABLES_VIEWS_AND_TYPES: &[Case] = &[
    ("CREATE TABLE t (id bigint)", None, "", ""),
    (
        "CREATE TABLE t (c bigint REFERENCES customers (id))",
        SRE,
        "customers",
        "W",
    ),
    (
        "CREATE TABLE t (c bigint, FOREIGN KEY (c) REFERENCES customers (id))",
        SRE,
        "customers",
        "W",
    ),
    (
        "CREATE TABLE t AS SELECT * FROM orders",
        Some("ACCESS SHARE"),
        "orders",
        "S",
    ),
    ("DROP TABLE orders", AE, "orders,customers", "DWB"),
    (
        "DROP TABLE orders CASCADE",
        AE,
        "orders,customers,order_items",
        "DWB",
    ),
    (
        "CREATE VIEW v AS SELECT * FROM orders",
        Some("ACCESS SHARE"),
        "orders",
        "",
    ),
    ("CREATE OR REPLACE VIEW v AS SELECT 1", AE, "v", "WB"),
    ("DROP VIEW v", AE, "v", "WB"),
    (
        "CREATE MATERIALIZED VIEW mv AS SELECT * FROM orders",
        Some("ACCESS SHARE"),
        "orders",
        "S",
    ),
    (
        "CREATE MATERIALIZED VIEW mv AS SELECT * FROM orders WITH NO DATA",
        Some("ACCESS SHARE"),
        "orders",
        "",
    ),
    // A new heap is filled and swapped in (its relfilenode changes).
    ("REFRESH MATERIALIZED VIEW mv", AE, "mv", "RSWB"),
    (
        "REFRESH MATERIALIZED VIEW CONCURRENTLY mv",
        Some("EXCLUSIVE"),
        "mv",
        "SW",
    ),
    ("DROP MATERIALIZED VIEW mv", AE, "mv", "WB"),
    ("CREATE TYPE mood AS ENUM ('a', 'b')", None, "", ""),
    ("ALTER TYPE mood ADD VALUE 'c'", None, "", ""),
    ("ALTER TYPE mood RENAME VALUE 'a' TO 'z'", None, "", ""),
    ("CREATE DOMAIN pos AS int CHECK (VALUE > 0)", None, "", ""),
    (
        "ALTER DOMAIN pos ADD CONSTRAINT p CHECK (VALUE > 0)",
        SHARE,
        "",
        "SW",
    ),
    (
        "ALTER DOMAIN pos ADD CONSTRAINT p CHECK (VALUE > 0) NOT VALID",
        None,
        "",
        "",
    ),
    ("CREATE SEQUENCE s", None, "", ""),
    (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        None,
        "",
        "",
    ),
    ("CREATE EXTENSION IF NOT EXISTS pgcrypto", None, "", ""),
    ("DROP SCHEMA archive CASCADE", None, "", "D"),
    ("COMMENT ON TABLE orders IS 'x'", SUE, "orders", ""),
    ("COMMENT ON TABLE public.orders IS 'x'", SUE, "orders", ""),
    ("GRANT SELECT ON orders TO app", None, "", ""),
    (
        "CREATE STATISTICS s ON id, note FROM orders",
        SUE,
        "orders",
        "",
    ),
    ("CREATE POLICY p ON orders USING (true)", AE, "orders", "WB"),
    ("ALTER POLICY p ON orders USING (true)", AE, "orders", "WB"),
];

pub const TRIGGERS_AND_RULES: &[Case] = &[
    (
        "CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()",
        SRE,
        "orders",
        "W",
    ),
    ("DROP TRIGGER t ON orders", AE, "orders", "WB"),
    ("DROP TRIGGER t ON public.orders", AE, "orders", "WB"),
    (
        "CREATE RULE r AS ON INSERT TO orders DO NOTHING",
        AE,
        "orders",
        "WB",
    ),
];

pub const MAINTENANCE_AND_LOCKS: &[Case] = &[
    ("TRUNCATE orders", AE, "orders", "DWB"),
    // order_items references orders, which references customers: emptied too.
    (
        "TRUNCATE customers CASCADE",
        AE,
        "orders,order_items,customers",
        "DWB",
    ),
    ("VACUUM orders", SUE, "orders", "SN"),
    ("VACUUM FULL orders", AE, "orders", "RSNWB"),
    ("ANALYZE orders", SUE, "orders", "S"),
    ("CLUSTER orders USING orders_note_idx", AE, "orders", "RWB"),
    ("CLUSTER", AE, "", "RNWB"),
    ("VACUUM FULL", AE, "", "RSNWB"),
    ("REINDEX SCHEMA public", SHARE, "", "SNWB"),
    ("LOCK TABLE orders", AE, "orders", "WB"),
    ("LOCK TABLE orders IN SHARE MODE", SHARE, "orders", "W"),
    (
        "LOCK TABLE orders IN ACCESS SHARE MODE",
        Some("ACCESS SHARE"),
        "orders",
        "",
    ),
];

pub const DML: &[Case] = &[
    // Every row overwritten: destructive, like DELETE.
    ("UPDATE orders SET note = 'x'", RX, "orders", "SDW"),
    (
        "UPDATE orders SET note = 'x' WHERE true",
        RX,
        "orders",
        "SDW",
    ),
    (
        "UPDATE orders SET note = 'x' WHERE 1 = 1",
        RX,
        "orders",
        "SDW",
    ),
    (
        "DELETE FROM orders WHERE 'a' = 'a' OR id = 2",
        RX,
        "orders",
        "SDW",
    ),
    (
        "WITH d AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM d",
        RX,
        "orders",
        "SDW",
    ),
    // An INSERT in a WITH writes its table; the SELECT reads only the WITH query.
    (
        "WITH i AS (INSERT INTO orders (id) VALUES (1) RETURNING id) SELECT count(*) FROM i",
        RX,
        "orders",
        "",
    ),
    (
        "MERGE INTO orders o USING customers c ON o.customer_id = c.id \
         WHEN MATCHED THEN DELETE",
        RX,
        "orders,customers",
        "SD",
    ),
    (
        "MERGE INTO orders o USING customers c ON true WHEN MATCHED THEN UPDATE SET note = 'x'",
        RX,
        "orders,customers",
        "SDW",
    ),
    (
        "MERGE INTO orders o USING customers c ON o.customer_id = c.id \
         WHEN MATCHED THEN UPDATE SET note = 'x'",
        RX,
        "orders,customers",
        "S",
    ),
    (
        "UPDATE orders SET note = 'x' WHERE id = 1",
        RX,
        "orders",
        "S",
    ),
    ("DELETE FROM orders", RX, "orders", "SDW"),
    ("DELETE FROM orders WHERE id = 1", RX, "orders", "S"),
    ("INSERT INTO orders (id) VALUES (1)", RX, "orders", ""),
    (
        "INSERT INTO orders SELECT * FROM customers",
        RX,
        "orders,customers",
        "S",
    ),
    // What a statement reads besides its target: FROM, USING, its WITH queries.
    (
        "UPDATE orders SET note = 'x' FROM customers c WHERE orders.customer_id = c.id",
        RX,
        "orders,customers",
        "S",
    ),
    (
        "DELETE FROM orders USING customers c WHERE orders.customer_id = c.id",
        RX,
        "orders,customers",
        "S",
    ),
    // The inserted-into table read by the same statement: a scan.
    ("INSERT INTO orders SELECT * FROM orders", RX, "orders", "S"),
    (
        "WITH x AS (SELECT id FROM customers) INSERT INTO orders (id) SELECT id FROM x",
        RX,
        "orders,customers",
        "S",
    ),
    (
        "WITH x AS (SELECT id FROM customers) UPDATE orders SET note = 'x' \
         WHERE customer_id IN (SELECT id FROM x)",
        RX,
        "orders,customers",
        "S",
    ),
    ("SELECT 1", None, "", ""),
];

pub const SESSION_AND_UNKNOWN: &[Case] = &[
    ("SET lock_timeout = '2s'", None, "", ""),
    ("BEGIN", None, "", ""),
    ("CREATE DATABASE x", None, "", "N"),
    ("DROP DATABASE x", None, "", "DN"),
    ("DO $$ BEGIN PERFORM 1; END $$", None, "", "?"),
    ("CALL p()", None, "", "?"),
];

pub const ROLES_DATABASES_AND_SERVERS: &[Case] = &[
    ("REVOKE SELECT ON orders FROM app", None, "", ""),
    ("ALTER ROLE app NOLOGIN", None, "", ""),
    ("ALTER ROLE app SET statement_timeout = '1s'", None, "", ""),
    // Drops or re-owns every table the role owns, each under ACCESS EXCLUSIVE.
    ("DROP OWNED BY app", AE, "", "DWB"),
    ("REASSIGN OWNED BY app TO admin", AE, "", "WB"),
    ("ALTER SYSTEM SET max_connections = 10", None, "", "N"),
    (
        "ALTER DATABASE shop REFRESH COLLATION VERSION",
        None,
        "",
        "",
    ),
    (
        "IMPORT FOREIGN SCHEMA public FROM SERVER other INTO remote",
        None,
        "",
        "",
    ),
    ("ALTER SERVER other OPTIONS (SET host 'db2')", None, "", ""),
];
