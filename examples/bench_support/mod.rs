//! What the benchmark examples share: connecting to the throwaway cluster, naming its
//! databases, and the median of a run's timings.

use tokio_postgres::{Client, NoTls};

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to the bench cluster");
    tokio::spawn(conn);
    client
}

/// The URL of database `name` on the server `base` points at.
pub fn db_url(base: &str, name: &str) -> String {
    format!(
        "{}/{name}",
        base.rsplit_once('/').expect("URL with a database").0
    )
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `tables` tables; every one but the first has a foreign key to the one before it and an
/// index on that column, and every one a unique index on its name.
pub fn generated(tables: usize) -> String {
    let mut ddl = String::new();
    for i in 0..tables {
        ddl.push_str(&format!(
            "CREATE TABLE t_{i} (id bigserial PRIMARY KEY, name text NOT NULL, \
             created_at timestamptz NOT NULL DEFAULT now(), amount numeric(12,2) CHECK (amount >= 0)"
        ));
        if i > 0 {
            ddl.push_str(&format!(
                ", parent_id bigint REFERENCES t_{} (id));\nCREATE INDEX ON t_{i} (parent_id);\n",
                i - 1
            ));
        } else {
            ddl.push_str(");\n");
        }
        ddl.push_str(&format!("CREATE UNIQUE INDEX ON t_{i} (name);\n"));
    }
    ddl
}

/// The generated schema of the scale benchmark (`examples/bench_scale.rs`), in loadable
/// chunks: one enum type every table uses, and `tables` tables, each but the first with a
/// foreign key to an earlier one (the one before, or every seventh table to the one a
/// hundred back) and an index on it. Each chunk of at most `per_chunk` tables fits one
/// transaction on default settings (`max_locks_per_transaction` 64).
pub fn generated_enum_fk(tables: usize, per_chunk: usize) -> Vec<String> {
    let mut chunks = vec!["CREATE TYPE status AS ENUM ('new', 'active', 'closed');\n".to_string()];
    let mut ddl = String::new();
    for i in 0..tables {
        ddl.push_str(&format!(
            "CREATE TABLE t_{i} (id bigserial PRIMARY KEY, name text NOT NULL, \
             state status NOT NULL DEFAULT 'new', created_at timestamptz NOT NULL DEFAULT now()"
        ));
        if i > 0 {
            let parent = if i % 7 == 0 && i >= 100 {
                i - 100
            } else {
                i - 1
            };
            ddl.push_str(&format!(
                ", parent_id bigint REFERENCES t_{parent} (id));\nCREATE INDEX ON t_{i} (parent_id);\n"
            ));
        } else {
            ddl.push_str(");\n");
        }
        if (i + 1) % per_chunk == 0 {
            chunks.push(std::mem::take(&mut ddl));
        }
    }
    if !ddl.is_empty() {
        chunks.push(ddl);
    }
    chunks
}
