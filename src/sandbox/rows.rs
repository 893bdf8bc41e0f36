//! Synthetic rows: `rows_per_table` rows in every table of a clone, made up on the server
//! from the clone's own catalog. Production data is never read.
//!
//! Tables are filled parents first (foreign keys ordered topologically; a cycle is broken by
//! leaving the back edge's column null where it may be). Each value comes from the row
//! number `g`, so single-column keys are unique; foreign-key columns take the values of the
//! referenced table's rows in turn; domains, enums and lengths are respected by casting to
//! the column's own type. A table's rows go in with one `INSERT … SELECT … FROM
//! generate_series`; if that fails (a check constraint, a partition without a home for some
//! rows, a trigger that objects), the rows are inserted one by one and those that still
//! violate are skipped — never fatal.
//!
//! Nullable columns hold a null in every fourth row, as a production column usually holds
//! some: `SET NOT NULL` or a new primary key on such a column fails in the sandbox as it
//! would in production.

use std::collections::{BTreeMap, HashMap, HashSet};

use tokio_postgres::Client;

use super::server::ident;
use super::SandboxError;

const COLUMNS: &str = "
SELECT c.oid, n.nspname, c.relname, a.attname, a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' AS has_default,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_sql,
       bt.typcategory::text, bt.typname::text, bt.typtype::text,
       pg_catalog.format_type(bt.oid, NULL) AS base_sql,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod,
       a.attgenerated <> '' OR a.attidentity = 'a' AS never_written
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND ($1::pg_catalog.oid[] IS NULL OR c.oid = ANY ($1))
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY c.oid, a.attnum";

const FOREIGN_KEYS: &str = "
SELECT con.conrelid, con.confrelid,
       ARRAY(SELECT attname::text FROM pg_catalog.unnest(con.conkey) WITH ORDINALITY k(n, i)
               JOIN pg_catalog.pg_attribute ON attrelid = con.conrelid AND attnum = k.n ORDER BY k.i),
       ARRAY(SELECT attname::text FROM pg_catalog.unnest(con.confkey) WITH ORDINALITY k(n, i)
               JOIN pg_catalog.pg_attribute ON attrelid = con.confrelid AND attnum = k.n ORDER BY k.i)
  FROM pg_catalog.pg_constraint con
 WHERE con.contype = 'f'
   AND ($1::pg_catalog.oid[] IS NULL OR con.conrelid = ANY ($1))
 ORDER BY con.conrelid, con.conname";

struct Column {
    name: String,
    not_null: bool,
    has_default: bool,
    never_written: bool,
    type_sql: String,
    category: String,
    base_name: String,
    base_type: String,
    base_sql: String,
    typmod: i32,
}

struct Table {
    /// `"schema"."name"`, for SQL.
    sql_name: String,
    /// `schema.name` (bare in `public`), as the rest of autodb names tables.
    display: String,
    columns: Vec<Column>,
}

struct ForeignKey {
    parent: u32,
    columns: Vec<String>,
    parent_columns: Vec<String>,
}

/// The tables named in `only` (`schema.name`, bare in `public`) and those their foreign keys
/// reference (their rows are what the keys point at): the only ones a partial fill reads.
const NEIGHBOURHOOD: &str = "
WITH named AS (
  SELECT c.oid FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p')
     AND CASE WHEN n.nspname = 'public' THEN c.relname::text
              ELSE n.nspname::text || '.' || c.relname::text END = ANY ($1))
SELECT oid FROM named
UNION
SELECT con.confrelid FROM pg_catalog.pg_constraint con
 WHERE con.contype = 'f' AND con.conrelid IN (SELECT oid FROM named)";

/// What [`fill`] did.
#[derive(Debug, Default, Clone)]
pub struct Filled {
    pub tables: usize,
    pub rows: u64,
    /// The tables filled, as SQL names.
    pub names: Vec<String>,
}

