//! The `--demo` sample: a throwaway cluster with a small shop database, registered as a
//! connection, so a newcomer can walk analyze → execute → poll in a minute.

use secrecy::SecretString;
use tokio_postgres::NoTls;

use crate::app::connections::{self, Credentials, NewConnection};
use crate::app::App;
use crate::domain::{Connection, DbType};
use crate::pgcluster::{ClusterError, TempCluster};

pub const DEMO_CONNECTION_NAME: &str = "demo-shop";

/// The sample schema: four tables joined by foreign keys, a few thousand rows.
pub const SHOP_SQL: &str = "
CREATE TABLE customers (
    id          bigserial PRIMARY KEY,
    email       varchar(255) NOT NULL UNIQUE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE products (
    id          bigserial PRIMARY KEY,
    sku         varchar(32) NOT NULL UNIQUE,
    name        text NOT NULL,
    price       numeric(10,2) NOT NULL CHECK (price >= 0)
);
CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    status      varchar(20) NOT NULL DEFAULT 'new',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE TABLE order_items (
    id          bigserial PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id  bigint NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  numeric(10,2) NOT NULL
);
CREATE INDEX order_items_order_id_idx ON order_items (order_id);
INSERT INTO customers (email, name)
    SELECT 'customer' || i || '@example.com', 'Customer ' || i FROM generate_series(1, 2000) i;
INSERT INTO products (sku, name, price)
    SELECT 'SKU-' || i, 'Product ' || i, (i % 97) + 0.99 FROM generate_series(1, 200) i;
INSERT INTO orders (customer_id, status)
    SELECT 1 + (i % 2000), (ARRAY['new', 'paid', 'shipped'])[1 + i % 3] FROM generate_series(1, 5000) i;
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
    SELECT 1 + (i % 5000), 1 + (i % 200), 1 + (i % 4), (i % 97) + 0.99 FROM generate_series(1, 12000) i;
ANALYZE;
";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("creating the sample database: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error("registering the demo connection: {0}")]
    Register(#[from] crate::app::AppError),
}

/// A running demo: the cluster (stopped and removed on drop) and its connection.
pub struct Demo {
    pub cluster: TempCluster,
    pub connection: Connection,
}

async fn run_sql(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await?;
    drop(client);
    let _ = task.await;
    Ok(())
}

/// Starts the cluster in a fresh temporary directory, loads the shop database and registers
/// it (a new connection each run: the cluster and its port are new each run too).
pub async fn start(app: &App) -> Result<Demo, DemoError> {
    let cluster = TempCluster::start("demo").await?;
    run_sql(&cluster.url("postgres"), "CREATE DATABASE shop").await?;
    run_sql(&cluster.url("shop"), SHOP_SQL).await?;
    let connection = connections::register(
        app,
        &crate::domain::access::Principal::operator("demo"),
        NewConnection {
            production: false,
            lock_timeout_ms: None,
            max_connections: None,
            name: DEMO_CONNECTION_NAME.into(),
            db_type: DbType::Postgresql,
            credentials: Credentials::ConnectionString(SecretString::from(cluster.url("shop"))),
        },
    )
    .await?;
    Ok(Demo {
        cluster,
        connection,
    })
}
