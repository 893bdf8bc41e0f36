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
