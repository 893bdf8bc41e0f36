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