/// Fills every table of the clone `client` is connected to with the rows numbered
/// `first..=last`; with `only`, just those tables (`schema.name`, bare in `public`).
pub async fn fill(
    client: &Client,
    first: i64,
    last: i64,
    only: Option<&HashSet<String>>,
) -> Result<Filled, SandboxError> {
    // A partial fill reads the catalog of its tables and their parents only: a schema of
    // thousands of tables costs it nothing more.
    let scope: Option<Vec<u32>> = match only {
        None => None,
        Some(names) => {
            let names: Vec<&String> = names.iter().collect();
            let rows = client
                .query(NEIGHBOURHOOD, &[&names])
                .await
                .map_err(SandboxError::server)?;
            Some(rows.iter().map(|r| r.get(0)).collect())
        }
    };
    let mut tables: BTreeMap<u32, Table> = BTreeMap::new();
    for row in client
        .query(COLUMNS, &[&scope])
        .await
        .map_err(SandboxError::server)?
    {
        let oid: u32 = row.get(0);
        let schema: String = row.get(1);
        let name: String = row.get(2);
        let table = tables.entry(oid).or_insert_with(|| Table {
            sql_name: format!("{}.{}", ident(&schema), ident(&name)),
            display: autodb_core::schema::qualified(&schema, &name),
            columns: vec![],
        });
        table.columns.push(Column {
            name: row.get(3),
            not_null: row.get(4),
            has_default: row.get(5),
            type_sql: row.get(6),
            category: row.get(7),
            base_name: row.get(8),
            base_type: row.get(9),
            base_sql: row.get(10),
            typmod: row.get(11),
            never_written: row.get(12),
        });
    }
    let mut foreign_keys: HashMap<u32, Vec<ForeignKey>> = HashMap::new();
    for row in client
        .query(FOREIGN_KEYS, &[&scope])
        .await
        .map_err(SandboxError::server)?
    {
        foreign_keys
            .entry(row.get(0))
            .or_default()
            .push(ForeignKey {
                parent: row.get(1),
                columns: row.get(2),
                parent_columns: row.get(3),
            });
    }
    let mut filled = Filled::default();
    let mut done: HashSet<u32> = HashSet::new();
    for oid in fill_order(&tables, &foreign_keys) {
        let table = &tables[&oid];
        if only.is_none_or(|names| names.contains(&table.display)) {
            let fks = foreign_keys.get(&oid).map(Vec::as_slice).unwrap_or(&[]);
            let insert = insert_sql(table, fks, &tables, &done, oid);
            filled.rows += insert_rows(client, &table.sql_name, &insert, first, last).await?;
            filled.tables += 1;
            filled.names.push(table.sql_name.clone());
        }
        done.insert(oid);
    }
    Ok(filled)
}

/// Parents before children; what a cycle leaves is appended in catalog order.
fn fill_order(tables: &BTreeMap<u32, Table>, fks: &HashMap<u32, Vec<ForeignKey>>) -> Vec<u32> {
    let mut order = Vec::with_capacity(tables.len());
    let mut placed: HashSet<u32> = HashSet::new();
    loop {
        let before = order.len();
        for oid in tables.keys() {
            if placed.contains(oid) {
                continue;
            }
            let ready = fks.get(oid).is_none_or(|list| {
                list.iter().all(|fk| {
                    fk.parent == *oid
                        || placed.contains(&fk.parent)
                        || !tables.contains_key(&fk.parent)
                })
            });
            if ready {
                placed.insert(*oid);
                order.push(*oid);
            }
        }
        if order.len() == tables.len() {
            return order;
        }
        if order.len() == before {
            // A cycle: take the first table left; its back edges are filled with nulls.
            if let Some(oid) = tables.keys().find(|o| !placed.contains(o)) {
                placed.insert(*oid);
                order.push(*oid);
            }
        }
    }
}

/// `INSERT INTO t (…) SELECT … FROM {rows} gs(g) LEFT JOIN …`, with `{rows}` left for the
/// caller: a `generate_series` for the bulk insert, one row for the row-by-row retry.
fn insert_sql(
    table: &Table,
    fks: &[ForeignKey],
    tables: &BTreeMap<u32, Table>,
    done: &HashSet<u32>,
    oid: u32,
) -> String {
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut joins = Vec::new();
    let mut from_fk: HashMap<&str, String> = HashMap::new();
    for (k, fk) in fks.iter().enumerate() {
        // A parent not filled yet (a cycle, or the table itself) has no rows to point at.
        let Some(parent) = tables
            .get(&fk.parent)
            .filter(|_| done.contains(&fk.parent) && fk.parent != oid)
        else {
            continue;
        };
        let alias = format!("f{k}");
        let cols: Vec<String> = fk
            .parent_columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS c{i}", ident(c)))
            .collect();
        joins.push(format!(
            " LEFT JOIN (SELECT {cols}, row_number() OVER () AS rn FROM {p}) {alias} \
             ON {alias}.rn = 1 + (gs.g % (SELECT greatest(count(*), 1) FROM {p}))",
            cols = cols.join(", "),
            p = parent.sql_name,
        ));
        for (i, c) in fk.columns.iter().enumerate() {
            from_fk
                .entry(c.as_str())
                .or_insert_with(|| format!("{alias}.c{i}"));
        }
    }
    let back_edge: HashSet<&str> = fks
        .iter()
        .filter(|fk| !done.contains(&fk.parent) || fk.parent == oid)
        .flat_map(|fk| fk.columns.iter().map(String::as_str))
        .collect();
    for col in &table.columns {
        if col.never_written {
            continue;
        }
        let value = if let Some(v) = from_fk.get(col.name.as_str()) {
            v.clone()
        } else if back_edge.contains(col.name.as_str()) {
            if col.not_null {
                continue;
            }
            "NULL".to_string()
        } else if col.has_default {
            continue;
        } else {
            match value_of(col) {
                Some(v) if col.not_null => v,
                Some(v) => format!("CASE WHEN gs.g % 4 = 0 THEN NULL ELSE {v} END"),
                None if col.not_null => continue,
                None => "NULL".to_string(),
            }
        };
        names.push(ident(&col.name));
        values.push(format!("CAST({value} AS {})", col.type_sql));
    }
    if names.is_empty() {
        // Every column has a default: rows of defaults.
        return format!("INSERT INTO {} SELECT FROM {{rows}} gs(g)", table.sql_name);
    }
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM {{rows}} gs(g){}",
        table.sql_name,
        names.join(", "),
        values.join(", "),
        joins.concat()
    )
}

/// A value for row `gs.g` of the column's base type, or `None` when autodb has no way to
/// make one (the column is then null, or the table stays empty if it may not be).
fn value_of(col: &Column) -> Option<String> {
    let text = |v: &str| format!("'{}'", v.replace('\'', "''"));
    Some(match (col.category.as_str(), col.base_name.as_str()) {
        (_, "int2" | "int4" | "int8" | "oid") => "gs.g".into(),
        (_, "numeric") => {
            // numeric(p, s): keep below 10^(p − s).
            if col.typmod >= 4 {
                let precision = ((col.typmod - 4) >> 16) & 0xffff;
                let scale = (col.typmod - 4) & 0xffff;
                let digits = (precision - scale).clamp(0, 18);
                format!("(gs.g % {})", 10_i64.pow(digits as u32).max(1))
            } else {
                "gs.g".into()
            }
        }
        (_, "float4" | "float8") => "(gs.g * 1.5)".into(),
        (_, "money") => "(gs.g::numeric)::money".into(),
        (_, "bool") => "(gs.g % 2 = 0)".into(),
        (_, "date") => "(DATE '2000-01-01' + (gs.g % 36500)::int)".into(),
        (_, "timestamp" | "timestamptz") => {
            "(TIMESTAMP '2000-01-01' + gs.g * INTERVAL '1 minute')".into()
        }
        (_, "time" | "timetz") => "(TIME '00:00' + (gs.g % 86400) * INTERVAL '1 second')".into(),
        (_, "interval") => "(gs.g * INTERVAL '1 second')".into(),
        (_, "uuid") => "md5(gs.g::text)::uuid".into(),
        (_, "json" | "jsonb") => "json_build_object('n', gs.g)".into(),
        (_, "bytea") => "decode(md5(gs.g::text), 'hex')".into(),
        (_, "tsvector") => "to_tsvector('simple', 'w' || gs.g)".into(),
        (_, "inet") => "('10.0.0.0'::inet + gs.g)".into(),
        (_, "cidr") => "set_masklen('10.0.0.0'::inet + gs.g * 256, 24)::cidr".into(),
        (_, "point") => "point(gs.g, gs.g)".into(),
        ("E", _) => format!(
            "(enum_range(NULL::{b}))[1 + gs.g % cardinality(enum_range(NULL::{b}))]",
            b = col.base_sql
        ),
        ("S", _) => format!("({} || gs.g)", text(&format!("{}_", col.name))),
        ("A", _) => "'{}'".into(),
        ("R", _) if col.base_type == "r" => "'empty'".into(),
        _ => return None,
    })
}

/// Runs `insert` for rows `first..=last`; on failure, row by row, skipping the rows that
/// still fail. Returns the rows inserted.
async fn insert_rows(
    client: &Client,
    table: &str,
    insert: &str,
    first: i64,
    last: i64,
) -> Result<u64, SandboxError> {
    let bulk = insert.replace(
        "{rows}",
        &format!("generate_series({first}::bigint, {last}::bigint)"),
    );
    match client.execute(bulk.as_str(), &[]).await {
        Ok(n) => return Ok(n),
        Err(err) if err.as_db_error().is_none() => return Err(SandboxError::server(err)),
        Err(_) => {}
    }
    let one = insert.replace("{rows}", "(SELECT i)");
    let before = count(client, table).await?;
    let block = format!(
        "DO $autodb_rows$ BEGIN FOR i IN {first}..{last} LOOP \
           BEGIN {one}; EXCEPTION WHEN OTHERS THEN NULL; END; \
         END LOOP; END $autodb_rows$"
    );
    client
        .batch_execute(&block)
        .await
        .map_err(SandboxError::server)?;
    Ok(count(client, table).await?.saturating_sub(before))
}

async fn count(client: &Client, table: &str) -> Result<u64, SandboxError> {
    let n: i64 = client
        .query_one(&format!("SELECT pg_catalog.count(*) FROM {table}"), &[])
        .await
        .map_err(SandboxError::server)?
        .get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, base: &str, category: &str, not_null: bool) -> Column {
        Column {
            name: name.into(),
            not_null,
            has_default: false,
            never_written: false,
            type_sql: base.into(),
            category: category.into(),
            base_name: base.into(),
            base_type: "b".into(),
            base_sql: base.into(),
            typmod: -1,
        }
    }

    fn table(name: &str, columns: Vec<Column>) -> Table {
        Table {
            sql_name: format!("public.{name}"),
            display: name.into(),
            columns,
        }
    }

    fn fk(parent: u32, column: &str) -> ForeignKey {
        ForeignKey {
            parent,
            columns: vec![column.into()],
            parent_columns: vec!["id".into()],
        }
    }

    #[test]
    fn parents_are_filled_before_children_and_a_cycle_is_broken_once() {
        // 1 ← 2 ← 3 (3 points at 2, 2 at 1), listed children first; 4 ↔ 5 a cycle; 6 points
        // at itself and at a table outside the fill.
        let tables: BTreeMap<u32, Table> = (1..=6)
            .map(|oid| (oid, table(&format!("t{oid}"), vec![])))
            .collect();
        let fks: HashMap<u32, Vec<ForeignKey>> = [
            (3, vec![fk(2, "p")]),
            (2, vec![fk(1, "p")]),
            (4, vec![fk(5, "p")]),
            (5, vec![fk(4, "p")]),
            (6, vec![fk(6, "p"), fk(99, "q")]),
        ]
        .into_iter()
        .collect();
        let order = fill_order(&tables, &fks);
        assert_eq!(order.len(), 6, "every table once: {order:?}");
        let at = |oid: u32| order.iter().position(|o| *o == oid).unwrap();
        assert!(at(1) < at(2) && at(2) < at(3), "{order:?}");
        // The cycle is broken at its first table in catalog order; the other follows it.
        assert!(at(4) < at(5), "{order:?}");
        assert!(at(6) < at(4), "a self-reference is no cycle: {order:?}");
    }

    #[test]
    fn values_follow_the_row_number_and_respect_the_type() {
        let int = column("id", "int4", "N", true);
        assert_eq!(value_of(&int).as_deref(), Some("gs.g"));
        // numeric(5, 2): at most three digits before the point.
        let mut numeric = column("price", "numeric", "N", true);
        numeric.typmod = ((5 << 16) | 2) + 4;
        assert_eq!(value_of(&numeric).as_deref(), Some("(gs.g % 1000)"));
        let mut unbounded = column("n", "numeric", "N", true);
        unbounded.typmod = -1;
        assert_eq!(value_of(&unbounded).as_deref(), Some("gs.g"));
        // Strings carry the column's name, quoted.
        let text = column("it's", "text", "S", true);
        assert_eq!(value_of(&text).as_deref(), Some("('it''s_' || gs.g)"));
        let mut status = column("status", "mood", "E", true);
        status.base_sql = "public.mood".into();
        assert!(value_of(&status)
            .unwrap()
            .contains("enum_range(NULL::public.mood)"));
        // No way to make one: the caller leaves it null or skips the table.
        assert_eq!(value_of(&column("shape", "polygon", "G", true)), None);
    }

    #[test]
    fn an_insert_points_foreign_keys_at_filled_parents_and_leaves_the_rest_out() {
        let mut tables: BTreeMap<u32, Table> = BTreeMap::new();
        tables.insert(1, table("parent", vec![column("id", "int4", "N", true)]));
        let mut defaulted = column("created", "timestamptz", "D", true);
        defaulted.has_default = true;
        let mut generated = column("total", "int4", "N", false);
        generated.never_written = true;
        tables.insert(
            2,
            table(
                "child",
                vec![
                    column("id", "int4", "N", true),
                    column("parent_id", "int4", "N", true),
                    column("note", "text", "S", false),
                    defaulted,
                    generated,
                    column("other_id", "int4", "N", false),
                ],
            ),
        );
        let fks = vec![fk(1, "parent_id"), fk(3, "other_id")];
        let done: HashSet<u32> = [1].into();
        let sql = insert_sql(&tables[&2], &fks, &tables, &done, 2);
        assert!(
            sql.starts_with(
                "INSERT INTO public.child (\"id\", \"parent_id\", \"note\", \"other_id\") SELECT "
            ),
            "{sql}"
        );
        assert!(
            sql.contains("CAST(f0.c0 AS int4)"),
            "the key takes the parent's: {sql}"
        );
        assert!(sql.contains("LEFT JOIN (SELECT"), "{sql}");
        assert!(sql.contains("FROM public.parent) f0"), "{sql}");
        // A nullable column is null in every fourth row; a key to a table not filled is null.
        assert!(
            sql.contains("CASE WHEN gs.g % 4 = 0 THEN NULL ELSE"),
            "{sql}"
        );
        assert!(sql.contains("CAST(NULL AS int4)"), "{sql}");
        assert!(!sql.contains("created") && !sql.contains("total"), "{sql}");
        assert!(
            sql.contains("{rows} gs(g)"),
            "the caller picks the rows: {sql}"
        );

        let only_defaults = table("d", vec![defaulted_column()]);
        assert_eq!(
            insert_sql(&only_defaults, &[], &tables, &done, 7),
            "INSERT INTO public.d SELECT FROM {rows} gs(g)"
        );
    }

    fn defaulted_column() -> Column {
        let mut c = column("at", "timestamptz", "D", true);
        c.has_default = true;
        c
    }
}
